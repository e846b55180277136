"""Finding a book's note by what is inside it. Pure: works on the texts it is handed
(or, for a large vault, reads one again through the function it is handed).

Used when a recorded note is gone from its path (the user moved or renamed
it) and when a first sync meets notes made earlier by another tool (the
official Readwise plugin) that should be adopted, not duplicated.

A note is recognised, strongest evidence first, by: its exact text (a moved
note nobody edited); a tracking property naming the book (``readwise_id``,
``readwise_book_id`` or ``book_id`` equal to the book id, or ``readwise_url``
equal to its Readwise URL); links only this book has (a highlight's URL, its
``readwise.io/open/<id>`` link, the book's ``readwise.io/bookreview/<id>``
URL, a Kindle deep link with its ASIN); and, for adoption only, its title and
author. When two notes fit equally well, none is chosen.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from readwise_sync.domain import Document
from readwise_sync.notes.pieces import TELLING, holds

K = TypeVar("K")

_URL = re.compile(r"(?:https?|kindle)://[^\s)\]>\"'`]+")
_ASIN = re.compile(r"[?&]asin=([A-Za-z0-9]{10})")
_FULL_TITLE = re.compile(r"^- (?:Full )?Title: (.+)$", re.MULTILINE)
_AUTHOR = re.compile(r"^- Author: (.+)$", re.MULTILINE)
TRACKING_KEYS = ("readwise_id", "readwise_book_id", "book_id", "readwise_url")
_TRACKING = re.compile(
    r"^(?:" + "|".join(TRACKING_KEYS) + r"):[ \t]*['\"]?([^'\"\s]+)['\"]?[ \t]*$", re.MULTILINE
)


def _key(value: Any) -> str:
    """A loose comparison key for titles and authors: brackets, quotes, case, spacing ignored."""
    if isinstance(value, list):  # `author: [[Name]]` unquoted is a nested list in YAML
        value = " ".join(_key(item) for item in value)
    text = unicodedata.normalize("NFKC", str(value)).replace("[[", "").replace("]]", "")
    return " ".join(text.strip().strip("\"'").casefold().split())


def book_markers(book: Document) -> set[str]:
    """Strings that appear only in this book's note (when the template writes links)."""
    markers = {book.readwise_url} if book.readwise_url else set()
    for item in book.highlights:
        markers.update(url for url in (item.url, item.readwise_url) if url)
    if book.asin:
        markers.add(f"asin={book.asin}")
    return markers


def text_markers(text: str) -> set[str]:
    found: set[str] = set()
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?")
        found.add(url)
        asin = _ASIN.search(url)
        if asin:
            found.add(f"asin={asin.group(1)}")
    return found


@dataclass
class NoteEntry:
    """What the index knows of one note file: its evidence, not its text.

    A first sync into a vault of thousands of notes indexes all of them, so an entry
    keeps only what identifies the note (hash, links, frontmatter, title and author
    lines); ``text`` is kept only when asked (:func:`describe_note`), and otherwise
    read again, by :class:`NoteIndex`'s ``read``, in the rare search that needs it.
    """

    path: str
    digest: str
    markers: set[str]
    head: str = field(repr=False)  # the frontmatter, fences included ("" without one)
    title_lines: list[str] = field(default_factory=list, repr=False)
    author_lines: list[str] = field(default_factory=list, repr=False)
    text: str | None = field(default=None, repr=False)
    _meta: dict[str, Any] | None = field(default=None, repr=False)

    def metadata(self) -> dict[str, Any]:
        """The frontmatter properties (parsed only when needed: YAML is slow)."""
        if self._meta is None:
            self._meta = {}
            if self.head:
                try:
                    import frontmatter  # YAML is slow to import too: only when needed

                    self._meta = dict(frontmatter.loads(self.head).metadata)
                except Exception:  # invalid YAML in someone's note is not our error to raise
                    pass
        return self._meta

    def titles(self) -> set[str]:
        meta = self.metadata()
        found = {_key(meta["title"])} if meta.get("title") else set()
        found.update(_key(m) for m in self.title_lines)
        found.add(_key(self.path.rsplit("/", 1)[-1].removesuffix(".md")))
        return found

    def authors(self) -> set[str]:
        meta = self.metadata()
        found = {_key(meta["author"])} if meta.get("author") else set()
        found.update(_key(m) for m in self.author_lines)
        return found


# python-frontmatter's own fence: the properties end at the second such line.
_FENCE = re.compile(r"^-{3,}\s*$", re.MULTILINE)


def _frontmatter_of(text: str) -> str:
    if not text.startswith("---"):
        return ""
    fences = _FENCE.finditer(text)
    if next(fences, None) is None:
        return ""
    closing = next(fences, None)
    return text[: closing.end()] if closing is not None else ""


