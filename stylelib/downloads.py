"""Dataset downloads for users online: resumable streaming download, size check, safe extraction.

The unpaired painting/photo sets of CycleGAN (Zhu et al. 2017) are zip files of
trainA/trainB/testA/testB folders; A holds the paintings, B the photos.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

CYCLEGAN_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"
DATASETS = ("monet2photo", "vangogh2photo", "ukiyoe2photo", "cezanne2photo")
DEFAULT_ROOT = Path("data") / "downloads"
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download or an archive could not be used; the message says what to do."""


def download_file(url: str, target: str | os.PathLike, progress: bool = True, timeout: float = 60.0) -> Path:
    """Stream `url` to `target`, resuming a `.part` file left by an interrupted run.

    The server's Content-Length is checked against the bytes received; the file only takes
    its final name once complete, so a half-finished download is never mistaken for a good one.
    """
    target = Path(target)
    if target.exists():
        return target
    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = offset > 0 and getattr(response, "status", 200) == 206
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
    except OSError as error:
        kept = partial.stat().st_size if partial.exists() else 0
        raise DownloadError(f"downloading {url} failed ({error}); run again to resume from byte {kept}") from error
    received = partial.stat().st_size
    if expected is not None and received != expected:
        raise DownloadError(f"{url}: received {received} of {expected} bytes; run the command again to resume")
    os.replace(partial, target)
    return target


def _safe_member_path(root: Path, name: str) -> Path:
    """Where an archive member may be written, refusing absolute paths and '..' escapes."""
    member = PurePosixPath(name.replace("\\", "/"))
    if member.is_absolute() or ".." in member.parts or (member.parts and ":" in member.parts[0]):
        raise DownloadError(f"archive member {name!r} would be written outside the target folder; refusing it")
    return root.joinpath(*member.parts)


def safe_extract(archive: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Extract a zip into `destination` (which must not exist yet), rejecting unsafe member paths."""
    destination = Path(destination)
    if destination.exists():
        raise FileExistsError(f"'{destination}' already exists; remove it to extract again")
    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as error:
        raise DownloadError(f"'{archive}' is not a valid zip file; delete it and download again") from error
    staging = Path(tempfile.mkdtemp(dir=destination.parent if destination.parent.exists() else None))
    try:
        with bundle:
            for info in bundle.infolist():
                path = _safe_member_path(staging, info.filename)
                if info.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, open(path, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def download_dataset(
    name: str, root: str | os.PathLike = DEFAULT_ROOT, url: str | None = None, progress: bool = True
) -> Path:
    """Download and extract a CycleGAN painting/photo set; returns its folder (kept if already there)."""
    if name not in DATASETS and url is None:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    root = Path(root)
    folder = root / name
    if folder.exists():
        return folder
    archive = download_file(url or CYCLEGAN_URL.format(name=name), root / f"{name}.zip", progress=progress)
    safe_extract(archive, folder)
    archive.unlink()
    return folder
