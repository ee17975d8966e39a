import math

import pytest
import torch

from stylelib.losses import (
    GRAM_NORMALISATIONS,
    blend_grams,
    content_loss,
    discriminator_loss,
    generator_adversarial_loss,
    gram_distance,
    gram_matrix,
    r1_penalty,
    random_warp_grids,
    relative_squared_error,
    style_loss,
    temporal_consistency_loss,
    total_variation,
    warp,
)


@pytest.fixture
def feats():
    return torch.randn(2, 5, 4, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("normalize", GRAM_NORMALISATIONS)
def test_gram_matches_einsum_reference(feats, normalize):
    b, c, h, w = feats.shape
    divisor = {"chw": c * h * w, "hw": h * w, "bchw": b * c * h * w, "none": 1}[normalize]
    expected = torch.einsum("bihw,bjhw->bij", feats, feats) / divisor
    assert torch.allclose(gram_matrix(feats, normalize), expected, atol=1e-6)


def test_gram_is_symmetric_and_positive_semidefinite(feats):
    gram = gram_matrix(feats)
    assert torch.allclose(gram, gram.transpose(1, 2))
    assert torch.linalg.eigvalsh(gram.double()).min() > -1e-6


def test_gram_forgets_where_things_are_but_not_which_channel(feats):
    b, c, h, w = feats.shape
    shuffled = feats.flatten(2)[:, :, torch.randperm(h * w)].reshape(b, c, h, w)
    assert torch.allclose(gram_matrix(shuffled), gram_matrix(feats), atol=1e-6)
    order = torch.tensor([4, 0, 1, 2, 3])
    swapped = gram_matrix(feats[:, order])
    assert not torch.allclose(swapped, gram_matrix(feats))
    assert torch.allclose(swapped, gram_matrix(feats)[:, order][:, :, order], atol=1e-6)


def test_gram_stays_fp32_under_bf16_inputs(feats):
    assert gram_matrix(feats.bfloat16()).dtype == torch.float32


def test_content_loss_is_mean_squared_difference():
    x, y = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    y[0, 0, 0, 0] = 3.0
    assert content_loss(x, y).item() == pytest.approx((9 + 7) / 8)
    with pytest.raises(ValueError, match="differ in shape"):
        content_loss(x, torch.zeros(1, 2, 2, 3))


def test_relative_squared_error_is_on_paper_and_takes_a_shared_energy():
    x, y = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    y[0, 0, 0, 0] = 3.0  # error (9 + 7) over energy (9 + 7): exactly 1
    assert relative_squared_error(x, y).item() == pytest.approx(1.0)
    assert relative_squared_error(y, y).item() == 0.0
    assert relative_squared_error(x, y, energy=torch.tensor(32.0)).item() == pytest.approx(0.5)


def test_style_loss_is_weighted_sum_of_squared_gram_distances(feats):
    other = feats.flip(-1) * 2
    targets = {"a": gram_matrix(other), "b": gram_matrix(other[:, :3])}
    got = style_loss({"a": feats, "b": feats[:, :3]}, targets, {"a": 2.0, "b": 0.5})
    expected = 2.0 * (gram_matrix(feats) - targets["a"]).pow(2).sum((1, 2)).mean()
    expected += 0.5 * (gram_matrix(feats[:, :3]) - targets["b"]).pow(2).sum((1, 2)).mean()
    assert torch.allclose(got, expected)
    with pytest.raises(ValueError, match="missing"):
        style_loss({"a": feats}, targets)


def test_blending_targets_gives_the_same_gradient_as_blending_losses(feats):
    a, b = gram_matrix(torch.randn(2, 5, 4, 3)), gram_matrix(torch.randn(2, 5, 4, 3))
    x = feats.clone().requires_grad_(True)
    (0.3 * gram_distance(gram_matrix(x), a) + 0.7 * gram_distance(gram_matrix(x), b)).backward()
    separate = x.grad.clone()
    x.grad = None
    style_loss({"l": x}, blend_grams([{"l": a}, {"l": b}], [0.3, 0.7])).backward()
    assert torch.allclose(x.grad, separate, atol=1e-5)
    with pytest.raises(ValueError, match="one weight per style"):
        blend_grams([{"l": a}], [0.5, 0.5])


def test_total_variation_of_constant_is_zero_and_of_stripes_is_known():
    assert total_variation(torch.ones(1, 3, 5, 5)).item() == 0
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., ::2] = 1.0
    assert total_variation(stripes).item() == pytest.approx(1.0)


