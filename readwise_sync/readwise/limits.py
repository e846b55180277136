"""The bounds on what one run takes from the network, and how they are worded.

* ``Retry-After`` read defensively: only a number of seconds counts (``10**9`` and ``1e10``
  are numbers, ``inf`` is an endless wait); ``nan``, a negative value, an HTTP-date or any
  other text is no wait at all, so the backoff decides;
* :class:`ListingBounds`: a listing of the export that would page for ever stops, at a
  repeated cursor, after pages that bring nothing new, past the pages its first page's
  ``count`` can fill, or past :data:`MAX_DOCUMENTS` documents;
* :class:`Halt`: the waits between attempts, ended at once by the run's ``stop``;
* gzip decoded a step at a time, so a gzip bomb costs no more memory than the cap;
* the one-line errors for each bound hit, with sizes and durations worded for a user.

No third-party library here: the client applies these bounds to what httpx reads.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator

from readwise_sync.errors import Interrupted, InvalidResponse, Redirected, RetryAfterTooLong
from readwise_sync.readwise.wire import ExportPage

# delay-seconds (RFC 9110 says digits; a fraction or an exponent is read too), or infinity.
_SECONDS = re.compile(r"\+?(?:\d+(?:\.\d*)?(?:[eE]\+?\d+)?|inf(?:inity)?)", re.IGNORECASE)
_DETAIL_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*second", re.IGNORECASE)
# Pages in a row that bring no document or highlight not seen before in the listing.
STALLED_PAGES = 5
# Documents one listing may bring, whatever its count says: far more than any library holds.
MAX_DOCUMENTS = 200_000
# What a wait too long is recorded as: finite, so a scheduler can still add it to a date.
LONGEST_WAIT = 1e9

GZIP = 32 + zlib.MAX_WBITS  # a gzip or zlib header, whichever the stream has
_INFLATE_STEP = 1 << 20  # decompressed bytes made at a time

_UNITS = (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def parse_retry_after(header: str | None, body: bytes) -> float | None:
    """Seconds a 429 asks to wait (maybe ``inf``): the header, else the DRF ``detail`` text."""
    text = (header or "").strip()
    if _SECONDS.fullmatch(text):
        return float(text)  # digits beyond a float's range read as inf, never an error
    try:
        detail = json.loads(body).get("detail", "")
    except (ValueError, AttributeError, RecursionError):
        return None
    match = _DETAIL_SECONDS.search(str(detail))
    return float(match.group(1)) if match else None


def span(seconds: float) -> str:
    """``15 minutes``, ``6 seconds``, ``31 years``: the largest whole unit."""
    for unit, size in _UNITS:
        if seconds >= size or unit == "second":
            count = int(seconds // size) if seconds >= 1 else seconds
            return f"{count:g} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable")


def asked_wait(seconds: float) -> str:
    """A wait Readwise asked for, as asked and in a unit one can picture."""
    if not math.isfinite(seconds) or seconds >= 1e12:
        return "without end"
    exact = f"{seconds:.0f} seconds" if seconds >= 60 else f"{seconds:g} seconds"
    return exact if seconds < 60 else f"{exact} (about {span(seconds)})"


def size(count: int) -> str:
    """``64 MiB``, ``256 KiB``, ``1000 bytes``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift and count % (1 << shift) == 0:
            return f"{count >> shift} {unit}"
    return f"{count} bytes"


class Halt:
    """When a client must stop: the run's ``stop`` is set, or the client was closed."""

    def __init__(
        self, stop: threading.Event | None, sleep: Callable[[float], None] | None = None
    ) -> None:
        self.stop = stop if stop is not None else threading.Event()
        self.closed = threading.Event()
        self._sleep = sleep  # a stand-in for the real wait (tests record the waits asked)

    def check(self) -> None:
        if self.stop.is_set():
            raise Interrupted("stopped on request; the next run picks up from here")
        if self.closed.is_set():
            raise Interrupted("the run ended; request abandoned")

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, raising :class:`Interrupted` as soon as the client must stop."""
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            until = time.monotonic() + seconds
            while (left := until - time.monotonic()) > 0:
                self.check()
                self.stop.wait(min(left, 0.25))  # a close is seen within a quarter second
        self.check()


def inflated(data: bytes, state: list[zlib._Decompress]) -> Iterator[bytes]:
    """Decompress ``data`` at most a step at a time; ``state`` holds the decoder (one a member)."""
    while data:
        out = state[0].decompress(data, _INFLATE_STEP)
        data = state[0].unconsumed_tail
        if state[0].eof:  # concatenated gzip members are one stream (RFC 1952)
            data = state[0].unused_data + data
            state[0] = zlib.decompressobj(GZIP)
        if out:
            yield out


def printable(text: str, limit: int = 200) -> str:
    """``text`` from a server, safe for a one-line message: no control characters, cut short."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


