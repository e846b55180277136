"""Merge decisions: Readwise's changes into a note the user has edited. Pure: text in, text out.

The tool remembers, for every note, what it wrote there piece by piece (a
:class:`Layout`): each top-level frontmatter key's lines, the preamble (cover
and metadata), the highlights header, and one block per highlight id. To
merge, each remembered piece is looked for *verbatim* in the note:

* found, and Readwise changed it: replaced by the new rendering;
* found, and the highlight is gone upstream: removed (``on_delete="remove"``);
* not found: the user edited or deleted it, and the user wins. If Readwise
  changed it too, that is a conflict, reported, never resolved silently.

New highlights are inserted in reading order before the next known block, or
at the end of the highlights section. Everything else in the note (text the
user typed between blocks, new sections, frontmatter keys the user added) is
never touched: edits are splices at the found pieces, so every other byte
stays where it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PREAMBLE = "preamble"
HEADER = "header"

_HEADING = re.compile(r"^#{1,6}(?:\s|$)")
_HIGHLIGHTS_HEADING = re.compile(r"^#{1,6}\s.*highlights", re.IGNORECASE)
_FM_KEY = re.compile(r"^(?P<key>[^\s#:'\"\-][^:]*?|\"[^\"]*\"|'[^']*'):(?:[ \t]|$)")
_LINK_TARGET = re.compile(r"\]\(([^()\s]+)\)\)?\s*$")
_MARKS = re.compile(r"[*_~=`\[\]()>#]+")


@dataclass
class Layout:
    """What the tool wrote into one note, piece by piece (stored in the state after each write).

    ``rendered`` holds, sparsely, the rendering a written piece stands for when the two
    differ: adopted notes keep the block the user already had, and a later change is
    measured against the rendering, not against that older text.
    """

    frontmatter: dict[str, str] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)
    blocks: dict[int, str] = field(default_factory=dict)
    rendered: dict[str, str] = field(default_factory=dict)
    # Not stored: blocks an adoption found saying something else than Readwise has now,
    # with no way to tell whose the difference is (see adopt_layout): conflicts.
    disputed: set[int] = field(default_factory=set, compare=False)

    def rendering(self, key: str, written: str) -> str:
        return self.rendered.get(key, written)

    def to_json(self) -> dict[str, Any]:
        return {
            "frontmatter": self.frontmatter,
            "sections": self.sections,
            "blocks": [[hid, text] for hid, text in self.blocks.items()],
            "rendered": self.rendered,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Layout:
        if not data:
            return cls()
        return cls(
            frontmatter=dict(data.get("frontmatter", {})),
            sections=dict(data.get("sections", {})),
            blocks={int(hid): text for hid, text in data.get("blocks", [])},
            rendered=dict(data.get("rendered", {})),
        )


@dataclass
class Conflict:
    """Readwise changed a piece the user had edited; the user's text was kept."""

    block_id: str  # "h:<highlight id>", "fm:<key>" or "s:<section>"
    upstream: str  # what Readwise has now ("" when deleted upstream)


@dataclass
class MergeResult:
    text: str
    layout: Layout
    added: int = 0
    updated: int = 0
    removed: int = 0
    frontmatter_changed: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def describe(self) -> str:
        """``2 highlights added, 1 updated`` (for --dry-run and -v)."""
        parts = []
        if self.added:
            parts.append(f"{self.added} highlight{'s' if self.added != 1 else ''} added")
        if self.updated:
            parts.append(f"{self.updated} updated")
        if self.removed:
            parts.append(f"{self.removed} removed")
        if self.frontmatter_changed:
            parts.append("properties " + ", ".join(self.frontmatter_changed) + " updated")
        if self.conflicts:
            n = len(self.conflicts)
            parts.append(f"{n} conflict{'s' if n != 1 else ''} (your text kept)")
        return ", ".join(parts) or "no change"


# -- frontmatter ----------------------------------------------------------------------------


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """(the YAML between the ``---`` lines, the body); (None, text) when there is none."""
    if not text.startswith("---\n"):
        return None, text
    end = text.find("\n---\n", 3)
    if end != -1:
        return text[4 : end + 1], text[end + 5 :]
    if text.endswith("\n---"):
        return text[4:-3], ""
    return None, text


