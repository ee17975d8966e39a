"""Regions for spatial control: masked Gram matrices, mask encodings, automatic regions, regional Gatys."""

import numpy as np
import pytest
import torch
from PIL import Image

from stylelib.cli import main
from stylelib.data import load_photo, procedural_style
from stylelib.losses import gram_matrix, masked_gram_matrix
from stylelib.masks import auto_regions, regions_for, style_regions
from stylelib.metrics import StyleContentMeter
from stylelib.nst import stylize_gatys


def test_masked_gram_of_a_binary_mask_is_the_gram_of_its_region():
    features = torch.rand(2, 5, 6, 8, dtype=torch.float64)
    mask = torch.zeros(1, 1, 6, 8)
    mask[..., :, 3:] = 1
    assert torch.allclose(masked_gram_matrix(features, mask), gram_matrix(features[..., 3:]))
    assert torch.allclose(masked_gram_matrix(features, torch.ones(1, 1, 6, 8)), gram_matrix(features))
    # a mask at image resolution is averaged down to the feature map's grid
    assert torch.allclose(
        masked_gram_matrix(features, mask.repeat_interleave(4, 2).repeat_interleave(4, 3)),
        gram_matrix(features[..., 3:]),
    )


def test_style_regions_encode_two_and_three_styles():
    mask = torch.tensor([0.0, 0.25, 0.5, 1.0]).view(1, 1, 1, 4)
    first, second = style_regions(mask, 2)
    assert torch.allclose(first, 1 - mask) and torch.allclose(second, mask)
    three = torch.cat(style_regions(mask, 3), 1)
    expected = torch.tensor([[1, 0.5, 0, 0], [0, 0.5, 1, 0], [0, 0, 0, 1.0]]).view(1, 3, 1, 4)
    assert torch.allclose(three, expected)
    with pytest.raises(ValueError, match="at least two styles"):
        style_regions(mask, 1)


def test_auto_regions_split_by_colour_feathered_and_darkest_first():
    photo = torch.zeros(1, 3, 40, 60)
    photo[..., :, 30:] = 0.9  # a dark half and a light half
    dark, light = auto_regions(photo, 2, feather=0.05)
    assert torch.allclose(dark + light, torch.ones_like(dark), atol=1e-6)
    assert dark[..., :, :20].min() > 0.99 and light[..., :, 40:].min() > 0.99
    seam = dark[0, 0, 20, 25:36]
    assert (seam.diff() < 0).all() and 0.3 < seam[5] < 0.7  # a gradual seam, not a step


def test_regions_for_reads_mask_files_and_auto_specs(tmp_path, photo):
    path = tmp_path / "mask.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 50, dtype=np.uint8), (20, 1))).save(path)  # another size
    left, right = regions_for(str(path), photo, 2)
    assert left.shape[-2:] == photo.shape[-2:] and left[..., 0].mean() > 0.95 and right[..., -1].mean() > 0.95
    assert len(regions_for("auto", photo, 3)) == 3 and len(regions_for("auto:2", photo, 2)) == 2
    with pytest.raises(ValueError, match="auto:2"):
        regions_for("auto:3", photo, 2)


def test_regional_gatys_paints_each_style_in_its_region(extractor):
    photo = load_photo("coffee", max_side=64)
    styles = [procedural_style("stained_glass", size=64), procedural_style("pointillism", size=64)]
    mask = torch.zeros(1, 1, *photo.shape[-2:])
    mask[..., :, photo.shape[-1] // 2 :] = 1
    result = stylize_gatys(
        photo, styles, regions=style_regions(mask, 2), steps=30, max_side=64, extractor=extractor, progress=False
    )
    half = photo.shape[-1] // 2
    meter = StyleContentMeter(extractor)
    left, right = result.image[..., : half - 4], result.image[..., half + 4 :]
    # each half is at most half as far from its own style as from the other (a 50/50 blend gives 0.86 and 0.73)
    assert meter.style_distance(left, styles[0]) < 0.5 * meter.style_distance(left, styles[1])
    assert meter.style_distance(right, styles[1]) < 0.5 * meter.style_distance(right, styles[0])
    with pytest.raises(ValueError, match="one per style"):
        stylize_gatys(photo, styles, regions=style_regions(mask, 2)[:1], steps=1, extractor=extractor, progress=False)
    with pytest.raises(ValueError, match="drop style_weights"):
        stylize_gatys(
            photo,
            styles,
            regions=style_regions(mask, 2),
            style_weights=[1, 1],
            steps=1,
            extractor=extractor,
            progress=False,
        )


def test_stylize_command_takes_a_mask(tmp_path, capsys):
    out = tmp_path / "regions.png"
    args = ["stylize", "--content", "coffee", "--style", "woodcut", "--style", "swirls", "--size", "32", "--steps", "2"]
    assert main([*args, "--mask", "auto", "--out", str(out), "--quiet"]) == 0 and out.exists()
    assert main([*args[:5], "--mask", "auto", "--out", str(tmp_path / "one.png")]) == 2
    assert "at least two styles" in capsys.readouterr().err
