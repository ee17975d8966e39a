"""Property-based tests of every reader the CLI exposes: for any input, a valid result or the project's
InputError, never another exception, and nothing written outside the output folder."""

import io
import json
import subprocess
import tempfile
from pathlib import Path

import imageio_ffmpeg
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from stylelib.cli import main
from stylelib.errors import InputError
from stylelib.images import load_image
from stylelib.inference import fix_style, load_generator
from stylelib.losses import check_blend_weights
from stylelib.masks import regions_for
from stylelib.models import Generator
from stylelib.storage import CHECKPOINT, load_checkpoint, save_checkpoint
from stylelib.train import TrainConfig
from stylelib.video import VideoReader

# Pillow warns about the damaged TIFFs it still reads; those warnings are expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")

# Small, reproducible runs: the suite stays fast and a failure shows again on the next run.
FUZZ = settings(
    max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SLOW_FUZZ = settings(FUZZ, max_examples=30)  # each example starts ffmpeg or a model


def _image_bytes(mode: str, width: int, height: int) -> bytes:
    """A small image file in `mode`: PNG where PNG holds the mode, else TIFF."""
    buffer = io.BytesIO()
    image = Image.effect_noise((width, height), 40).convert(mode)
    image.save(buffer, "TIFF" if mode in ("CMYK", "F", "I") else "PNG")
    return buffer.getvalue()


def _damaged(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
    """`data` cut to a fraction of its length, with a few bytes overwritten."""
    damaged = bytearray(data[: max(0, int(len(data) * cut))])
    for where, value in flips:
        if damaged:
            damaged[int(where * (len(damaged) - 1))] = value
    return bytes(damaged)


damage = st.tuples(st.floats(0, 1), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4))
image_files = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda mode, w, h, hurt: _damaged(_image_bytes(mode, w, h), *hurt),
        st.sampled_from(["RGB", "RGBA", "LA", "L", "P", "I;16", "I", "F", "CMYK", "1"]),
        st.integers(1, 40),
        st.integers(1, 40),
        damage,
    ),
)


@FUZZ
@given(data=image_files, suffix=st.sampled_from([".png", ".jpg", ".webp", ".tif"]))
def test_any_image_file_loads_or_raises_input_error(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"image{suffix}"
        path.write_bytes(data)
        try:
            image = load_image(path, max_side=32)
        except InputError:
            return
        assert image.shape[:2] == (1, 3) and max(image.shape[-2:]) == 32 and torch.isfinite(image).all()


@FUZZ
@given(data=image_files, count=st.integers(0, 4))
def test_any_mask_file_gives_regions_or_raises_input_error(data, count):
    photo = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mask.png"
        path.write_bytes(data)
        try:
            regions = regions_for(str(path), photo, count)
        except InputError:
            return
        total = sum(regions)
        assert len(regions) == count and torch.allclose(total, torch.ones_like(total), atol=1e-5)


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "clip.mkv"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi"]
    subprocess.run([*command, "-i", "testsrc=size=32x24:rate=10", "-t", "1", str(path)], check=True)
    return path.read_bytes()


@SLOW_FUZZ
@given(hurt=damage, suffix=st.sampled_from([".mkv", ".mp4"]))
def test_any_damaged_video_reads_its_frames_or_raises_input_error(clip_bytes, hurt, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"clip{suffix}"
        path.write_bytes(_damaged(clip_bytes, *hurt))
        try:
            with VideoReader(path) as reader:
                frames = list(reader)
        except InputError as error:
            assert "\n" not in str(error)
            return
        assert len(frames) <= 12 and all(frame.shape == (24, 32, 3) for frame in frames)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
config_fields = st.sampled_from(sorted(TrainConfig.__dataclass_fields__))
configs = st.one_of(json_values, st.dictionaries(config_fields, json_values, max_size=4))


@FUZZ
@given(values=configs)
def test_any_config_json_loads_or_raises_input_error(values):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(values))
        try:
            config = TrainConfig.load(path)
        except InputError:
            return
        config.validate()  # what loads is a config training can start from


def _real_state(width: int, blocks: int, dropped: str | None) -> dict:
    """A real generator's checkpoint, with one of its entries (or one weight) taken out."""
    generator = Generator(width=width, blocks=blocks)
    state = {"generator_settings": generator.settings, "generator": generator.state_dict(), "ema": None}
    if dropped in state:
        del state[dropped]
    elif dropped is not None:
        state["generator"].pop(next(iter(state["generator"])))
    return state


settings_values = st.one_of(json_values, st.integers(-3, 100_000))
checkpoints = st.one_of(
    json_values,
    st.builds(_real_state, st.integers(4, 6), st.integers(0, 2), st.sampled_from([None, "generator", "ema", "weight"])),
    st.fixed_dictionaries(
        {
            "generator_settings": st.one_of(
                json_values,
                st.dictionaries(
                    st.sampled_from(["width", "blocks", "separable", "styles", "dilations", "photo_chroma", "unknown"]),
                    settings_values,
                    max_size=5,
                ),
            )
        },  # fmt: skip
        optional={"generator": json_values, "ema": json_values},
    ),
)


@SLOW_FUZZ
@given(state=checkpoints, raw=st.binary(max_size=200))
def test_any_checkpoint_file_loads_a_generator_or_raises_input_error(state, raw):
    with tempfile.TemporaryDirectory() as folder:
        garbage = Path(folder) / "garbage.pt"
        garbage.write_bytes(raw)
        with pytest.raises(InputError):
            load_checkpoint(garbage)
        save_checkpoint(state, Path(folder) / CHECKPOINT)
        try:
            generator = load_generator(folder)
        except InputError:
            return
        assert isinstance(generator, Generator)


weights = st.lists(st.floats() | st.integers(-5, 5), max_size=4)


@FUZZ
@given(values=weights, count=st.integers(1, 4))
def test_any_style_weight_list_is_a_blend_or_raises_input_error(values, count):
    try:
        blend = check_blend_weights(values, count)
    except InputError:
        return
    assert len(blend) == count and min(blend) >= 0 and sum(blend) > 0


@FUZZ
@given(values=st.none() | weights)
def test_any_style_weights_fix_a_multi_style_generator_or_raise_input_error(values):
    generator = Generator(width=4, blocks=0, styles=3)
    try:
        fixed = fix_style(generator, values)
    except InputError:
        return
    assert fixed.styles == 1


@SLOW_FUZZ
@given(data=image_files, as_video=st.booleans())
def test_the_stylize_command_writes_only_its_output(data, as_video):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        generator = Generator(width=4, blocks=1)
        run = root / "run"
        save_checkpoint(
            {"generator_settings": generator.settings, "generator": generator.state_dict()}, run / CHECKPOINT
        )
        source = root / ("input.mp4" if as_video else "input.png")
        source.write_bytes(data)
        before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
        out = root / "out" / ("styled.mp4" if as_video else "styled.png")
        code = main(["stylize", "--checkpoint", str(run), "--content", str(source), "--out", str(out), "--quiet"])
        assert code in (0, 2)
        after = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
        changed = {p for p in after if before.get(p) != after[p]}
        assert changed <= {out.parent, out} and (code == 0) == out.exists()
