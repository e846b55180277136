"""The Readwise HTTP client: authentication, export paging, retries, bounds.

Owns everything httpx: the ``Authorization: Token`` header, our own
User-Agent (Readwise sits behind Cloudflare, which blocks default library
agents), following ``nextPageCursor``, and the retry policy:

* 429: wait what ``Retry-After`` says (header looked up case-insensitively,
  else the seconds in the DRF ``detail`` text), never less, then retry; a wait
  longer than ``max_retry_after`` (15 minutes) fails the run at once, naming it;
* 5xx, timeouts, refused or dropped connections: bounded retries with
  exponential backoff and full jitter, then a clear error;
* 401/403: :class:`TokenRejected` at once, never retried; a redirect:
  :class:`Redirected` at once, never followed (the token stays with ``api_url``).

Every wait and byte is bounded. A request, body included, must end within
``timeout`` (checked as each piece of the body arrives; each wait for a piece is
itself bounded by ``timeout``). A body is streamed and refused past
``max_response_bytes``, counted after decompression (gzip is decoded here, a step
at a time, so a gzip bomb costs no more memory than the cap); a run reads at most
``max_run_bytes``; a listing stops when it pages for ever or brings more than
``max_documents`` (:mod:`.limits`). The waits between attempts end at once when
``stop`` is set (:class:`Interrupted`).

The token lives only in the httpx client's default headers: it is never
logged and never put in an error message (errors name the URL, which has no
token in it).
"""

from __future__ import annotations

import email.utils
import json
import logging
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

# httpx imports its own command-line client (and with it rich and pygments, a third of
# httpx's import time) whenever those happen to be installed, as rich is here. A None in
# sys.modules makes that optional import fail fast, the way it does without them.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx
import pydantic
import tenacity

from readwise_sync import __version__
from readwise_sync.errors import (
    APIError,
    ConfigError,
    InvalidResponse,
    NetworkError,
    RateLimited,
    ServerError,
    TokenRejected,
)
from readwise_sync.readwise import limits
from readwise_sync.readwise.tokens import token_problem
from readwise_sync.readwise.wire import ExportPage

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://readwise.io"
USER_AGENT = f"readwise-sync/{__version__} (+https://github.com/readwise-sync/readwise-sync)"
EXPORT_PATH = "/api/v2/export/"
AUTH_PATH = "/api/v2/auth/"

MAX_RESPONSE_BYTES = 64 << 20  # a real export page is a few MB at most
MAX_RUN_BYTES = 1 << 30  # a whole large library is some hundreds of MB
MAX_RETRY_AFTER = 15 * 60.0
_ERROR_BODY_BYTES = 64 << 10  # what is read of a 429's body, for its detail text
_ENCODINGS = {"", "identity", "gzip", "x-gzip", "deflate"}


