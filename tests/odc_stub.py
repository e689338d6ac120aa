"""A stand-in Open Data Center: a real HTTP server on loopback that records PUTs and fails on demand."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass
class OdcStub:
    """Modes: ``ok`` (201), ``error`` (503), ``reject`` (400), ``busy`` (429 + Retry-After), ``stall`` (sleep
    ``stall_s`` then 201), ``garbled`` (400 with a 300-character reason phrase and NUL bytes in the body). ``received``
    holds (kid, body, authorization) of every PUT that reached the app: records, and tombstones of deleted resources
    (``"deleted": true``), which replace a record the way the ODC does."""

    mode: str = "ok"
    stall_s: float = 0.0
    received: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.method != "PUT" or not request.path.startswith("/resources/"):
            return Response("not found", 404)(environ, start_response)
        kid = request.path.removeprefix("/resources/")
        if self.mode == "stall":
            time.sleep(self.stall_s)
        with self.lock:
            self.received.append((kid, json.loads(request.get_data()), request.headers.get("Authorization")))
        status = {"ok": 201, "stall": 201, "error": 503, "reject": 400, "busy": 429, "garbled": f"400 {'X' * 300}"}[self.mode]
        headers = {"Retry-After": "7"} if self.mode == "busy" else {}
        body = {"reject": "unknown ktype", "garbled": "bad\x00kid"}.get(self.mode, "")
        return Response(body, status, headers=headers)(environ, start_response)

    def kids(self) -> list[str]:
        with self.lock:
            return [kid for kid, _, _ in self.received]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class StubServer:
    """Runs an :class:`OdcStub` on 127.0.0.1 in a thread; can be stopped and started again on the same port."""

    def __init__(self, stub: OdcStub, port: int):
        self.stub, self.port = stub, port
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = make_server("127.0.0.1", self.port, self.stub, threaded=True, request_handler=_QuietHandler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
