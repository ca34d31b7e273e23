"""A real HTTP server on 127.0.0.1 that speaks the Education Data Portal API's format.

Why not mock httpx: the client's pagination, retries, timeouts, caps and truncated-body handling
are only worth testing against real sockets. The server holds rows per path, serves them in
small pages (so every query takes several), writes ``next`` as a full URL with its query
parameters in another order than the request's, answers 404 for an unknown path, and lets a
test script a failure for the next matching request(s), or for every one (``repeat``).

It describes itself as the real API does: ``api-endpoints/`` (the catalog: one record per
endpoint, ``years_available`` a display string such as ``"1991, 1994&ndash;2020"``) and
``api-endpoint-varlist/?endpoint_id=N`` (variables, all values strings). By default both are
built from the shipped coverage table; a test replaces ``catalog`` / ``varlist`` with its own
records. The server then behaves as its own catalog says, read by its own small parser (not the
package's): 500 for a year the catalog does not list, only the varlist's filters honoured, and
``fields=`` honoured, a variable the endpoint lacks coming back blank (``blank``, null by
default).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from benchmarking_assets.sources.coverage import ENDPOINTS

PREFIX = "/api/v1/"
CATALOG = "api-endpoints/"
VARLIST = "api-endpoint-varlist/"
# The real catalog's endpoint_id of each endpoint the package reads (2024 and 2026 catalogs).
ENDPOINT_IDS = {
    "district_directory": 54,
    "finance": 29,
    "assessments": 80,
    "grad_rates": 101,
    "crdc_absenteeism": 37,
    "crdc_enrollment": 60,
    "school_directory": 24,
}


@dataclass
class Fault:
    """What to do instead of (or on top of) a normal answer for one request."""

    # "status", "slow", "truncate", "not_json", "count_offset", "drop_filter", "trickle",
    # "body", "endless", "huge"
    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    offset: int = 0
    name: str = ""
    path: str | None = None  # only requests whose path contains this; None: any request
    body: bytes = b""
    repeat: bool = False  # applies to every matching request, never used up
    announce_length: bool = True


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


def trickle(seconds_per_byte: float, path: str | None = None) -> Fault:
    """Answer normally, but send the body one byte every ``seconds_per_byte`` (every single
    read is quick, so per-read timeouts never fire)."""
    return Fault("trickle", seconds=seconds_per_byte, path=path)


def raw_body(body: bytes, path: str | None = None, repeat: bool = False) -> Fault:
    """Answer 200 with exactly these bytes as ``application/json``."""
    return Fault("body", body=body, path=path, repeat=repeat)


def endless(count: int, path: str | None = None) -> Fault:
    """Every request: a full page of the path's rows announcing ``count``, with a ``next``
    link to the following page, for ever."""
    return Fault("endless", offset=count, path=path, repeat=True)


def huge(nbytes: int, path: str | None = None, announce_length: bool = True) -> Fault:
    """A valid page of about ``nbytes`` bytes, generated while it is sent (the server never
    holds it), with or without a ``Content-Length`` header."""
    return Fault("huge", offset=nbytes, path=path, announce_length=announce_length)


# -- metadata in the real shapes ---------------------------------------------------------------
def years_available(years: set[int] | frozenset[int]) -> str:
    """The catalog's display string: ``"1991, 1994&ndash;2020"``."""
    ordered, runs = sorted(years), []
    for y in ordered:
        if runs and y == runs[-1][1] + 1:
            runs[-1][1] = y
        else:
            runs.append([y, y])
    return ", ".join(str(a) if a == b else f"{a}&ndash;{b}" for a, b in runs)


def catalog_record(endpoint_id: int, endpoint_url: str, years: str) -> dict[str, Any]:
    """One ``api-endpoints`` record with the real keys (the long text fields shortened)."""
    section = "Schools" if "/schools/" in endpoint_url else "School_districts"
    return {
        "endpoint_id": endpoint_id,
        "page_id": 2,
        "order": endpoint_id,
        "example_endpoint_url": endpoint_url.replace("{year}", "2015"),
        "endpoint_url": endpoint_url,
        "section": section,
        "class_name": endpoint_url.split("/")[4].upper(),
        "topic": None,
        "sub_topic": "",
        "datasource_id": 3,
        "years_available": years,
        "description": "<p>…</p>",
        "var_list_id": endpoint_id,
        "stata_code": "",
        "r_code": "",
        "python_code": "",
        "js_code": "",
        "hide": 0,
    }


def varlist_row(endpoint_id: int, variable: str, is_filter: bool) -> dict[str, str]:
    """One ``api-endpoint-varlist`` row: every value a string, as the real API sends them."""
    return {
        "endpoint_id": str(endpoint_id),
        "variable": variable,
        "label": variable,
        "is_filter": "1" if is_filter else "None",
        "format": "numeric",
        "data_type": "integer",
        "string_length": "7",
        "description": "None",
        "total_exist": "None",
        "values": '"-1" : "Missing/not reported","-2" : "Not applicable","-3" : "Suppressed data"',
    }


