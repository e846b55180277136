"""Conflicts: a piece of a note that both the user and Readwise changed. Pure: text in,
values out.

The merge records a conflict when Readwise changes a piece (a highlight's block, a
frontmatter key) that the user had edited; the user's text stays. A conflict goes away:

* by itself, when the note settles it: the user makes the piece say what Readwise
  has now, deletes it, or puts back what the tool wrote (:func:`standing`);
* by ``readwise-sync resolve``: :func:`keep_mine` makes the user's version the one
  the tool counts as current (until Readwise changes the piece again), and
  :func:`take_readwise` marks the user's version as the piece to replace, so the
  merge puts Readwise's text in its place.

Both return a new layout for the merge to apply; the note is never edited here.
:func:`versions` finds the three texts a user needs to decide: what the tool wrote,
what Readwise has now, and what the note has.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import Enum

from readwise_sync.notes.merge import (
    Layout,
    bullet_blocks,
    layout_frontmatter,
    merge_note,
    other_blocks,
    split_frontmatter,
)
from readwise_sync.notes.pieces import block_link, remains, settled_by, stands, word_runs


class Standing(Enum):
    """Where a recorded conflict stands, given the note as it is now."""

    WAITING = "waiting"  # the user's version still differs from Readwise's
    SETTLED = "settled"  # the note now says what Readwise has, or the piece is gone


@dataclass(frozen=True)
class Versions:
    """The three texts of one conflict. ``mine`` is None when no version of the piece can
    be told in the note (the user deleted it, or changed it past recognition)."""

    block_id: str
    written: str  # what the tool last wrote there
    upstream: str  # what Readwise has now ("" when Readwise deleted it)
    mine: str | None


def _body(text: str) -> tuple[str | None, str]:
    return split_frontmatter(text.replace("\r\n", "\n"))


def _highlight(block_id: str) -> str | None:
    kind, _, ident = block_id.partition(":")
    return ident if kind == "h" and ident else None


def versions(text: str, layout: Layout, block_id: str, upstream: str) -> Versions:
    """What the tool wrote, what Readwise has and what the note has, for one conflict."""
    frontmatter, body = _body(text)
    if block_id.startswith("fm:"):
        key = block_id[3:]
        written = layout.frontmatter.get(key, "")
        return Versions(block_id, written, upstream, layout_frontmatter(frontmatter or "").get(key))
    hid = _highlight(block_id)
    written = layout.blocks.get(hid, "") if hid is not None else ""
    mine = None if hid is None else _find_mine(body, written, upstream, other_blocks(layout, hid))
    return Versions(block_id, written, upstream, mine)


def _find_mine(body: str, written: str, upstream: str, others: list[str]) -> str | None:
    """The note's bullet that is the user's version of this highlight's block, if one can
    be told: Readwise's text in its place (see :func:`pieces.settled_by`), what the tool
    wrote, else the one bullet holding the highlight's link, else the one sharing most
    runs of words with it, never a bullet holding another highlight's link. None when
    no version is left, or two bullets are equally likely."""
    if upstream and settled_by(body, upstream, written, others):
        return upstream
    if written and stands(body, written) is not None:
        return written
    if not remains(body, written or upstream, others):
        return None
    own = block_link(written or upstream)
    foreign = {link for block in others if (link := block_link(block)) and link != own}
    candidates = [
        block
        for block in bullet_blocks(body)
        if block not in others and block != upstream and block_link(block) not in foreign
    ]
    linked = [block for block in candidates if own is not None and block_link(block) == own]
    if linked:
        return linked[0] if len(linked) == 1 else None
    wanted = word_runs(written) | word_runs(upstream)
    scored = sorted(((len(word_runs(b) & wanted), b) for b in candidates), reverse=True)
    if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    return scored[0][1]


def own_lines(seen: Versions) -> list[str]:
    """Lines of the user's version that are in neither what the tool wrote nor what
    Readwise has, past its first (the highlight itself): words of their own, such as a
    comment added under it, that taking Readwise's version would drop."""
    if seen.mine is None:
        return []
    known = set(seen.written.split("\n")) | set(seen.upstream.split("\n"))
    return [line for line in seen.mine.split("\n")[1:] if line.strip() and line not in known]


def standing(text: str, layout: Layout, block_id: str, upstream: str) -> Standing:
    """Whether the note has settled this conflict on its own (see the module docstring),
    asked of the merge itself, so that what ``status`` says is what the next sync does:
    merged with Readwise's text for this piece, does the note still conflict there?"""
    merged = merge_note(text.replace("\r\n", "\n"), layout, _with(layout, block_id, upstream))
    if any(conflict.block_id == block_id for conflict in merged.conflicts):
        return Standing.WAITING
    return Standing.SETTLED


def _with(layout: Layout, block_id: str, upstream: str) -> Layout:
    """A rendering that is the last one but for this piece, which says ``upstream``."""
    new = Layout(
        frontmatter={k: layout.rendering(f"fm:{k}", v) for k, v in layout.frontmatter.items()},
        sections=dict(layout.sections),
        blocks={h: layout.rendering(f"h:{h}", b) for h, b in layout.blocks.items()},
    )
    hid = _highlight(block_id)
    if block_id.startswith("fm:"):
        new.frontmatter[block_id[3:]] = upstream
    elif hid is not None and upstream:
        new.blocks[hid] = upstream
    elif hid is not None:
        new.blocks.pop(hid, None)  # deleted in Readwise
    return new


def keep_mine(layout: Layout, block_id: str, upstream: str) -> Layout:
    """The layout after the user chose their own version: Readwise's current text counts as
    seen, so only a later change in Readwise is news (and a conflict again)."""
    kept = copy.deepcopy(layout)
    hid = _highlight(block_id)
    if hid is not None and not upstream:  # deleted in Readwise: the block is the user's now
        kept.blocks.pop(hid, None)
        kept.rendered.pop(block_id, None)
        return kept
    kept.rendered[block_id] = upstream
    return kept


def take_readwise(text: str, layout: Layout, block_id: str, upstream: str) -> Layout | None:
    """The layout after the user chose Readwise's version: their version is marked as the
    tool's, so the merge replaces it (or removes it, when Readwise deleted the highlight).
    None when the user's version can't be told in the note."""
    seen = versions(text, layout, block_id, upstream)
    if seen.mine is None:
        return None
    taken = copy.deepcopy(layout)
    taken.rendered.pop(block_id, None)  # what the note has now is what gets replaced
    if block_id.startswith("fm:"):
        taken.frontmatter[block_id[3:]] = seen.mine
        return taken
    hid = _highlight(block_id)
    if hid is None:
        return None
    taken.blocks[hid] = seen.mine
    return taken