def redirected(url: str, status: int, where: str | None, base_url: str) -> Redirected:
    target = printable(where) if where else "nowhere"
    return Redirected(
        f"{url} answered with a redirect (HTTP {status}) to {target}; check api_url "
        f"(now {base_url}): it must be where Readwise answers, https://readwise.io",
        url=url,
        location=where,
    )


def wait_too_long(url: str, wait: float, cap: float) -> RetryAfterTooLong:
    return RetryAfterTooLong(
        f"{url}: Readwise asks to wait {asked_wait(wait)} before the next request "
        f"(HTTP 429, Retry-After), more than the {span(cap)} a run waits; "
        "run the sync again later",
        url=url,
        retry_after=min(wait, LONGEST_WAIT),
    )


def too_big(url: str, cap: int, *, compressed: bool) -> InvalidResponse:
    how = " (decompressed)" if compressed else ""
    return InvalidResponse(
        f"{url} sent more than {size(cap)}{how} in one answer, more than any export page "
        "holds; stopped reading it",
        url=url,
    )


def over_run_budget(url: str, base_url: str, budget: int) -> InvalidResponse:
    return InvalidResponse(
        f"{base_url} sent more than {size(budget)} in this run, more than a whole library "
        "takes; stopped",
        url=url,
    )


def page_budget(page: ExportPage) -> int | None:
    """The pages a listing may take, from its first page; None when that says nothing.

    ``count`` counts highlights. When it counts more than the page holds it is the
    listing's total, and every further page holds at least one document with one of those
    highlights, so ``count / documents per page`` pages hold them all; twice that and ten
    more is allowed. A count of the page's own highlights (as the fake server sends, and
    the API may: its docs don't say) bounds nothing; the cap on documents, the byte budget
    and the rule against pages that bring nothing new then stop a listing that never ends.
    """
    if page.count is None or not page.next_page_cursor:
        return None
    if page.count <= sum(len(book.highlights) for book in page.results):
        return None
    return 2 * math.ceil(page.count / max(1, len(page.results))) + 10


class ListingBounds:
    """Checks each page of one listing before it is used; raises InvalidResponse to stop.

    :meth:`check` also says whether the page is worth using: one that brings no document
    or highlight the listing has not already brought only repeats what arrived.
    """

    def __init__(self, url: str, max_documents: int = MAX_DOCUMENTS) -> None:
        self.url = url
        self.max_documents = max_documents
        self.pages = 0
        self.budget: int | None = None
        self._first_count: int | None = None
        self._cursors: set[str] = set()
        self._books: set[int] = set()
        self._highlights: set[int] = set()
        self._stalled = 0

    def check(self, page: ExportPage) -> bool:
        """Raise if paging must stop here; else whether the page brings anything new."""
        self.pages += 1
        if self.pages == 1:
            self.budget, self._first_count = page_budget(page), page.count
        cursor = page.next_page_cursor
        if cursor and cursor in self._cursors:
            raise InvalidResponse(f"{self.url} repeated page cursor {cursor}", url=self.url)
        if self.budget is not None and self.pages > self.budget:
            raise InvalidResponse(
                f"{self.url} sent more than {self.budget} pages, more than the "
                f"{self._first_count} highlights its first page counts can fill; stopped paging",
                url=self.url,
            )
        news = self._brings_news(page)
        if len(self._books) > self.max_documents:
            raise InvalidResponse(
                f"{self.url} listed more than {self.max_documents} documents, more than a "
                "library holds; stopped paging",
                url=self.url,
            )
        self._stalled = 0 if news else self._stalled + 1
        if self._stalled > STALLED_PAGES:
            raise InvalidResponse(
                f"{self.url} sent {self._stalled} pages in a row with nothing new under new "
                "page cursors; stopped paging",
                url=self.url,
            )
        if cursor:
            self._cursors.add(cursor)
        return news or self.pages == 1  # an empty library is still one (empty) page

    def _brings_news(self, page: ExportPage) -> bool:
        books, highlights = len(self._books), len(self._highlights)
        for book in page.results:
            self._books.add(book.user_book_id)
            self._highlights.update(highlight.id for highlight in book.highlights)
        return (len(self._books), len(self._highlights)) != (books, highlights)
