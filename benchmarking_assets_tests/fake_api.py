"""A real HTTP server on 127.0.0.1 that speaks the Education Data Portal API's format.

Why not mock httpx: the client's pagination, retries, timeouts and truncated-body handling are
only worth testing against real sockets. The server holds rows per path, serves them in small
pages (so every query takes several), honours only the filters the real endpoint honours (the
coverage table), writes ``next`` as a full URL with its query parameters in another order than
the request's, answers 500 for an uncovered year and 404 for an unknown path, and lets a test
script a failure for the next matching request(s).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from benchmarking_assets.sources.coverage import endpoint_for_path

PREFIX = "/api/v1/"


@dataclass
class Fault:
    """What to do instead of (or on top of) a normal answer for one request."""

    kind: str  # "status", "slow", "truncate", "not_json", "count_offset", "drop_filter"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    offset: int = 0
    name: str = ""
    path: str | None = None  # only requests whose path contains this; None: any request


def status(code: int, retry_after: str | None = None, path: str | None = None) -> Fault:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Fault("status", status=code, headers=headers, path=path)


def slow(seconds: float, path: str | None = None) -> Fault:
    return Fault("slow", seconds=seconds, path=path)


def truncated(path: str | None = None) -> Fault:
    return Fault("truncate", path=path)


def not_json(path: str | None = None) -> Fault:
    return Fault("not_json", path=path)


def count_offset(offset: int, path: str | None = None) -> Fault:
    return Fault("count_offset", offset=offset, path=path)


def drop_filter_from_next(name: str, path: str | None = None) -> Fault:
    """Answer normally but leave filter ``name`` out of the ``next`` link."""
    return Fault("drop_filter", name=name, path=path)


@dataclass
class Seen:
    path: str  # relative to the API prefix, e.g. "school-districts/ccd/directory/2015/"
    query: list[tuple[str, str]]

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


class FakeApi:
    """``with FakeApi(page_size=2) as api: api.add(path, rows); ... api.base_url``."""

    def __init__(self, page_size: int = 2) -> None:
        self.page_size = page_size
        # Write this origin into ``next`` links instead of the server's own, as a mirror or
        # proxy that copies the public API's links would.
        self.next_origin: str | None = None
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0  # seconds every answer waits (to observe concurrency)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/v1"

    def add(self, path: str, rows: list[dict[str, Any]]) -> None:
        self.tables[path.strip("/") + "/"] = rows

    def fail(self, *faults: Fault) -> None:
        """Queue faults; each is used by the next request it matches, once."""
        with self._lock:
            self.faults.extend(faults)

    def requests_for(self, fragment: str) -> list[Seen]:
        return [r for r in self.requests if fragment in r.path]

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- used by the handler -------------------------------------------------------------------
    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.path is None or fault.path in path:
                    return self.faults.pop(i)
        return None

    def _page(self, path: str, query: list[tuple[str, str]], netloc: str) -> tuple[int, Any]:
        match = endpoint_for_path(path)
        if path not in self.tables:
            if match is not None and not match[0].covers(match[1]):
                return 500, "<h1>Server Error (500)</h1>"
            return 404, {"detail": "Not found."}
        rows = self.tables[path]
        honoured = match[0].filters if match else frozenset()
        for name, value in query:
            if name in honoured:
                allowed = set(value.split(","))
                rows = [r for r in rows if str(r.get(name)) in allowed]
        page = int(dict(query).get("page", "1"))
        start = (page - 1) * self.page_size
        if page > 1 and start >= len(rows):
            return 404, {"detail": "Invalid page."}
        others = [(k, v) for k, v in query if k != "page"]

        def link(n: int) -> str | None:
            if n < 1 or (n - 1) * self.page_size >= len(rows):
                return None
            # filters first, page last: another order than the client's, as the real API does
            params = [*reversed(others), ("page", str(n))]
            origin = self.next_origin or f"http://{netloc}"
            return f"{origin}{PREFIX}{path}?{urlencode(params)}"

        return 200, {
            "count": len(rows),
            "next": link(page + 1),
            "previous": link(page - 1),
            "results": rows[start : start + self.page_size],
        }


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            parts = urlsplit(self.path)
            if not parts.path.startswith(PREFIX):
                self._send(404, {"detail": "Not found."})
                return
            path = parts.path[len(PREFIX) :]
            query = parse_qsl(parts.query, keep_blank_values=True)
            with api._lock:
                api.requests.append(Seen(path, query))
                api.in_flight += 1
                api.max_in_flight = max(api.max_in_flight, api.in_flight)
            try:
                self._answer(path, query)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer
            finally:
                with api._lock:
                    api.in_flight -= 1

        def _answer(self, path: str, query: list[tuple[str, str]]) -> None:
            if api.delay:
                time.sleep(api.delay)
            fault = api._take_fault(path)
            if fault is not None and fault.kind == "status":
                self._send(fault.status, {"detail": "scripted"}, fault.headers)
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.seconds)
            if fault is not None and fault.kind == "not_json":
                self._send(200, "<html><body>Enable JavaScript and cookies</body></html>")
                return
            code, body = api._page(path, query, self.headers.get("Host", ""))
            if fault is not None and code == 200 and fault.kind == "count_offset":
                body["count"] += fault.offset
            if fault is not None and code == 200 and fault.kind == "drop_filter" and body["next"]:
                parts = urlsplit(body["next"])
                kept = [(k, v) for k, v in parse_qsl(parts.query) if k != fault.name]
                body["next"] = parts._replace(query=urlencode(kept)).geturl()
            self._send(code, body, truncate=fault is not None and fault.kind == "truncate")

        def _send(
            self,
            code: int,
            body: Any,
            headers: dict[str, str] | None = None,
            truncate: bool = False,
        ) -> None:
            is_text = isinstance(body, str)
            data = (body if is_text else json.dumps(body)).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html" if is_text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            # A truncated answer: announce the full length, send half, close the connection.
            self.wfile.write(data[: len(data) // 2] if truncate else data)
            self.wfile.flush()
            if truncate:
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler
