"""Hostile media and interrupted jobs: every bad video, folder or command input fails in one clean line,
truncated clips give the frames they hold, and an interrupt half way leaves no broken output."""

import signal
import subprocess
import sys

import imageio_ffmpeg
import pytest
import torch

from stylelib import inference, sweep, teachers, video
from stylelib.cli import main
from stylelib.datasets import RandomCrops
from stylelib.images import load_image, save_image
from stylelib.models import Generator
from stylelib.runtime import make_runtime
from stylelib.storage import CHECKPOINT, save_checkpoint
from stylelib.train import TrainConfig
from stylelib.video import MAX_OUTPUT_PIXELS, VideoError, VideoReader, output_size, stylize_video


def _ffmpeg(*args: str) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


def _test_clip(path, size="64x48", rate="12", seconds="2", *extra):
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}", "-t", seconds, *extra, str(path))
    return path


def _tiny() -> Generator:
    return Generator(width=4, blocks=1)


def _run_folder(tmp_path):
    """A run folder holding just what `stylize --checkpoint` reads."""
    run = tmp_path / "run"
    generator = _tiny()
    save_checkpoint({"generator_settings": generator.settings, "generator": generator.state_dict()}, run / CHECKPOINT)
    return run


def _leftovers(folder):
    """Files in `folder` a writer left behind: atomic_write's hidden temporaries."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Hostile and awkward clips, made once: each name says what it is."""
    folder = tmp_path_factory.mktemp("clips")
    good = _test_clip(folder / "good.mp4", "64x48", "12", "2", "-pix_fmt", "yuv420p")
    mkv = _test_clip(folder / "good.mkv", "64x48", "12", "3", "-pix_fmt", "yuv420p")
    data = good.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) * 2 // 3])  # the index (moov atom) is at the end
    mkv_data = mkv.read_bytes()
    (folder / "truncated.mkv").write_bytes(mkv_data[: len(mkv_data) * 2 // 3])  # header intact, frames cut
    (folder / "random.mp4").write_bytes(torch.randint(0, 256, (5000,), generator=torch.Generator()).byte().numpy())
    (folder / "empty.mp4").write_bytes(b"")
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(folder / "audio_only.mp4"))
    _test_clip(folder / "odd_ntsc.mp4", "45x33", "30000/1001", "1", "-pix_fmt", "yuv444p")  # 4:4:4 allows odd sides
    _ffmpeg("-f", "lavfi", "-i", "color=s=8000x6000:rate=1", "-t", "1", "-c:v", "mpeg4", str(folder / "huge.mkv"))
    return folder


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.mp4", "no such file"),
        ("empty.mp4", r"empty \(0 bytes\)"),
        ("random.mp4", "not a readable video"),
        ("truncated.mp4", "not a readable video"),
        ("audio_only.mp4", "no video stream"),
        ("huge.mkv", "8000x6000 frames"),
    ],
)
def test_a_bad_video_is_refused_on_opening_in_one_line(clips, name, message):
    with pytest.raises(VideoError, match=message) as caught:
        VideoReader(clips / name)
    assert "\n" not in str(caught.value) and "ffmpeg version" not in str(caught.value)


def test_a_clip_with_a_cut_stream_gives_the_frames_it_holds_and_says_so(clips, tmp_path):
    info = stylize_video(_tiny(), clips / "truncated.mkv", tmp_path / "out.mp4", progress=False)
    with VideoReader(tmp_path / "out.mp4") as written:
        frames = sum(1 for _ in written)
    assert info.expected_frames == 36 and 0 < info.frames == frames < 36 and info.truncated
    whole = stylize_video(_tiny(), clips / "good.mkv", tmp_path / "whole.mp4", progress=False)
    assert whole.frames == whole.expected_frames == 36 and not whole.truncated


def test_odd_sides_are_cropped_to_even_and_a_fractional_rate_is_kept(clips, tmp_path):
    info = stylize_video(_tiny(), clips / "odd_ntsc.mp4", tmp_path / "out.mp4", progress=False)
    with VideoReader(tmp_path / "out.mp4") as written:
        assert written.info.size == (44, 32) == info.size  # 45x33 loses a column and a row
        assert written.info.fps == pytest.approx(30000 / 1001, abs=0.01)
        assert sum(1 for _ in written) == info.frames == 30


