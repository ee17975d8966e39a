import io

import numpy as np
import pytest
import torch
from PIL import Image

from stylelib.images import (
    ImageError,
    image_grid,
    load_image,
    luminance,
    resize_long_side,
    resize_style_image,
    rgb_to_ycbcr,
    save_image,
    ycbcr_to_rgb,
)


def _save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


def test_rgb_png_round_trips_exactly(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = _save(Image.fromarray(pixels), tmp_path / "a.png")
    tensor = load_image(path)
    assert tensor.shape == (1, 3, 20, 30) and tensor.dtype == torch.float32
    assert torch.equal((tensor[0].permute(1, 2, 0) * 255).round().byte(), torch.from_numpy(pixels))


def test_rgba_is_composited_on_white(tmp_path):
    pixels = np.zeros((20, 20, 4), dtype=np.uint8)
    pixels[:, :10] = (255, 0, 0, 255)  # opaque red on the left, fully transparent on the right
    tensor = load_image(_save(Image.fromarray(pixels, "RGBA"), tmp_path / "a.png"))
    assert torch.allclose(tensor[0, :, 5, 5], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(tensor[0, :, 5, 15], torch.ones(3))


def test_grayscale_and_palette_become_rgb(tmp_path):
    gray = Image.fromarray(np.full((20, 20), 128, dtype=np.uint8), "L")
    tensor = load_image(_save(gray, tmp_path / "g.png"))
    assert tensor.shape == (1, 3, 20, 20) and torch.allclose(tensor, torch.full_like(tensor, 128 / 255))
    palette = Image.new("RGB", (20, 20), (0, 255, 0)).convert("P")
    assert torch.allclose(load_image(_save(palette, tmp_path / "p.png"))[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]))


def test_palette_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0] * 256)
    path = _save(image, tmp_path / "t.png", transparency=0)
    assert torch.allclose(load_image(path), torch.ones(1, 3, 20, 20))


def test_sixteen_bit_png_scales_to_unit_range(tmp_path):
    pixels = np.full((20, 20), 65535 // 2, dtype=np.uint16)
    tensor = load_image(_save(Image.fromarray(pixels), tmp_path / "d.png"))
    assert tensor.shape == (1, 3, 20, 20)
    assert abs(tensor.mean().item() - 0.5) < 1e-3


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = _save(image, tmp_path / "r.jpg", exif=exif.tobytes())
    assert load_image(path).shape == (1, 3, 40, 20)


def test_numpy_arrays_of_every_layout_load():
    assert load_image(np.zeros((20, 24), dtype=np.uint8)).shape == (1, 3, 20, 24)
    rgba = np.ones((20, 24, 4), dtype=np.float32)
    rgba[..., 3] = 0.0
    assert torch.allclose(load_image(rgba), torch.ones(1, 3, 20, 24))
    with pytest.raises(ImageError, match="not an image"):
        load_image(np.zeros((20, 24, 2), dtype=np.uint8))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.png", "no such file"),
        (lambda d: (d / "notes.png").write_text("hello") and d / "notes.png", "not an image"),
        (lambda d: d, "folder"),
    ],
)
def test_bad_files_raise_clear_errors_naming_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ImageError, match=message) as info:
        load_image(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_image_is_reported(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(path)


def test_tiny_image_is_rejected(tmp_path):
    with pytest.raises(ImageError, match="smaller than the 16 px minimum"):
        load_image(_save(Image.new("RGB", (10, 40)), tmp_path / "tiny.png"))


def test_max_side_keeps_aspect_ratio():
    tensor = load_image(np.zeros((100, 200, 3), dtype=np.uint8), max_side=50)
    assert tensor.shape == (1, 3, 25, 50)
    assert resize_long_side(tensor, 100).shape == (1, 3, 50, 100)


def test_save_is_atomic_creates_folders_and_refuses_to_overwrite(tmp_path):
    image = torch.rand(1, 3, 20, 20)
    target = save_image(image, tmp_path / "deep" / "folder" / "out.png")
    assert target.exists() and list(target.parent.iterdir()) == [target]
    assert (load_image(target) - image).abs().max() <= 0.5 / 255 + 1e-6
    with pytest.raises(FileExistsError, match="already exists"):
        save_image(image, target)
    save_image(torch.zeros(1, 3, 20, 20), target, overwrite=True)
    assert load_image(target).max() == 0


def test_save_rejects_unknown_extension_without_leaving_files(tmp_path):
    with pytest.raises(ImageError, match="unknown image extension"):
        save_image(torch.rand(1, 3, 20, 20), tmp_path / "out.nope")
    assert list(tmp_path.iterdir()) == []


def test_grid_places_every_image():
    grid = image_grid([torch.zeros(1, 3, 20, 20), torch.zeros(1, 3, 20, 40), torch.zeros(1, 3, 10, 10)], columns=2)
    assert grid.shape == (1, 3, 2 * 24 + 4, 2 * 44 + 4)
    assert grid.min() == 0 and grid.max() == 1


def test_ycbcr_round_trip_and_luminance():
    image = torch.rand(2, 3, 8, 8)
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(image)), image, atol=1e-5)
    gray = torch.full((1, 3, 4, 4), 0.3)
    assert torch.allclose(luminance(gray), torch.full((1, 1, 4, 4), 0.3), atol=1e-6)
    assert torch.allclose(rgb_to_ycbcr(gray)[:, 1:], torch.zeros(1, 2, 4, 4), atol=1e-6)


def test_float_arrays_outside_the_unit_range_are_refused_not_clipped():
    photo = np.full((20, 24, 3), 0.5, dtype=np.float32)
    assert torch.allclose(load_image(photo), torch.full((1, 3, 20, 24), 0.5))
    assert load_image(photo + 0.5 + 1e-4).max() == 1.0  # a last-bit overshoot from arithmetic is clipped
    with pytest.raises(ImageError, match="divide 0-255 data by 255"):
        load_image(photo * 255)
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        load_image(photo - 1)
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.where(photo > 0, np.nan, photo))


def test_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    _save(Image.new("RGB", (100, 100)), path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 px is over twice the limit: PIL refuses
    with pytest.raises(ImageError, match="MAX_IMAGE_PIXELS") as error:
        load_image(path)
    assert "big.png" in str(error.value)


def test_a_style_image_is_sized_by_its_area_or_its_long_side():
    wide = torch.rand(1, 3, 100, 400)
    assert resize_style_image(wide, 100, "area").shape[-2:] == (50, 200)  # 100 x 100 pixels' worth
    assert resize_style_image(wide, 100, "long_side").shape[-2:] == (25, 100)
    with pytest.raises(ValueError, match="long_side"):
        resize_style_image(wide, 100, "short_side")