@pytest.mark.parametrize("normalize", GRAM_NORMALISATIONS)
def test_gram_gradient_matches_finite_differences(normalize):
    x = torch.randn(2, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: gram_matrix(t, normalize), (x,))


def test_loss_gradients_match_finite_differences():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    y = torch.randn(1, 3, 4, 4, dtype=torch.float64, generator=gen)
    assert torch.autograd.gradcheck(lambda t: content_loss(t, y), (x,))
    assert torch.autograd.gradcheck(lambda t: style_loss({"l": t}, {"l": gram_matrix(y)}, {"l": 3.0}), (x,))
    assert torch.autograd.gradcheck(total_variation, (x,))


@pytest.mark.parametrize("kind", ["lsgan", "hinge", "nonsaturating"])
def test_adversarial_losses_reward_the_right_side(kind):
    confident = [torch.full((2, 1, 4, 4), 3.0)]
    fooled = [torch.full((2, 1, 4, 4), -3.0)]
    # D is better off when it scores reals high and fakes low; G when its fakes score high.
    assert discriminator_loss(confident, fooled, kind) < discriminator_loss(fooled, confident, kind)
    assert generator_adversarial_loss(confident, kind) < generator_adversarial_loss(fooled, kind)


def test_adversarial_loss_values_by_hand():
    real, fake = [torch.ones(1, 1, 2, 2)], [torch.zeros(1, 1, 2, 2)]
    assert discriminator_loss(real, fake, "lsgan").item() == 0.0
    assert discriminator_loss(real, fake, "hinge").item() == 1.0
    assert discriminator_loss(real, fake, "nonsaturating").item() == pytest.approx(
        torch.nn.functional.softplus(torch.tensor(-1.0)).item() + math.log(2)
    )
    with pytest.raises(ValueError, match="unknown adversarial loss"):
        generator_adversarial_loss(fake, "wgan")


def test_r1_penalty_is_the_squared_input_gradient():
    images = torch.rand(2, 3, 4, 4, requires_grad=True)
    logits = [(images * 3.0).sum(dim=(1, 2, 3), keepdim=True)]  # dD/dx = 3 everywhere
    assert r1_penalty(logits, images).item() == pytest.approx(9.0 * 3 * 4 * 4)


def test_warp_grids_shift_like_a_roll_and_an_equivariant_map_has_no_temporal_loss():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 16, 20)
    identity = random_warp_grids(2, 16, 20, max_shift=0.0, max_zoom=0.0)
    assert torch.allclose(warp(images, identity), images, atol=1e-6)
    shifted = identity.clone()
    shifted[..., 0] += 2 * 2 / 20  # two pixels along the width, in grid units (2 per side)
    assert torch.allclose(warp(images, shifted)[..., 2:-2], torch.roll(images, -2, dims=-1)[..., 2:-2], atol=1e-5)
    grids = random_warp_grids(2, 16, 20, max_shift=0.1, max_zoom=0.1)
    assert grids.shape == (2, 16, 20, 2) and not torch.allclose(grids, identity)
    # identity as the "generator": G(T(x)) = T(G(x)) exactly; a fixed overlay breaks it
    assert temporal_consistency_loss(warp(images, grids), images, grids).item() == pytest.approx(0.0, abs=1e-12)
    overlay = torch.linspace(0, 1, 20).expand(2, 3, 16, 20)
    assert temporal_consistency_loss(warp(images, grids) + overlay, images + overlay, grids).item() > 1e-4
