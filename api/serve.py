"""Running the app under gunicorn (``hydroserve serve``)."""

from __future__ import annotations

import gc
import os
import shutil
import socket
import struct
import tempfile
import warnings

from gunicorn.app.base import BaseApplication

from . import wiring
from .config import Settings


class GunicornServer(BaseApplication):
    """gunicorn with the app factory; each worker builds its own app (and catalog engine) after fork.

    The default worker class is gevent: each connection is a greenlet, so
    clients that send slowly or sit idle cost memory, not one of a few
    threads. The worker monkey-patches the standard library when it starts,
    before it builds the app, so the app's locks, sockets and thread pools
    are cooperative; SQLite and numpy calls do not yield and block the
    worker's other connections while they run (``workers`` ~ cores).
    """

    def __init__(self, settings: Settings, extra_options: dict | None = None):
        self.settings = settings
        self.options = {
            "bind": settings.bind,
            "workers": settings.workers,
            "worker_class": settings.worker_class,
            "worker_connections": settings.worker_connections,
            "threads": settings.threads,
            "keepalive": settings.keepalive_s,
            "timeout": settings.timeout_s,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": settings.log_level.lower(),
            "forwarded_allow_ips": "127.0.0.1",
            "limit_request_line": 8190,  # gunicorn's maximum: request lines beyond are 414 (as HTML, from gunicorn)
            "post_fork": _quiet_late_ssl_patch,
            "child_exit": _child_exit,
            **(extra_options or {}),
        }
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from .app import create_app

        _tls_through_patched_ssl()
        if self.settings.worker_class == "gevent":
            _send_files_by_sendfile()
        return started_for_good(create_app(self.settings))


def started_for_good(app):
    """``app``, with every object the worker holds by now (the imports', the app's: about 170,000) moved out of the
    garbage collector's reach: they live as long as the worker, and a full collection over them took 90 to 125 ms of
    a request about once in 100 requests (the p99 of the package list)."""
    gc.collect()
    gc.freeze()
    return app


def _send_files_by_sendfile() -> None:
    """Make gevent sockets send files as gthread workers do (gunicorn hands a plain file, a cached view, to
    ``socket.sendfile``): gevent's own ``sendfile`` reads and sends 8 KiB at a time, and even ``os.sendfile`` on its
    non-blocking sockets, woken by the event loop, reaches only about 60 % of what a thread blocked in the kernel does."""
    from gevent import socket as gevent_socket

    gevent_socket.socket.sendfile = _sendfile_in_threads


SEND_WAIT_S = 1.0
"""Longest a thread of the pool waits in the kernel for a client that reads nothing; then its greenlet waits for it
(up to the socket's timeout), holding no thread."""


def _sendfile_in_threads(sock, file, offset: int = 0, count: int | None = None) -> int:
    """``socket.sendfile`` for a gevent socket: ``count`` bytes (default: to the end) of ``file`` from ``offset`` by
    ``os.sendfile`` in gevent's thread pool, the socket blocking meanwhile with a send timeout of :data:`SEND_WAIT_S`
    (the kernel waits for the client, as for a thread of gthread); the file's position ends after the bytes sent."""
    from gevent import get_hub
    from gevent.socket import wait_write

    out_fd, in_fd = sock.fileno(), file.fileno()
    count = count or os.fstat(in_fd).st_size - offset
    pool = get_hub().threadpool
    sent = 0
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(SEND_WAIT_S))
    try:
        while sent < count:
            n = pool.apply(_sendfile_blocking, (out_fd, in_fd, offset + sent, count - sent))
            if n is None:  # the client read nothing for SEND_WAIT_S
                wait_write(out_fd, timeout=sock.gettimeout())
            elif n == 0:  # the file ended early
                break
            else:
                sent += n
    finally:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(0))
        if sent:
            file.seek(offset + sent)
    return sent


def _sendfile_blocking(out_fd: int, in_fd: int, offset: int, count: int) -> int | None:
    """Bytes sent by one blocking ``os.sendfile`` (at most 1 GiB; fewer when the send timeout passes), None when the
    timeout passed before any."""
    os.set_blocking(out_fd, True)
    try:
        return os.sendfile(out_fd, in_fd, offset, min(count, 1 << 30))
    except BlockingIOError:
        return None
    finally:
        os.set_blocking(out_fd, False)


def _timeval(seconds: float) -> bytes:
    return struct.pack("ll", int(seconds), int(seconds % 1 * 1e6))


def _tls_through_patched_ssl() -> None:
    """Make urllib3 (and botocore, the S3 client) build gevent's TLS contexts in a worker that gevent has patched.

    The master imported them before the worker patched ``ssl``, so they hold
    the unpatched ``SSLContext`` class, whose methods then recurse into the
    patched one (RecursionError: no S3 client could be made). Pointing them at
    the patched class is what importing them after the patch would have done;
    without gevent (gthread workers) ``ssl.SSLContext`` is the class they hold.
    """
    import ssl
    import sys

    for name in ("urllib3.util.ssl_", "botocore.httpsession"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "SSLContext", None) is not ssl.SSLContext:
            module.SSLContext = ssl.SSLContext


def _quiet_late_ssl_patch(server, worker) -> None:
    """Silence gevent's warning that ``ssl`` was imported (by gunicorn and requests) before the worker patched it.

    It concerns outgoing TLS through modules that kept the unpatched names
    (urllib3); the API workers make no outgoing connections (the ODC push
    runs in ``hydroserve sync``), so the warning would only alarm operators.
    """
    warnings.filterwarnings("ignore", message="Monkey-patching ssl after ssl has already been imported")


def _child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve(settings: Settings) -> None:
    """Check the catalog (:func:`~hydroserve.api.wiring.open_existing_catalog`: it must exist, made by ``hydroserve db
    init``), then run gunicorn in the foreground.

    Workers share their request metrics through a fresh
    ``PROMETHEUS_MULTIPROC_DIR`` (set here, before any worker imports
    prometheus_client, and removed at exit).
    """
    wiring.open_existing_catalog(settings).dispose()
    metrics_dir = tempfile.mkdtemp(prefix="hydroserve-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        GunicornServer(settings).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
