"""Tests for readwise_sync.readwise.fakeapi: the fake follows the documented Readwise v2 API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readwise_sync.readwise.fakeapi import FakeReadwise
from readwise_sync.readwise.fakelibrary import Library, parse_ts

from .conftest import REFDATA, need_shared

DEMO_IDS = [60233871, 51877310, 45210733, 38100452]  # descending user_book_id


@pytest.fixture
def fake() -> Iterator[FakeReadwise]:
    with FakeReadwise.demo() as server:
        yield server


@pytest.fixture
def client(fake: FakeReadwise) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Token {fake.token}"}
    with httpx.Client(base_url=fake.url, headers=headers, timeout=5) as c:
        yield c


def export(client: httpx.Client, **params: str) -> dict:
    response = client.get("/api/v2/export/", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def all_highlight_ids(page: dict) -> set[int]:
    return {h["id"] for b in page["results"] for h in b["highlights"]}


def test_auth_accepts_token_and_rejects_wrong_or_missing(fake: FakeReadwise) -> None:
    with httpx.Client(base_url=fake.url, timeout=5) as c:
        ok = c.get("/api/v2/auth/", headers={"Authorization": "Token demo-token"})
        assert ok.status_code == 204 and ok.content == b""
        bad = c.get("/api/v2/auth/", headers={"Authorization": "Token nope"})
        assert (bad.status_code, bad.json()) == (401, {"detail": "Invalid token."})
        missing = c.get("/api/v2/auth/")
        assert missing.status_code == 401
        assert missing.json() == {"detail": "Authentication credentials were not provided."}
        assert c.get("/api/v2/export/").status_code == 401
        assert c.get("/api/v2/export/", headers={"Authorization": "Token x"}).status_code == 401


def test_demo_export_lists_all_books_newest_id_first(
    fake: FakeReadwise, client: httpx.Client
) -> None:
    response = client.get("/api/v2/export/")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    page = response.json()
    assert [b["user_book_id"] for b in page["results"]] == DEMO_IDS
    assert page["nextPageCursor"] is None
    assert page["count"] == sum(len(b["highlights"]) for b in page["results"])
    # The demo's one deleted highlight is hidden without includeDeleted.
    assert 701000016 not in all_highlight_ids(page)
    assert len(fake.books()) == 4


def test_paging_covers_every_book_once_with_integer_cursors(
    fake: FakeReadwise, client: httpx.Client
) -> None:
    fake.page_size = 2
    seen: list[int] = []
    cursors: list[object] = []
    params: dict[str, str] = {}
    while True:
        page = export(client, **params)
        assert len(page["results"]) <= 2
        assert page["count"] == sum(len(b["highlights"]) for b in page["results"])
        seen += [b["user_book_id"] for b in page["results"]]
        cursor = page["nextPageCursor"]
        if cursor is None:
            break
        assert type(cursor) is int
        cursors.append(cursor)
        params = {"pageCursor": str(cursor)}
    assert seen == DEMO_IDS
    assert cursors == [51877310]


def test_updated_after_is_strict_and_returns_only_changed_highlights() -> None:
    book = {
        "user_book_id": 7,
        "title": "T",
        "highlights": [
            {"id": 1, "text": "old", "updated_at": "2024-01-01T00:00:00.000Z"},
            {"id": 2, "text": "same", "updated_at": "2024-01-01T00:00:05.000Z"},
            {"id": 3, "text": "newer", "updated_at": "2024-01-01T00:00:05.001Z"},
        ],
    }
    stale = {"user_book_id": 8, "title": "S", "highlights": [dict(book["highlights"][0], id=4)]}
    with (
        FakeReadwise([book, stale], token="t") as fake,
        httpx.Client(base_url=fake.url, headers={"Authorization": "Token t"}) as c,
    ):
        # Same instant in several accepted spellings: Z, no fraction, offset, naive (= UTC).
        for since in (
            "2024-01-01T00:00:05.000Z",
            "2024-01-01T00:00:05Z",
            "2024-01-01T01:00:05+01:00",
            "2024-01-01T00:00:05",
        ):
            page = export(c, updatedAfter=since)
            assert [b["user_book_id"] for b in page["results"]] == [7], since
            assert all_highlight_ids(page) == {3}
            assert page["count"] == 1
        assert export(c, updatedAfter="2030-01-01T00:00:00Z") == {
            "count": 0,
            "nextPageCursor": None,
            "results": [],
        }
        bad = c.get("/api/v2/export/", params={"updatedAfter": "yesterday"})
        assert bad.status_code == 400 and "detail" in bad.json()


def test_ids_filter(client: httpx.Client) -> None:
    page = export(client, ids="38100452,51877310")
    assert [b["user_book_id"] for b in page["results"]] == [51877310, 38100452]
    assert client.get("/api/v2/export/", params={"ids": "x"}).status_code == 400


def test_include_deleted(fake: FakeReadwise, client: httpx.Client) -> None:
    fake.delete_book(51877310)
    hidden = export(client)
    assert 51877310 not in [b["user_book_id"] for b in hidden["results"]]
    shown = export(client, includeDeleted="true")
    books = {b["user_book_id"]: b for b in shown["results"]}
    assert books[51877310]["is_deleted"] is True
    assert all(h["is_deleted"] for h in books[51877310]["highlights"])
    assert 701000016 in all_highlight_ids(shown)


def test_mutations_bump_updated_at_and_surface_incrementally(
    fake: FakeReadwise, client: httpx.Client
) -> None:
    last = export(client)
    mark = max(h["updated_at"] for b in last["results"] for h in b["highlights"])
    assert export(client, updatedAfter=mark)["results"] == []

    added = fake.add_highlight(38100452, text="new one")
    assert added["id"] == 993000203 and added["location"] == 2803
    assert added["readwise_url"] == "https://readwise.io/open/993000203"
    fake.update_highlight(902000101, note="edited")
    fake.delete_highlight(902000102)
    fake.discard_highlight(812345603)
    stamps = [
        h["updated_at"]
        for b in fake.books()
        for h in b["highlights"]
        if h["id"] in {993000203, 902000101, 902000102, 812345603}
    ]
    assert len(set(stamps)) == 4 and all(s > mark for s in stamps)

    page = export(client, updatedAfter=mark, includeDeleted="true")
    assert all_highlight_ids(page) == {993000203, 902000101, 902000102, 812345603}
    by_id = {h["id"]: h for b in page["results"] for h in b["highlights"]}
    assert by_id[902000101]["note"] == "edited"
    assert by_id[902000102]["is_deleted"] is True
    assert by_id[812345603]["is_discard"] is True
    assert "discard" in [t["name"] for t in by_id[812345603]["tags"]]
    # Without includeDeleted the deleted highlight disappears from the incremental pull.
    assert 902000102 not in all_highlight_ids(export(client, updatedAfter=mark))


def test_update_book_does_not_surface_through_updated_after(
    fake: FakeReadwise, client: httpx.Client
) -> None:
    mark = fake.update_highlight(993000202, note="x")["updated_at"]
    book = fake.update_book(60233871, title="Renamed")
    assert book["title"] == "Renamed"
    assert export(client, updatedAfter=mark)["results"] == []
    assert export(client, ids="60233871")["results"][0]["title"] == "Renamed"


def test_timestamps_strictly_increase_and_use_export_format(fake: FakeReadwise) -> None:
    stamps = [fake.update_highlight(993000201, note=str(i))["updated_at"] for i in range(50)]
    assert stamps == sorted(set(stamps))
    assert all(len(s) == 24 and s.endswith("Z") for s in stamps)
    parsed = datetime.fromisoformat(stamps[0])
    assert abs((parsed - datetime.now(UTC)).total_seconds()) < 5


def test_add_book_fills_defaults(fake: FakeReadwise, client: httpx.Client) -> None:
    stored = fake.add_book({"title": "Fresh", "highlights": [{"text": "a"}, {"text": "b"}]})
    assert stored["user_book_id"] == 60233872
    assert stored["readable_title"] == "Fresh" and stored["is_deleted"] is False
    assert stored["readwise_url"] == "https://readwise.io/bookreview/60233872"
    assert [h["location"] for h in stored["highlights"]] == [1, 2]
    assert all(h["book_id"] == 60233872 for h in stored["highlights"])
    assert export(client)["results"][0]["user_book_id"] == 60233872
    empty = fake.add_book({"user_book_id": 1})
    assert empty["title"] == "Untitled" and empty["highlights"] == []
    # A book with no highlights is still listed by a full (non-incremental) export.
    assert export(client, ids="1")["results"][0]["highlights"] == []


def test_fail_then_success(fake: FakeReadwise, client: httpx.Client) -> None:
    fake.fail(503, times=2)
    assert client.get("/api/v2/export/").status_code == 503
    assert client.get("/api/v2/export/").status_code == 503
    assert client.get("/api/v2/export/").status_code == 200
    fake.fail(500, body="<html>oops</html>")
    fake.clear_faults()
    assert client.get("/api/v2/export/").status_code == 200
    # Faults only hit their path prefix.
    fake.fail(502, path_prefix="/api/v2/auth/")
    assert client.get("/api/v2/export/").status_code == 200
    assert client.get("/api/v2/auth/").status_code == 502


def test_throttle_with_and_without_retry_after(fake: FakeReadwise, client: httpx.Client) -> None:
    fake.throttle(16)
    throttled = client.get("/api/v2/export/")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "16"
    assert throttled.json() == {
        "detail": "Request was throttled. Expected available in 16 seconds."
    }
    fake.throttle(None)
    bare = client.get("/api/v2/export/")
    assert bare.status_code == 429 and "retry-after" not in bare.headers
    assert client.get("/api/v2/export/").status_code == 200


def test_rate_limit_per_minute() -> None:
    with (
        FakeReadwise.demo(rate_limit_per_minute=2) as fake,
        httpx.Client(base_url=fake.url, headers={"Authorization": "Token demo-token"}) as c,
    ):
        assert [c.get("/api/v2/auth/").status_code for _ in range(2)] == [204, 204]
        limited = c.get("/api/v2/export/")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_drop_before_and_mid_body(fake: FakeReadwise, client: httpx.Client) -> None:
    fake.drop()
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/api/v2/export/")
    fake.drop(mid_body=True)
    with client.stream("GET", "/api/v2/export/") as response:
        assert response.status_code == 200  # headers arrived; the body is cut short
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    assert client.get("/api/v2/export/").status_code == 200


def test_delay_beyond_client_timeout(fake: FakeReadwise) -> None:
    fake.delay(1.0)
    with httpx.Client(base_url=fake.url, headers={"Authorization": "Token demo-token"}) as c:
        start = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            c.get("/api/v2/export/", timeout=0.2)
        assert time.monotonic() - start < 0.9
        assert c.get("/api/v2/export/", timeout=5).status_code == 200


def test_garbage_body(fake: FakeReadwise, client: httpx.Client) -> None:
    fake.garbage(b'{"count": 3, "results": [')
    truncated = client.get("/api/v2/export/")
    assert truncated.status_code == 200
    assert truncated.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        truncated.json()
    fake.garbage(b"[]", status=502)
    wrong = client.get("/api/v2/export/")
    assert (wrong.status_code, wrong.json()) == (502, [])


def test_requests_are_recorded_including_faulted_ones(
    fake: FakeReadwise, client: httpx.Client
) -> None:
    fake.fail(503)
    client.get("/api/v2/export/", params={"updatedAfter": "2024-01-01T00:00:00Z"})
    client.get("/api/v2/export/", params={"pageCursor": "5"})
    client.post("/api/v2/export/")
    client.get("/nope")
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/v2/export/"),
        ("GET", "/api/v2/export/"),
        ("POST", "/api/v2/export/"),
        ("GET", "/nope"),
    ]
    assert fake.requests[0].query == {"updatedAfter": "2024-01-01T00:00:00Z"}
    assert fake.requests[1].query == {"pageCursor": "5"}
    assert fake.requests[0].headers["authorization"] == "Token demo-token"


def test_unknown_paths_and_methods(client: httpx.Client) -> None:
    missing = client.get("/api/v2/highlights/")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
    assert client.get("/api/v2/export").status_code == 404
    assert client.post("/api/v2/export/", json={}).status_code == 405


def test_from_file_accepts_books_list_and_export_page(tmp_path: Path) -> None:
    book = {"user_book_id": 3, "title": "x", "highlights": []}
    for i, data in enumerate(({"books": [book]}, [book], {"count": 0, "results": [book]})):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(data))
        assert [b["user_book_id"] for b in FakeReadwise.from_file(path).books()] == [3]


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in REFDATA.glob("v2_export*")) if REFDATA.is_dir() else ["<missing>"],
)
def test_serves_real_export_data(name: str) -> None:
    need_shared(REFDATA)
    original = json.loads((REFDATA / name).read_text(encoding="utf-8"))
    books = original if isinstance(original, list) else original["results"]
    with (
        FakeReadwise.from_file(REFDATA / name, page_size=4) as fake,
        httpx.Client(base_url=fake.url, headers={"Authorization": "Token demo-token"}) as c,
    ):
        served: list[dict] = []
        params: dict[str, str] = {}
        while True:
            page = export(c, **params)
            served += page["results"]
            if page["nextPageCursor"] is None:
                break
            params = {"pageCursor": str(page["nextPageCursor"])}
    # Real 2023 data is served verbatim (no keys added), newest book id first.
    expected = sorted(books, key=lambda b: b["user_book_id"], reverse=True)
    assert served == expected


def test_an_endless_cursor_is_recorded_with_the_cursor_the_client_sent(
    fake: FakeReadwise, client: httpx.Client
) -> None:
    fake.endless_cursor(times=1)
    page = export(client, pageCursor="51877310")
    # The answer is the first page again (its cursor made up), yet the request is kept as sent.
    assert [b["user_book_id"] for b in page["results"]] == DEMO_IDS
    assert page["nextPageCursor"] not in (None, 51877310)
    assert fake.requests[-1].query == {"pageCursor": "51877310"}


STAMPS = [None, *(f"2024-01-01T00:00:0{n}.000Z" for n in range(4))]


@st.composite
def libraries(draw: st.DrawFn) -> list[dict]:
    """Up to 8 books of up to 4 highlights, some deleted, stamped at a few instants."""
    ids = draw(st.lists(st.integers(1, 40), unique=True, max_size=8))
    books, serial = [], 0
    for book_id in ids:
        highlights = []
        for _ in range(draw(st.integers(0, 4))):
            serial += 1
            stamp = draw(st.sampled_from(STAMPS))
            highlights.append(
                {"id": serial, "updated_at": stamp, "is_deleted": draw(st.booleans())}
            )
        books.append(
            {"user_book_id": book_id, "is_deleted": draw(st.booleans()), "highlights": highlights}
        )
    return books


def expected_listing(
    books: list[dict], after: str | None, ids: set[int] | None, include_deleted: bool
) -> list[tuple[int, list[int]]]:
    """Each book an export lists, newest first, with the ids of the highlights it shows."""
    bound = parse_ts(after) if after else None
    listing = []
    for book in sorted(books, key=lambda b: -b["user_book_id"]):
        if (ids is not None and book["user_book_id"] not in ids) or (
            book["is_deleted"] and not include_deleted
        ):
            continue
        shown = [
            h["id"]
            for h in book["highlights"]
            if (include_deleted or not h["is_deleted"])
            and (bound is None or (h["updated_at"] and parse_ts(h["updated_at"]) > bound))
        ]
        if bound is None or shown:
            listing.append((book["user_book_id"], shown))
    return listing


@settings(max_examples=300)
@given(
    books=libraries(),
    page_size=st.integers(1, 4),
    after=st.sampled_from(STAMPS),
    ids=st.none() | st.sets(st.integers(1, 40)),
    include_deleted=st.booleans(),
    pieces=st.sets(st.integers(1, 40)),
)
def test_export_pages_list_each_shown_highlight_once_newest_book_first(
    books: list[dict],
    page_size: int,
    after: str | None,
    ids: set[int] | None,
    include_deleted: bool,
    pieces: set[int],
) -> None:
    library = Library(books)
    bound = parse_ts(after) if after else None
    served: list[dict] = []
    cursor: int | None = None
    for _ in range(2 * len(books) + 1):  # each page holds a book or a piece of one at least
        page, cursor = library.export_page(
            cursor, bound, ids, include_deleted, page_size, pieces=pieces
        )
        assert len(page) <= page_size and (page or cursor is None)
        served += page
        if cursor is None:
            break
    assert cursor is None, "paging did not end"
    listing = expected_listing(books, after, ids, include_deleted)
    # A book in pieces comes as two entries side by side, half its highlights each.
    merged: list[tuple[int, list[int]]] = []
    for entry in served:
        shown = [h["id"] for h in entry["highlights"]]
        if merged and merged[-1][0] == entry["user_book_id"]:
            merged[-1][1].extend(shown)
        else:
            merged.append((entry["user_book_id"], shown))
    assert merged == listing
    for book_id, shown in listing:
        entries = sum(e["user_book_id"] == book_id for e in served)
        assert entries == (2 if book_id in pieces and len(shown) >= 2 else 1)