def join_frontmatter(frontmatter: str | None, body: str) -> str:
    if frontmatter is None:
        return body
    if frontmatter and not frontmatter.endswith("\n"):
        frontmatter += "\n"
    return f"---\n{frontmatter}---\n{body}"


def frontmatter_chunks(frontmatter: str) -> list[tuple[str | None, str]]:
    """Top-level keys with their lines (continuations and list items included), in order.

    Lines that belong to no key (comments, blank lines before the first key) come as
    ``(None, lines)`` so they are carried through untouched.
    """
    chunks: list[tuple[str | None, str]] = []
    for line in frontmatter.splitlines(keepends=True):
        match = _FM_KEY.match(line)
        if match:
            chunks.append((match.group("key").strip("'\""), line))
        elif chunks and chunks[-1][0] is not None and not line.startswith("#"):
            key, text = chunks[-1]
            chunks[-1] = (key, text + line)
        else:
            chunks.append((None, line))
    return chunks


def layout_frontmatter(frontmatter: str) -> dict[str, str]:
    """The keyed chunks of a rendered frontmatter (first occurrence of a key wins)."""
    keyed: dict[str, str] = {}
    for key, text in frontmatter_chunks(frontmatter):
        if key is not None and key not in keyed:
            keyed[key] = _with_newline(text)
    return keyed


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _merge_frontmatter(
    current: str | None, last: Layout, new: Layout, result: MergeResult
) -> tuple[str | None, dict[str, str]]:
    stored: dict[str, str] = {}
    if current is None:
        # No frontmatter: the user removed it, or the note never had one (adopted): leave
        # it so. A note gets the tool's properties once it has a frontmatter block again.
        return None, dict(last.frontmatter)
    out: list[str] = []
    seen: set[str] = set()
    for key, text in frontmatter_chunks(current):
        if key is None or key in seen:
            out.append(text)
            continue
        seen.add(key)
        if key not in last.frontmatter:
            out.append(text)  # the user's key (or one adopted from an older export): theirs
            if key in new.frontmatter and _with_newline(text) == new.frontmatter[key]:
                stored[key] = new.frontmatter[key]
            continue
        written = last.frontmatter[key]
        rendering = last.rendering(f"fm:{key}", written)
        if _with_newline(text) != written:
            out.append(text)  # changed by the user since the last write: keep theirs
            stored[key] = written
            if new.frontmatter.get(key) == _with_newline(text):
                stored[key] = new.frontmatter[key]  # to what Readwise has now: settled
                continue
            if f"fm:{key}" in last.rendered:  # what counts as seen (a conflict resolved)
                result.layout.rendered[f"fm:{key}"] = last.rendered[f"fm:{key}"]
            if key in new.frontmatter and new.frontmatter[key] != rendering:
                result.conflicts.append(Conflict(f"fm:{key}", new.frontmatter[key]))
        elif key in new.frontmatter:
            replacement = new.frontmatter[key]
            if not text.endswith("\n"):
                replacement = replacement.rstrip("\n")
            out.append(replacement)
            stored[key] = new.frontmatter[key]
            if replacement.rstrip("\n") != text.rstrip("\n"):
                result.frontmatter_changed.append(key)
        else:
            result.frontmatter_changed.append(key)  # the template no longer writes it
    for key, text in new.frontmatter.items():
        if key in seen:
            continue
        if key in last.frontmatter:
            stored[key] = last.frontmatter[key]  # the user deleted it: don't bring it back
            continue
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(text)
        stored[key] = text
        result.frontmatter_changed.append(key)
    return "".join(out), stored


# -- body -----------------------------------------------------------------------------------

Span = tuple[int, int]


def _find_piece(body: str, piece: str, taken: list[Span], start: int = 0) -> Span | None:
    """Where ``piece`` stands in ``body`` as whole lines, not inside a taken span.

    A block must also not be followed by an indented line: that would be a
    sub-bullet or paragraph the user added *to* the block, which makes it
    their edited block rather than the tool's. (A line of only spaces is blank.)
    """
    if not piece:
        return None
    index = body.find(piece, start)
    while index != -1:
        end = index + len(piece)
        at_line_start = index == 0 or body[index - 1] == "\n"
        at_line_end = end == len(body) or body[end] == "\n"
        following = body[end + 1 : _line_end(body, end + 1)] if end < len(body) else ""
        followed_by_continuation = following.startswith((" ", "\t")) and bool(following.strip())
        overlaps = any(index < t_end and t_start < end for t_start, t_end in taken)
        if at_line_start and at_line_end and not followed_by_continuation and not overlaps:
            return index, end
        index = body.find(piece, index + 1)
    return None


