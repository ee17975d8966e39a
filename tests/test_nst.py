import pytest
import torch

from stylelib.images import rgb_to_ycbcr
from stylelib.nst import StyleObjective, stylize_gatys
from stylelib.runtime import make_runtime

FP32 = make_runtime("cpu", "fp32")


def _run(photo, style, extractor, **options):
    defaults = dict(steps=8, max_side=64, extractor=extractor, runtime=FP32, progress=False)
    return stylize_gatys(photo, style, **{**defaults, **options})


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimisation_lowers_the_objective(photo, style, extractor, optimizer):
    result = _run(photo, style, extractor, optimizer=optimizer, steps=12)
    totals = [record["total"] for record in result.history]
    assert len(totals) == 12 and totals[-1] < 0.7 * totals[0]
    assert result.image.shape == (1, 3, 43, 64)
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    assert {"content", "style", "tv", "total", "seconds", "step"} <= set(result.history[-1])


def test_relative_losses_start_where_expected(photo, style, extractor):
    objective = StyleObjective(extractor, photo, [style], runtime=FP32)
    terms = objective(photo)
    assert terms["content"].item() == pytest.approx(0.0, abs=1e-6)
    painted = torch.nn.functional.interpolate(style, photo.shape[-2:])
    assert objective(painted)["style"] < terms["style"]


def test_bf16_autocast_matches_fp32_objective(photo, style, extractor):
    fp32 = StyleObjective(extractor, photo, [style], runtime=FP32)
    bf16 = StyleObjective(extractor, photo, [style], runtime=make_runtime("cpu", "bf16"))
    noisy = (photo + 0.1 * torch.randn_like(photo)).clamp(0, 1)
    assert bf16(noisy)["total"].dtype == torch.float32
    assert bf16(noisy)["total"].item() == pytest.approx(fp32(noisy)["total"].item(), rel=0.05)


def test_coarse_to_fine_runs_each_scale(photo, style, extractor):
    result = _run(photo, style, extractor, scales=[32, 64], steps=[3, 2])
    assert [record["scale"] for record in result.history] == [32, 32, 32, 64, 64]
    with pytest.raises(ValueError, match="end at max_side"):
        _run(photo, style, extractor, scales=[32, 48])


def test_preserve_color_keeps_the_photos_chroma(photo, style, extractor):
    result = _run(photo, style, extractor, preserve_color=True, steps=10)
    reference = torch.nn.functional.interpolate(photo, result.image.shape[-2:], mode="bilinear", antialias=True)
    chroma_error = (rgb_to_ycbcr(result.image)[:, 1:] - rgb_to_ycbcr(reference)[:, 1:]).abs().mean()
    plain = _run(photo, style, extractor, steps=10)
    plain_error = (rgb_to_ycbcr(plain.image)[:, 1:] - rgb_to_ycbcr(reference)[:, 1:]).abs().mean()
    assert chroma_error < 0.25 * plain_error, (chroma_error, plain_error)


def test_two_styles_blend_between_either(photo, style, extractor):
    from stylelib.data import procedural_style

    other = procedural_style("stained_glass", size=96)
    only_a = _run(photo, [style, other], extractor, style_weights=[1, 0]).image
    only_b = _run(photo, [style, other], extractor, style_weights=[0, 1]).image
    half = _run(photo, [style, other], extractor, style_weights=[1, 1]).image
    assert (half - only_a).abs().mean() > 0.005 and (half - only_b).abs().mean() > 0.005


def test_noise_init_is_seeded(photo, style, extractor):
    a = _run(photo, style, extractor, init="noise", seed=1, steps=2).image
    b = _run(photo, style, extractor, init="noise", seed=1, steps=2).image
    assert torch.equal(a, b)


def test_callback_sees_every_step(photo, style, extractor):
    seen = []
    _run(photo, style, extractor, steps=4, callback=lambda record, image: seen.append((record["step"], image.shape)))
    assert [step for step, _ in seen] == [1, 2, 3, 4]


def test_bad_arguments_raise_clear_errors(photo, style, extractor):
    with pytest.raises(ValueError, match="unknown optimizer"):
        _run(photo, style, extractor, optimizer="sgd")
    with pytest.raises(ValueError, match="unknown init"):
        _run(photo, style, extractor, init="zeros")
    with pytest.raises(ValueError, match="style weights for"):
        _run(photo, [style], extractor, style_weights=[1, 2])
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        _run(photo, style, extractor, style_weight=float("nan"), steps=2)


def test_blended_styles_count_by_their_weights_whatever_their_magnitude(photo, style, extractor):
    from stylelib.data import procedural_style

    other = procedural_style("stained_glass", size=96)
    blended = StyleObjective(extractor, photo, [style, other], style_weights=[0.3, 0.7], runtime=FP32)
    alone = [StyleObjective(extractor, photo, [s], runtime=FP32) for s in (style, other)]
    x = (photo + 0.05 * torch.randn_like(photo)).clamp(0, 1).requires_grad_(True)
    (blended(x)["style"]).backward()
    got = x.grad.clone()
    x.grad = None
    (0.3 * alone[0](x)["style"] + 0.7 * alone[1](x)["style"]).backward()
    assert torch.allclose(got, x.grad, rtol=1e-3, atol=1e-6 * x.grad.abs().max().item())
