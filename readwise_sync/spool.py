"""Between fetching and writing: pages read ahead, decisions kept on disk.

A sync never writes a note before every page has arrived (a fetch that fails
half-way must leave the vault as it was), yet it should not wait idle for the
network either. So the next page is fetched in a background thread while the
current one is decided and rendered (:func:`read_ahead`), and the decisions
wait in an anonymous temporary file (:class:`Spool`) until the last page is
in, so memory holds a page or two, never the library.
"""

from __future__ import annotations

import pickle
import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")

_DONE = object()


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
            self._file.close()

    def __len__(self) -> int:
        return len(self._sizes)

    def add(self, batch: list[T]) -> None:
        if not batch:
            self._sizes.append(0)
            return
        if self._file is None:
            self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Unlinked at once where the OS allows: a killed run leaves nothing behind.
            self._file = tempfile.TemporaryFile(dir=self._folder, prefix=".spool-")  # noqa: SIM115 (closed in __exit__)
        data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(data)
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


def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield from ``items``, producing up to ``depth`` items ahead in a background thread.

    An exception raised while producing is raised here, in order, after the items
    produced before it. Leaving the loop early tells the producer to stop after the
    item it is working on.
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    leaving = threading.Event()

    def put(item: Any) -> bool:
        while not leaving.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((_DONE, exc))
            return
        put((_DONE, None))

    worker = threading.Thread(target=produce, name="readwise-sync-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        leaving.set()