def _leaves_a_trace(body: str, block: str, others: Iterable[str] = ()) -> bool:
    """Whether an edited form of ``block`` seems still there (else the user deleted it):
    its link, the start of its text, or most of its words (see :func:`_words_remain`)."""
    first = block.split("\n", 1)[0]
    link = _LINK_TARGET.search(first)
    if link and len(link.group(1)) >= 8 and link.group(1) in body:
        return True
    text = first[2:42] if first.startswith("- ") else first[:40]
    if len(text.strip()) >= 8 and text in body:
        return True
    return _words_remain(body, block, others)


def _words_remain(body: str, block: str, others: Iterable[str]) -> bool:
    """Past the user's emphasis and line breaks, most of the block's runs of three words
    (all its words, for a block of fewer) outside the other blocks (``others``: another
    highlight may repeat its words)."""
    for other in others:
        body = body.replace(other, "\n")
    words = _words(block.removeprefix("- "))
    if len(words) < 3:
        return bool(words) and f" {' '.join(words)} " in f" {' '.join(_words(body))} "
    runs = {tuple(words[i : i + 3]) for i in range(len(words) - 2)}
    seen = _words(body)
    found = runs & {tuple(seen[i : i + 3]) for i in range(len(seen) - 2)}
    return 2 * len(found) >= len(runs)


def _settled_by(
    body: str, upstream: str, written: str, others: list[str], taken: list[Span]
) -> Span | None:
    """Where the note says Readwise's ``upstream`` in place of the block it was
    (``written``): it holds ``upstream`` verbatim and, that copy aside, no edited form of
    the block. (A copy pasted beside the user's own version settles nothing.)"""
    span = _find_piece(body, upstream, taken)
    if span is None or _leaves_a_trace(body[: span[0]] + body[span[1] :], written, others):
        return None
    return span


def other_blocks(last: Layout, hid: int) -> list[str]:
    """The blocks of every highlight but ``hid``: words they repeat are no trace of it."""
    return [block for other, block in last.blocks.items() if other != hid]


def _words(text: str) -> list[str]:
    """Words without Markdown emphasis marks or link syntax: what survives an edit."""
    return _MARKS.sub(" ", _LINK_TARGET.sub(" ", text)).casefold().split()


def _line_end(body: str, index: int) -> int:
    """The index just past the end of the line containing ``index`` (its newline included)."""
    newline = body.find("\n", index)
    return len(body) if newline == -1 else newline + 1


def _list_end(body: str, start: int) -> int:
    """Where new blocks go after the line at ``start``: past the lines that hang on to it.

    Lines right below (no blank line between, no heading) belong with it, be they
    continuation lines or the user's comment on the highlight above; a blank line
    or a heading ends the list, so a paragraph the user wrote after the
    highlights stays after them. Blank lines followed by an indented line are the
    item's next paragraph (a multi-paragraph highlight), not the list's end.
    """
    position = _line_end(body, start)
    while position < len(body):
        end = _line_end(body, position)
        line = body[position:end].rstrip("\n")
        if _HEADING.match(line):
            break
        if not line.strip():
            following = end
            while (
                following < len(body) and not body[following : _line_end(body, following)].strip()
            ):
                following = _line_end(body, following)
            if not body.startswith((" ", "\t"), following):
                break
        position = end
    return position


def _fallback_point(
    body: str, spans: dict[int, Span], header: Span | None, taken: list[Span]
) -> int:
    """Where new highlights go when no later block is known: after the last known block,
    else under the highlights header, else at the end of the note. Never inside a
    piece found in the note (one being replaced or removed would be cut apart)."""
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
    for start, end in sorted(taken):
        if start < point < end:
            point = _list_end(body, end - 1)
    return point