def shipped_catalog() -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(catalog records, varlist rows) saying what the shipped coverage table says."""
    records, rows = [], []
    for key, endpoint in ENDPOINTS.items():
        number = ENDPOINT_IDS[key]
        url = "/api/v1/" + endpoint.path_template.replace("grade-99", "{grade_edfacts}")
        records.append(catalog_record(number, url, years_available(endpoint.years)))
        rows += [varlist_row(number, v, v in endpoint.filters) for v in sorted(endpoint.variables)]
    return records, rows


@contextmanager
def silent_server() -> Iterator[str]:
    """A host that accepts TCP connections and never says a word; yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


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
        self.catalog, self.varlist = shipped_catalog()
        self.honour_fields = True
        self.blank: Any = None  # what a requested variable the endpoint lacks comes back as
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
                    return fault if fault.repeat else self.faults.pop(i)
        return None

    def _described(self, path: str) -> tuple[dict[str, Any], set[int]] | None:
        """The catalog record whose URL matches ``path``, and the years it lists."""
        for record in self.catalog:
            template = str(record.get("endpoint_url", "")).removeprefix(PREFIX).strip("/")
            pattern = re.escape(template).replace(re.escape("{year}"), r"(\d{4})")
            pattern = re.sub(r"\\\{grade\w*\\\}", "grade-[^/]+", pattern)
            found = re.fullmatch(pattern, path.strip("/"))
            if found:
                years: set[int] = set()
                text = str(record.get("years_available", "")).replace("&ndash;", "-")
                for first, last in re.findall(r"(\d{4})(?:\s*-\s*(\d{4}))?", text):
                    years.update(range(int(first), int(last or first) + 1))
                return record, years
        return None

    def _metadata(self, path: str, query: list[tuple[str, str]]) -> list[dict[str, Any]] | None:
        if path == CATALOG:
            return self.catalog
        if path == VARLIST:
            wanted = dict(query).get("endpoint_id")
            return [r for r in self.varlist if wanted is None or str(r["endpoint_id"]) == wanted]
        return None

    def _page(self, path: str, query: list[tuple[str, str]], netloc: str) -> tuple[int, Any]:
        described = self._described(path)
        rows = self._metadata(path, query)
        honoured: set[str] = set()
        variables: set[str] | None = None
        if described is not None:
            record, years = described
            number = str(record.get("endpoint_id"))
            listed = [r for r in self.varlist if str(r.get("endpoint_id")) == number]
            honoured = {r["variable"] for r in listed if r.get("is_filter") == "1"}
            variables = {r["variable"] for r in listed}
            year = re.search(r"/(\d{4})/", f"/{path}")
            if year is not None and int(year[1]) not in years:
                return 500, "<h1>Server Error (500)</h1>"
        if rows is None:
            if path not in self.tables:
                return 404, {"detail": "Not found."}
            rows = self.tables[path]
        for name, value in query:
            if name in honoured:
                allowed = set(value.split(","))
                rows = [r for r in rows if str(r.get(name)) in allowed]
        fields = dict(query).get("fields")
        if fields and self.honour_fields and variables is not None:
            names = list(dict.fromkeys(fields.split(",")))
            rows = [{n: r.get(n) if n in variables else self.blank for n in names} for r in rows]
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
            if fault is not None and fault.kind == "body":
                self._send_bytes(200, fault.body)
                return
            if fault is not None and fault.kind == "huge":
                self._send_huge(fault.offset, fault.announce_length)
                return
            if fault is not None and fault.kind == "endless":
                page = int(dict(query).get("page", "1"))
                host = self.headers.get("Host", "")
                others = [(k, v) for k, v in query if k != "page"]
                link = f"http://{host}{PREFIX}{path}?" + urlencode(
                    [*others, ("page", str(page + 1))]
                )
                rows = (api.tables.get(path) or [{}])[: api.page_size]
                self._send(200, {"count": fault.offset, "next": link, "results": rows})
                return
            code, body = api._page(path, query, self.headers.get("Host", ""))
            if fault is not None and code == 200 and fault.kind == "count_offset":
                body["count"] += fault.offset
            if fault is not None and code == 200 and fault.kind == "drop_filter" and body["next"]:
                parts = urlsplit(body["next"])
                kept = [(k, v) for k, v in parse_qsl(parts.query) if k != fault.name]
                body["next"] = parts._replace(query=urlencode(kept)).geturl()
            if fault is not None and fault.kind == "trickle":
                self._send(code, body, trickle=fault.seconds)
                return
            self._send(code, body, truncate=fault is not None and fault.kind == "truncate")

        def _send_bytes(self, code: int, data: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_huge(self, nbytes: int, announce_length: bool) -> None:
            """A page of ~``nbytes`` bytes, written chunk by chunk (never held whole)."""
            row = json.dumps({"leaid": "0100001", "fips": 1, "lea_name": "x" * 900}) + ","
            rows = max(1, nbytes // len(row))
            head = f'{{"count":{rows},"next":null,"previous":null,"results":['.encode()
            chunk = (row * 64).encode()
            last = row[:-1].encode() + b"]}"
            total = len(head) + (rows - 1) * len(row) + len(last)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if announce_length:
                self.send_header("Content-Length", str(total))
            self.end_headers()
            self.wfile.write(head)
            left = rows - 1
            while left > 0:
                n = min(64, left)
                self.wfile.write(chunk if n == 64 else (row * n).encode())
                left -= n
            self.wfile.write(last)

        def _send(
            self,
            code: int,
            body: Any,
            headers: dict[str, str] | None = None,
            truncate: bool = False,
            trickle: float = 0.0,
        ) -> None:
            is_text = isinstance(body, str)
            data = (body if is_text else json.dumps(body)).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html" if is_text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if trickle:
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(trickle)
                return
            # A truncated answer: announce the full length, send half, close the connection.
            self.wfile.write(data[: len(data) // 2] if truncate else data)
            self.wfile.flush()
            if truncate:
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler
