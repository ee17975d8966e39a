"""Video: stylise a clip with a trained generator, streaming; make synthetic clips with known motion.

Decoding and encoding go through ffmpeg from the imageio-ffmpeg package. The frame rate is kept and
the audio track is carried over (copied when the container stays the same, re-encoded to AAC
otherwise). Frames are stylised independently: a generator trained with a temporal-stability term
flickers less.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .datasets import find_images
from .images import load_image, resize, size_for_long_side
from .inference import stylize_image
from .runtime import Runtime
from .storage import atomic_write

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


def is_video(path: str | os.PathLike) -> bool:
    """True for a file with a video extension."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass
class VideoInfo:
    """What was written: frame count, frame rate, frame size and whether audio was carried over."""

    frames: int
    fps: float
    size: tuple[int, int]  # width, height
    audio: bool


def _even_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(height, width) scaled to max_side and rounded down to even numbers, which H.264 in yuv420p needs."""
    if max_side:
        height, width = size_for_long_side(height, width, max_side)
    return max(2, height - height % 2), max(2, width - width % 2)


def stylize_video(
    generator: torch.nn.Module,
    source: str | os.PathLike,
    destination: str | os.PathLike,
    max_side: int | None = None,
    runtime: Runtime | None = None,
    preserve_color: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> VideoInfo:
    """Stylise every frame of `source` into the video file `destination` (written atomically)."""
    source, destination = Path(source), Path(destination)
    if not source.is_file():
        raise FileNotFoundError(f"no video at '{source}'")
    if not is_video(destination):
        raise ValueError(f"'{destination}': give the output a video extension ({', '.join(VIDEO_SUFFIXES)})")
    if destination.exists() and not overwrite:
        raise FileExistsError(f"'{destination}' already exists; pass --overwrite or choose another --out")
    reader = imageio_ffmpeg.read_frames(str(source))
    meta = next(reader)
    width, height = meta["size"]
    out_height, out_width = _even_size(height, width, max_side)
    audio = "audio_codec" in meta
    same_container = source.suffix.lower() == destination.suffix.lower()
    frames = 0

    def write(temporary: str) -> None:
        nonlocal frames
        writer = imageio_ffmpeg.write_frames(
            temporary,
            (out_width, out_height),
            fps=meta["fps"],
            macro_block_size=2,
            ffmpeg_log_level="error",
            audio_path=str(source) if audio else None,
            audio_codec=("copy" if same_container else "aac") if audio else None,
        )
        writer.send(None)
        estimate = round(meta["fps"] * meta["duration"]) or None
        with tqdm(total=estimate, disable=not progress, desc="frames", unit="frame", leave=False) as bar:
            for raw in reader:
                frame = torch.from_numpy(np.frombuffer(raw, np.uint8).reshape(height, width, 3).copy())
                photo = resize(frame.permute(2, 0, 1)[None].float() / 255, (out_height, out_width))
                styled = stylize_image(generator, photo, runtime=runtime, preserve_color=preserve_color)
                writer.send((styled[0].permute(1, 2, 0) * 255).round().byte().contiguous().numpy().tobytes())
                frames += 1
                bar.update(1)
        writer.close()

    try:
        atomic_write(destination, write)
    finally:
        reader.close()
    if frames == 0:
        destination.unlink(missing_ok=True)
        raise ValueError(f"'{source}' holds no video frames")
    return VideoInfo(frames=frames, fps=meta["fps"], size=(out_width, out_height), audio=audio)


def read_frames(source: str | os.PathLike, max_side: int | None = None) -> Iterator[torch.Tensor]:
    """The frames [1,3,H,W] in [0, 1] of a video file or of a folder of images (in name order), one at a time."""
    source = Path(source)
    if source.is_dir():
        for path in find_images(source):
            yield load_image(path, max_side=max_side)
        return
    if not source.is_file() or not is_video(source):
        raise ValueError(f"'{source}' is neither a video file ({', '.join(VIDEO_SUFFIXES)}) nor a folder of frames")
    reader = imageio_ffmpeg.read_frames(str(source))
    width, height = next(reader)["size"]
    try:
        for raw in reader:
            frame = torch.from_numpy(np.frombuffer(raw, np.uint8).reshape(height, width, 3).copy())
            image = frame.permute(2, 0, 1)[None].float() / 255
            yield image if max_side is None else load_image(image, max_side=max_side)
    finally:
        reader.close()


def pan_and_zoom(
    photo: torch.Tensor, frames: int = 24, zoom: float = 0.004, noise: float = 0.01, seed: int = 0
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """A clip made from one photo: a slow pan across it while zooming in, with per-frame sensor noise.

    Returns the frames [1,3,H,W] and the exact motion between them: for each pair, the grid that
    says where each pixel of frame t+1 was in frame t (the form metrics.flicker takes).
    """
    generator = torch.Generator().manual_seed(seed)
    matrices = []
    for t in range(frames):
        scale = 0.8 * (1 - zoom) ** t  # each frame shows 80% of the photo's side, then a little less
        pan = (t / max(1, frames - 1) - 0.5) * (1 - scale) * 0.9  # left to right, never past the edge
        matrices.append(torch.tensor([[scale, 0.0, pan], [0.0, scale, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64))
    size = [1, 3, *photo.shape[-2:]]

    def grid(matrix: torch.Tensor) -> torch.Tensor:
        return F.affine_grid(matrix[:2].float().unsqueeze(0), size, align_corners=False)

    clip = []
    for matrix in matrices:
        frame = F.grid_sample(photo.float(), grid(matrix), mode="bilinear", align_corners=False)
        clip.append((frame + noise * torch.randn(frame.shape, generator=generator)).clamp(0.0, 1.0))
    motion = [grid(torch.linalg.inv(before) @ after) for before, after in zip(matrices, matrices[1:])]
    return clip, motion
