"""The fake Readwise's HTTP side: a real server on 127.0.0.1 that plays the queued faults.

Owns: the server (ephemeral or given port, its own daemon thread, no reverse DNS lookup),
the handler that records every request, adds the backend's latency, plays a fault
(:class:`.fakeinjection.Fault`) or sends the backend's answer, and the wire format of the
real API's answers: HTTP/1.1, chunked bodies, ``Connection: close``, a ``Date`` on
Readwise's clock. What is answered is the backend's business (:class:`Backend`).

Stdlib only and, like the rest of the fake, independent of the client it is used to test.
"""

from __future__ import annotations

import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from readwise_sync.readwise import fakefaults
from readwise_sync.readwise.fakeanswers import Response
from readwise_sync.readwise.fakeinjection import Fault


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: dict[str, str]  # last value wins for repeated parameters
    headers: dict[str, str]  # names lower-cased so lookups don't depend on client casing


class Backend(Protocol):
    """What the server asks of the fake it serves, on its own threads."""

    latency: float  # seconds added to every answer
    clock_offset: timedelta  # Readwise's clock against this machine's

    def record(self, request: RecordedRequest) -> None: ...

    def take_fault(self, path: str) -> Fault | None: ...

    def respond(
        self, method: str, path: str, query: dict[str, str], authorization: str | None
    ) -> Response: ...

    def endless_page(self, response: Response, fault: Fault) -> Response: ...


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so responses can be chunked like the real API's (no Content-Length).
    protocol_version = "HTTP/1.1"
    server_version = "FakeReadwise/1.0"
    timeout = 30  # a client that connects and goes silent must not pin a thread forever
    server: Server

    def version_string(self) -> str:
        return self.server_version  # no Python version suffix in the Server header

    def date_time_string(self, timestamp: float | None = None) -> str:
        offset = self.server.backend.clock_offset.total_seconds()
        return super().date_time_string((time.time() if timestamp is None else timestamp) + offset)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests and the demo must not get a stderr line per request

    def _dispatch(self) -> None:
        backend = self.server.backend
        self.close_connection = True  # the real API sends Connection: close
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        backend.record(RecordedRequest(self.command, split.path, query, headers))
        # Drain any request body so closing the socket doesn't turn into a reset.
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(min(length, 1 << 20))
        if backend.latency and self.server.stopping.wait(backend.latency):
            return
        fault = backend.take_fault(split.path)
        if fault is None or not self._fault_answered(fault, split.path, dict(query)):
            self._send(self._respond(split.path, query))

    def _respond(self, path: str, query: dict[str, str]) -> Response:
        authorization = self.headers.get("Authorization")
        return self.server.backend.respond(self.command, path, query, authorization)

    def _fault_answered(self, fault: Fault, path: str, query: dict[str, str]) -> bool:
        """Play ``fault``; False when the request is then to be answered as usual."""
        if fault.kind == "drop" and not fault.mid_body:
            return True  # close without writing a single byte
        if fault.kind == "delay":
            return self.server.stopping.wait(fault.seconds)  # stopping: don't answer late
        if fault.kind == "respond":
            self._send((fault.status, fault.headers, fault.body), fault.content_type)
            return True
        if fault.kind == "stream" and fault.chunks is not None:
            self._stream(fault.headers, fault.chunks(), fault.seconds)
            return True
        self._spoil(fault, path, query)
        return True

    def _spoil(self, fault: Fault, path: str, query: dict[str, str]) -> None:
        """The true answer, made endless (a cursor), dripped (a trickle) or cut (a drop)."""
        if fault.kind == "cursor":
            query.pop("pageCursor", None)  # every page is the first page again
        response = self._respond(path, query)
        if fault.kind == "cursor":
            response = self.server.backend.endless_page(response, fault)
        if fault.kind == "trickle" and response[2]:
            self._stream(response[1], fakefaults.dripped(response[2]), fault.seconds)
        else:
            self._send(response, cut=fault.kind == "drop")

    def _stream(self, headers: dict[str, str], chunks: Iterator[bytes], pause: float) -> None:
        """A 200 sent chunk by chunk, ``pause`` seconds apart, until the chunks or client end."""
        stopping = self.server.stopping
        try:
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks:
                if chunk:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                if stopping.wait(pause) if pause else stopping.is_set():
                    return  # the server is stopping: hang up mid-body
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client went away (or stopped reading): nothing to tell it

    def _send(
        self, response: Response, content_type: str = "application/json", *, cut: bool = False
    ) -> None:
        status, headers, body = response
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is not None or cut:
                body = body or b""
                self.send_header("Content-Type", content_type)
                self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            if body is None:
                return
            chunk = f"{len(body):x}\r\n".encode() + body
            if cut:
                # Announce the whole chunk but send only part of it, then hang up.
                self.wfile.write(chunk[: len(chunk) - max(1, len(body) // 2)])
            else:
                self.wfile.write(chunk + b"\r\n0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away first; nothing to tell it

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class Server(ThreadingHTTPServer):
    """Serves ``backend`` on 127.0.0.1:``port`` (0: any free port) from :meth:`start` on."""

    daemon_threads = True  # a handler stuck in a delay must not block interpreter exit

    def __init__(self, backend: Backend, port: int = 0) -> None:
        self.backend = backend
        self.stopping = threading.Event()  # wakes handlers sleeping in a delay or a latency
        super().__init__(("127.0.0.1", port), Handler)
        self._serving = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},  # short poll so close() returns promptly
            name="fake-readwise",
            daemon=True,
        )

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a reverse DNS lookup; skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up early is a scenario under test, not a server error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def start(self) -> None:
        self._serving.start()

    def close(self) -> None:
        """Stop serving: handlers still waiting give up, the port is released."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._serving.join(timeout=5)
