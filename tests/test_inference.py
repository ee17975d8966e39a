"""Library calls never move a module they are handed, nor leave its mode switched."""

import pytest
import torch

from stylelib.features import VGG19Features
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
