import numpy as np
import pytest
import torch
from scipy import ndimage

from stylelib.data import load_painting, load_photo
from stylelib.style_image import autocorrelation, busyness, describe_style, texture_scale


def _grey(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).float()[None, None]


def test_autocorrelation_matches_a_direct_sum_over_overlapping_pixels():
    image = np.random.default_rng(0).random((9, 11))
    centred = image - image.mean()
    found = autocorrelation(_grey(image))
    for dy, dx in ((0, 0), (1, 0), (0, 3), (2, -4), (-5, 6)):
        a = centred[max(0, -dy) : 9 - max(0, dy), max(0, -dx) : 11 - max(0, dx)]
        b = centred[max(0, dy) : 9 + min(0, dy), max(0, dx) : 11 + min(0, dx)]
        expected = (a * b).mean() / (centred**2).mean()
        assert found[8 + dy, 10 + dx] == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("sigma", [2.0, 4.0])
def test_texture_scale_of_blurred_noise_is_twice_the_blur(sigma):
    noise = np.random.default_rng(1).standard_normal((512, 512))
    blurred = ndimage.gaussian_filter(noise, sigma, mode="wrap")  # autocorrelation exp(-r^2 / 4 sigma^2)
    assert texture_scale(_grey(blurred)) == pytest.approx(2 * sigma, rel=0.1)


def test_busyness_counts_edges_and_flat_images_are_refused():
    flat = torch.full((1, 3, 32, 32), 0.5)
    assert busyness(flat) == 0
    with pytest.raises(ValueError, match="flat"):
        texture_scale(flat)
    columns = torch.arange(64)
    fine = ((columns // 2) % 2).float().expand(1, 1, 64, 64)
    coarse = ((columns // 8) % 2).float().expand(1, 1, 64, 64)
    assert busyness(fine) > 3 * busyness(coarse)
    assert texture_scale(fine) < texture_scale(coarse)
    with pytest.raises(ValueError, match="one image"):
        busyness(torch.rand(2, 3, 8, 8))


def test_a_painting_is_described_by_three_numbers():
    painting, photo = load_painting("hokusai", max_side=128), load_photo("chelsea", max_side=128)
    described = describe_style(painting, photo)
    assert set(described) == {"texture_scale", "busyness", "colour_distance"}
    assert all(value > 0 for value in described.values())
    assert describe_style(photo, photo)["colour_distance"] == pytest.approx(0, abs=1e-6)
