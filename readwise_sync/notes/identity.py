"""Whose note is this? The evidence that ties a note at a book's recorded path to that
book, and the verdict. Pure: evidence in, a verdict out; nothing is read here.

Evidence for the book: our exact text; a block the tool wrote for it; its metadata
section or title property, when no other book has the same. Evidence against: another
book's exact text, blocks, metadata section or title (its note, moved onto this path).
When neither pieces nor the exact text tell, the file itself may: the very file the tool
last wrote at the path (same device and inode, so edited in place) is the book's, even
emptied. Failing that too: a book sharing what is left of it (two editions share title
and metadata) that lost its own note since the last sync, and whose note is nowhere
else in the vault, may have moved it here.

Nothing either way (:class:`Unknown`), at a path the book still holds, means the note
is its own unless its note is found elsewhere (the user may well have deleted every
highlight of it): the caller looks. At a path the book let go of (``released``: its note
went missing earlier) the path proves nothing, and nothing for it means no, unless the
note is the very file the tool last wrote for the book *and* still holds the book's
metadata section or title property (shared with another edition or not): the user moved
it back, emptied of its blocks. (A file the user made there anew would be another file,
or one that reused a deleted file's inode and holds nothing of the book's.)

Some evidence is dear, so the judge asks for it only when the cheaper evidence leaves
the question open: what the state holds of every book (:class:`NeedsLibrary`: who
wrote which block, title and metadata section takes a pass over all the layouts), and
where the vault's search found the notes of the editions that lost theirs
(:class:`NeedsSearch`). The caller gathers it once and asks again with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from readwise_sync.notes.merge import Layout, split_frontmatter
from readwise_sync.notes.pieces import PieceIndex, bullet_blocks_of, holds


@dataclass(frozen=True)
class Authorship:
    """Who wrote what, across the library, as the tool last wrote it: the book of each
    block, and the books of each title property and each metadata section (two editions
    of a book may share them)."""

    blocks: PieceIndex[str] = field(default_factory=PieceIndex)
    titles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    preambles: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, layouts: Iterable[tuple[str, Layout]]) -> Authorship:
        """From every book's last layout (a block written twice is the last one's)."""
        blocks: PieceIndex[str] = PieceIndex()
        titles: dict[str, set[str]] = {}
        preambles: dict[str, set[str]] = {}
        for book_id, layout in layouts:
            for block in layout.blocks.values():
                blocks.add(block, book_id)
            if "title" in layout.frontmatter:
                titles.setdefault(layout.frontmatter["title"], set()).add(book_id)
            if layout.sections.get("preamble"):
                preambles.setdefault(layout.sections["preamble"], set()).add(book_id)
        return cls(
            blocks,
            {title: frozenset(ids) for title, ids in titles.items()},
            {preamble: frozenset(ids) for preamble, ids in preambles.items()},
        )

    def owners_of(self, text: str) -> set[str]:
        """The books whose blocks are top-level bullets of this note exactly as the tool
        last wrote them, continuation lines and all: a paragraph the user indented under
        a pasted block makes it theirs, no evidence of that block's book."""
        if not self.blocks:
            return set()  # nothing written yet (a first sync): no note to take apart
        _, body = split_frontmatter(text.replace("\r\n", "\n"))
        owners = (self.blocks.owner_of(block) for block in bullet_blocks_of(body))
        return {owner for owner in owners if owner is not None}

    def sharing(self, book_id: str, layouts: Iterable[Layout]) -> frozenset[str]:
        """The other books with a metadata section or title property of these layouts."""
        shared: set[str] = set()
        for layout in layouts:
            if preamble := layout.sections.get("preamble", ""):
                shared |= self.preambles.get(preamble, frozenset())
            if title := layout.frontmatter.get("title"):
                shared |= self.titles.get(title, frozenset())
        return frozenset(shared - {book_id})

    def others_in(self, text: str, book_id: str, sharing: Iterable[str] = ()) -> bool:
        """Whether the text holds the metadata section or title property the tool wrote
        for another book, one this book does not share (that book's note, moved here)."""
        mine = {book_id, *sharing}
        return any(
            owners - mine and holds(text, piece)
            for owners_by_piece in (self.titles, self.preambles)
            for piece, owners in owners_by_piece.items()
        )

    def written_for_another(self, text: str, book_id: str) -> bool:
        """Whether the tool wrote this note for another book: its blocks, its metadata
        section or its title property are in it. Such a note is never adopted: it is
        that book's, moved and edited (another edition may share the title)."""
        return bool(self.owners_of(text) - {book_id}) or self.others_in(text, book_id)