def test_outputs_over_4k_need_a_smaller_size():
    assert output_size((3840, 2160), None) == (2160, 3840)
    with pytest.raises(VideoError, match="--size"):
        output_size((5120, 2880), None)
    assert output_size((5120, 2880), 1920) == (1080, 1920)
    assert 5120 * 2880 > MAX_OUTPUT_PIXELS


def test_an_interrupt_half_way_leaves_no_output_and_keeps_an_existing_file(clips, tmp_path, monkeypatch):
    calls = {"frames": 0}
    real = video.stylize_image

    def interrupted_after_five(*args, **kwargs):
        calls["frames"] += 1
        if calls["frames"] > 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(video, "stylize_image", interrupted_after_five)
    with pytest.raises(KeyboardInterrupt, match="stopped after 6 frames"):
        stylize_video(_tiny(), clips / "good.mp4", tmp_path / "new.mp4", progress=False)
    assert not (tmp_path / "new.mp4").exists() and _leftovers(tmp_path) == []
    mine = tmp_path / "mine.mp4"
    mine.write_bytes(b"the user's file")
    calls["frames"] = 0
    with pytest.raises(KeyboardInterrupt):
        stylize_video(_tiny(), clips / "good.mp4", mine, overwrite=True, progress=False)
    assert mine.read_bytes() == b"the user's file" and _leftovers(tmp_path) == []


