"""Between fetching and writing: pages read ahead, decisions kept on disk.

A sync never writes a note before every page has arrived (a fetch that fails
half-way must leave the vault as it was), yet it should not wait idle for the
network either. So the next page is fetched in a background thread while the
current one is decided and rendered (:func:`read_ahead`), and the decisions
wait in an anonymous temporary file (:class:`Spool`) until the last page is
in, so memory holds a page or two, never the library.
"""

from __future__ import annotations

import contextlib
import pickle
import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from readwise_sync.errors import Interrupted
from readwise_sync.store.statedb import state_error

T = TypeVar("T")

_DONE = object()
_POLL = 0.1  # seconds between looks at the stop flags while waiting for a slot or an item
# Seconds a stopping read-ahead waits for its producer before leaving it to end on its own.
READ_AHEAD_GRACE = 2.0


class Spool(Generic[T]):
    """Batches of picklable items kept in an unlinked temporary file, read back in order."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        # Made with the first batch that holds anything: a sync with nothing to do (the
        # usual cron run) then creates no file at all.
        self._file: IO[bytes] | None = None
        self._sizes: list[int] = []

    def __enter__(self) -> Spool[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # unlinked, done with: an unflushed end is moot
                self._file.close()

    def __len__(self) -> int:
        return len(self._sizes)

    def add(self, batch: list[T]) -> None:
        if not batch:
            self._sizes.append(0)
            return
        data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            if self._file is None:
                self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                # Unlinked at once where the OS allows: a killed run leaves nothing behind.
                self._file = tempfile.TemporaryFile(dir=self._folder, prefix=".spool-")  # noqa: SIM115 (closed in __exit__)
            self._file.write(data)
            self._file.flush()  # a full disk is met here, where it can be named
        except OSError as exc:  # a full disk, most likely: say which folder
            raise state_error(self._folder, exc, "the state folder") from exc
        self._sizes.append(len(data))

    def batches(self) -> Iterator[list[T]]:
        if self._file is not None:
            self._file.seek(0)
        for size in self._sizes:
            if not size:
                yield []
                continue
            assert self._file is not None
            # Only what this process wrote a moment ago into its own unlinked file.
            yield pickle.loads(self._file.read(size))


class _Producer(Generic[T]):
    """The background half of :func:`read_ahead`: items from the source into the slots."""

    def __init__(self, items: Iterator[T], depth: int) -> None:
        self.slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.leaving = threading.Event()
        self._source = iter(items)
        self.thread = threading.Thread(
            target=self._run, name="readwise-sync-read-ahead", daemon=True
        )

    def _put(self, item: Any) -> bool:
        while not self.leaving.is_set():
            try:
                self.slots.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self.leaving.is_set():
                try:
                    item = next(self._source)
                except StopIteration:
                    self._put((_DONE, None))
                    return
                if not self._put((item, None)):
                    break
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((_DONE, exc))
            return
        close = getattr(self._source, "close", None)
        if close is not None:  # a generator's own clean-up, here in its own thread
            with contextlib.suppress(Exception):
                close()


def read_ahead(
    items: Iterator[T],
    depth: int = 1,
    *,
    stop: threading.Event | None = None,
    grace: float = READ_AHEAD_GRACE,
) -> Iterator[T]:
    """Yield from ``items``, producing up to ``depth`` items ahead in a background thread.

    An exception raised while producing is raised here, in order, after the items
    produced before it. Setting ``stop`` raises :class:`Interrupted` here within a
    moment, even while the producer is still at work on the next item. However this
    ends, the producer is told to stop after the item it is working on, and joined
    before this returns or raises; a producer still at work after ``grace`` seconds
    (a request blocked on the network, itself bounded by its timeout) is left to end
    on its own: it touches nothing but its items.
    """
    producer = _Producer(items, depth)
    producer.thread.start()
    try:
        while True:
            if stop is not None and stop.is_set():
                raise Interrupted("stopped on request; the next run picks up from here")
            try:
                item, error = producer.slots.get(timeout=_POLL)
            except queue.Empty:
                continue
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        producer.leaving.set()
        producer.thread.join(grace)