def merge_note(
    current: str, last: Layout, new: Layout, *, on_delete: str = "remove"
) -> MergeResult:
    """Merge the new rendering ``new`` into ``current``, given what was last written (``last``).

    ``new.blocks`` must be in reading order. Returns the merged text and the layout to
    store for the next merge.
    """
    result = MergeResult(text=current, layout=Layout())
    current_fm, body = split_frontmatter(current)
    merged_fm, stored_fm = _merge_frontmatter(current_fm, last, new, result)
    layout = Layout(frontmatter=stored_fm, rendered=dict(result.layout.rendered))

    taken: list[Span] = []
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement), applied back to front

    # Sections: the preamble first, then the header after it (a title can't fake a header).
    section_spans: dict[str, Span] = {}
    search_from = 0
    for name in (PREAMBLE, HEADER):
        if name not in last.sections:
            continue
        written = last.sections[name]
        span = _find_piece(body, written, taken, search_from)
        layout.sections[name] = written
        if span is None:
            continue
        taken.append(span)
        section_spans[name] = span
        search_from = span[1]
        rendering = last.rendering(f"s:{name}", written)
        replacement = new.sections.get(name)
        if replacement is not None and replacement != rendering:
            edits.append((span[0], span[1], replacement))
            layout.sections[name] = replacement
        elif f"s:{name}" in last.rendered:
            layout.rendered[f"s:{name}"] = last.rendered[f"s:{name}"]

    # Known blocks: find each verbatim, then update, remove or leave it.
    spans: dict[int, Span] = {}
    kept_dead: dict[int, str] = {}
    for hid, written in last.blocks.items():
        key = f"h:{hid}"
        rendering = last.rendering(key, written)
        span = _find_piece(body, written, taken)
        if span is not None:
            taken.append(span)
        upstream = new.blocks.get(hid)
        if upstream is None:  # deleted or discarded in Readwise
            if span is not None and on_delete == "remove":
                end = span[1] + 1 if body.startswith("\n", span[1]) else span[1]
                edits.append((span[0], end, ""))
                result.removed += 1
            else:
                if span is None and _leaves_a_trace(body, written, other_blocks(last, hid)):
                    result.conflicts.append(Conflict(key, ""))
                kept_dead[hid] = written
                if key in last.rendered:
                    layout.rendered[key] = last.rendered[key]
            continue
        if span is not None:
            spans[hid] = span
        if upstream == rendering:
            layout.blocks[hid] = written
            if key in last.rendered:
                layout.rendered[key] = last.rendered[key]
            if hid in last.disputed:
                result.conflicts.append(Conflict(key, upstream))
        elif span is not None:
            edits.append((span[0], span[1], upstream))
            layout.blocks[hid] = upstream
            result.updated += 1
        elif theirs := _settled_by(body, upstream, written, other_blocks(last, hid), taken):
            # The user made the block say what Readwise has now: settled, nothing to do.
            taken.append(theirs)
            spans[hid] = theirs
            layout.blocks[hid] = upstream
        else:
            layout.blocks[hid] = written  # the user's edit wins; remember what we wrote
            if key in last.rendered:
                layout.rendered[key] = last.rendered[key]
            if _leaves_a_trace(body, written, other_blocks(last, hid)):
                result.conflicts.append(Conflict(key, upstream))

    # New highlights: before the next known block in reading order, else at the section end.
    order = list(new.blocks)
    fallback: int | None = None
    insertions: dict[int, list[str]] = {}
    for index, hid in enumerate(order):
        if hid in last.blocks:
            continue
        point = next((spans[later][0] for later in order[index + 1 :] if later in spans), None)
        if point is None:
            if fallback is None:
                fallback = _fallback_point(body, spans, section_spans.get(HEADER), taken)
            point = fallback
        insertions.setdefault(point, []).append(new.blocks[hid])
        result.added += 1
    for point, blocks in insertions.items():
        text = "\n".join(blocks) + "\n"
        if point > 0 and body[point - 1] != "\n":
            text = "\n" + text
        edits.append((point, point, text))

    # Stored order follows reading order; blocks kept for dead highlights go last.
    for hid in order:
        if hid not in last.blocks:
            layout.blocks[hid] = new.blocks[hid]
    layout.blocks = {hid: layout.blocks[hid] for hid in order if hid in layout.blocks}
    layout.blocks.update(kept_dead)

    # Zero-width insertions sort after a replacement starting at the same point.
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        body = body[:start] + replacement + body[end:]
    result.text = join_frontmatter(merged_fm, body)
    result.layout = layout
    return result


