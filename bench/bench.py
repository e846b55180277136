"""Benchmark: readwise-sync against the simplest possible exporter, on one library.

Generates a deterministic synthetic library, serves it from the fake Readwise
server over real HTTP on 127.0.0.1, and runs, each as its own process so that
interpreter start-up, CPU time and peak memory are measured the same way:

- ``naive``: bench/naive.py (urllib, string formatting, one file per book);
- ``full``: the first ``readwise-sync sync`` into an empty vault;
- ``no-op``: ``readwise-sync sync`` again with nothing changed;
- ``full, nothing changed``: ``readwise-sync sync --full`` then: every document fetched,
  rendered and found unchanged, none written;
- ``incremental``: ``readwise-sync sync`` after some books changed in Readwise;
- ``rerender``: ``readwise-sync rerender`` after a template change (every note);
- ``adopting``: a first sync into the floor's output, as when moving from another
  tool: every note is found, adopted and merged into, none written twice.

It prints figures; it asserts nothing about them. Usage::

    python bench/bench.py                     # 2,000 x 20 and 10,000 x 20
    python bench/bench.py --sizes 500x20      # a quick look
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import readwise_sync
from readwise_sync.readwise.fakeapi import FakeReadwise

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
# A small vocabulary, some of it non-ASCII, spelled as one string for brevity.
_VOCABULARY = (
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when if "
    "attention memory habit practice writing reading knowledge system library network model "
    "language learning inference evidence argument history economy science culture design "
    "Kindle Readwise Obsidian Thoreau Walden Lisboa café naïve über señor 東京 — “quoted” *em*"
)
WORDS = _VOCABULARY.split()
CATEGORIES = ("books", "articles", "tweets", "podcasts")


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def _text(rng: random.Random) -> str:
    # 50 to 2,000 characters, most of them short, as highlights are.
    length = min(2000, max(50, int(rng.lognormvariate(5.5, 0.8))))
    text = _words(rng, length // 5, length // 5 + 2)
    return text[:length].strip() or "x" * 50


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_library(books: int, highlights: int, seed: int = 6) -> list[dict[str, Any]]:
    """``books`` books with 1 to 2 x ``highlights`` - 1 highlights each (mean ``highlights``)."""
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    library: list[dict[str, Any]] = []
    highlight_id = 900_000_000
    for number in range(books):
        book_id = 10_000_000 + number
        category = CATEGORIES[number % 4] if number % 10 else "books"
        title = _words(rng, 2, 12).title()
        asin = f"B0{number:08d}" if category == "books" and number % 3 == 0 else None
        book: dict[str, Any] = {
            "user_book_id": book_id,
            "is_deleted": False,
            "title": title,
            "readable_title": title,
            "author": _words(rng, 1, 3).title(),
            "source": "kindle" if asin else "reader",
            "cover_image_url": f"https://images.example/{book_id}.jpg",
            "unique_url": None
            if category == "books"
            else f"https://read.readwise.io/read/{book_id}",
            "book_tags": [{"id": 1, "name": "favorite"}] if number % 7 == 0 else [],
            "category": category,
            "document_note": _words(rng, 5, 30) if number % 11 == 0 else None,
            "summary": _words(rng, 10, 40) if category == "articles" else None,
            "readwise_url": f"https://readwise.io/bookreview/{book_id}",
            "source_url": None if category == "books" else f"https://example.org/{book_id}",
            "external_id": None,
            "asin": asin,
            "highlights": [],
        }
        moment = start + timedelta(minutes=rng.randint(0, 500_000))
        for position in range(rng.randint(1, 2 * highlights - 1)):
            highlight_id += 1
            moment += timedelta(seconds=rng.randint(5, 600))
            book["highlights"].append(
                {
                    "id": highlight_id,
                    "is_deleted": False,
                    "text": _text(rng),
                    "location": 100 * (position + 1),
                    "location_type": "location" if category == "books" else "offset",
                    "note": _words(rng, 3, 40) if rng.random() < 0.2 else "",
                    "color": "yellow",
                    "highlighted_at": _stamp(moment),
                    "created_at": _stamp(moment),
                    "updated_at": _stamp(moment),
                    "external_id": None,
                    "end_location": None,
                    "url": None
                    if category == "books"
                    else f"https://read.readwise.io/read/{book_id}/{highlight_id}",
                    "book_id": book_id,
                    "tags": [{"id": 2, "name": "idea"}] if rng.random() < 0.15 else [],
                    "is_favorite": False,
                    "is_discard": False,
                    "readwise_url": f"https://readwise.io/open/{highlight_id}",
                }
            )
        library.append(book)
    return library


@dataclass
class Run:
    name: str
    wall: float
    cpu: float
    rss_mb: float
    requests: int
    notes: int

    def row(self) -> str:
        rate = f"{self.notes / self.wall:,.0f}" if self.notes else "-"
        return (
            f"| {self.name} | {self.wall:.2f} | {self.cpu:.2f} | {self.rss_mb:.0f} | "
            f"{self.requests} | {self.notes:,} | {rate} |"
        )


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(".md"):
                info = os.stat(os.path.join(root, name))
                found[os.path.join(root, name)] = (info.st_mtime_ns, info.st_size)
    return found


# A small process that starts the measured command and reports its resource use. The
# benchmark itself holds the whole library in memory: a child forked straight from it would
# count that memory as its own until it execs, and every peak RSS would read as the bench's.
_LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump([os.waitstatus_to_exitcode(status), wall,
               usage.ru_utime + usage.ru_stime, usage.ru_maxrss], out)
"""


