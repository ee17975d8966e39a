"""Video: stylise a clip with a trained generator, streaming; make synthetic clips with known motion.

Decoding and encoding go through ffmpeg from the imageio-ffmpeg package. The frame rate is kept and
the audio track is carried over (copied when the container stays the same, re-encoded to AAC
otherwise). Frames are stylised independently: a generator trained with a temporal-stability term
flickers less.

Hostile input fails before any work with one VideoError line: a missing or empty file, something
that is not a video, an audio-only file, a clip with no frames, frames over 8K UHD (or outputs over
4K UHD without max_side). A truncated clip gives the frames that can be read, and says how many of
how many. Odd frame sides lose their last row or column (H.264 needs even ones); fractional frame
rates (29.97) are kept.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .datasets import find_images
from .errors import InputError
from .images import load_image, resize, size_for_long_side
from .inference import stylize_image
from .runtime import Runtime
from .storage import atomic_write

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
MAX_SOURCE_PIXELS = 7680 * 4320  # 8K UHD: larger frames are refused before decoding (one frame is 100 MB of bytes)
MAX_OUTPUT_PIXELS = 3840 * 2160  # 4K UHD: larger outputs need max_side (the CLI's --size) to downscale them
_FFMPEG_PREFIX = re.compile(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*")  # "[in#0 @ 0x5558...] " before ffmpeg's messages


class VideoError(InputError):
    """A video file cannot be used: missing, not a video, no video stream, no frames or too large."""


def is_video(path: str | os.PathLike) -> bool:
    """True for a file with a video extension."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class ClipInfo:
    """What a clip's header says: frame size (width, height), frame rate, duration in s, audio track or not."""

    size: tuple[int, int]
    fps: float
    duration: float
    audio: bool

    @property
    def expected_frames(self) -> int | None:
        """The frame count the header announces (rate x duration), or None when it gives no duration."""
        return round(self.fps * self.duration) or None


