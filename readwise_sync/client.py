"""The Readwise HTTP client: authentication, export paging, retries.

Owns everything httpx: the ``Authorization: Token`` header, our own
User-Agent (Readwise sits behind Cloudflare, which blocks default library
agents), timeouts on every request, following ``nextPageCursor``, and the
retry policy:

* 429: wait what ``Retry-After`` says (header looked up case-insensitively,
  else the seconds in the DRF ``detail`` text), never less, then retry;
* 5xx, timeouts, refused or dropped connections: bounded retries with
  exponential backoff and full jitter, then a clear error;
* 401/403: :class:`TokenRejected` at once, never retried.

The token lives only in the httpx client's default headers: it is never
logged and never put in an error message (errors name the URL, which has no
token in it).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

# httpx imports its own command-line client (and with it rich and pygments, a third of
# httpx's import time) whenever those happen to be installed, as rich is here. A None in
# sys.modules makes that optional import fail fast, the way it does without them.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx
import pydantic
import tenacity

from . import __version__
from .errors import (
    APIError,
    InvalidResponse,
    NetworkError,
    RateLimited,
    ServerError,
    TokenRejected,
)
from .models import ExportPage

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://readwise.io"
USER_AGENT = f"readwise-sync/{__version__} (+https://github.com/readwise-sync/readwise-sync)"
EXPORT_PATH = "/api/v2/export/"
AUTH_PATH = "/api/v2/auth/"

_DETAIL_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*second", re.IGNORECASE)


class _Retryable(Exception):
    """A failure worth another try; ``retry_after`` is the server's minimum wait, if it gave one."""

    def __init__(self, error: APIError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, the form Readwise's own docs send.

    A naive ``moment`` is UTC (as everywhere in the API), not the machine's local time.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a 429: the ``Retry-After`` header, else the ``detail`` text."""
    header = response.headers.get("retry-after")  # httpx headers are case-insensitive
    if header:
        try:
            return max(0.0, float(header.strip()))
        except ValueError:
            pass  # an HTTP-date; fall through to the body, then to backoff
    try:
        detail = response.json().get("detail", "")
    except (ValueError, AttributeError):
        return None
    match = _DETAIL_SECONDS.search(str(detail))
    return float(match.group(1)) if match else None


def _describe_invalid(error: pydantic.ValidationError, raw: bytes) -> tuple[str, int | None, str]:
    """Name the book and field of the first validation error, for a message a user can act on."""
    first = error.errors()[0]
    loc = list(first.get("loc", ()))
    book_id: int | None = None
    if len(loc) >= 2 and loc[0] == "results" and isinstance(loc[1], int):
        try:
            book = json.loads(raw)["results"][loc[1]]
            book_id = int(book.get("user_book_id")) if isinstance(book, dict) else None
        except (ValueError, KeyError, IndexError, TypeError):
            book_id = None
    field = ".".join(str(part) for part in loc) or "(body)"
    where = f"book {book_id}, " if book_id is not None else ""
    return f"{where}field {field}: {first.get('msg', 'invalid')}", book_id, field


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
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        # Full jitter: a random wait up to an exponentially growing ceiling.
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff, max=max_backoff)
        self.requests_made = 0
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Token {token}", "User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> ReadwiseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- requests -----------------------------------------------------------------------------

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

    def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            sleep=self._sleep,
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

    def _get_once(self, path: str, params: dict[str, str] | None) -> httpx.Response:
        url = self.base_url + path
        self.requests_made += 1
        try:
            # Not streamed: the whole body is read here, so a connection dropped
            # mid-body is a transport error inside the retry too.
            response = self._http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise _Retryable(NetworkError(f"timed out talking to {url}", url=url)) from exc
        except httpx.TransportError as exc:
            reason = type(exc).__name__
            raise _Retryable(NetworkError(f"no answer from {url} ({reason})", url=url)) from exc
        status = response.status_code
        if status in (401, 403):
            raise TokenRejected(
                f"token rejected by {self.base_url} (HTTP {status}); check READWISE_TOKEN "
                "or get a new one at https://readwise.io/access_token",
                url=url,
            )
        if status == 429:
            wait = parse_retry_after(response)
            error = RateLimited(
                f"rate limited by {self.base_url} (HTTP 429)", url=url, retry_after=wait or 0.0
            )
            raise _Retryable(error, retry_after=wait)
        if status >= 500:
            error = ServerError(f"{url} answered HTTP {status}", url=url, status=status)
            raise _Retryable(error)
        if status >= 400:
            raise ServerError(f"{url} answered HTTP {status}", url=url, status=status)
        return response

    # -- endpoints ----------------------------------------------------------------------------

    def check_token(self) -> None:
        """Validate the token with ``GET /api/v2/auth/`` (204); raise TokenRejected on 401."""
        response = self._get(AUTH_PATH)
        if response.status_code != 204:
            raise ServerError(
                f"unexpected answer from {self.base_url}{AUTH_PATH} (HTTP {response.status_code})",
                url=self.base_url + AUTH_PATH,
                status=response.status_code,
            )

    def iter_export(
        self,
        *,
        updated_after: datetime | None = None,
        ids: Sequence[int] | None = None,
        include_deleted: bool = False,
    ) -> Iterator[ExportPage]:
        """Yield export pages, following ``nextPageCursor`` until it is empty."""
        params: dict[str, str] = {}
        if updated_after is not None:
            params["updatedAfter"] = format_timestamp(updated_after)
        if ids:
            params["ids"] = ",".join(str(i) for i in ids)
        if include_deleted:
            params["includeDeleted"] = "true"
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page_params = dict(params)
            if cursor is not None:
                page_params["pageCursor"] = cursor
            response = self._get(EXPORT_PATH, page_params)
            page = self._parse_page(response)
            yield page
            cursor = page.next_page_cursor
            if not cursor:
                return
            if cursor in seen:  # a server that loops would otherwise keep us paging forever
                raise InvalidResponse(
                    f"{self.base_url}{EXPORT_PATH} repeated page cursor {cursor}",
                    url=str(response.url),
                )
            seen.add(cursor)

    def _parse_page(self, response: httpx.Response) -> ExportPage:
        url = str(response.url.copy_with(query=None))
        raw = response.content
        try:
            return ExportPage.parse(raw)
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
