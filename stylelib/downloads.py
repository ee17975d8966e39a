"""Dataset downloads for users online: resumable streaming download, size and SHA-256 checks, safe extraction.

The unpaired painting/photo sets of CycleGAN (Zhu et al. 2017) are zip files of
trainA/trainB/testA/testB folders; A holds the paintings, B the photos.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

CYCLEGAN_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"
# Size in bytes and SHA-256 of each archive, as recorded in TensorFlow Datasets' url_checksums/cycle_gan.txt.
DATASETS = {
    "monet2photo": (305231073, "88f91b00fc228f97c9411fbf1880ec1d119c98f1722e4cfcfaa2fb35fac05b04"),
    "vangogh2photo": (306590349, "362c3473e70be0944bda08d49d660eafdc2854df55d697835b8186d1d79caaff"),
    "ukiyoe2photo": (292946532, "02a2a2fb5ecf425ca1bf86aca7304377da64a2a1d3b86df54eb65e4068bf3b08"),
    "cezanne2photo": (279885071, "3a6c10ca21f9485862f1cbd707744b9dc258954a04631271d23a3605eeb63cff"),
}
DEFAULT_ROOT = Path("data") / "downloads"
CHUNK = 1 << 20
MAX_COMPRESSION_RATIO = 200  # photos and paintings barely compress; a member past this is a zip bomb


class DownloadError(RuntimeError):
    """A download or an archive could not be used; the message says what to do."""


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _resume_start(response: object) -> int | None:
    """The first byte a 206 answer holds, from its Content-Range (None if absent or unreadable)."""
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _complete_size(error: urllib.error.HTTPError) -> int | None:
    """The full size a 416 answer states in its Content-Range ('bytes */SIZE'), if any."""
    match = re.match(r"bytes \*/(\d+)", error.headers.get("Content-Range", "") if error.headers else "")
    return int(match.group(1)) if match else None


def download_file(
    url: str, target: str | os.PathLike, progress: bool = True, timeout: float = 60.0, sha256: str | None = None
) -> Path:
    """Stream `url` to `target`, resuming a `.part` file left by an interrupted run.

    A resumed answer is used only if its Content-Range starts where the `.part` file ends; the
    server's Content-Length is checked against the bytes received, and the SHA-256 when given.
    The file only takes its final name once complete and checked, so a half-finished or corrupt
    download is never mistaken for a good one.
    """
    target = Path(target)
    if target.exists():
        return target
    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    expected = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = offset > 0 and getattr(response, "status", 200) == 206 and _resume_start(response) == offset
            if not resumed:
                offset = 0
            length = response.headers.get("Content-Length")
            expected = offset + int(length) if length is not None else None
            bar = tqdm(
                total=expected, initial=offset, unit="B", unit_scale=True, disable=not progress, desc=target.name
            )
            with open(partial, "ab" if resumed else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            bar.close()
    except urllib.error.HTTPError as error:
        # 416: nothing left to send. The .part file is complete if the server says so; otherwise start over.
        if error.code != 416 or not offset:
            raise DownloadError(f"downloading {url} failed ({error})") from error
        if _complete_size(error) != offset:
            partial.unlink()
            raise DownloadError(
                f"{url} refused to resume the download; its partial file was removed, run again"
            ) from error
    except OSError as error:
        kept = partial.stat().st_size if partial.exists() else 0
        raise DownloadError(f"downloading {url} failed ({error}); run again to resume from byte {kept}") from error
    received = partial.stat().st_size
    if expected is not None and received != expected:
        raise DownloadError(f"{url}: received {received} of {expected} bytes; run the command again to resume")
    if sha256 is not None and (actual := sha256_of(partial)) != sha256:
        partial.unlink()
        raise DownloadError(f"{url}: SHA-256 {actual} is not the expected {sha256}; the file was removed, run again")
    os.replace(partial, target)
    return target


def _safe_member_path(root: Path, name: str) -> Path:
    """Where an archive member may be written, refusing absolute paths and '..' escapes."""
    member = PurePosixPath(name.replace("\\", "/"))
    if member.is_absolute() or ".." in member.parts or (member.parts and ":" in member.parts[0]):
        raise DownloadError(f"archive member {name!r} would be written outside the target folder; refusing it")
    return root.joinpath(*member.parts)


def _check_declared_sizes(bundle: zipfile.ZipFile, folder: Path) -> None:
    """Refuse an archive that would not fit on the disk or holds a member compressed past belief.

    zipfile never writes more than a member's declared size, so checking the declarations bounds the output.
    """
    members = [info for info in bundle.infolist() if not info.is_dir()]
    for info in members:
        if info.file_size > CHUNK and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise DownloadError(
                f"archive member {info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f}x "
                f"(more than {MAX_COMPRESSION_RATIO}x): a zip bomb, refusing the archive"
            )
    declared, free = sum(info.file_size for info in members), shutil.disk_usage(folder).free
    if declared > free:
        raise DownloadError(
            f"the archive expands to {declared / 1e9:.1f} GB but only {free / 1e9:.1f} GB are free; free some space"
        )


def safe_extract(archive: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Extract a zip into `destination` (which must not exist yet), rejecting unsafe member paths."""
    destination = Path(destination)
    if destination.exists():
        raise FileExistsError(f"'{destination}' already exists; remove it to extract again")
    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as error:
        raise DownloadError(f"'{archive}' is not a valid zip file; delete it and download again") from error
    # Staging beside the destination keeps the final rename on one file system.
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent))
    try:
        with bundle:
            _check_declared_sizes(bundle, staging)
            for info in bundle.infolist():
                path = _safe_member_path(staging, info.filename)
                if info.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, open(path, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def download_dataset(
    name: str,
    root: str | os.PathLike = DEFAULT_ROOT,
    url: str | None = None,
    progress: bool = True,
    sha256: str | None = None,
) -> Path:
    """Download and extract a CycleGAN painting/photo set; returns its folder (kept if already there).

    From the default address the archive is checked against its known SHA-256; from a mirror
    (`url`) only when `sha256` is given.
    """
    if name not in DATASETS and url is None:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    root = Path(root)
    folder = root / name
    if folder.exists():
        return folder
    expected = sha256 or (DATASETS[name][1] if url is None else None)
    archive = download_file(url or CYCLEGAN_URL.format(name=name), root / f"{name}.zip", progress, sha256=expected)
    safe_extract(archive, folder)
    archive.unlink()
    return folder