@dataclass
class VideoInfo:
    """What was written: frame count (and the count the source announced), rate, frame size, audio carried or not."""

    frames: int
    fps: float
    size: tuple[int, int]  # width, height
    audio: bool
    expected_frames: int | None = None

    @property
    def truncated(self) -> bool:
        """True when clearly fewer frames could be read than the source's header announces (a damaged file)."""
        if self.expected_frames is None:
            return False
        return self.frames + max(2, self.expected_frames // 50) < self.expected_frames


def _ffmpeg_reason(log: str) -> str:
    """ffmpeg's last error line without its "[in#0 @ 0x...]" prefix, or a generic phrase."""
    lines = [_FFMPEG_PREFIX.sub("", line).strip() for line in log.splitlines()]
    errors = [line for line in lines if line and ("rror" in line or "not found" in line or "nvalid" in line)]
    return errors[-1].rsplit(": ", 1)[-1].rstrip(".") if errors else "ffmpeg could not read it"


class VideoReader:
    """A video file opened for decoding: `info` from its header, then its frames as uint8 [H,W,3] tensors.

    Everything that can be checked before decoding is checked on opening, each failure a VideoError
    naming the file and the fix. A stream that ends early (a truncated file) ends the frames there:
    compare `frames_read` with `info.expected_frames`. ffmpeg's own messages go into errors'
    `details`, never to the terminal. Use it in a `with` block, which stops ffmpeg.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(f"'{self.path}': no such file; check the path")
        if not self.path.is_file():
            raise VideoError(f"'{self.path}' is not a file; give a video file ({', '.join(VIDEO_SUFFIXES)})")
        if self.path.stat().st_size == 0:
            raise VideoError(f"'{self.path}' is empty (0 bytes); re-export or re-download it")
        self.frames_read = 0
        self._reader = imageio_ffmpeg.read_frames(str(self.path))
        try:
            meta = next(self._reader)
        except OSError as error:
            self.close()
            raise self._header_error(str(error)) from None
        fps, duration = float(meta.get("fps") or 0), float(meta.get("duration") or 0)
        self.info = ClipInfo(tuple(meta["size"]), fps, duration, "audio_codec" in meta)
        width, height = self.info.size
        if width * height > MAX_SOURCE_PIXELS:
            self.close()
            raise VideoError(
                f"'{self.path}' has {width}x{height} frames, more than the {MAX_SOURCE_PIXELS:,} pixels (8K UHD) "
                "stylelib decodes; downscale it first, e.g. ffmpeg -i IN -vf scale=3840:-2 OUT"
            )
        if not (math.isfinite(self.info.fps) and self.info.fps > 0):
            self.close()
            raise VideoError(f"'{self.path}' states no usable frame rate ({meta['fps']}); re-encode it with ffmpeg")

    def _header_error(self, log: str) -> VideoError:
        if "does not contain any stream" in log:
            return VideoError(f"'{self.path}' has no video stream (audio only?); give a video file", details=log)
        return VideoError(
            f"'{self.path}' is not a readable video ({_ffmpeg_reason(log)}): it is corrupt, truncated or not a video; "
            "re-export or re-download it",
            details=log,
        )

    def __iter__(self) -> Iterator[torch.Tensor]:
        width, height = self.info.size
        while True:
            try:
                raw = next(self._reader)
            except StopIteration:
                return
            except RuntimeError:  # a frame cut short by the end of a damaged file: the stream ends there
                return
            self.frames_read += 1
            yield torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(height, width, 3)

    def close(self) -> None:
        """Stop ffmpeg (safe to call twice)."""
        self._reader.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scaled_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """The (height, width) a clip of `size` (width, height) is resized to before cropping: its long side max_side."""
    width, height = size
    return size_for_long_side(height, width, max_side) if max_side else (height, width)


def output_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """The (height, width) a clip of `size` (width, height) is written at: scaled to max_side, sides made even.

    H.264 in yuv420p needs even sides, so an odd side loses its last row or column (a crop, not a resize).
    Outputs larger than MAX_OUTPUT_PIXELS are refused: pass max_side to downscale them.
    """
    height, width = scaled_size(size, max_side)
    if width * height > MAX_OUTPUT_PIXELS:
        raise VideoError(
            f"{width}x{height} frames are more than the {MAX_OUTPUT_PIXELS:,} pixels (4K UHD) stylelib stylises per "
            "frame; pass a smaller --size (max_side), e.g. 1920"
        )
    if min(width, height) < 2:
        raise VideoError(f"{width}x{height} frames are too small to encode; give a clip at least 2 px on each side")
    return height - height % 2, width - width % 2


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
    """Stylise every frame of `source` into the video file `destination`, written atomically.

    The output appears only when every readable frame is written: an error or Ctrl-C half way leaves
    no file behind (and an existing one untouched). A truncated source gives the frames it holds;
    the returned VideoInfo says how many of how many (`truncated`).
    """
    source, destination = Path(source), Path(destination)
    if not is_video(destination):
        raise VideoError(f"'{destination}': give the output a video extension ({', '.join(VIDEO_SUFFIXES)})")
    if destination.exists() and not overwrite:
        raise FileExistsError(f"'{destination}' already exists; pass --overwrite or choose another --out")
    with VideoReader(source) as reader:
        clip = reader.info
        out_height, out_width = output_size(clip.size, max_side)
        scaled = scaled_size(clip.size, max_side)
        frames = iter(reader)
        first = next(frames, None)
        if first is None:
            raise VideoError(f"'{source}' holds no video frames; re-export it")
        same_container = source.suffix.lower() == destination.suffix.lower()

        def stylise(frame: torch.Tensor) -> bytes:
            photo = resize(frame.permute(2, 0, 1)[None].float() / 255, scaled)  # a no-op at the clip's own size
            photo = photo[..., :out_height, :out_width]  # the even crop
            styled = stylize_image(generator, photo, runtime=runtime, preserve_color=preserve_color)
            return (styled[0].permute(1, 2, 0) * 255).round().byte().contiguous().numpy().tobytes()

        def write(temporary: str) -> None:
            writer = imageio_ffmpeg.write_frames(
                temporary,
                (out_width, out_height),
                fps=clip.fps,
                macro_block_size=2,
                ffmpeg_log_level="error",
                audio_path=str(source) if clip.audio else None,
                audio_codec=("copy" if same_container else "aac") if clip.audio else None,
            )
            writer.send(None)
            try:
                with tqdm(total=clip.expected_frames, disable=not progress, desc="frames", leave=False) as bar:
                    for frame in itertools.chain([first], frames):
                        _send(writer, stylise(frame), destination)
                        bar.update(1)
            finally:
                writer.close()

        try:
            atomic_write(destination, write)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(
                f"stopped after {reader.frames_read} frames of '{source}'; nothing was written to '{destination}'"
            ) from None
    return VideoInfo(reader.frames_read, clip.fps, (out_width, out_height), clip.audio, clip.expected_frames)


def _send(writer: Iterator, frame: bytes, destination: Path) -> None:
    """One frame to ffmpeg's encoder; its failure (a full disk, say) becomes one line naming the output."""
    try:
        writer.send(frame)
    except OSError as error:
        failure = OSError(f"ffmpeg could not write '{destination}' ({_ffmpeg_reason(str(error))})")
        failure.details = str(error)
        raise failure from None


def read_frames(source: str | os.PathLike, max_side: int | None = None) -> Iterator[torch.Tensor]:
    """The frames [1,3,H,W] in [0, 1] of a video file or of a folder of images (in name order), one at a time."""
    source = Path(source)
    if source.is_dir():
        for path in find_images(source):
            yield load_image(path, max_side=max_side)
        return
    if not is_video(source):
        raise VideoError(f"'{source}' is neither a video file ({', '.join(VIDEO_SUFFIXES)}) nor a folder of frames")
    with VideoReader(source) as reader:
        for frame in reader:
            image = frame.permute(2, 0, 1)[None].float() / 255
            yield image if max_side is None else load_image(image, max_side=max_side)


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
