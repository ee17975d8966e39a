"""Evaluation: how much style was transferred and how much content was kept.

- style distance: sum over relu1_1 ... relu5_1 of ||G_l(x) - G_l(s)||^2 / ||G_l(s)||^2
  (Gram matrices normalised by C*H*W, caffe VGG19), and its ratio to the same distance for
  the unstylised photo (1.0 = nothing transferred, lower = more style). Dividing by ||G_l(s)||^2
  makes every layer count; the plain sum (relative=False) is dominated by relu4_1 and relu5_1.
- content distance: ||F(x) - F(p)||^2 / ||F(p)||^2 at relu4_2 (0 = photo's content intact).
- SSIM on BT.601 luminance with an 11x11 Gaussian window (sigma 1.5), as in Wang et al. 2004.
- checkerboard score: the share of the luminance's spectral energy (DC excluded) on the lattice of
  period-2 and period-4 frequencies, where the artefacts of stride-2 upsampling live (Odena et al.
  2016). Natural photos score well under 0.01; a visible checkerboard scores several times more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .features import CONTENT_LAYERS, STYLE_LAYERS, VGG19Features
from .images import luminance, resize, resize_to_area
from .losses import gram_matrix


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"images must have the same shape to compare, got {tuple(x.shape)} and {tuple(y.shape)}")


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    return (kernel[:, None] * kernel[None, :]).float().view(1, 1, size, size)


def ssim(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean SSIM between the luminance of two RGB images [1,3,H,W] in [0, 1] (1.0 = identical)."""
    _check_pair(x, y)
    a, b = luminance(x.float().cpu().clamp(0, 1)), luminance(y.float().cpu().clamp(0, 1))
    window = _gaussian_window()
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = F.conv2d(a, window), F.conv2d(b, window)
    var_a = F.conv2d(a * a, window) - mu_a**2
    var_b = F.conv2d(b * b, window) - mu_b**2
    cov = F.conv2d(a * b, window) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean().item()


def checkerboard_score(image: torch.Tensor) -> float:
    """Share of spectral energy at period-2/period-4 frequencies (see module doc; lower is cleaner)."""
    gray = luminance(image.float().cpu())[0, 0]
    height, width = (gray.shape[0] // 4) * 4, (gray.shape[1] // 4) * 4
    if min(height, width) < 16:
        raise ValueError(f"image {tuple(gray.shape)} too small for a checkerboard score: use at least 16x16")
    gray = gray[:height, :width]
    power = torch.fft.fft2(gray - gray.mean()).abs().pow(2)
    lattice = torch.zeros_like(power, dtype=torch.bool)
    lattice[:: height // 4, :: width // 4] = True
    lattice[0, 0] = False
    return (power[lattice].sum() / power.sum().clamp_min(1e-12)).item()


class StyleContentMeter:
    """Computes style and content distances with one shared, frozen caffe VGG19 in fp32."""

    def __init__(self, extractor: VGG19Features | None = None) -> None:
        self.extractor = extractor or VGG19Features("caffe", layers=STYLE_LAYERS + CONTENT_LAYERS)

    @torch.no_grad()
    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """fp32 features of an image on the CPU."""
        return self.extractor(image.float().cpu())

    @torch.no_grad()
    def style_distance(self, image: torch.Tensor, style: torch.Tensor, relative: bool = True) -> float:
        """sum_l ||G_l(x) - G_l(s)||^2 / ||G_l(s)||^2 (a plain sum if not relative), style resized to the image."""
        style = resize_to_area(style, image.shape[-2] * image.shape[-1])
        fx, fs = self.features(image), self.features(style)
        total = 0.0
        for layer in STYLE_LAYERS:
            gx, gs = gram_matrix(fx[layer]), gram_matrix(fs[layer])
            total += ((gx - gs).pow(2).sum() / (gs.pow(2).sum() if relative else 1.0)).item()
        return total

    @torch.no_grad()
    def content_distance(self, image: torch.Tensor, photo: torch.Tensor) -> float:
        """||F(x) - F(p)||^2 / ||F(p)||^2 at relu4_2; the image is resized to the photo's size."""
        image = resize(image, tuple(photo.shape[-2:]))
        fx, fp = self.features(image)[CONTENT_LAYERS[0]], self.features(photo)[CONTENT_LAYERS[0]]
        return ((fx - fp).pow(2).sum() / fp.pow(2).sum()).item()


@dataclass
class TransferScores:
    """Scores of one stylised output against its photo and style image."""

    style_distance: float
    style_ratio: float
    content_distance: float
    ssim: float

    def as_dict(self) -> dict[str, float]:
        """The scores as a plain dict (for JSON and tables)."""
        return asdict(self)


def score_transfer(
    output: torch.Tensor, photo: torch.Tensor, style: torch.Tensor, meter: StyleContentMeter | None = None
) -> TransferScores:
    """Style distance (and ratio to the photo's), content distance and SSIM of a stylised output."""
    meter = meter or StyleContentMeter()
    photo = resize(photo, tuple(output.shape[-2:]))
    distance = meter.style_distance(output, style)
    baseline = meter.style_distance(photo, style)
    return TransferScores(
        style_distance=distance,
        style_ratio=distance / baseline,
        content_distance=meter.content_distance(output, photo),
        ssim=ssim(output, photo),
    )