def measure(
    name: str, command: list[str], env: dict[str, str], fake: FakeReadwise, folder: Path
) -> Run:
    """Run one command as a child process: its wall time, CPU time and peak RSS (wait4)."""
    before = _snapshot(folder)
    requests = len(fake.requests)
    with tempfile.TemporaryDirectory() as scratch:
        figures = Path(scratch) / "figures.json"
        output = Path(scratch) / "output.txt"
        with output.open("wb") as sink:
            subprocess.run(
                [sys.executable, "-c", _LAUNCHER, str(figures), *command],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                check=False,
            )
        code, wall, cpu, max_rss = json.loads(figures.read_text())
        if code != 0:
            sys.exit(f"{name} failed ({code}):\n{output.read_text(errors='replace')}")
    after = _snapshot(folder)
    notes = sum(1 for path, mark in after.items() if before.get(path) != mark)
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    rss_mb = max_rss / (1 << 20) if sys.platform == "darwin" else max_rss / 1024
    return Run(name, wall, cpu, rss_mb, len(fake.requests) - requests, notes)


def change_books(fake: FakeReadwise, library: list[dict[str, Any]], count: int, seed: int) -> None:
    """Edit one highlight and add one in each of ``count`` books, as a day of reading does."""
    rng = random.Random(seed)
    for book in rng.sample(library, count):
        first = book["highlights"][0]
        fake.update_highlight(first["id"], text=_text(rng))
        fake.add_highlight(book["user_book_id"], text=_text(rng), location=99_999)


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


