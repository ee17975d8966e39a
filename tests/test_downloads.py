import hashlib
import http.server
import shutil
import threading
import zipfile

import pytest

from stylelib import downloads
from stylelib.downloads import DownloadError, download_dataset, download_file, safe_extract


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one payload, honouring `Range: bytes=N-` like a real file server."""

    payload = b""

    def do_GET(self):
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
        if start >= len(self.payload):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(self.payload)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def test_download_resumes_a_partial_file_over_http(tmp_path, server):
    _RangeHandler.payload = bytes(range(256)) * 1000
    url = f"http://127.0.0.1:{server.server_port}/set.zip"
    target = tmp_path / "set.zip"
    (tmp_path / "set.zip.part").write_bytes(_RangeHandler.payload[:1234])  # an interrupted earlier run
    assert download_file(url, target, progress=False).read_bytes() == _RangeHandler.payload
    assert not (tmp_path / "set.zip.part").exists()


def test_short_download_is_reported_and_kept_for_resume(tmp_path, server, monkeypatch):
    _RangeHandler.payload = b"x" * 5000
    original = _RangeHandler.do_GET

    def truncated(self):
        self.send_response(200)
        self.send_header("Content-Length", "5000")
        self.end_headers()
        self.wfile.write(b"x" * 100)

    monkeypatch.setattr(_RangeHandler, "do_GET", truncated)
    url = f"http://127.0.0.1:{server.server_port}/set.zip"
    with pytest.raises(DownloadError, match="resume"):
        download_file(url, tmp_path / "set.zip", progress=False, timeout=5)
    assert not (tmp_path / "set.zip").exists()
    monkeypatch.setattr(_RangeHandler, "do_GET", original)
    assert download_file(url, tmp_path / "set.zip", progress=False).read_bytes() == _RangeHandler.payload


def test_dataset_download_from_a_local_file_extracts_the_folders(tmp_path):
    archive = _zip(tmp_path / "source.zip", {"monet2photo/trainA/a.jpg": b"A", "monet2photo/trainB/b.jpg": b"B"})
    folder = download_dataset("monet2photo", tmp_path / "downloads", url=archive.as_uri(), progress=False)
    assert (folder / "monet2photo" / "trainA" / "a.jpg").read_bytes() == b"A"
    assert not (tmp_path / "downloads" / "monet2photo.zip").exists()
    assert download_dataset("monet2photo", tmp_path / "downloads", url="http://unused.invalid/") == folder
    with pytest.raises(ValueError, match="unknown dataset"):
        download_dataset("picasso2photo", tmp_path)


@pytest.mark.parametrize("evil", ["../escape.txt", "/etc/passwd_copy", "ok/../../escape.txt", "C:/windows.txt"])
def test_extraction_refuses_paths_outside_the_folder(tmp_path, evil):
    archive = _zip(tmp_path / "evil.zip", {"fine.txt": b"ok", evil: b"bad"})
    with pytest.raises(DownloadError, match="outside the target folder"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["evil.zip"]


def test_extraction_explains_a_broken_zip_and_keeps_existing_folders(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(DownloadError, match="not a valid zip"):
        safe_extract(broken, tmp_path / "out")
    (tmp_path / "mine").mkdir()
    with pytest.raises(FileExistsError):
        safe_extract(_zip(tmp_path / "ok.zip", {"a.txt": b"a"}), tmp_path / "mine")


def test_a_complete_partial_file_answered_416_is_finished_not_looped(tmp_path, server):
    _RangeHandler.payload = b"y" * 3000
    url = f"http://127.0.0.1:{server.server_port}/set.zip"
    (tmp_path / "set.zip.part").write_bytes(_RangeHandler.payload)  # complete, but not yet renamed
    digest = hashlib.sha256(_RangeHandler.payload).hexdigest()
    assert download_file(url, tmp_path / "set.zip", progress=False, sha256=digest).read_bytes() == _RangeHandler.payload
    # A partial file longer than the payload cannot be resumed: removed, so the next run starts over.
    (tmp_path / "other.zip.part").write_bytes(b"y" * 4000)
    with pytest.raises(DownloadError, match="partial file was removed"):
        download_file(url.replace("set", "other"), tmp_path / "other.zip", progress=False)
    assert not (tmp_path / "other.zip.part").exists()
    assert download_file(url, tmp_path / "other.zip", progress=False).read_bytes() == _RangeHandler.payload


def test_a_206_starting_elsewhere_than_asked_restarts_from_zero(tmp_path, server, monkeypatch):
    _RangeHandler.payload = bytes(range(200)) * 10

    def wrong_range(self):  # claims to resume but sends the whole file
        self.send_response(206)
        self.send_header("Content-Range", f"bytes 0-{len(self.payload) - 1}/{len(self.payload)}")
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    monkeypatch.setattr(_RangeHandler, "do_GET", wrong_range)
    (tmp_path / "set.zip.part").write_bytes(_RangeHandler.payload[:500])
    url = f"http://127.0.0.1:{server.server_port}/set.zip"
    assert download_file(url, tmp_path / "set.zip", progress=False).read_bytes() == _RangeHandler.payload


def test_a_checksum_mismatch_removes_the_file_and_says_so(tmp_path):
    source = tmp_path / "source.zip"
    source.write_bytes(b"tampered")
    with pytest.raises(DownloadError, match="SHA-256 .* is not the expected 00"):
        download_file(source.as_uri(), tmp_path / "got.zip", progress=False, sha256="00" * 32)
    assert not (tmp_path / "got.zip").exists() and not (tmp_path / "got.zip.part").exists()
    archive = _zip(tmp_path / "mirror.zip", {"monet2photo/trainA/a.jpg": b"A"})
    with pytest.raises(DownloadError, match="SHA-256"):
        download_dataset("monet2photo", tmp_path / "d", url=archive.as_uri(), progress=False, sha256="00" * 32)
    assert set(downloads.DATASETS) == {"monet2photo", "vangogh2photo", "ukiyoe2photo", "cezanne2photo"}
    assert all(len(digest) == 64 for _, digest in downloads.DATASETS.values())


def test_zip_bombs_and_archives_larger_than_the_disk_are_refused(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("zeros.bin", b"\0" * (8 << 20))  # 8 MiB of zeros compress about 1000x
    with pytest.raises(DownloadError, match="zip bomb"):
        safe_extract(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    plain = _zip(tmp_path / "plain.zip", {"a.jpg": b"A" * 1000})
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10, 10))
    with pytest.raises(DownloadError, match="free some space"):
        safe_extract(plain, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip", "plain.zip"]  # no staging folder left


def test_extraction_into_a_new_folder_stages_beside_it(tmp_path, monkeypatch):
    staged = []
    real_mkdtemp = downloads.tempfile.mkdtemp
    monkeypatch.setattr(downloads.tempfile, "mkdtemp", lambda dir=None: staged.append(dir) or real_mkdtemp(dir=dir))
    folder = safe_extract(_zip(tmp_path / "a.zip", {"x.txt": b"x"}), tmp_path / "new" / "deeper" / "out")
    assert (folder / "x.txt").read_bytes() == b"x" and staged == [tmp_path / "new" / "deeper"]
