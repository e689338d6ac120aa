"""The view cache (acoustics.view_cache): /wav and /raw of a FLAC-stored package sent from checked files on the
node's disk, the same bytes as made from the store; what is never cached; a damaged cache file is never served;
eviction; one filler at a time; a real gunicorn (gevent) sends cached views, whole and in ranges, with sendfile."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
from fractions import Fraction

import pytest
import requests

from hydroserve.acoustics.view_cache import ViewCache
from hydroserve.api.app import create_app
from support import archive_files, url

PID = "DOM_808956920_CH1_1608751680"


@pytest.fixture
def package(archived, synthetic_files, settings):
    """One 2 s package of 24-bit counts (its samples stored as FLAC); its catalog record."""
    from support import package_record

    assert archived(synthetic_files(n_frames=5)).packages_made == [PID]
    record = package_record(settings, PID)
    assert record.samples_key.endswith(".flac")
    return record


def get(client, path, headers=None):
    """The response read whole and closed (closing a whole view read from the store places it in the cache)."""
    response = client.get(path, headers=headers)
    response.get_data()
    response.close()
    return response


def cached_files(settings) -> list[str]:
    return sorted(p.name for p in settings.view_cache_dir.iterdir() if p.is_file())


@pytest.mark.parametrize("kind", ["Wav", "Raw"])
def test_a_cached_view_is_the_view_made_from_the_store_and_needs_no_store(app, client, settings, package, kind):
    path = url(app, f"acoustic.{kind}", package_id=PID)
    sha256 = package.products[kind.lower()].sha256
    assert cached_files(settings) == []
    from_store = get(client, path)
    assert from_store.status_code == 200 and hashlib.sha256(from_store.data).hexdigest() == sha256
    assert cached_files(settings) == [sha256]
    (settings.blob_dir / package.samples_key).unlink()  # what follows can only come from the cache
    from_cache = get(client, path)
    assert from_cache.status_code == 200 and from_cache.data == from_store.data
    assert from_cache.headers["ETag"] == from_store.headers["ETag"] == f'"{sha256}"'
    assert from_cache.headers["Content-Length"] == str(len(from_store.data))
    size = len(from_store.data)
    for first, last in ((0, 99), (size // 3, size // 3 + 70_001), (size - 7, size - 1)):
        part = get(client, path, {"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206 and part.data == from_store.data[first : last + 1], (first, last)
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert get(client, path, {"If-None-Match": from_store.headers["ETag"]}).status_code == 304
    assert client.head(path).headers["Content-Length"] == str(size)


def test_partial_reads_and_heads_cache_nothing(app, client, settings, package):
    path = url(app, "acoustic.Wav", package_id=PID)
    whole = get(client, path, {"Range": "bytes=100-"})
    assert whole.status_code == 206 and client.head(path).status_code == 200
    started = client.get(path)
    next(started.response)  # a client that reads one chunk and goes away
    started.close()
    assert cached_files(settings) == [] and list((settings.view_cache_dir / ".incoming").iterdir()) == []
    assert get(client, path, {"Range": "bytes=0-"}).status_code == 206  # a range over the whole view fills it
    assert cached_files(settings) == [package.products["wav"].sha256]


@pytest.mark.parametrize("damage", ["flip", "flip, times kept", "truncate"])
def test_a_damaged_cache_file_is_never_served(app, settings, package, caplog, damage):
    path = url(app, "acoustic.Wav", package_id=PID)
    intact = get(app.test_client(), path).data
    cached = settings.view_cache_dir / package.products["wav"].sha256
    stat = cached.stat()
    with cached.open("r+b") as file:
        if damage == "truncate":
            file.truncate(stat.st_size - 4)
        else:
            file.seek(stat.st_size // 2)
            file.write(bytes([file.read(1)[0] ^ 1]))
    # times kept: only a process that has not served the file yet can tell (it hashes it first); otherwise a later
    # modification time, set here so that it differs even where the clock is coarser than the writes
    os.utime(cached, ns=(stat.st_atime_ns, stat.st_mtime_ns - (0 if damage == "flip, times kept" else 10**9)))
    # the process that wrote the file sees it changed; a new one (another worker) checks every file it first serves
    clients = [app.test_client()] if damage != "flip, times kept" else []
    for client in clients + [create_app(settings).test_client()]:
        served = get(client, path)
        assert served.status_code == 200 and served.data == intact
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == package.products["wav"].sha256  # made again
        with cached.open("r+b") as file:  # damaged again for the next client
            file.seek(stat.st_size // 2)
            file.write(bytes([file.read(1)[0] ^ 1]))
        os.utime(cached, ns=(stat.st_atime_ns, stat.st_mtime_ns - 2 * 10**9))
    assert "deleted; the view is served from the store" in caplog.text


def test_recorded_damage_of_the_samples_answers_503_from_the_cache_too(app, client, settings, package):
    path = url(app, "acoustic.Wav", package_id=PID)
    get(client, path)
    with (settings.blob_dir / package.samples_key).open("r+b") as file:
        file.seek(100)
        file.write(b"\0" * 8)
    assert get(client, url(app, "acoustic.Flac", package_id=PID)).status_code == 503  # reading it finds the damage
    assert get(client, path).status_code == 503


class Stored(io.BytesIO):
    """A view as read from the store, in memory."""

    @property
    def size_bytes(self) -> int:
        return len(self.getbuffer())


def fill(cache: ViewCache, data: bytes, sha256: str | None = None) -> None:
    with cache.filling_reader(Stored(data), sha256 or hashlib.sha256(data).hexdigest()) as reader:
        while reader.read(1000):
            pass


def test_oldest_views_are_evicted_beyond_the_room(tmp_path):
    cache = ViewCache(tmp_path, max_bytes=25_000)
    views = [bytes([i]) * 10_000 for i in range(4)]
    names = [hashlib.sha256(view).hexdigest() for view in views]
    for age, (view, name) in enumerate(zip(views, names)):
        fill(cache, view)
        if (tmp_path / name).exists():  # a modification time of its own: fills within one clock tick share one
            os.utime(tmp_path / name, ns=(age * 10**9, age * 10**9))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(names[2:])
    fill(cache, b"x" * 30_000)  # larger than the room: never cached
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(names[2:])
    with cache.open(names[3], 10_000) as file:
        assert file.read() == views[3]
    assert cache.open(names[0], 10_000) is None


def test_one_filler_at_a_time_and_wrong_bytes_are_not_placed(tmp_path):
    cache = ViewCache(tmp_path, max_bytes=10**6)
    data = b"view" * 1000
    name = hashlib.sha256(data).hexdigest()
    first = cache.start(name, len(data))
    assert first is not None and cache.start(name, len(data)) is None  # another process (or request) is filling it
    first.write(data)
    first.finish()
    assert cache.open(name, len(data)).read() == data
    fill(cache, b"other bytes", sha256="0" * 64)  # the store handed out bytes that are not the catalog's
    assert cache.open("0" * 64, 11) is None and not (tmp_path / ("0" * 64)).exists()
    assert list((tmp_path / ".incoming").iterdir()) == []


@pytest.mark.slow
def test_gunicorn_sends_cached_views_whole_and_in_ranges(settings, package, gunicorn_server):
    base = gunicorn_server(workers=1)
    wav = f"{base}/api/v1/packages/{PID}/wav"
    from_store = requests.get(wav, timeout=30).content
    assert hashlib.sha256(from_store).hexdigest() == package.products["wav"].sha256
    assert cached_files(settings) == [package.products["wav"].sha256]
    (settings.blob_dir / package.samples_key).unlink()
    assert requests.get(wav, timeout=30).content == from_store
    size = len(from_store)
    for first, last in ((0, 0), (12_345, 1_000_000), (size - 100, size - 1)):
        part = requests.get(wav, headers={"Range": f"bytes={first}-{last}"}, timeout=30)
        assert part.status_code == 206 and part.content == from_store[first : last + 1]
    with requests.Session() as session:  # keep-alive: each answer ends where its Content-Length says
        assert [session.get(wav, timeout=30).content == from_store for _ in range(3)] == [True] * 3


@pytest.mark.slow
def test_clients_that_stop_reading_cached_views_hold_up_no_one(settings, synthetic_files, gunicorn_server):
    """gevent sends cached views from a pool of 10 threads, each waiting at most SEND_WAIT_S for a client: twelve
    clients that read nothing of a 20 s package (15.6 MB, more than the sockets' buffers take) leave a worker that
    still answers another download (within the client's 30 s timeout)."""
    long_packages = dataclasses.replace(settings, snippet_duration_s=Fraction(20), snippet_interval_s=20)
    assert archive_files(long_packages, synthetic_files(n_frames=40)).packages_made == [PID]
    base = gunicorn_server(workers=1)
    path = f"/api/v1/packages/{PID}/wav"
    whole = requests.get(base + path, timeout=30).content
    host, port = base.removeprefix("http://").split(":")
    stalled = []
    for _ in range(12):
        connection = socket.socket()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.connect((host, int(port)))
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        stalled.append(connection)
    try:
        for connection in stalled:  # every stalled answer has begun: its first bytes wait in the socket
            assert connection.recv(1, socket.MSG_PEEK) == b"H"
        assert requests.get(base + path, timeout=30).content == whole
    finally:
        for connection in stalled:
            connection.close()


def test_an_unusable_cache_folder_is_named_and_the_views_come_from_the_store(settings, package, caplog, tmp_path):
    occupied = tmp_path / "a-file"
    occupied.write_bytes(b"")
    app = create_app(dataclasses.replace(settings, view_cache_dir=occupied / "view-cache"))
    assert f"view_cache_dir {occupied / 'view-cache'} cannot be used" in caplog.text
    served = get(app.test_client(), url(app, "acoustic.Wav", package_id=PID))
    assert served.status_code == 200 and hashlib.sha256(served.data).hexdigest() == package.products["wav"].sha256
