import http.server
import threading
import zipfile

import pytest

from stylelib.downloads import DownloadError, download_dataset, download_file, safe_extract


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one payload, honouring `Range: bytes=N-` like a real file server."""

    payload = b""

    def do_GET(self):
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
        body = self.payload[start:]
        self.send_response(206 if start else 200)
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
