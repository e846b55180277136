"""Every wait and every byte from the network bounded, and the messages when a bound is hit.

Against the fake server's hostile answers: a body that trickles or never ends (a total deadline
per request, the body included), a huge body and a gzip bomb (caps on the size, before and after
decompression, with memory bounded), Retry-After values from 10**9 to ``inf`` (capped), cursors
that change for ever (a page and byte budget per run), redirects, JSON nested too deeply, tokens
with a line break or a non-breaking space pasted in; and SIGTERM/SIGINT ending a one-shot sync
wherever it waits, with nothing left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from readwise_sync.app.config import Settings
from readwise_sync.errors import (
    APIError,
    ConfigError,
    Interrupted,
    InvalidResponse,
    NetworkError,
    RateLimited,
)
from readwise_sync.readwise.client import EXPORT_PATH, ReadwiseClient
from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.readwise.limits import STALLED_PAGES
from readwise_sync.store.spool import read_ahead

from .conftest import TOKEN, cli_env, fast_client, note_files, run_cli
from .factories import HANG, errors, wait_for

DEMO_IDS = sorted([60233871, 51877310, 45210733, 38100452])
MIB = 1 << 20


def book_ids(client: ReadwiseClient, **kw: Any) -> list[int]:
    return sorted(book.user_book_id for page in client.iter_export(**kw) for book in page.results)


def export_requests(fake: FakeReadwise) -> int:
    return sum(r.path == EXPORT_PATH for r in fake.requests)


def one_line(error: BaseException) -> str:
    message = str(error)
    assert message and "\n" not in message, message
    return message


def temp_files(vault: Path) -> list[Path]:
    return [p for p in vault.rglob(".readwise-sync-*") if p.is_file()]


# -- a total deadline per request, the body included ---------------------------------------------


def test_a_body_that_trickles_for_ever_times_out_and_is_retried(fake: FakeReadwise) -> None:
    fake.endless(interval=0.02, chunk=b" ")  # a byte every 20 ms: every read brings something
    with fast_client(fake, timeout=1.0, max_retries=1) as client:
        assert book_ids(client) == DEMO_IDS
    assert export_requests(fake) == 2


def test_the_true_answer_dripped_byte_by_byte_is_cut_at_the_deadline(fake: FakeReadwise) -> None:
    fake.trickle(0.01, times=10)  # the real page, a byte every 10 ms: minutes for the page
    with (
        fast_client(fake, timeout=0.5, max_retries=2) as client,
        pytest.raises(NetworkError) as info,
    ):
        book_ids(client)
    assert "timed out" in one_line(info.value)
    assert export_requests(fake) == 3


# -- caps on the size of a body, before and after decompression ---------------------------------


def test_a_huge_body_is_refused_at_the_cap_and_not_retried(fake: FakeReadwise) -> None:
    fake.huge(32 * MIB, times=5)  # valid JSON: only its size is wrong
    with (
        fast_client(fake, max_response_bytes=MIB) as client,
        pytest.raises(InvalidResponse) as info,
    ):
        book_ids(client)
    message = one_line(info.value)
    assert "more than 1 MiB" in message and EXPORT_PATH in message
    assert export_requests(fake) == 1


def test_a_body_that_never_ends_is_cut_at_the_cap(fake: FakeReadwise) -> None:
    fake.endless()
    with (
        fast_client(fake, max_response_bytes=2 * MIB) as client,
        pytest.raises(InvalidResponse, match="more than 2 MiB"),
    ):
        book_ids(client)


@pytest.fixture
def traced() -> Iterator[Callable[[], int]]:
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_fails_fast_with_memory_bounded(
    fake: FakeReadwise, traced: Callable[[], int]
) -> None:
    fake.gzip_bomb(256 * MIB)  # about 256 KB on the wire
    with (
        fast_client(fake, max_response_bytes=4 * MIB) as client,
        pytest.raises(InvalidResponse) as info,
    ):
        book_ids(client)
    assert "more than 4 MiB" in one_line(info.value)
    assert "decompressed" in str(info.value)
    assert traced() < 24 * MIB  # the 4 MiB kept, a chunk being decompressed, not the 256 MiB


def test_the_default_cap_stops_a_4_gib_gzip_bomb(fake: FakeReadwise) -> None:
    fake.gzip_bomb(4 << 30)  # about 4 MB on the wire
    with fast_client(fake) as client, pytest.raises(InvalidResponse, match="more than 64 MiB"):
        book_ids(client)


def test_a_small_gzipped_page_is_read(fake: FakeReadwise) -> None:
    fake.gzip_bomb(3 * MIB)  # an honest, empty page in four gzip members, 3 MiB unpacked
    with fast_client(fake, max_response_bytes=4 * MIB) as client:
        assert book_ids(client) == []


# -- Retry-After, parsed safely and capped -------------------------------------------------------


@pytest.mark.parametrize("value", ["1000000000", "inf", "1e10", "9" * 400, "Infinity"])
def test_a_retry_after_beyond_the_cap_fails_at_once_naming_the_wait(
    fake: FakeReadwise, value: str
) -> None:
    fake.throttle(value, times=5)
    sleeps: list[float] = []
    with (
        fast_client(fake, sleep=sleeps.append) as client,
        pytest.raises(RateLimited) as info,
    ):
        book_ids(client)
    message = one_line(info.value)
    assert "Retry-After" in message and "15 minutes" in message
    assert sleeps == [] and export_requests(fake) == 1
    assert info.value.exit_code == 1
    assert info.value.retry_after < 10**10  # finite: a daemon can schedule with it


def test_a_throttle_detail_beyond_the_cap_fails_too(fake: FakeReadwise) -> None:
    fake.fail(429, body={"detail": "Request was throttled. Expected available in 86400 seconds."})
    with fast_client(fake, sleep=lambda s: None) as client, pytest.raises(RateLimited) as info:
        book_ids(client)
    assert "1 day" in one_line(info.value)


def test_the_cap_is_a_client_parameter(fake: FakeReadwise) -> None:
    fake.throttle(5)
    sleeps: list[float] = []
    with fast_client(fake, sleep=sleeps.append, max_retry_after=5) as client:
        assert book_ids(client) == DEMO_IDS
    assert len(sleeps) == 1 and 5 <= sleeps[0] < 6
    fake.throttle(6)
    with (
        fast_client(fake, sleep=sleeps.append, max_retry_after=5) as client,
        pytest.raises(RateLimited, match="6 seconds"),
    ):
        book_ids(client)


@pytest.mark.parametrize("value", ["nan", "-5", "-inf", "soon", "1_0", ""])
def test_a_retry_after_that_is_no_number_of_seconds_falls_back_to_backoff(
    fake: FakeReadwise, value: str
) -> None:
    fake.throttle(value)
    sleeps: list[float] = []
    with fast_client(fake, sleep=sleeps.append) as client:
        assert book_ids(client) == DEMO_IDS
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.05  # fast_client's backoff, no crash


# -- a page and byte budget per listing and per run ---------------------------------------------


def test_a_cursor_that_changes_for_ever_over_the_same_page_stops(fake: FakeReadwise) -> None:
    fake.endless_cursor(times=500)
    with fast_client(fake) as client, pytest.raises(InvalidResponse) as info:
        book_ids(client)
    assert "cursor" in one_line(info.value)
    # the first page, then the pages in a row with nothing new that are allowed, then one more
    assert export_requests(fake) == 1 + STALLED_PAGES + 1


def test_new_books_for_ever_stop_at_the_pages_the_count_allows(fake: FakeReadwise) -> None:
    fake.page_size = 2
    fake.endless_cursor(times=500, fresh=True, count=10)  # every page claims 10 highlights
    with fast_client(fake) as client, pytest.raises(InvalidResponse) as info:
        book_ids(client)
    assert "pages" in one_line(info.value)
    # 10 highlights, 2 books a page: 5 pages; twice that and 10 more are allowed.
    assert export_requests(fake) == 2 * 5 + 10 + 1


def test_new_books_for_ever_stop_at_the_byte_budget_of_the_run(fake: FakeReadwise) -> None:
    fake.endless_cursor(times=5000, fresh=True)  # a count of each page's own: no total known
    with (
        fast_client(fake, max_run_bytes=256 << 10) as client,
        pytest.raises(InvalidResponse, match="more than 256 KiB") as info,
    ):
        book_ids(client)
    one_line(info.value)
    assert export_requests(fake) < 100


def test_new_books_for_ever_stop_at_the_documents_a_listing_may_bring(fake: FakeReadwise) -> None:
    fake.page_size = 10
    fake.endless_cursor(times=5000, fresh=True)
    with (
        fast_client(fake, max_documents=95) as client,
        pytest.raises(InvalidResponse, match="more than 95 documents") as info,
    ):
        book_ids(client)
    one_line(info.value)
    assert export_requests(fake) == 10  # the page that brought the 96th


def test_a_real_library_of_many_pages_is_within_its_budget(fake: FakeReadwise) -> None:
    fake.page_size = 1
    with fast_client(fake) as client:
        assert book_ids(client) == DEMO_IDS
        assert book_ids(client, ids=DEMO_IDS) == DEMO_IDS


# -- redirects, deep nesting, bad tokens ------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_says_where_it_leads_and_to_check_api_url(
    fake: FakeReadwise, status: int
) -> None:
    fake.redirect("https://www.readwise.example/api/v2/export/", status=status)
    with fast_client(fake) as client, pytest.raises(APIError) as info:
        book_ids(client)
    message = one_line(info.value)
    assert "redirect" in message and "api_url" in message
    assert "https://www.readwise.example/api/v2/export/" in message
    assert info.value.exit_code == 2
    assert len(fake.requests) == 1  # never followed: the token stays with api_url


@pytest.mark.parametrize("where", ["envelope", "record"])
def test_json_nested_too_deeply_is_one_invalid_response(fake: FakeReadwise, where: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    if where == "record":  # deep enough for the record's checks, not for the JSON decoder
        nested = b"[" * 600 + b"]" * 600
        deep = b'{"count": 1, "results": [{"user_book_id": 1, "extra": ' + nested + b"}]}"
    fake.garbage(deep)
    with fast_client(fake) as client, pytest.raises(InvalidResponse) as info:
        book_ids(client)
    assert "nested too deeply" in one_line(info.value)


BAD_TOKENS = {
    "a line break": "abc123\ndef456",
    "a non-breaking space": "abc123\u00a0def456",
    "a space": "abc123 def456",
    "a tab": "abc123\tdef456",
    "a non-ASCII letter": "abc123dëf456",
}


@pytest.mark.parametrize("what", list(BAD_TOKENS))
def test_a_token_with_whitespace_or_non_ascii_is_a_config_error(what: str) -> None:
    token = BAD_TOKENS[what]
    settings = Settings(token=token, token_source="READWISE_TOKEN")
    with pytest.raises(ConfigError) as info:
        settings.require_token()
    message = one_line(info.value)
    assert "READWISE_TOKEN" in message and "readwise.io/access_token" in message
    assert token not in message and "abc123" not in message


def test_the_client_refuses_a_token_it_cannot_send(fake: FakeReadwise) -> None:
    with pytest.raises(ConfigError):
        ReadwiseClient("abc\u00a0def", fake.url).check_token()
    assert fake.requests == []


# -- the stop event: waits and reads end when asked ---------------------------------------------


def stop_soon(seconds: float = 0.3) -> threading.Event:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return stop


@pytest.mark.parametrize("hold", ["Retry-After", "backoff", "trickled body"])
def test_a_stop_ends_the_client_s_waits(fake: FakeReadwise, hold: str) -> None:
    if hold == "Retry-After":
        fake.throttle(600)
    elif hold == "backoff":
        fake.fail(503, times=100)
    else:
        fake.endless(interval=0.05, chunk=b" ")
    stop = stop_soon()
    client = ReadwiseClient(TOKEN, fake.url, timeout=60, backoff=60, max_retries=20, stop=stop)
    with client, pytest.raises(Interrupted):
        book_ids(client)


def test_closing_the_client_from_another_thread_ends_its_request(fake: FakeReadwise) -> None:
    fake.endless(interval=0.05, chunk=b" ")
    client = ReadwiseClient(TOKEN, fake.url, timeout=60)
    raised: list[BaseException] = []

    def fetch() -> None:
        try:
            book_ids(client)
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=fetch)
    worker.start()
    assert wait_for(lambda: export_requests(fake) == 1, 10)
    client.close()  # as a failed run does while its read-ahead is still fetching
    worker.join(10)
    assert not worker.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], Interrupted)


def test_read_ahead_stops_waiting_for_a_page_when_stop_is_set() -> None:
    release = threading.Event()

    def pages() -> Iterator[int]:
        yield 1
        release.wait(60)  # a fetch that hangs
        yield 2

    seen: list[int] = []
    try:
        with pytest.raises(Interrupted):
            for page in read_ahead(pages(), stop=stop_soon(0.2), grace=0.2):
                seen.append(page)
    finally:
        release.set()
    assert seen == [1]


def test_read_ahead_joins_its_thread_before_it_raises() -> None:
    def pages() -> Iterator[int]:
        n = 0
        while True:  # a producer that is always ready with another page
            n += 1
            yield n

    before = set(threading.enumerate())
    with pytest.raises(KeyError):
        for page in read_ahead(pages()):
            if page == 3:
                raise KeyError("the state database failed")
    assert set(threading.enumerate()) - before == set()


# -- the command line -----------------------------------------------------------------------------


@pytest.fixture
def env(fake: FakeReadwise, tmp_path: Path) -> dict[str, str]:
    return cli_env(fake, tmp_path, 'timezone = "UTC"\nretries = 6\ntimeout = 30\n')


@pytest.mark.parametrize("where", ["READWISE_TOKEN", "token_file"])
def test_sync_with_a_pasted_bad_token_exits_2_before_any_request(
    fake: FakeReadwise, vault: Path, env: dict[str, str], tmp_path: Path, where: str
) -> None:
    token = "abc123\u00a0def456"
    if where == "token_file":
        token_file = tmp_path / "token"
        token_file.write_text("abc123\ndef456\n", encoding="utf-8")
        config = Path(env["READWISE_SYNC_CONFIG"])
        config.write_text(config.read_text() + f'token_file = "{token_file}"\n')
        del env["READWISE_TOKEN"]
    else:
        env["READWISE_TOKEN"] = token
    result = run_cli("sync", "--vault", str(vault), env=env)
    (line,) = errors(result)
    assert result.returncode == 2
    assert where in line and "abc123" not in line
    assert fake.requests == []


def test_sync_redirected_exits_2_naming_api_url(
    fake: FakeReadwise, vault: Path, env: dict[str, str]
) -> None:
    fake.redirect("https://readwise.io/api/v2/export/", status=301)
    result = run_cli("sync", "--vault", str(vault), env=env)
    (line,) = errors(result)
    assert result.returncode == 2
    assert "https://readwise.io/api/v2/export/" in line and "api_url" in line


def test_sync_asked_to_wait_too_long_exits_1_naming_the_wait(
    fake: FakeReadwise, vault: Path, env: dict[str, str]
) -> None:
    fake.throttle(10**9)
    result = run_cli("sync", "--vault", str(vault), env=env)
    (line,) = errors(result)
    assert result.returncode == 1
    assert "1000000000 seconds" in line and "31 years" in line
    assert note_files(vault) == {}


def _repeated_cursor(fake: FakeReadwise) -> None:
    page = {"count": 1, "nextPageCursor": 5, "results": []}
    for book_id in (50, 40):
        hl = {"id": book_id, "text": f"Highlight {book_id}.", "location": 1}
        page["results"] = [
            {"user_book_id": book_id, "title": f"Book {book_id}", "highlights": [hl]}
        ]
        fake.garbage(json.dumps(page).encode())


LISTINGS: dict[str, Callable[[FakeReadwise], None]] = {
    "a repeated cursor": _repeated_cursor,
    "a cursor that changes for ever": lambda f: f.endless_cursor(times=500, fresh=True, count=3),
    "the same page for ever": lambda f: f.endless_cursor(times=500),
}


@pytest.mark.parametrize("listing", list(LISTINGS))
def test_a_listing_that_never_ends_fails_in_one_line_and_leaves_no_temp_file(
    fake: FakeReadwise, vault: Path, env: dict[str, str], listing: str
) -> None:
    fake.page_size = 1
    LISTINGS[listing](fake)
    result = run_cli("sync", "--vault", str(vault), env=env)
    (line,) = errors(result)
    assert result.returncode == 1
    assert "cursor" in line or "pages" in line
    assert temp_files(vault) == [] and note_files(vault) == {}


def start_sync(vault: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("READWISE", "XDG_"))}
    full_env.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "readwise_sync", "sync", "--vault", str(vault)],
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


HOLDS: dict[str, tuple[Callable[[FakeReadwise], None], signal.Signals]] = {
    "before the headers": (lambda f: f.delay(120), signal.SIGTERM),
    "in the middle of the body": (lambda f: f.endless(interval=120), signal.SIGINT),
    "in a Retry-After wait": (lambda f: f.throttle(600), signal.SIGTERM),
    "in a backoff wait": (lambda f: f.fail(503, times=100), signal.SIGINT),
}


@pytest.mark.parametrize("hold", list(HOLDS))
def test_a_signal_ends_a_one_shot_sync_wherever_it_waits(
    fake: FakeReadwise, vault: Path, env: dict[str, str], hold: str
) -> None:
    inject, sig = HOLDS[hold]
    fake.page_size = 1
    fake.pass_through(1)  # the first page arrives: a note is staged when the signal comes
    inject(fake)
    proc = start_sync(vault, env)
    try:
        assert wait_for(lambda: export_requests(fake) >= 2, 20), proc.stderr
        time.sleep(0.3)  # into the wait
        proc.send_signal(sig)
        # Well before the 30 s timeout, the 600 s Retry-After, the two-minute holds.
        _, stderr = proc.communicate(timeout=HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr  # an exit, never a death by signal
    assert "Traceback" not in stderr
    assert "stopped" in stderr
    assert temp_files(vault) == [] and note_files(vault) == {}