def bench_size(books: int, highlights: int, args: argparse.Namespace) -> list[Run]:
    library = make_library(books, highlights)
    total = sum(len(book["highlights"]) for book in library)
    print(f"\n### {books:,} books x {highlights} highlights ({total:,} highlights)\n", flush=True)
    work = Path(tempfile.mkdtemp(prefix="rwsync-bench-", dir=args.workdir))
    fake = FakeReadwise(library, token=TOKEN, page_size=args.page_size)
    fake.latency = args.latency
    runs: list[Run] = []
    try:
        fake.start()
        templates = work / "templates"
        templates.mkdir()
        (templates / "metadata.jinja").write_text(
            (HERE.parent / "readwise_sync/notes/templates/metadata.jinja").read_text()
            + "\n- Category: {{ category }}"
        )
        config = work / "rerender.toml"
        config.write_text(f'template_dir = "{templates}"\n')
        env = {**os.environ, "READWISE_TOKEN": TOKEN, "READWISE_API_URL": fake.url}
        env = {k: v for k, v in env.items() if k != "READWISE_SYNC_CONFIG"}
        if args.tool:  # another checkout's package, e.g. the release, measured the same way
            env["PYTHONPATH"] = args.tool
        ours = [sys.executable, "-m", "readwise_sync"]  # as `readwise-sync` runs it

        def show(result: Run) -> Run:
            print(result.row(), flush=True)
            runs.append(result)
            return result

        print("| run | wall s | CPU s | peak RSS MB | requests | notes written | notes/s |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        # The first sync and the floor alternate, each into a fresh folder, and the median
        # of each is shown: file creation on a shared disk varies from run to run. Nothing
        # is deleted until the end: on ext4, perf showed file creation spending most of its
        # time in the inode allocator stepping over recently freed inodes, so a vault
        # deleted just before a run would slow that run and not the other.
        naives: list[Run] = []
        fulls: list[Run] = []
        for attempt in range(args.repeat):
            naive_out = work / f"naive-{attempt}"
            naive_out.mkdir()
            naive = [sys.executable, str(HERE / "naive.py"), fake.url, TOKEN, str(naive_out)]
            naives.append(measure("naive exporter (floor)", naive, env, fake, naive_out))
            vault, state = work / f"vault-{attempt}", work / f"state-{attempt}"
            vault.mkdir()
            where = ["--vault", str(vault), "--state-dir", str(state), "-q"]
            fulls.append(measure("full first sync", [*ours, "sync", *where], env, fake, vault))
        base, full = show(_median(naives)), show(_median(fulls))
        show(measure("no-op sync", [*ours, "sync", *where], env, fake, vault))
        full_again = [*ours, "sync", "--full", *where]
        show(measure("full sync, nothing changed", full_again, env, fake, vault))
        for count in sorted({20, max(1, books // 100)}):
            change_books(fake, library, count, seed=count)
            time.sleep(0.01)
            label = "1%" if count == max(1, books // 100) else f"{count} books"
            name = f"incremental ({label} changed)"
            show(measure(name, [*ours, "sync", *where], env, fake, vault))
        rerender = [*ours, "rerender", "--config", str(config), *where]
        show(measure("rerender (template changed)", rerender, env, fake, vault))
        # Moving from another tool: a first sync into a vault of its notes (the floor's, here,
        # much like the official plugin's) finds each book's note and merges into it,
        # rather than writing a second note beside it. Every note is read and indexed.
        theirs = work / f"naive-{args.repeat - 1}"
        adopting = ["--vault", str(theirs), "--state-dir", str(work / "state-adopt"), "-q"]
        name = "first sync adopting another tool's notes"
        show(measure(name, [*ours, "sync", *adopting], env, fake, theirs))
        print(
            f"\nfull first sync / naive exporter: {full.wall / base.wall:.2f} (wall time; "
            f"medians of {args.repeat}: ours {', '.join(f'{r.wall:.2f}' for r in fulls)} s, "
            f"naive {', '.join(f'{r.wall:.2f}' for r in naives)} s)"
        )
    finally:
        fake.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000x20,10000x20", help="BOOKSxHIGHLIGHTS,...")
    parser.add_argument("--page-size", type=int, default=100, help="books per export page")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--repeat", type=int, default=3, help="first syncs per size (median)")
    parser.add_argument("--workdir", default=None, help="where vaults go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the vaults afterwards")
    parser.add_argument(
        "--tool", default=None, help="a checkout whose readwise_sync is measured instead"
    )
    args = parser.parse_args()
    if args.tool:
        args.tool = str(Path(args.tool).resolve())
    # The runs start with ``python -c``, which puts the working folder first on sys.path: from
    # a checkout that would be the checkout's package, whatever --tool says.
    os.chdir(tempfile.gettempdir())
    # Measure readwise-sync as installed: pip compiles its bytecode on install, and Python
    # writes it on the first run from a checkout. Where PYTHONDONTWRITEBYTECODE is set
    # (some CI and sandboxes), every run would compile the package again (~25 ms).
    tool = Path(args.tool) / "readwise_sync" if args.tool else Path(readwise_sync.__file__).parent
    compileall.compile_dir(tool, quiet=1)
    cpu = platform.processor() or platform.machine()
    print(
        f"readwise-sync benchmark, {datetime.now(UTC):%Y-%m-%d}: "
        f"Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
        f"export page {args.page_size} books, added latency {args.latency * 1000:.0f} ms"
    )
    for size in args.sizes.split(","):
        books, highlights = (int(part) for part in size.lower().split("x"))
        bench_size(books, highlights, args)


if __name__ == "__main__":
    main()
