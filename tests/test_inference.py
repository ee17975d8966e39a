"""Using generators: library calls never move a module they are handed nor leave its mode switched; colours kept."""

import pytest
import torch

from stylelib.features import VGG19Features
from stylelib.images import luminance, rgb_to_ycbcr
from stylelib.inference import compile_generator, export_generator, stylize_image
from stylelib.models import Generator
from stylelib.nst import stylize_gatys
from stylelib.runtime import Runtime, make_runtime


def _snapshot(module):
    return module.training, [(p.device, p.dtype, p.is_contiguous(), p.detach().clone()) for p in module.parameters()]


def _unchanged(module, snapshot):
    training, parameters = snapshot
    now = [(p.device, p.dtype, p.is_contiguous()) for p in module.parameters()]
    same_values = all(torch.equal(p.detach(), old[3]) for p, old in zip(module.parameters(), parameters))
    return module.training == training and now == [old[:3] for old in parameters] and same_values


def test_generator_calls_leave_the_callers_module_as_it_was(tmp_path):
    generator = Generator(width=4, blocks=1).train()
    before = _snapshot(generator)
    photo = torch.rand(1, 3, 20, 28)
    assert stylize_image(generator, photo).shape == (1, 3, 20, 28)
    export_generator(generator, tmp_path / "g.pt")
    compiled = compile_generator(generator, make_runtime("cpu", "fp32"))
    assert compiled is not generator
    assert _unchanged(generator, before)


def test_a_runtime_on_another_device_is_a_clear_error():
    elsewhere = Runtime(torch.device("meta"), None)
    with pytest.raises(ValueError, match="move it first"):
        stylize_image(Generator(width=4, blocks=1), torch.rand(1, 3, 20, 20), runtime=elsewhere)


def test_gatys_uses_a_given_extractor_where_it_is():
    extractor = VGG19Features(
        "random", layers=("relu1_1", "relu2_1", "relu3_1", "relu3_2", "relu4_1", "relu4_2", "relu5_1")
    )
    before = _snapshot(extractor)
    photo, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    stylize_gatys(
        photo, style, steps=1, max_side=32, extractor=extractor, runtime=make_runtime("cpu", "fp32"), progress=False
    )
    assert _unchanged(extractor, before)


def test_preserve_color_keeps_the_outputs_luminance_and_the_photos_colours(photo):
    generator = Generator(width=4, blocks=1)
    torch.manual_seed(0)
    plain = stylize_image(generator, photo)
    kept = stylize_image(generator, photo, preserve_color=True)
    inside = (plain > 0.05).all(1, keepdim=True) & (plain < 0.95).all(1, keepdim=True)  # away from clipping
    assert torch.allclose(luminance(kept)[inside], luminance(plain)[inside], atol=2e-3)
    photo_chroma, kept_chroma = rgb_to_ycbcr(photo)[:, 1:], rgb_to_ycbcr(kept)[:, 1:]
    assert (kept_chroma - photo_chroma).abs()[inside.expand(-1, 2, -1, -1)].max() < 0.02
    plain_chroma = rgb_to_ycbcr(plain)[:, 1:]
    assert (plain_chroma - photo_chroma).abs()[inside.expand(-1, 2, -1, -1)].max() > 0.05  # it did recolour
