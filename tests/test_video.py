"""Video: a generator on a clip (frames, rate, size and audio kept; nothing overwritten); flicker; synthetic clips."""

import json
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylelib.cli import main
from stylelib.images import save_image
from stylelib.metrics import flicker
from stylelib.models import Generator
from stylelib.motion import estimate_motion
from stylelib.storage import CHECKPOINT, save_checkpoint
from stylelib.video import pan_and_zoom, stylize_video


def _clip(path, frames=9, size=(65, 49), fps=12, audio=True):
    """A short H.264 clip of moving stripes, with a sine tone when audio is asked for."""
    silent = path.with_name("silent_" + path.name)
    writer = imageio_ffmpeg.write_frames(
        str(silent), size, fps=fps, macro_block_size=1, pix_fmt_out="yuv444p", ffmpeg_log_level="error"
    )  # 4:4:4 allows odd sizes
    writer.send(None)
    for index in range(frames):
        stripes = (np.arange(size[0])[None, :, None] + 3 * index) % 16 < 8
        writer.send(np.broadcast_to(stripes * 200, (size[1], size[0], 3)).astype(np.uint8).tobytes())
    writer.close()
    if not audio:
        return silent
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *tone, "-i", str(silent)]
    subprocess.run(
        [*command, "-map", "1:v", "-map", "0:a", "-c:v", "copy", "-c:a", "aac", "-shortest", str(path)], check=True
    )
    return path


def _meta(path):
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    meta["frames"] = sum(1 for _ in reader)
    return meta


def test_a_clip_keeps_its_frames_rate_and_audio_at_an_even_size(tmp_path):
    source = _clip(tmp_path / "clip.mp4")
    info = stylize_video(Generator(width=4, blocks=1), source, tmp_path / "styled.mp4", progress=False)
    written = _meta(tmp_path / "styled.mp4")
    assert info.frames == written["frames"] == _meta(source)["frames"]
    assert written["fps"] == 12 and written["size"] == (64, 48) == info.size  # H.264 needs even sides
    assert info.audio and written.get("audio_codec") == "aac"
    silent = stylize_video(
        Generator(width=4, blocks=1),
        _clip(tmp_path / "mute.mkv", audio=False),
        tmp_path / "mute_styled.mp4",
        max_side=32,
        progress=False,
    )
    assert not silent.audio and silent.size == (32, 24) and "audio_codec" not in _meta(tmp_path / "mute_styled.mp4")


def test_video_output_is_never_overwritten_and_must_be_a_video(tmp_path):
    source = _clip(tmp_path / "clip.mp4", frames=2, audio=False)
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        stylize_video(Generator(width=4, blocks=1), source, taken, progress=False)
    assert taken.read_bytes() == b"mine"
    with pytest.raises(ValueError, match="video extension"):
        stylize_video(Generator(width=4, blocks=1), source, tmp_path / "frames.png", progress=False)


def test_stylize_command_takes_a_video_with_a_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    generator = Generator(width=4, blocks=1)  # a run folder holding just what `stylize --checkpoint` reads
    save_checkpoint({"generator_settings": generator.settings, "generator": generator.state_dict()}, run / CHECKPOINT)
    source = _clip(tmp_path / "clip.mp4", frames=3)
    assert (
        main(
            ["stylize", "--checkpoint", str(run), "--content", str(source), "--out", str(tmp_path / "o.mp4"), "--quiet"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "3 frames" in out and "audio carried over" in out


def test_flicker_is_zero_for_a_static_clip_and_exact_for_a_known_shift():
    torch.manual_seed(0)
    still = torch.rand(1, 3, 12, 16)
    identity = F.affine_grid(torch.eye(2, 3)[None], [1, 3, 12, 16], align_corners=False)
    assert flicker([still, still, still], [identity, identity]) == pytest.approx(0.0, abs=1e-12)
    wide = torch.rand(1, 3, 12, 20)
    frames = [wide[..., t : t + 16] for t in range(4)]  # the view moves one pixel right per frame
    shift = identity.clone()
    shift[..., 0] += 2 / 16  # pixel p of frame t+1 was at p + 1 px in frame t
    assert flicker(frames, [shift] * 3) == pytest.approx(0.0, abs=1e-10)
    overlay = torch.rand(1, 3, 12, 16)  # a pattern stuck to the screen: exactly its own shift difference
    expected = (overlay[..., :-1] - overlay[..., 1:]).pow(2).mean().item()
    assert flicker([f + overlay for f in frames], [shift] * 3) == pytest.approx(expected, rel=1e-5)


def test_a_pan_and_zoom_clip_comes_with_its_exact_motion(photo):
    clean, motion = pan_and_zoom(photo, frames=6, noise=0.0)
    noisy, _ = pan_and_zoom(photo, frames=6, noise=0.02)
    assert len(clean) == 6 and len(motion) == 5 and clean[0].shape == photo.shape
    assert not torch.allclose(clean[0], clean[-1])  # it moves
    assert flicker(clean, motion) < 2e-4  # the motion is exact up to bilinear resampling
    assert 1e-4 < flicker(noisy, motion) < 2 * 0.02**2
    dimmed = [f * (0.9 if t % 2 else 1.0) for t, f in enumerate(clean)]  # brightness jumping frame to frame
    assert flicker(dimmed, motion) > 10 * flicker(clean, motion)


def test_estimated_motion_explains_a_pan_as_well_as_the_exact_motion(photo):
    clean, motion = pan_and_zoom(photo, frames=5, noise=0.0)
    estimated = [estimate_motion(before, after) for before, after in zip(clean, clean[1:])]
    grids, masks = [g for g, _ in estimated], [m for _, m in estimated]
    still = [F.affine_grid(torch.eye(2, 3)[None], list(clean[0].shape), align_corners=False)] * len(motion)
    ignoring_motion = flicker(clean, still)
    assert flicker(clean, grids, masks) < max(2 * flicker(clean, motion), ignoring_motion / 10)
    assert min(m.mean().item() for m in masks) > 0.8  # a pan occludes little: most pixels are trusted
    with pytest.raises(ValueError, match="two frames"):
        estimate_motion(clean[0], clean[1][..., :-2])


def test_evaluate_temporal_ranks_a_flickering_clip_above_a_steady_one(tmp_path, photo, capsys):
    frames, _ = pan_and_zoom(photo, frames=5, noise=0.0)
    generator = torch.Generator().manual_seed(0)
    versions = {
        "source": frames,
        "steady": [f * 0.8 for f in frames],  # a fixed restyling moves with the scene
        "flickering": [(f + 0.05 * torch.randn(f.shape, generator=generator)).clamp(0, 1) for f in frames],
    }
    for name, clip in versions.items():
        for index, frame in enumerate(clip):
            save_image(frame, tmp_path / name / f"frame_{index:03d}.png")
    measured = {}
    for name in ("steady", "flickering"):
        args = ["evaluate", "--temporal", str(tmp_path / name), "--content", str(tmp_path / "source"), "--json"]
        assert main(args) == 0
        measured[name] = json.loads(capsys.readouterr().out)
    assert measured["steady"]["frames"] == 5
    assert measured["flickering"]["flicker"] > 5 * measured["steady"]["flicker"]
    short = [
        "evaluate",
        "--temporal",
        str(tmp_path / "steady"),
        "--content",
        str(tmp_path / "source" / "frame_000.png"),
    ]
    assert main(short) == 2