def _block_at(body: str, start: int) -> str:
    """The block that starts at ``start``: its line, plus the indented lines that continue it."""
    end = _line_end(body, start)
    while end < len(body):
        next_end = _line_end(body, end)
        line = body[end:next_end]
        if line.startswith((" ", "\t")):
            end = next_end
            continue
        if not line.strip():
            # A blank line belongs to the block only when an indented line follows it.
            following = body[next_end : _line_end(body, next_end)]
            if following.startswith((" ", "\t")):
                end = next_end
                continue
        break
    return body[start:end].rstrip("\n")


def bullet_blocks(text: str) -> list[str]:
    """Every top-level bullet of a note with its continuation lines, as the tool writes blocks."""
    _, body = split_frontmatter(text.replace("\r\n", "\n"))
    return [_block_at(body, m.start()) for m in re.finditer(r"^- ", body, re.MULTILINE)]


def adopt_layout(current: str, new: Layout, said: Mapping[int, Said] | None = None) -> Layout:
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
        span = _find_piece(body, text, taken)
        if span is not None:
            taken.append(span)
            layout.sections[name] = text
    # The note's top-level bullets, listed once (not once per highlight: a note of
    # another tool's has none of our exact blocks, so every highlight comes here).
    bullets = [(m.start(), m.group(0)) for m in re.finditer(r"^- .*$", body, re.MULTILINE)]
    for hid, block in new.blocks.items():
        span = _find_piece(body, block, taken)
        if span is not None:
            taken.append(span)
            layout.blocks[hid] = block
            continue
        first = block.split("\n", 1)[0]
        link = _LINK_TARGET.search(first)
        clues = [link.group(1)] if link and len(link.group(1)) >= 8 else []
        snippet = first[2:42].strip() if first.startswith("- ") else ""
        if len(snippet) >= 8:
            clues.append(snippet)
        for clue in clues:
            found = next(
                (
                    start
                    for start, line in bullets
                    if clue in line and not any(s <= start < e for s, e in taken)
                ),
                None,
            )
            if found is not None:
                text = _block_at(body, found)
                taken.append((found, found + len(text)))
                _adopt_block(layout, hid, text, block, (said or {}).get(hid))
                break
    return layout


@dataclass(frozen=True)
class Said:
    """What Readwise has for one highlight: its text and its note."""

    texts: tuple[str, ...]


def _adopt_block(layout: Layout, hid: int, text: str, block: str, said: Said | None) -> None:
    layout.blocks[hid] = text
    layout.rendered[f"h:{hid}"] = block  # as written by us: only a later change replaces it
    if said is None or _says(text, said.texts):
        return
    layout.blocks[hid] = block  # not in the note: the user's version stays, reported
    del layout.rendered[f"h:{hid}"]
    layout.disputed.add(hid)


def _says(block: str, texts: tuple[str, ...]) -> bool:
    """Whether a bullet still holds each of these texts, whatever its formatting."""
    words = " ".join(_words(block))
    return all(" ".join(_words(text)) in words for text in texts if text.strip())


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


# -- what other modules ask of a note's pieces (conflicts) ----------------------------------


def find_block(body: str, block: str) -> Span | None:
    """Where ``block`` stands in ``body`` verbatim, as whole lines (the merge's rule)."""
    return _find_piece(body, block, [])


def trace_remains(body: str, block: str, others: Iterable[str] = ()) -> bool:
    """Whether an edited form of ``block`` is still in ``body`` (the merge's rule)."""
    return _leaves_a_trace(body, block, others)


def settled_by(body: str, upstream: str, written: str, others: list[str]) -> Span | None:
    """Where the note says Readwise's text in place of the block (the merge's rule)."""
    return _settled_by(body, upstream, written, others, [])


def block_link(block: str) -> str | None:
    """The link a block's first line ends with (its highlight's own), if long enough to
    tell highlights apart."""
    link = _LINK_TARGET.search(block.split("\n", 1)[0])
    return link.group(1) if link and len(link.group(1)) >= 8 else None


def word_runs(text: str) -> set[tuple[str, ...]]:
    """The runs of three words of ``text`` past Markdown marks (all its words when fewer)."""
    found = _words(text.removeprefix("- "))
    if len(found) < 3:
        return {tuple(found)} if found else set()
    return {tuple(found[i : i + 3]) for i in range(len(found) - 2)}