def test_a_real_ctrl_c_in_the_cli_leaves_nothing_behind(clips, tmp_path):
    run = _run_folder(tmp_path)
    long_clip = _test_clip(tmp_path / "long.mp4", "160x120", "25", "60", "-pix_fmt", "yuv420p")
    out = tmp_path / "styled" / "long.mp4"
    command = [sys.executable, "-m", "stylelib", "stylize", "--checkpoint", str(run), "--content", str(long_clip)]
    process = subprocess.Popen(
        [*command, "--out", str(out), "--size", "160"],
        stderr=subprocess.PIPE,
        text=True,
        # Jobs started in the background (nohup, some CI runners) inherit SIGINT ignored; Ctrl-C must reach this one.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = ""
    while "frames" not in seen and process.poll() is None:  # the progress bar: frames are being written
        seen += process.stderr.read(1)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == 130, stderr
    assert "stopped after" in stderr and "nothing was written" in stderr and "Traceback" not in stderr
    assert not out.exists() and _leftovers(out.parent) == []


def test_an_interrupted_folder_says_what_is_finished_and_a_rerun_continues(tmp_path, monkeypatch, photo):
    photos = tmp_path / "photos"
    for name in ("a", "b", "c", "d"):
        save_image(photo, photos / f"{name}.png")
    (photos / "e.png").write_bytes(b"not an image")
    real, done = inference.stylize_image, []

    def interrupted_on_the_third(generator, path, *args, **kwargs):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(path)
        return real(generator, path, *args, **kwargs)

    monkeypatch.setattr(inference, "stylize_image", interrupted_on_the_third)
    with pytest.raises(KeyboardInterrupt, match="2 of 5 images are finished"):
        inference.stylize_folder(_tiny(), photos, tmp_path / "out")
    monkeypatch.setattr(inference, "stylize_image", real)
    run = inference.stylize_folder(_tiny(), photos, tmp_path / "out")
    assert [p.name for p in run.skipped] == ["a.png", "b.png"] and [p.name for p in run.written] == ["c.png", "d.png"]
    assert len(run.failed) == 1 and "e.png" in run.failed[0] and _leftovers(tmp_path / "out") == []


def test_gatys_teachers_interrupted_half_way_are_reused_on_the_next_run(tmp_path, monkeypatch, photo):
    made = []

    class Result:
        def __init__(self, image):
            self.image = image

    def fake_gatys(content, *args, **kwargs):
        if len(made) == 2:
            raise KeyboardInterrupt
        made.append(content)
        return Result(content * 0.5)

    monkeypatch.setattr(teachers, "stylize_gatys", fake_gatys)
    crops = RandomCrops([photo, photo.flip(-1), photo.flip(-2)], 32, seed=0)
    folder = tmp_path / "teachers"
    with pytest.raises(KeyboardInterrupt):
        teachers.gatys_teachers(crops, [photo], [1.0], folder, make_runtime("cpu", "fp32"), progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["00000.png", "00001.png"]  # whole files only
    made.clear()
    kept, files = teachers.gatys_teachers(crops, [photo], [1.0], folder, make_runtime("cpu", "fp32"), progress=False)
    assert kept == [0, 1, 2] and len(made) == 1  # only the third photo is stylised again
    assert load_image(files[0]).shape == crops.source_image(0).shape


def _cli(*args):
    """Run the CLI in a fresh process; returns (exit code, stderr)."""
    done = subprocess.run([sys.executable, "-m", "stylelib", *args], capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr


def test_every_command_turns_bad_input_into_one_line(tmp_path, clips):
    run = _run_folder(tmp_path)
    (tmp_path / "bad.json").write_text("[1, 2]")
    (tmp_path / "broken" / CHECKPOINT).parent.mkdir()
    (tmp_path / "broken" / CHECKPOINT).write_bytes(b"\x80\x02garbage")
    cases = [
        ("stylize", "--checkpoint", str(run), "--content", str(clips / "random.mp4"), "--out", str(tmp_path / "o.mp4")),
        ("stylize", "--checkpoint", str(tmp_path / "broken"), "--content", "chelsea", "--out", str(tmp_path / "o.png")),
        ("stylize", "--content", "chelsea", "--style", "swirls", "--style-weights", "nan", "--out", "x.png"),
        ("train", "--out", str(tmp_path / "t"), "--config", str(tmp_path / "bad.json")),
        ("export", "--checkpoint", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g.pt")),
        ("evaluate", str(tmp_path / "missing.png"), "--content", "chelsea", "--style", "swirls"),
        ("evaluate", "--temporal", str(clips / "audio_only.mp4"), "--content", str(clips / "good.mp4")),
        ("sweep", "--out", str(tmp_path / "s"), "--vary", "no_such_field=1,2"),
        ("data", "download", "monet2photo", "--root", str(tmp_path / "d"), "--url", "file:///nowhere.zip"),
    ]
    for case in cases:
        code, stderr = _cli(*case)
        assert code == 2 and "Traceback" not in stderr, (case, stderr)
        assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("error: "), (case, stderr)
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.png").exists()


def test_an_unexpected_error_hides_its_traceback_unless_verbose(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(inference, "load_generator", broken)
    args = ["stylize", "--checkpoint", str(tmp_path), "--content", "chelsea", "--out", str(tmp_path / "o.png")]
    assert main(args) == 1
    stderr = capsys.readouterr().err
    assert "unexpected RuntimeError: something inside broke" in stderr and "--verbose" in stderr
    assert "Traceback" not in stderr
    assert main([*args, "--verbose"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_verbose_shows_what_ffmpeg_said(clips, tmp_path, capsys):
    run = _run_folder(tmp_path)
    args = [
        "stylize",
        "--checkpoint",
        str(run),
        "--content",
        str(clips / "random.mp4"),
        "--out",
        str(tmp_path / "o.mp4"),
    ]
    assert main(args) == 2
    assert "ffmpeg version" not in capsys.readouterr().err
    assert main([*args, "--verbose"]) == 2
    assert "ffmpeg version" in capsys.readouterr().err


def test_an_interrupted_sweep_says_how_many_runs_are_finished(tmp_path, monkeypatch):
    finished = []

    def train_and_evaluate(config, run_dir, eval_size, progress):
        if finished:
            raise KeyboardInterrupt("training interrupted; checkpoint saved at step 3")
        finished.append(run_dir)
        return {"name": run_dir.name}

    monkeypatch.setattr(sweep, "train_and_evaluate", train_and_evaluate)
    with pytest.raises(KeyboardInterrupt, match="checkpoint saved at step 3; 1 of 2 runs finished"):
        sweep.run_sweep(TrainConfig(steps=4, warmup_steps=1), {"style_weight": [1.0, 2.0]}, tmp_path)