@dataclass(frozen=True)
class Library:
    """What the state says beyond the book's own record, asked for by :class:`NeedsLibrary`."""

    hash_owners: frozenset[str]  # the books whose last text (or pending one) is this note's
    layouts: tuple[Layout, ...]  # what the tool last wrote here, and was about to write
    authorship: Authorship
    # Of the books sharing a title or metadata section with this one (see
    # Authorship.sharing: the others are not looked at), those whose note went from the
    # path they hold since the last sync.
    lost: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Evidence:
    """What is known of one note at a book's recorded path."""

    book_id: str
    path: str  # the book's recorded path, where this note is
    text: str  # as read
    digest: str  # of the text as read
    written: tuple[str | None, ...]  # the hashes of the texts the tool wrote here last
    released: bool = False  # the book let go of the path (its note went missing earlier)
    library: Library | None = None
    # The file is the one the tool last wrote here (same device and inode: edited in
    # place, or moved away and back), as the filesystem tells; given with the library.
    same_file: bool = False
    # The vault's search, once run: where it found each note that left its path (a book
    # missing from it: found nowhere).
    found: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Ours:
    """The note is the book's."""

    why: str


@dataclass(frozen=True)
class NotOurs:
    """The note is not the book's (another book's, or nothing ties it to this one)."""

    why: str


@dataclass(frozen=True)
class Unknown:
    """Nothing for or against, at a path the book holds: the book's unless the search
    finds its note elsewhere."""


@dataclass(frozen=True)
class NeedsLibrary:
    """Ask again with :attr:`Evidence.library`."""


@dataclass(frozen=True)
class NeedsSearch:
    """Ask again with :attr:`Evidence.found`: these editions, which share what is left
    of the note, lost their own since the last sync; one may have been moved here."""

    editions: frozenset[str]


Settled = Ours | NotOurs | Unknown
Verdict = Ours | NotOurs | Unknown | NeedsLibrary | NeedsSearch


def judge(evidence: Evidence) -> Verdict:
    """Whose the note is, by the evidence (see the module docstring), strongest first."""
    if evidence.digest in evidence.written:
        return Ours("our exact text")
    library = evidence.library
    if library is None:
        return NeedsLibrary()
    if library.hash_owners - {evidence.book_id}:
        return NotOurs("another book's exact text")
    if not library.layouts:
        return Ours("a record from before layouts were kept can't tell: the path says so")
    text = evidence.text.replace("\r\n", "\n")
    verdict = _by_pieces(evidence.book_id, text, library)
    if verdict is not None:
        return verdict
    if evidence.same_file and (not evidence.released or _holds_metadata(text, library)):
        return Ours("the very file the tool wrote here")
    if evidence.released:
        return NotOurs("nothing for it, at a path it let go of")
    who, book_id = library.authorship, evidence.book_id
    sharing = who.sharing(book_id, library.layouts)
    if who.others_in(text, book_id, sharing):
        return NotOurs("another book's own metadata section or title")
    return _by_search(evidence, library.lost & sharing)


def _by_pieces(book_id: str, text: str, library: Library) -> Ours | NotOurs | None:
    """What the pieces the tool wrote say: a block of ours, our own metadata section or
    title property, or another book's blocks."""
    who = library.authorship
    for layout in library.layouts:
        if any(holds(text, block) for block in layout.blocks.values()):
            return Ours("a block the tool wrote here")
        preamble = layout.sections.get("preamble", "")
        if holds(text, preamble) and not who.preambles.get(preamble, frozenset()) - {book_id}:
            return Ours("its own metadata section")
    if who.owners_of(text) - {book_id}:
        return NotOurs("another book's blocks")
    for layout in library.layouts:
        title = layout.frontmatter.get("title", "")
        if holds(text, title) and not who.titles.get(title, frozenset()) - {book_id}:
            return Ours("its own title property")
    return None


def _holds_metadata(text: str, library: Library) -> bool:
    """Whether the text holds a metadata section or title property the tool wrote for the
    book (whichever other book shares it)."""
    for layout in library.layouts:
        pieces = (layout.sections.get("preamble", ""), layout.frontmatter.get("title", ""))
        if any(piece and holds(text, piece) for piece in pieces):
            return True
    return False


def _by_search(evidence: Evidence, lost: frozenset[str]) -> Verdict:
    if not lost:
        return Unknown()
    if evidence.found is None:
        return NeedsSearch(lost)
    if any(evidence.found.get(edition) in (None, evidence.path) for edition in lost):
        return NotOurs("an edition that lost its note may have moved it here")
    return Unknown()  # their notes are elsewhere
