"""Is this piece still in the note? The one rule the merge, adoption, a note's owner and a
moved note's search all go by. Pure: text in, values out.

A *piece* is what the tool wrote for one part of a note: a highlight's *block* as
rendered (its first line holds the highlight's text and, with the default template,
ends with the highlight's link; indented lines under it hold its tags and note), or a
section (the preamble, the highlights header). Of a block, three things are read:

* its **link** (:func:`block_link`): the URL its first line ends with, when it has 8
  characters or more (shorter ones don't tell highlights apart);
* its **opening** (:func:`opening`): the first 40 characters of its text (past the
  ``- `` of a bullet), when 8 or more of them are not blank;
* its **words** (:func:`words`): casefolded, past Markdown marks and links (what
  survives the user's emphasis and line breaks), and their runs of three
  (:func:`word_runs`).

A piece is in a note in one of three degrees, strongest first:

1. **It stands as written** (:func:`stands`): verbatim, as whole lines, with no
   indented line right under it (that would be a sub-bullet or paragraph the user
   added *to* it, making it their block). It is the tool's own, untouched: the merge
   may replace or remove it, adoption takes it as written by the tool, and a note in
   which another book's blocks stand is that book's (:class:`PieceIndex` tells which
   of many pieces stand in a note).
2. **It is held** (:func:`holds`): verbatim, whatever the user added around it. Not
   the tool's to edit any more, but proof of whose note it is: a note at a book's
   path holding one of its blocks is still that book's, and a moved note is found by
   how many of its book's pieces it holds (pieces of fewer than :data:`TELLING`
   characters are in too many notes to count there).
3. **It remains, edited** (:func:`remains`): its link is in the note, or its opening,
   or at least half its runs of three words (all its words, for a block of fewer)
   outside the note's other blocks (another highlight may repeat its words). The user
   changed it: their text stays, and a change of Readwise's to it is a conflict.
   Adopting a note made by another tool asks it of each top-level bullet's first line,
   by the block's clues alone (:func:`bullet_holding`): that bullet is the
   highlight's, in another form; whether it still says what Readwise has is
   :func:`says`.

None of these: the user deleted it. A block whose Readwise text stands in the note
in its place, with no edited form of the old one left beside it, is settled
(:func:`settled_by`): the user made it say what Readwise has now.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
Span = tuple[int, int]

# A piece of fewer characters proves nothing about which note holds it.
TELLING = 12

_LINK_TARGET = re.compile(r"\]\(([^()\s]+)\)\)?\s*$")
_MARKS = re.compile(r"[*_~=`\[\]()>#]+")
_BULLET = re.compile(r"^- ", re.MULTILINE)
_BULLET_LINE = re.compile(r"^- .*$", re.MULTILINE)
_CLUE = 8  # the least characters of a link or an opening that tell highlights apart


def line_end(body: str, index: int) -> int:
    """The index just past the end of the line containing ``index`` (its newline included)."""
    newline = body.find("\n", index)
    return len(body) if newline == -1 else newline + 1


def _stands_at(body: str, piece: str, index: int) -> bool:
    """Whether ``piece``, which ``body`` holds at ``index``, is whole lines there with no
    indented line under it. (A line of only spaces is blank, not indented.)"""
    end = index + len(piece)
    if index and body[index - 1] != "\n":
        return False
    if end == len(body):
        return True
    if body[end] != "\n":
        return False
    following = body[end + 1 : line_end(body, end + 1)]
    return not (following.startswith((" ", "\t")) and bool(following.strip()))


def stands(body: str, piece: str, taken: Sequence[Span] = (), start: int = 0) -> Span | None:
    """Where ``piece`` stands in ``body`` as written (the rule's first degree), from ``start``
    on and not overlapping a ``taken`` span; the first such place."""
    if not piece:
        return None
    index = body.find(piece, start)
    while index != -1:
        end = index + len(piece)
        if not _overlaps(index, end, taken) and _stands_at(body, piece, index):
            return index, end
        index = body.find(piece, index + 1)
    return None


def _overlaps(start: int, end: int, taken: Sequence[Span]) -> bool:
    # A loop, not any() over a generator: a merge asks this of every block it finds.
    for t_start, t_end in taken:  # noqa: SIM110 (see above)
        if start < t_end and t_start < end:
            return True
    return False


def holds(text: str, piece: str) -> bool:
    """Whether ``text`` holds ``piece`` verbatim, anywhere (the rule's second degree)."""
    return bool(piece) and piece in text


def block_link(block: str) -> str | None:
    """The link a block's first line ends with (its highlight's own), if long enough to
    tell highlights apart."""
    link = _LINK_TARGET.search(block.split("\n", 1)[0])
    return link.group(1) if link and len(link.group(1)) >= _CLUE else None


def opening(block: str) -> str | None:
    """The start of a block's text, if long enough to tell highlights apart."""
    first = block.split("\n", 1)[0]
    text = (first[2:42] if first.startswith("- ") else first[:40]).strip()
    return text if len(text) >= _CLUE else None


def clues(block: str) -> list[str]:
    """What of a block tells it in an edited form: its link, then its opening."""
    return [clue for clue in (block_link(block), opening(block)) if clue is not None]


def words(text: str) -> list[str]:
    """Words without Markdown emphasis marks or link syntax: what survives an edit."""
    return _MARKS.sub(" ", _LINK_TARGET.sub(" ", text)).casefold().split()


def word_runs(text: str) -> set[tuple[str, ...]]:
    """The runs of three words of ``text`` past Markdown marks (all its words when fewer)."""
    found = words(text.removeprefix("- "))
    if len(found) < 3:
        return {tuple(found)} if found else set()
    return {tuple(found[i : i + 3]) for i in range(len(found) - 2)}


def _words_remain(body: str, block: str, others: Iterable[str]) -> bool:
    for other in others:
        body = body.replace(other, "\n")
    own = words(block.removeprefix("- "))
    if len(own) < 3:
        return bool(own) and f" {' '.join(own)} " in f" {' '.join(words(body))} "
    runs = word_runs(block)
    seen = words(body)
    found = runs & {tuple(seen[i : i + 3]) for i in range(len(seen) - 2)}
    return 2 * len(found) >= len(runs)


def remains(body: str, block: str, others: Iterable[str] = ()) -> bool:
    """Whether an edited form of ``block`` is still in ``body`` (the rule's third degree):
    a clue of it, or most of its words outside the ``others`` blocks."""
    if any(clue in body for clue in clues(block)):
        return True
    return _words_remain(body, block, others)


def settled_by(
    body: str, upstream: str, written: str, others: Sequence[str], taken: Sequence[Span] = ()
) -> Span | None:
    """Where the note says Readwise's ``upstream`` in place of the block it was
    (``written``): it holds ``upstream`` as written and, that copy aside, no edited form
    of the block. (A copy pasted beside the user's own version settles nothing.)"""
    span = stands(body, upstream, taken)
    if span is None or remains(body[: span[0]] + body[span[1] :], written, others):
        return None
    return span


def says(block: str, texts: Iterable[str]) -> bool:
    """Whether a block still holds each of these texts, whatever its formatting."""
    held = " ".join(words(block))
    return all(" ".join(words(text)) in held for text in texts if text.strip())


def block_at(body: str, start: int) -> str:
    """The block that starts at ``start``: its line, plus the indented lines that continue it."""
    end = line_end(body, start)
    while end < len(body):
        next_end = line_end(body, end)
        line = body[end:next_end]
        if line.startswith((" ", "\t")):
            end = next_end
            continue
        if not line.strip():
            # A blank line belongs to the block only when an indented line follows it.
            following = body[next_end : line_end(body, next_end)]
            if following.startswith((" ", "\t")):
                end = next_end
                continue
        break
    return body[start:end].rstrip("\n")


def bullets(body: str) -> list[tuple[int, str]]:
    """The top-level bullets' first lines, with where each starts."""
    return [(m.start(), m.group(0)) for m in _BULLET_LINE.finditer(body)]


def bullet_blocks_of(body: str) -> list[str]:
    """Every top-level bullet of a body with its continuation lines."""
    return [block_at(body, m.start()) for m in _BULLET.finditer(body)]


def bullet_holding(
    body: str, block: str, lines: Sequence[tuple[int, str]], taken: Sequence[Span]
) -> Span | None:
    """The first of a body's bullets (``lines``, from :func:`bullets`) not taken whose first
    line holds a clue of ``block``, tried link first: that highlight's, in another form."""
    for clue in clues(block):
        for start, line in lines:
            if clue in line and not any(s <= start < e for s, e in taken):
                return start, start + len(block_at(body, start))
    return None


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()


class PieceIndex(Generic[K]):
    """Many pieces, each with its owner, to tell which stand in a text as written.

    Kept small (a vault's every block may be in it): hashes and lengths, by the hash of
    the piece's first line, so a text is read once, a look-up per line. Most first
    lines are one piece's: those have an entry of their own, the others share a dict.
    """

    def __init__(self) -> None:
        self._one: dict[bytes, tuple[int, bytes, K]] = {}
        self._more: dict[bytes, dict[tuple[int, bytes], K]] = {}

    def __len__(self) -> int:
        return len(self._one) + sum(len(shared) for shared in self._more.values())

    def add(self, piece: str, owner: K) -> None:
        """Index ``piece`` for ``owner`` (a piece added twice keeps the last owner)."""
        if not piece:
            return
        first, entry = _digest(piece.split("\n", 1)[0]), (len(piece), _digest(piece))
        if first in self._more:
            self._more[first][entry] = owner
        elif first in self._one and self._one[first][:2] != entry:
            length, digest, earlier = self._one.pop(first)
            self._more[first] = {(length, digest): earlier, entry: owner}
        else:
            self._one[first] = (*entry, owner)

    def _candidates(self, line: str) -> list[tuple[int, bytes, K]]:
        first = _digest(line)
        if first in self._one:
            return [self._one[first]]
        return [(*entry, owner) for entry, owner in self._more.get(first, {}).items()]

    def owner_of(self, piece: str) -> K | None:
        """The owner of exactly this piece, if it is in the index."""
        key = (len(piece), _digest(piece))
        for length, digest, owner in self._candidates(piece.split("\n", 1)[0]):
            if (length, digest) == key:
                return owner
        return None

    def owners_in(self, body: str) -> set[K]:
        """The owners of the pieces that stand in ``body`` as written."""
        found: set[K] = set()
        start = 0
        while start < len(body):
            end = line_end(body, start)
            for length, digest, owner in self._candidates(body[start:end].removesuffix("\n")):
                piece = body[start : start + length]
                if _digest(piece) == digest and _stands_at(body, piece, start):
                    found.add(owner)
            start = end
        return found