class _Retryable(Exception):
    """A failure worth another try; ``retry_after`` is the server's minimum wait, if it gave one."""

    def __init__(self, error: APIError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass
class _Answer:
    """A response read whole, within the bounds."""

    url: httpx.URL
    status: int
    body: bytes


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, the form Readwise's own docs send.

    A naive ``moment`` is UTC (as everywhere in the API), not the machine's local time.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _describe_invalid(error: pydantic.ValidationError, raw: bytes) -> tuple[str, int | None, str]:
    """Name the book and field of the first validation error, for a message a user can act on."""
    first = error.errors()[0]
    loc = list(first.get("loc", ()))
    book_id: int | None = None
    if len(loc) >= 2 and loc[0] == "results" and isinstance(loc[1], int):
        try:
            book = json.loads(raw)["results"][loc[1]]
            found = book.get("user_book_id") if isinstance(book, dict) else None
            book_id = None if found is None else int(found)
        except (ValueError, KeyError, IndexError, TypeError, RecursionError):
            book_id = None
    field = ".".join(str(part) for part in loc) or "(body)"
    where = f"book {book_id}, " if book_id is not None else ""
    return f"{where}field {field}: {first.get('msg', 'invalid')}", book_id, field


def _date_of(response: httpx.Response) -> datetime | None:
    """The answer's ``Date`` header as an aware time; None when missing or unreadable."""
    try:
        moment = email.utils.parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ReadwiseClient:
    """A small typed client for the parts of the Readwise API that sync needs."""

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_retry_after: float = MAX_RETRY_AFTER,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_run_bytes: int = MAX_RUN_BYTES,
        max_documents: int = limits.MAX_DOCUMENTS,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        token_source: str | None = None,
    ) -> None:
        # Where the token came from (settings.token_source): where a message sends the user.
        self.token_source = token_source or "READWISE_TOKEN, or token / token_file in the config"
        problem = token_problem(token)
        if problem:  # httpx would fail to send it, or send it retried to exhaustion
            raise ConfigError(
                f"the Readwise token has {problem} in it; check {self.token_source} "
                "(copy it again from https://readwise.io/access_token)"
            )
        self.base_url = base_url.rstrip("/")
        self.timeout, self.max_retries, self.max_retry_after = timeout, max_retries, max_retry_after
        self.max_response_bytes, self.max_run_bytes = max_response_bytes, max_run_bytes
        self.max_documents = max_documents  # in one listing
        # Full jitter: a random wait up to an exponentially growing ceiling.
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff, max=max_backoff)
        self.requests_made = 0
        self.bytes_read = 0
        self.server_time: datetime | None = None  # Readwise's clock: the last answer's Date
        self._halt = limits.Halt(stop, sleep)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._http = httpx.Client(
            base_url=self.base_url,
            # gzip only: decoded here, within the caps (httpx's decoders have no bound).
            headers={
                "Authorization": f"Token {token}",
                "User-Agent": USER_AGENT,
                "Accept-Encoding": "gzip",
            },
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> ReadwiseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections; a request still running on another thread closes them
        when it ends (its socket is never closed under it), and waits end at once."""
        with self._lock:
            self._halt.closed.set()
            if self._in_flight:
                return
        self._http.close()

    # -- waiting ------------------------------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome else None
        jittered = self._backoff(state)
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            # Never less than the server asked; a little jitter on top spreads clients out.
            return exc.retry_after + min(jittered, 1.0) * 0.1
        return jittered

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("%s; retrying in %.1f s (attempt %d)", exc, wait, state.attempt_number + 1)

    # -- requests -----------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str] | None = None) -> _Answer:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            sleep=self._halt.pause,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._get_once, path, params)
        except _Retryable as final:
            error = final.error
            if self.max_retries:
                error.args = (f"{error} (gave up after {self.max_retries + 1} attempts)",)
            raise error from None

    def _get_once(self, path: str, params: dict[str, str] | None) -> _Answer:
        url = self.base_url + path
        with self._lock:
            self._halt.check()
            self._in_flight += 1
        self.requests_made += 1
        deadline = time.monotonic() + self.timeout
        try:
            with self._http.stream("GET", path, params=params) as response:
                self._judge(response, url, deadline)
                body = self._read(response, url, deadline, self.max_response_bytes)
                self.server_time = _date_of(response) or self.server_time
                return _Answer(response.url, response.status_code, body)
        except httpx.TimeoutException as exc:
            raise _Retryable(NetworkError(f"timed out talking to {url}", url=url)) from exc
        except httpx.TransportError as exc:
            reason = type(exc).__name__
            raise _Retryable(NetworkError(f"no answer from {url} ({reason})", url=url)) from exc
        finally:
            with self._lock:
                self._in_flight -= 1
                close_now = self._halt.closed.is_set() and not self._in_flight
            if close_now:
                self._http.close()

    def _judge(self, response: httpx.Response, url: str, deadline: float) -> None:
        """Raise for any status but success, before the body is read."""
        status = response.status_code
        if 300 <= status < 400:
            raise limits.redirected(url, status, response.headers.get("location"), self.base_url)
        if status in (401, 403):
            raise TokenRejected(
                f"token rejected by {self.base_url} (HTTP {status}); check {self.token_source}, "
                "or get a new one at https://readwise.io/access_token",
                url=url,
            )
        if status == 429:
            self._throttled(response, url, deadline)
        if status >= 500:
            error = ServerError(f"{url} answered HTTP {status}", url=url, status=status)
            raise _Retryable(error)
        if status >= 400:
            raise ServerError(f"{url} answered HTTP {status}", url=url, status=status)

    def _throttled(self, response: httpx.Response, url: str, deadline: float) -> None:
        try:
            body = self._read(response, url, deadline, _ERROR_BODY_BYTES)
        except InvalidResponse:
            body = b""  # no detail text to read, then
        header = response.headers.get("retry-after")  # httpx headers are case-insensitive
        wait = limits.parse_retry_after(header, body)
        if wait is not None and wait > self.max_retry_after:
            raise limits.wait_too_long(url, wait, self.max_retry_after)
        error = RateLimited(
            f"rate limited by {self.base_url} (HTTP 429)", url=url, retry_after=wait or 0.0
        )
        raise _Retryable(error, retry_after=wait)

    def _read(self, response: httpx.Response, url: str, deadline: float, cap: int) -> bytes:
        """The body, decompressed, within ``cap``, the run's budget, the deadline and ``stop``."""
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding not in _ENCODINGS:
            what = limits.printable(encoding, 40)
            raise InvalidResponse(
                f"{url} sent a body in {what!r}, which was not asked for", url=url
            )
        decoder = [zlib.decompressobj(limits.GZIP)] if encoding not in ("", "identity") else None
        body = bytearray()
        try:
            for raw in response.iter_raw():
                if time.monotonic() > deadline:
                    error = NetworkError(
                        f"timed out talking to {url} (the answer took over {self.timeout:g} s)",
                        url=url,
                    )
                    raise _Retryable(error)
                self._halt.check()
                for piece in limits.inflated(raw, decoder) if decoder else (raw,):
                    body += piece
                    self._check_size(url, len(body), cap, compressed=decoder is not None)
        except zlib.error:
            raise InvalidResponse(f"{url} sent a body that is not valid gzip", url=url) from None
        finally:
            self.bytes_read += len(body)
        return bytes(body)

    def _check_size(self, url: str, read: int, cap: int, *, compressed: bool) -> None:
        if read > cap:
            raise limits.too_big(url, cap, compressed=compressed)
        if self.bytes_read + read > self.max_run_bytes:
            raise limits.over_run_budget(url, self.base_url, self.max_run_bytes)

    # -- endpoints ----------------------------------------------------------------------------

    def check_token(self) -> None:
        """Validate the token with ``GET /api/v2/auth/`` (204); raise TokenRejected on 401."""
        answer = self._get(AUTH_PATH)
        if answer.status != 204:
            raise ServerError(
                f"unexpected answer from {self.base_url}{AUTH_PATH} (HTTP {answer.status})",
                url=self.base_url + AUTH_PATH,
                status=answer.status,
            )

    def iter_export(
        self,
        *,
        updated_after: datetime | None = None,
        ids: Sequence[int] | None = None,
        include_deleted: bool = False,
    ) -> Iterator[ExportPage]:
        """Yield export pages, following ``nextPageCursor`` until it is empty.

        A listing that pages for ever (a cursor repeated, pages with nothing new, more
        pages than its ``count`` can fill) stops with :class:`InvalidResponse`, raised
        before the page at fault is yielded. A page bringing no document or highlight
        not already brought is not yielded (it repeats what arrived).
        """
        params: dict[str, str] = {}
        if updated_after is not None:
            params["updatedAfter"] = format_timestamp(updated_after)
        if ids:
            params["ids"] = ",".join(str(i) for i in ids)
        if include_deleted:
            params["includeDeleted"] = "true"
        bounds = limits.ListingBounds(self.base_url + EXPORT_PATH, self.max_documents)
        cursor: str | None = None
        while True:
            page_params = dict(params)
            if cursor is not None:
                page_params["pageCursor"] = cursor
            page = _parse_page(self._get(EXPORT_PATH, page_params))
            if bounds.check(page):
                yield page
            else:
                log.debug("page %d of %s repeats what arrived; skipped", bounds.pages, bounds.url)
            cursor = page.next_page_cursor
            if not cursor:
                return


def _parse_page(answer: _Answer) -> ExportPage:
    url = str(answer.url.copy_with(query=None))
    raw = answer.body
    try:
        return ExportPage.parse(raw)
    except RecursionError:
        raise InvalidResponse(
            f"{url} sent JSON nested too deeply to be an export page", url=url
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, pydantic.ValidationError):
            message, book_id, field = _describe_invalid(exc, raw)
            raise InvalidResponse(
                f"{url} sent an invalid export page: {message}",
                url=url,
                book_id=book_id,
                field=field,
            ) from None
        raise InvalidResponse(
            f"{url} sent a body that is not valid JSON ({len(raw)} bytes)", url=url
        ) from None
