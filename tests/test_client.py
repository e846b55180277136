"""Tests for readwise_sync.readwise.client over real HTTP against the fake Readwise server.

Each test drives the real client through the loopback fake (``fakeapi``) and checks what went
over the wire (``fake.requests``) or what the client raised. Retry tests use ``fast_client``
(millisecond backoff) or a recording ``sleep=``; only the Retry-After tests marked "real sleep"
wait on the wall clock.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pydantic
import pytest

from readwise_sync import __version__
from readwise_sync.errors import (
    APIError,
    InvalidResponse,
    NetworkError,
    RateLimited,
    ServerError,
    TokenRejected,
)
from readwise_sync.readwise.client import AUTH_PATH, EXPORT_PATH, ReadwiseClient
from readwise_sync.readwise.fakeapi import FakeReadwise

from .conftest import TOKEN, fast_client
from .factories import export_requests

DEMO_IDS = [60233871, 51877310, 45210733, 38100452]  # the fake pages by descending user_book_id
WRONG_TOKEN = "wrong-token-9e8d7c6b5a4f"


def book_ids(client: ReadwiseClient, **kw: Any) -> list[int]:
    return [book.user_book_id for page in client.iter_export(**kw) for book in page.results]


def wrong_token_client(fake: FakeReadwise) -> ReadwiseClient:
    return ReadwiseClient(WRONG_TOKEN, fake.url, backoff=0.01, max_backoff=0.05)


def crafted_book(book_id: Any, **fields: Any) -> dict[str, Any]:
    return {"user_book_id": book_id, "title": f"Book {book_id}", "highlights": [], **fields}


def crafted_page(*books: dict[str, Any], cursor: Any = None) -> bytes:
    count = sum(len(b.get("highlights") or []) for b in books)
    return json.dumps({"count": count, "nextPageCursor": cursor, "results": list(books)}).encode()


def assert_no_token(error: BaseException, token: str = TOKEN) -> None:
    """The token appears nowhere: message, repr, url, or the whole printed traceback chain."""
    assert token not in str(error)
    assert token not in repr(error)
    assert token not in str(getattr(error, "url", "") or "")
    assert token not in "".join(traceback.format_exception(error))


# -- headers ------------------------------------------------------------------------------------


def test_every_request_carries_token_auth_and_own_user_agent(fake: FakeReadwise) -> None:
    fake.fail(503)  # a retried request must carry the same headers
    with fast_client(fake) as client:
        client.check_token()
        book_ids(client)
    assert len(fake.requests) == 3
    for request in fake.requests:
        assert request.headers["authorization"] == f"Token {TOKEN}"
        agent = request.headers["user-agent"]
        assert agent.startswith(f"readwise-sync/{__version__}")
        assert "python-httpx" not in agent.lower()
    assert [r.path for r in fake.requests] == [AUTH_PATH, EXPORT_PATH, EXPORT_PATH]


# -- check_token --------------------------------------------------------------------------------


def test_check_token_accepts_204(fake: FakeReadwise) -> None:
    with fast_client(fake) as client:
        assert client.check_token() is None
    assert [(r.method, r.path) for r in fake.requests] == [("GET", AUTH_PATH)]


def test_wrong_token_is_rejected_once_without_leaking_it(fake: FakeReadwise) -> None:
    with wrong_token_client(fake) as client, pytest.raises(TokenRejected) as info:
        client.check_token()
    error = info.value
    assert error.exit_code == 3
    assert "401" in str(error)
    assert_no_token(error, WRONG_TOKEN)
    assert len(fake.requests) == 1  # 401 is never retried
    assert fake.requests[0].headers["authorization"] == f"Token {WRONG_TOKEN}"


def test_403_is_token_rejected_and_not_retried(fake: FakeReadwise) -> None:
    fake.fail(403, times=5, path_prefix=AUTH_PATH)
    with fast_client(fake) as client, pytest.raises(TokenRejected) as info:
        client.check_token()
    assert "403" in str(info.value)
    assert len(fake.requests) == 1


def test_401_during_export_is_not_retried(fake: FakeReadwise) -> None:
    with wrong_token_client(fake) as client, pytest.raises(TokenRejected):
        book_ids(client)
    assert len(fake.requests) == 1


def test_check_token_unexpected_success_status_is_server_error(fake: FakeReadwise) -> None:
    fake.garbage(b"{}", path_prefix=AUTH_PATH)  # 200 with a body, not the documented 204
    with fast_client(fake) as client, pytest.raises(ServerError) as info:
        client.check_token()
    assert info.value.status == 200


# -- export paging ------------------------------------------------------------------------------


def test_paging_follows_integer_cursors_verbatim_and_stops_on_null(fake: FakeReadwise) -> None:
    fake.page_size = 1
    with fast_client(fake) as client:
        pages = list(client.iter_export())
    assert [b.user_book_id for p in pages for b in p.results] == DEMO_IDS
    assert [p.next_page_cursor for p in pages] == ["60233871", "51877310", "45210733", None]
    # Each cursor the server sent comes back as pageCursor; nothing after the null cursor.
    assert [q.get("pageCursor") for q in export_requests(fake)] == [
        None,
        "60233871",
        "51877310",
        "45210733",
    ]


def test_one_page_library_takes_one_request(fake: FakeReadwise) -> None:
    with fast_client(fake) as client:
        ids = book_ids(client)
    assert sorted(ids) == sorted(DEMO_IDS) and len(ids) == len(set(ids))
    assert export_requests(fake) == [{}]  # no parameters at all on a plain first sync


def test_opaque_string_cursor_is_sent_back_verbatim(fake: FakeReadwise) -> None:
    cursor = "c3VyZQ==/next page&x=1"
    fake.garbage(crafted_page(crafted_book(9), cursor=cursor))
    fake.garbage(crafted_page(crafted_book(8)))  # nextPageCursor null: the last page
    with fast_client(fake) as client:
        ids = book_ids(client)
    assert ids == [9, 8]
    assert [q.get("pageCursor") for q in export_requests(fake)] == [None, cursor]


def test_missing_next_page_cursor_ends_paging(fake: FakeReadwise) -> None:
    fake.garbage(json.dumps({"count": 0, "results": [crafted_book(5)]}).encode())
    with fast_client(fake) as client:
        assert book_ids(client) == [5]
    assert len(fake.requests) == 1


def test_updated_after_is_sent_as_utc_iso_with_milliseconds(fake: FakeReadwise) -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with fast_client(fake) as client:
        book_ids(client, updated_after=moment)
        # An aware non-UTC moment is converted, not just relabelled.
        plus_two = datetime(2024, 1, 2, 5, 4, 5, 1000, tzinfo=timezone(timedelta(hours=2)))
        book_ids(client, updated_after=plus_two)
    sent = [q["updatedAfter"] for q in export_requests(fake)]
    assert sent == ["2024-01-02T03:04:05.678Z", "2024-01-02T03:04:05.001Z"]


@pytest.fixture
def new_york_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with a local zone far from UTC, so "naive means local" and "naive means UTC" differ."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york_local_time")
def test_naive_updated_after_is_taken_as_utc(fake: FakeReadwise) -> None:
    # "All dates used/returned are in UTC" (and models.py reads naive stamps as UTC): a naive
    # moment must not be shifted by the machine's local offset (-5 h here, which would make
    # an incremental sync skip five hours of changes).
    with fast_client(fake) as client:
        book_ids(client, updated_after=datetime(2024, 1, 2, 3, 4, 5, 678000))
    assert export_requests(fake)[0]["updatedAfter"] == "2024-01-02T03:04:05.678Z"


def test_updated_after_filters_through_the_fake(fake: FakeReadwise) -> None:
    # Proves the server understood the timestamp: after "now", nothing has changed...
    with fast_client(fake) as client:
        assert book_ids(client, updated_after=datetime.now(UTC)) == []
        # ...and one touched highlight brings back exactly its book.
        highlight = fake.books()[0]["highlights"][0]
        before = datetime.now(UTC) - timedelta(seconds=1)
        fake.update_highlight(highlight["id"], note="touched")
        assert book_ids(client, updated_after=before) == [highlight["book_id"]]


def test_ids_are_sent_as_comma_list(fake: FakeReadwise) -> None:
    with fast_client(fake) as client:
        ids = book_ids(client, ids=[45210733, 60233871])
    assert export_requests(fake)[0]["ids"] == "45210733,60233871"
    assert ids == [60233871, 45210733]


def test_include_deleted_flag(fake: FakeReadwise) -> None:
    deleted = DEMO_IDS[1]
    fake.delete_book(deleted)
    with fast_client(fake) as client:
        plain = book_ids(client)
        with_deleted = book_ids(client, include_deleted=True)
    first, second = export_requests(fake)
    assert "includeDeleted" not in first
    assert second["includeDeleted"] == "true"
    assert deleted not in plain and deleted in with_deleted


def test_repeated_cursor_raises_instead_of_looping(fake: FakeReadwise) -> None:
    fake.garbage(crafted_page(crafted_book(50), cursor=5), times=2)
    with fast_client(fake) as client, pytest.raises(InvalidResponse) as info:
        book_ids(client)
    assert "repeated page cursor 5" in str(info.value)
    assert len(export_requests(fake)) == 2


def test_cursor_cycle_is_detected(fake: FakeReadwise) -> None:
    fake.garbage(crafted_page(crafted_book(50), cursor=10))
    fake.garbage(crafted_page(crafted_book(40), cursor=20))
    fake.garbage(crafted_page(crafted_book(50), cursor=10))  # back to the first cursor
    with fast_client(fake) as client, pytest.raises(InvalidResponse):
        book_ids(client)
    assert [q.get("pageCursor") for q in export_requests(fake)] == [None, "10", "20"]


# -- 429 ----------------------------------------------------------------------------------------


def test_retry_after_header_is_honoured_in_real_time(fake: FakeReadwise) -> None:
    fake.throttle(2)  # lowercase "retry-after: 2", as over HTTP/2
    with fast_client(fake) as client:  # real time.sleep
        start = time.monotonic()
        ids = book_ids(client)
        elapsed = time.monotonic() - start
    assert sorted(ids) == sorted(DEMO_IDS)
    assert 2.0 <= elapsed < 4.0
    assert len(fake.requests) == 2


def test_detail_seconds_are_honoured_in_real_time(fake: FakeReadwise) -> None:
    fake.fail(429, body={"detail": "Request was throttled. Expected available in 1 seconds."})
    with fast_client(fake) as client:  # real time.sleep, and no retry-after header
        start = time.monotonic()
        ids = book_ids(client)
        elapsed = time.monotonic() - start
    assert sorted(ids) == sorted(DEMO_IDS)
    assert 1.0 <= elapsed < 3.0
    assert len(fake.requests) == 2


def test_detail_seconds_are_requested_from_sleep(fake: FakeReadwise) -> None:
    fake.fail(429, body={"detail": "Request was throttled. Expected available in 7 seconds."})
    sleeps: list[float] = []
    with fast_client(fake, sleep=sleeps.append) as client:
        assert len(book_ids(client)) == len(DEMO_IDS)
    assert len(sleeps) == 1 and 7.0 <= sleeps[0] < 9.0


def test_retry_after_is_never_undercut_by_short_backoff(fake: FakeReadwise) -> None:
    fake.throttle(3, times=3)
    sleeps: list[float] = []
    with fast_client(fake, sleep=sleeps.append) as client:  # backoff would be milliseconds
        assert len(book_ids(client)) == len(DEMO_IDS)
    assert len(sleeps) == 3
    assert all(3.0 <= wait < 5.0 for wait in sleeps), sleeps
    assert len(fake.requests) == 4


def test_retry_after_header_name_is_case_insensitive(fake: FakeReadwise) -> None:
    fake.fail(429, headers={"RETRY-AFTER": "4"}, body={"detail": "Request was throttled."})
    sleeps: list[float] = []
    with fast_client(fake, sleep=sleeps.append) as client:
        book_ids(client)
    assert len(sleeps) == 1 and sleeps[0] >= 4.0


def test_http_date_retry_after_falls_back_to_detail(fake: FakeReadwise) -> None:
    fake.fail(
        429,
        headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
        body={"detail": "Request was throttled. Expected available in 5 seconds."},
    )
    sleeps: list[float] = []
    with fast_client(fake, sleep=sleeps.append) as client:
        book_ids(client)
    assert len(sleeps) == 1 and sleeps[0] >= 5.0


def test_persistent_429_raises_rate_limited(fake: FakeReadwise) -> None:
    fake.throttle(6, times=50)
    sleeps: list[float] = []
    client = fast_client(fake, sleep=sleeps.append, max_retries=2)
    with client, pytest.raises(RateLimited) as info:
        book_ids(client)
    assert info.value.retry_after == 6.0
    assert len(fake.requests) == 3
    assert len(sleeps) == 2 and min(sleeps) >= 6.0


def test_throttled_check_token_is_retried(fake: FakeReadwise) -> None:
    fake.throttle(1, path_prefix=AUTH_PATH)
    sleeps: list[float] = []
    with fast_client(fake, sleep=sleeps.append) as client:
        client.check_token()
    assert len(fake.requests) == 2 and sleeps[0] >= 1.0


# -- 5xx ----------------------------------------------------------------------------------------


def test_five_503s_then_success(fake: FakeReadwise) -> None:
    fake.fail(503, times=5)
    sleeps: list[float] = []
    with fast_client(fake, sleep=sleeps.append) as client:  # max_retries defaults to 6
        ids = book_ids(client)
    assert sorted(ids) == sorted(DEMO_IDS)
    assert len(fake.requests) == 6
    assert len(sleeps) == 5 and all(0 <= wait <= 0.05 for wait in sleeps)


def test_permanent_500_is_server_error_after_all_attempts(fake: FakeReadwise) -> None:
    fake.fail(500, times=50)
    with fast_client(fake, max_retries=3) as client, pytest.raises(ServerError) as info:
        book_ids(client)
    assert info.value.status == 500
    assert "500" in str(info.value)
    assert len(fake.requests) == 4  # max_retries + 1


def test_502_and_503_bursts_including_cdn_html_are_retried(fake: FakeReadwise) -> None:
    fake.page_size = 2
    fake.fail(502, times=2, body="<html><body>502 Bad Gateway</body></html>")
    fake.fail(503, times=2)
    with fast_client(fake) as client:
        ids = book_ids(client)
    assert ids == DEMO_IDS
    assert len(fake.requests) == 4 + 2  # four errors, then two pages


def test_404_is_server_error_without_retries(fake: FakeReadwise) -> None:
    fake.fail(404, times=5)
    with fast_client(fake) as client, pytest.raises(ServerError) as info:
        book_ids(client)
    assert info.value.status == 404
    assert len(fake.requests) == 1


# -- network ------------------------------------------------------------------------------------


def test_dropped_connection_is_retried(fake: FakeReadwise) -> None:
    fake.drop()
    with fast_client(fake) as client:
        ids = book_ids(client)
    assert sorted(ids) == sorted(DEMO_IDS)
    assert len(fake.requests) == 2


def test_drop_mid_body_is_retried(fake: FakeReadwise) -> None:
    fake.page_size = 2
    fake.drop(mid_body=True, times=2)
    with fast_client(fake) as client:
        ids = book_ids(client)
    assert ids == DEMO_IDS  # nothing lost or duplicated by the half-read page
    assert len(fake.requests) == 4


@pytest.mark.parametrize("mid_body", [False, True])
def test_drop_on_every_attempt_is_network_error(fake: FakeReadwise, mid_body: bool) -> None:
    fake.drop(times=50, mid_body=mid_body)
    with fast_client(fake, max_retries=2) as client, pytest.raises(NetworkError) as info:
        book_ids(client)
    assert fake.url in str(info.value)
    assert len(fake.requests) == 3


def test_slow_answer_times_out_and_is_retried(fake: FakeReadwise) -> None:
    fake.delay(2)
    with fast_client(fake, timeout=0.5) as client:
        start = time.monotonic()
        ids = book_ids(client)
        elapsed = time.monotonic() - start
    assert sorted(ids) == sorted(DEMO_IDS)
    assert len(fake.requests) == 2
    assert 0.5 <= elapsed < 1.9  # gave up on the slow answer instead of waiting for it


def test_persistent_timeouts_are_network_error_in_bounded_time(fake: FakeReadwise) -> None:
    fake.delay(2, times=50)
    with fast_client(fake, timeout=0.3, max_retries=2) as client:
        start = time.monotonic()
        with pytest.raises(NetworkError) as info:
            book_ids(client)
        elapsed = time.monotonic() - start
    assert "timed out" in str(info.value)
    assert len(fake.requests) == 3
    assert 0.9 <= elapsed < 2.0


def test_refused_connection_is_network_error(fake: FakeReadwise) -> None:
    url = fake.url
    fake.stop()
    sleeps: list[float] = []
    client = ReadwiseClient(TOKEN, url, max_retries=2, sleep=sleeps.append)
    with client, pytest.raises(NetworkError):
        client.check_token()
    assert len(sleeps) == 2


# -- malformed bodies ---------------------------------------------------------------------------


def test_truncated_json_is_invalid_response(fake: FakeReadwise) -> None:
    fake.garbage(b'{"count": 1, "resu')
    with fast_client(fake) as client, pytest.raises(InvalidResponse) as info:
        book_ids(client)
    error = info.value
    assert not isinstance(error, pydantic.ValidationError | json.JSONDecodeError | ValueError)
    assert "not valid JSON" in str(error)
    assert error.__cause__ is None and error.__suppress_context__


def test_html_page_with_200_is_invalid_response(fake: FakeReadwise) -> None:
    fake.garbage(b"<!DOCTYPE html><title>Just a moment...</title>")
    with fast_client(fake) as client, pytest.raises(InvalidResponse, match="not valid JSON"):
        book_ids(client)


def test_an_odd_highlight_field_is_read_leniently_and_its_book_kept(fake: FakeReadwise) -> None:
    """One odd value costs nothing: the book syncs (see tests/test_lenient.py)."""
    bad = crafted_book(777, highlights=[{"id": 1, "text": "x", "location": "ten"}])
    fake.garbage(crafted_page(crafted_book(900), bad))
    with fast_client(fake) as client:
        (page,) = list(client.iter_export())
    assert [book.user_book_id for book in page.results] == [900, 777]
    assert page.results[1].highlights[0].location is None
    assert page.skipped == []


def test_an_unreadable_book_id_skips_that_book_only(fake: FakeReadwise) -> None:
    fake.garbage(crafted_page(crafted_book(900), crafted_book("abc")))
    with fast_client(fake) as client:
        (page,) = list(client.iter_export())
    assert [book.user_book_id for book in page.results] == [900]
    (skipped,) = page.skipped
    assert skipped.book_id is None  # "abc" is not an id to fetch it again by
    assert "user_book_id" in str(skipped)


def test_wrong_envelope_shape_is_invalid_response(fake: FakeReadwise) -> None:
    fake.garbage(b"[1, 2, 3]")
    with fast_client(fake) as client, pytest.raises(InvalidResponse) as info:
        book_ids(client)
    assert info.value.field == "(body)"


# -- no token anywhere --------------------------------------------------------------------------


def _scenarios() -> dict[str, tuple[Callable[[FakeReadwise], None], dict[str, Any], type]]:
    return {
        "token": (lambda f: f.fail(401, times=9), {}, TokenRejected),
        "server": (lambda f: f.fail(500, times=9), {"max_retries": 1}, ServerError),
        "not-found": (lambda f: f.fail(404), {}, ServerError),
        "throttled": (lambda f: f.throttle(0, times=9), {"max_retries": 1}, RateLimited),
        "drop": (lambda f: f.drop(times=9), {"max_retries": 1}, NetworkError),
        "drop-mid-body": (
            lambda f: f.drop(times=9, mid_body=True),
            {"max_retries": 1},
            NetworkError,
        ),
        "timeout": (
            lambda f: f.delay(2, times=9),
            {"max_retries": 1, "timeout": 0.2},
            NetworkError,
        ),
        "json": (lambda f: f.garbage(b'{"resu'), {}, InvalidResponse),
        "shape": (
            lambda f: f.garbage(b'{"count": 1, "results": {"user_book_id": 1}}'),
            {},
            InvalidResponse,
        ),
        "cursor": (
            lambda f: f.garbage(crafted_page(crafted_book(1), cursor=3), times=2),
            {},
            InvalidResponse,
        ),
    }


@pytest.mark.parametrize("name", list(_scenarios()))
def test_no_error_or_log_line_contains_the_token(
    fake: FakeReadwise, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    inject, options, expected = _scenarios()[name]
    inject(fake)
    caplog.set_level(logging.DEBUG)
    with fast_client(fake, **options) as client, pytest.raises(APIError) as info:
        book_ids(client)
    assert type(info.value) is expected
    assert_no_token(info.value)
    assert TOKEN not in caplog.text


def test_lone_surrogate_in_a_page_is_repaired_not_fatal(fake: FakeReadwise) -> None:
    """Text cut in the middle of an emoji arrives as a lone surrogate escape; keep the page."""
    body = (
        b'{"count": 1, "nextPageCursor": null, "results": [{"user_book_id": 5, "title": "t",'
        b' "highlights": [{"id": 9, "text": "cut \\ud83e", "location": 1}]}]}'
    )
    fake.garbage(body)
    with fast_client(fake) as client:
        (page,) = list(client.iter_export())
    assert page.results[0].highlights[0].text == "cut \ufffd"
