"""Merge decisions: Readwise's changes into a note the user has edited. Pure: text in, text out.

The tool remembers, for every note, what it wrote there piece by piece (a
:class:`Layout`): each top-level frontmatter key's lines, the preamble (cover
and metadata), the highlights header, and one block per highlight id. To
merge, each remembered piece is looked for in the note (the rule is
:mod:`readwise_sync.notes.pieces`'s), what happens to it is decided (a
:data:`~readwise_sync.notes.layout.Decision`), and the decisions are applied:

* found as written, and Readwise changed it: replaced by the new rendering;
* found as written, and the highlight is gone upstream: removed (``on_delete="remove"``);
* not found as written: the user edited or deleted it, and the user wins. If
  Readwise changed it too and an edited form remains, that is a conflict,
  reported, never resolved silently.

New highlights are inserted in reading order before the next known block, or
at the end of the highlights section. Everything else in the note (text the
user typed between blocks, new sections, frontmatter keys the user added) is
never touched: edits are splices at the found pieces, so every other byte
stays where it was. The frontmatter is merged key by key
(:mod:`readwise_sync.notes.properties`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from readwise_sync.notes.layout import (
    Add,
    Conflict,
    Decision,
    Drop,
    Keep,
    Layout,
    MergeResult,
    Span,
    Update,
)
from readwise_sync.notes.pieces import (
    bullet_blocks_of,
    bullet_holding,
    bullets,
    line_end,
    remains,
    says,
    settled_by,
    stands,
)
from readwise_sync.notes.properties import (
    frontmatter_chunks,
    join_frontmatter,
    layout_frontmatter,
    merge_frontmatter,
    split_frontmatter,
)

__all__ = [
    "HEADER",
    "PREAMBLE",
    "Conflict",
    "Layout",
    "MergeResult",
    "Said",
    "adopt_layout",
    "bullet_blocks",
    "describe_changes",
    "frontmatter_chunks",
    "join_frontmatter",
    "layout_frontmatter",
    "merge_note",
    "other_blocks",
    "split_frontmatter",
]

PREAMBLE = "preamble"
HEADER = "header"

_HEADING = re.compile(r"^#{1,6}(?:\s|$)")
_HIGHLIGHTS_HEADING = re.compile(r"^#{1,6}\s.*highlights", re.IGNORECASE)


def other_blocks(last: Layout, hid: str) -> list[str]:
    """The blocks of every highlight but ``hid``: words they repeat are no trace of it."""
    return [block for other, block in last.blocks.items() if other != hid]


def bullet_blocks(text: str) -> list[str]:
    """Every top-level bullet of a note with its continuation lines, as the tool writes blocks."""
    _, body = split_frontmatter(text.replace("\r\n", "\n"))
    return bullet_blocks_of(body)


# -- merge: find each piece, decide, apply --------------------------------------------------


def merge_note(
    current: str, last: Layout, new: Layout, *, on_delete: str = "remove"
) -> MergeResult:
    """Merge the new rendering ``new`` into ``current``, given what was last written (``last``).

    ``new.blocks`` must be in reading order. Returns the merged text and the layout to
    store for the next merge.
    """
    result = MergeResult(text=current, layout=Layout())
    current_fm, body = split_frontmatter(current)
    merged_fm, stored_fm = merge_frontmatter(current_fm, last, new, result)
    decisions = _decide(body, last, new, on_delete)
    # Zero-width insertions sort after a replacement starting at the same point.
    for start, end, text in sorted(_edits(body, decisions, new), reverse=True, key=_where):
        body = body[:start] + text + body[end:]
    result.text = join_frontmatter(merged_fm, body)
    result.layout = _stored(
        Layout(stored_fm, rendered=dict(result.layout.rendered)), decisions, new
    )
    result.added = sum(1 for d in decisions if isinstance(d, Add))
    result.updated = sum(1 for d in decisions if isinstance(d, Update) and d.key[0] == "h")
    result.removed = sum(1 for d in decisions if isinstance(d, Drop))
    result.conflicts += [
        Conflict(d.key, d.conflict)
        for d in decisions
        if isinstance(d, Keep) and d.conflict is not None
    ]
    return result


def _where(edit: tuple[int, int, str]) -> tuple[int, int]:
    return edit[0], edit[1]


def _decide(body: str, last: Layout, new: Layout, on_delete: str) -> list[Decision]:
    """Each piece found and decided: the sections, the known blocks, then the new ones.
    A piece found (or settled) is taken: no later piece is looked for inside it."""
    taken: list[Span] = []
    decisions = _decide_sections(body, last, new, taken)
    for hid, written in last.blocks.items():
        span = stands(body, written, taken)
        if span is not None:
            taken.append(span)
        decision = _decide_block(body, last, new, hid, span, taken, on_delete)
        if span is None and not isinstance(decision, Add) and decision.span is not None:
            taken.append(decision.span)  # settled: the note says Readwise's text there
        decisions.append(decision)
    decisions += [
        Add(f"h:{hid}", text) for hid, text in new.blocks.items() if hid not in last.blocks
    ]
    return decisions


def _decide_sections(body: str, last: Layout, new: Layout, taken: list[Span]) -> list[Decision]:
    """The preamble first, then the header after it (a title can't fake a header)."""
    decisions: list[Decision] = []
    search_from = 0
    for name in (PREAMBLE, HEADER):
        if name not in last.sections:
            continue
        key, written = f"s:{name}", last.sections[name]
        span = stands(body, written, taken, search_from)
        if span is None:
            decisions.append(Keep(key, written))
            continue
        taken.append(span)
        search_from = span[1]
        replacement = new.sections.get(name)
        if replacement is not None and replacement != last.rendering(key, written):
            decisions.append(Update(key, replacement, span))
        else:
            decisions.append(Keep(key, written, span, seen=last.rendered.get(key)))
    return decisions


def _decide_block(
    body: str,
    last: Layout,
    new: Layout,
    hid: str,
    span: Span | None,
    taken: list[Span],
    on_delete: str,
) -> Decision:
    """What happens to a block the tool wrote, found as written at ``span`` (or not)."""
    key, written = f"h:{hid}", last.blocks[hid]
    seen = last.rendered.get(key)
    upstream = new.blocks.get(hid)
    if upstream is None:  # deleted or discarded in Readwise
        if span is not None and on_delete == "remove":
            return Drop(key, span)
        traced = span is None and remains(body, written, other_blocks(last, hid))
        return Keep(key, written, span, seen, "" if traced else None)
    if upstream == last.rendering(key, written):
        return Keep(key, written, span, seen, upstream if hid in last.disputed else None)
    if span is not None:
        return Update(key, upstream, span)
    others = other_blocks(last, hid)
    theirs = settled_by(body, upstream, written, others, taken)
    if theirs is not None:
        return Keep(key, upstream, theirs)  # the user made it say what Readwise has now
    # The user's edit wins; what we wrote is remembered.
    return Keep(key, written, None, seen, upstream if remains(body, written, others) else None)


def _span(decision: Decision) -> Span | None:
    return None if isinstance(decision, Add) else decision.span


def _edits(body: str, decisions: list[Decision], new: Layout) -> list[tuple[int, int, str]]:
    """The decisions as splices of the body: (start, end, replacement)."""
    edits: list[tuple[int, int, str]] = []
    for decision in decisions:
        if isinstance(decision, Update) and decision.span is not None:
            edits.append((*decision.span, decision.text))
        elif isinstance(decision, Drop) and decision.span is not None:
            start, end = decision.span
            edits.append((start, end + 1 if body.startswith("\n", end) else end, ""))
    return edits + _insertions(body, decisions, new)


def _insertions(body: str, decisions: list[Decision], new: Layout) -> list[tuple[int, int, str]]:
    """New highlights: before the next known block in reading order, else at the end of
    the highlights (see :func:`_fallback_point`)."""
    spans: dict[str, Span] = {}
    for decision in decisions:
        span, hid = _span(decision), _highlight(decision.key)
        if span is not None and hid is not None and hid in new.blocks:
            spans[hid] = span
    added = {d.key for d in decisions if isinstance(d, Add)}
    order = list(new.blocks)
    fallback: int | None = None
    insertions: dict[int, list[str]] = {}
    for index, hid in enumerate(order):
        if f"h:{hid}" not in added:
            continue
        point = next((spans[later][0] for later in order[index + 1 :] if later in spans), None)
        if point is None:
            if fallback is None:
                fallback = _fallback_point(body, spans, decisions)
            point = fallback
        insertions.setdefault(point, []).append(new.blocks[hid])
    edits = []
    for point, blocks in insertions.items():
        text = "\n".join(blocks) + "\n"
        if point > 0 and body[point - 1] != "\n":
            text = "\n" + text
        edits.append((point, point, text))
    return edits


def _highlight(key: str) -> str | None:
    return key[2:] if key.startswith("h:") else None


def _stored(layout: Layout, decisions: list[Decision], new: Layout) -> Layout:
    """The layout to store: what each piece is remembered as. Blocks follow reading
    order; blocks kept for dead highlights go last."""
    blocks: dict[str, str] = {}
    for decision in decisions:
        stored = None if isinstance(decision, Drop) else _text(decision)
        hid = _highlight(decision.key)
        if stored is not None and hid is not None:
            blocks[hid] = stored
        elif stored is not None:
            layout.sections[decision.key.removeprefix("s:")] = stored
        if isinstance(decision, Keep) and decision.seen is not None:
            layout.rendered[decision.key] = decision.seen
    layout.blocks = {hid: blocks[hid] for hid in new.blocks if hid in blocks}
    layout.blocks.update((hid, text) for hid, text in blocks.items() if hid not in new.blocks)
    return layout


def _text(decision: Keep | Update | Add) -> str | None:
    return decision.stored if isinstance(decision, Keep) else decision.text


def _list_end(body: str, start: int) -> int:
    """Where new blocks go after the line at ``start``: past the lines that hang on to it.

    Lines right below (no blank line between, no heading) belong with it, be they
    continuation lines or the user's comment on the highlight above; a blank line
    or a heading ends the list, so a paragraph the user wrote after the
    highlights stays after them. Blank lines followed by an indented line are the
    item's next paragraph (a multi-paragraph highlight), not the list's end.
    """
    position = line_end(body, start)
    while position < len(body):
        end = line_end(body, position)
        line = body[position:end].rstrip("\n")
        if _HEADING.match(line):
            break
        if not line.strip():
            following = end
            while following < len(body) and not body[following : line_end(body, following)].strip():
                following = line_end(body, following)
            if not body.startswith((" ", "\t"), following):
                break
        position = end
    return position


def _fallback_point(body: str, spans: dict[str, Span], decisions: list[Decision]) -> int:
    """Where new highlights go when no later block is known: after the last known block,
    else under the highlights header, else at the end of the note. Never inside a
    piece found in the note (one being replaced or removed would be cut apart)."""
    header = next((_span(d) for d in decisions if d.key == f"s:{HEADER}"), None)
    if spans:
        point = _list_end(body, max(end for _, end in spans.values()) - 1)
    elif header is not None:
        point = _list_end(body, header[0])
    else:
        headings = [
            m.start()
            for m in re.finditer(r"^.*$", body, re.MULTILINE)
            if _HIGHLIGHTS_HEADING.match(m[0])
        ]
        point = _list_end(body, headings[-1]) if headings else len(body)
    for start, end in sorted(s for d in decisions if (s := _span(d)) is not None):
        if start < point < end:
            point = _list_end(body, end - 1)
    return point


# -- adoption: a note made by another tool, or before our records ----------------------------


@dataclass(frozen=True)
class Said:
    """What Readwise has for one highlight: its text and its note."""

    texts: tuple[str, ...]


def adopt_layout(current: str, new: Layout, said: Mapping[str, Said] | None = None) -> Layout:
    """Work out what of ``new`` a note (made by another tool, or before our records) already has.

    Each highlight is looked for as our exact block, else as a top-level bullet
    holding its link or the start of its text. What is found is taken as written
    by us but left as it is (``rendered`` maps it to our rendering, so only a later
    change in Readwise replaces it); what is not found will be added by the merge.
    The frontmatter stays the user's: only keys it lacks are added.

    ``said`` tells, per highlight, what Readwise has now. A bullet found by its clue
    that no longer says it (Readwise's edit while the note had no records, or the
    user's own) is then a conflict: the note's text stays and Readwise's is shown,
    never taken in silence for the user's. (Which one changed can't be told: the
    note's time against the highlight's ``updated_at`` can't, since Readwise moves
    that for a tag or a note too, and replacing would lose the user's words.)
    """
    _, body = split_frontmatter(current)
    layout = Layout()
    taken: list[Span] = []
    for name, text in new.sections.items():
        span = stands(body, text, taken)
        if span is not None:
            taken.append(span)
            layout.sections[name] = text
    # The note's top-level bullets, listed once (not once per highlight: a note of
    # another tool's has none of our exact blocks, so every highlight comes here).
    lines = bullets(body)
    for hid, block in new.blocks.items():
        span = stands(body, block, taken)
        if span is not None:
            taken.append(span)
            layout.blocks[hid] = block
            continue
        found = bullet_holding(body, block, lines, taken)
        if found is not None:
            taken.append(found)
            _adopt_block(layout, hid, body[found[0] : found[1]], block, (said or {}).get(hid))
    return layout


def _adopt_block(layout: Layout, hid: str, text: str, block: str, said: Said | None) -> None:
    layout.blocks[hid] = text
    layout.rendered[f"h:{hid}"] = block  # as written by us: only a later change replaces it
    if said is None or says(text, said.texts):
        return
    layout.blocks[hid] = block  # not in the note: the user's version stays, reported
    del layout.rendered[f"h:{hid}"]
    layout.disputed.add(hid)


def describe_changes(last: Layout, new: Layout) -> str:
    """What a whole re-render changes, in the words of :meth:`MergeResult.describe`."""
    result = MergeResult(text="", layout=new)
    result.added = sum(1 for hid in new.blocks if hid not in last.blocks)
    result.removed = sum(1 for hid in last.blocks if hid not in new.blocks)
    result.updated = sum(
        1
        for hid, block in new.blocks.items()
        if hid in last.blocks and last.rendering(f"h:{hid}", last.blocks[hid]) != block
    )
    result.frontmatter_changed = [
        key for key, text in new.frontmatter.items() if last.frontmatter.get(key) != text
    ]
    description = result.describe()
    if description == "no change" and new.sections != last.sections:
        return "metadata updated"
    return description