def describe_note(path: str, text: str, *, keep_text: bool = True) -> NoteEntry:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    markers = text_markers(text)
    if text.startswith("---\n"):
        # Tracking properties become markers too: "id:<n>" or the Readwise URL itself.
        head = text[: text.find("\n---", 3) + 1]
        for value in _TRACKING.findall(head):
            markers.add(value if "://" in value else f"id:{value}")
    return NoteEntry(
        path=path,
        digest=digest,
        markers=markers,
        head=_frontmatter_of(text),
        title_lines=_FULL_TITLE.findall(text),
        author_lines=_AUTHOR.findall(text),
        text=text if keep_text else None,
    )


class NoteIndex:
    """The notes of a vault that no book has claimed yet, searchable by identity.

    ``read(path)`` gives a note's text again, for entries described without it.
    """

    def __init__(
        self,
        entries: Iterable[NoteEntry],
        read: Callable[[str], str | None] | None = None,
    ) -> None:
        self._read = read
        self.entries: dict[str, NoteEntry] = {}
        self._by_digest: dict[str, list[str]] = {}
        self._by_marker: dict[str, list[str]] = {}
        self._by_title: dict[str, list[str]] | None = None  # built on the first title search
        for entry in entries:
            self.add(entry)

    def add(self, entry: NoteEntry) -> None:
        self.entries[entry.path] = entry
        self._by_digest.setdefault(entry.digest, []).append(entry.path)
        for marker in entry.markers:
            self._by_marker.setdefault(marker, []).append(entry.path)
        self._by_title = None  # rebuilt, with this note, on the next title search

    def claim(self, path: str) -> None:
        """A book took this note: no other book may find it."""
        self.entries.pop(path, None)

    def _alive(self, paths: Iterable[str]) -> list[str]:
        # dict.fromkeys: a note claimed and added again is listed twice, but is one note.
        return [path for path in dict.fromkeys(paths) if path in self.entries]

    def text_of(self, path: str) -> str | None:
        """The text of an indexed note: kept, or read again."""
        entry = self.entries.get(path)
        if entry is not None and entry.text is not None:
            return entry.text
        return self._read(path) if self._read is not None else None

    def piece_hits(self, pieces: dict[K, Iterable[str]]) -> dict[K, Counter[str]]:
        """For each key, how many of its pieces each note holds (see
        :func:`~readwise_sync.notes.pieces.holds`; shorter than :data:`TELLING`, a piece
        proves nothing). Reads each note once for all the keys, one at a time: the texts are
        never all in memory together."""
        wanted = {key: [p for p in group if len(p) >= TELLING] for key, group in pieces.items()}
        hits: dict[K, Counter[str]] = {key: Counter() for key in pieces}
        if not any(wanted.values()):
            return hits
        for path in list(self.entries):
            text = self.text_of(path)
            if text is None:
                continue
            for key, group in wanted.items():
                count = sum(1 for piece in group if holds(text, piece))
                if count:
                    hits[key][path] = count
        return hits

    def find_exact(self, digests: Iterable[str | None]) -> str | None:
        """The one note whose text is exactly one of these (a note moved untouched)."""
        for digest in digests:
            exact = self._alive(self._by_digest.get(digest or "", ()))
            if len(exact) == 1:
                return exact[0]
        return None

    def find(
        self,
        book: Document,
        *,
        digests: Iterable[str | None] = (),
        pieces: Iterable[str] = (),
        piece_hits: Counter[str] | None = None,
        by_title: bool = False,
    ) -> str | None:
        """The one note that is this book's, or None when there is none or it is ambiguous.

        ``digests``: hashes of texts the tool wrote there; ``pieces``: blocks it wrote
        (a note that still holds some of them is that note even when edited),
        or ``piece_hits``, the same already counted by :meth:`piece_hits`.
        """
        if not self.entries:
            return None  # a first sync into an empty vault asks this for every book
        exact = self.find_exact(digests)
        if exact is not None:
            return exact
        if piece_hits is None:
            piece_hits = self.piece_hits({0: pieces})[0]
        found = self._best(Counter({p: n for p, n in piece_hits.items() if p in self.entries}))
        if found is not None:
            return found
        tracked = self._alive(self._by_marker.get(f"id:{book.id}", ()))
        if len(tracked) == 1:
            return tracked[0]
        hits = Counter(
            path
            for marker in book_markers(book)
            for path in set(self._alive(self._by_marker.get(marker, ())))
        )
        if hits:
            return self._best(hits)
        return self._find_by_title(book) if by_title else None

    @staticmethod
    def _best(scores: Counter[str]) -> str | None:
        """The note scoring highest, if no other scores as high."""
        if not scores:
            return None
        (best, score), *rest = scores.most_common(2)
        return best if not rest or rest[0][1] < score else None

    def _find_by_title(self, book: Document) -> str | None:
        """The one note with the book's title and, when it has one, its author."""
        if self._by_title is None:
            self._by_title = {}
            for entry in self.entries.values():
                for title in entry.titles():
                    self._by_title.setdefault(title, []).append(entry.path)
        author = _key(book.author) if book.author else None
        candidates = {
            path
            for title in {_key(book.title), _key(book.display_title)}
            for path in self._alive(self._by_title.get(title, ()))
        }
        matches = [p for p in candidates if author is None or author in self.entries[p].authors()]
        return matches[0] if len(matches) == 1 else None
