"""Evaluation: how much style was transferred and how much content was kept.

- style distance: sum over relu1_1 ... relu5_1 of ||G_l(x) - G_l(s)||^2 / ||G_l(s)||^2
  (Gram matrices normalised by C*H*W, caffe VGG19), and its ratio to the same distance for
  the unstylised photo (1.0 = nothing transferred, lower = more style). Dividing by ||G_l(s)||^2
  makes every layer count; the plain sum (relative=False) is dominated by relu4_1 and relu5_1.
- content distance: ||F(x) - F(p)||^2 / ||F(p)||^2 at relu4_2 (0 = photo's content intact).
- SSIM on BT.601 luminance with an 11x11 Gaussian window (sigma 1.5), as in Wang et al. 2004.
- edge F1: Canny edges (sigma 2) of the output's and the photo's luminance, matched within 2 px;
  the harmonic mean of precision (output edges that are photo edges) and recall (photo edges kept).
  1.0 = the same edge structure; it is symmetric in its two arguments.
- style KID: the kernel inception distance of Binkowski et al. 2018 ("Demystifying MMD GANs"):
  the unbiased squared MMD with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, computed
  on VGG19 statistics instead of Inception activations (no Inception weights offline). Each
  image gives random crops; each crop gives, per style layer relu1_1 ... relu5_1, its channel
  means and standard deviations (the statistics AdaIN, Huang & Belongie 2017, calls style),
  scaled by the style set's RMS so layers are comparable. The score is the mean over the five
  layers of KID(outputs, styles): 0 = indistinguishable style statistics; small negative values
  are noise of the unbiased estimate. It judges a *set* of outputs against a *set* of paintings.
  As in torchmetrics and torch-fidelity, it is the mean over random subsets (here each 3/4 of the
  smaller set), reported with its standard deviation across them.
- speed: median wall-clock milliseconds per image after warm-up calls.
- colour shift: the distance between the colour statistics (per YCbCr channel, mean and standard
  deviation) of two images: 0 = same average colour, saturation and contrast.
- content retrieval: for a generator's outputs on several photos, the fraction whose nearest photo
  in relu4_2 features is their own (1.0 = every output still identifies its photo; 1/n = chance,
  the signature of mode collapse). Unlike a pixel distance it ignores the shared palette.
- checkerboard score: the share of the luminance's spectral energy (DC excluded) on the lattice of
  period-2 and period-4 frequencies, where the artefacts of stride-2 upsampling live (Odena et al.
  2016). Natural photos score well under 0.01; a visible checkerboard scores several times more.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.feature import canny

from .features import CONTENT_LAYERS, STYLE_LAYERS, VGG19Features
from .images import luminance, resize, resize_to_area, rgb_to_ycbcr
from .losses import gram_matrix, masked_gram_matrix, relative_squared_error
from .runtime import module_device


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


def edge_f1(x: torch.Tensor, y: torch.Tensor, sigma: float = 2.0, tolerance: int = 2) -> float:
    """F1 of Canny edges of two images' luminance, matched within `tolerance` px (1.0 = same edges)."""
    _check_pair(x, y)
    edges_x, edges_y = (canny(luminance(i.float().cpu())[0, 0].numpy(), sigma=sigma) for i in (x, y))
    if not edges_x.any() and not edges_y.any():
        return 1.0
    reach = np.ones((2 * tolerance + 1, 2 * tolerance + 1), dtype=bool)
    near_x, near_y = ndimage.binary_dilation(edges_x, reach), ndimage.binary_dilation(edges_y, reach)
    precision = (edges_x & near_y).sum() / max(edges_x.sum(), 1)
    recall = (edges_y & near_x).sum() / max(edges_y.sum(), 1)
    return float(2 * precision * recall / (precision + recall)) if precision + recall > 0 else 0.0


def milliseconds_per_image(
    function: Callable[[torch.Tensor], object], image: torch.Tensor, warmup: int = 2, repeats: int = 5
) -> float:
    """Median wall-clock milliseconds of `function(image)` over `repeats` calls after `warmup` calls."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        function(image)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(image)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def _colour_statistics(image: torch.Tensor) -> torch.Tensor:
    ycbcr = rgb_to_ycbcr(image.float().cpu().clamp(0, 1))
    return torch.cat([ycbcr.mean(dim=(0, 2, 3)), ycbcr.std(dim=(0, 2, 3))])


def colour_shift(image: torch.Tensor, reference: torch.Tensor) -> float:
    """Distance between the YCbCr means and standard deviations of two images (any sizes; 0 = same colours)."""
    return (_colour_statistics(image) - _colour_statistics(reference)).norm().item()


def warping_error(
    previous: torch.Tensor, current: torch.Tensor, grid: torch.Tensor, mask: torch.Tensor | None = None
) -> float:
    """sum_p m(p) ||O_{t+1}(p) - O_t(g(p))||^2 / (3 sum_p m(p)) for one pair of frames [1,3,H,W] (see flicker).

    m is `mask` [1,1,H,W] (1 = count the pixel; default all) times 1 where g(p) falls inside frame t.
    """
    grid = grid.to(previous.device, previous.dtype)
    inside = (grid.abs() <= 1).all(-1).unsqueeze(1).to(previous.dtype)
    if mask is not None:
        inside = inside * mask.to(previous.device, previous.dtype)
    warped = F.grid_sample(previous, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    squared = (current - warped).pow(2) * inside
    return (squared.sum() / (3 * inside.sum().clamp_min(1))).item()


def flicker(
    frames: Sequence[torch.Tensor], grids: Sequence[torch.Tensor], masks: Sequence[torch.Tensor] | None = None
) -> float:
    """Warping error of a clip [1,3,H,W] x T, given the motion between its frames.

    flicker = 1/(T-1) sum_t  sum_p m_t(p) ||O_{t+1}(p) - O_t(g_t(p))||^2 / (3 sum_p m_t(p))

    where g_t [1,H,W,2] (F.grid_sample coordinates, align_corners=False) says where pixel p of frame
    t+1 was in frame t, O_t(g_t(p)) is frame t sampled there (bilinear), and m_t(p) = 1 where g_t(p)
    falls inside frame t (0 where the content entered the view) and, when `masks` are given, where
    the motion is trusted (stylelib.motion's occlusion test). 0 for a static clip; for known motion
    (a synthetic pan) the grids are exact, so only the outputs' own changes count.
    """
    if len(frames) < 2 or len(grids) != len(frames) - 1 or (masks is not None and len(masks) != len(grids)):
        raise ValueError(f"flicker needs T >= 2 frames and T - 1 grids (and masks), got {len(frames)} and {len(grids)}")
    pairs = zip(frames, frames[1:], grids, masks or [None] * len(grids))
    return statistics.fmean(warping_error(*pair) for pair in pairs)


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

    def __init__(self, extractor: VGG19Features | None = None, device: str | torch.device = "cpu") -> None:
        self.extractor = extractor or VGG19Features("caffe", layers=STYLE_LAYERS + CONTENT_LAYERS).to(device)
        self.device = module_device(self.extractor)

    @torch.no_grad()
    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """fp32 features of an image, computed on the extractor's device."""
        return self.extractor(image.float().to(self.device))

    def style_distance(
        self, image: torch.Tensor, style: torch.Tensor, relative: bool = True, region: torch.Tensor | None = None
    ) -> float:
        """mean_l ||G_l(x) - G_l(s)||^2 / ||G_l(s)||^2 over the style layers, the training style loss's convention.

        relative=False drops the division (plain Gram distances); the style is resized to the image's area.
        `region` (a soft mask [1,1,H,W]) measures only that part of the image (masked Gram matrices).
        """
        distances = self.style_distances(image, style, relative, region)
        return sum(distances.values()) / len(distances)

    @torch.no_grad()
    def style_distances(
        self,
        image: torch.Tensor,
        style: torch.Tensor,
        relative: bool = True,
        region: torch.Tensor | None = None,
        match_area: bool = True,
    ) -> dict[str, float]:
        """The terms of style_distance, one per style layer (which scales of the painting are still missing).

        match_area=False compares with the style at the size it is given (say, the scale a generator trained at).
        """
        if match_area:
            style = resize_to_area(style, image.shape[-2] * image.shape[-1])
        fx, fs = self.features(image), self.features(style)
        distances = {}
        for layer in STYLE_LAYERS:
            gs = gram_matrix(fs[layer])
            gx = gram_matrix(fx[layer]) if region is None else masked_gram_matrix(fx[layer], region.to(self.device))
            distances[layer] = ((gx - gs).pow(2).sum() / (gs.pow(2).sum() if relative else 1.0)).item()
        return distances

    @torch.no_grad()
    def content_distance(self, image: torch.Tensor, photo: torch.Tensor) -> float:
        """||F(x) - F(p)||^2 / ||F(p)||^2 at relu4_2; the image is resized to the photo's size."""
        image = resize(image, tuple(photo.shape[-2:]))
        fx, fp = self.features(image)[CONTENT_LAYERS[0]], self.features(photo)[CONTENT_LAYERS[0]]
        return relative_squared_error(fx, fp).item()

    @torch.no_grad()
    def style_statistics(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per style layer, the channel means and standard deviations of one image, [2C]."""
        features = self.features(image)
        return {
            layer: torch.cat([features[layer].mean(dim=(0, 2, 3)), features[layer].std(dim=(0, 2, 3))])
            for layer in STYLE_LAYERS
        }

    def style_kid(
        self,
        outputs: Sequence[torch.Tensor],
        styles: Sequence[torch.Tensor],
        crops_per_image: int = 8,
        crop: int = 128,
        seed: int = 0,
        subsets: int = 20,
    ) -> KernelDistance:
        """Kernel inception distance on VGG19 style statistics of random crops, over subsets (see module doc)."""
        if not outputs or not styles:
            raise ValueError("style_kid needs at least one output and one style image")
        area = int(statistics.median(o.shape[-2] * o.shape[-1] for o in outputs))
        styles = [resize_to_area(s, area) for s in styles]
        generator = torch.Generator().manual_seed(seed)
        output_stats = _stack_statistics(self, outputs, crops_per_image, crop, generator)
        style_stats = _stack_statistics(self, styles, crops_per_image, crop, generator)
        return subset_kid(output_stats, style_stats, subsets, generator)


class KernelDistance(NamedTuple):
    """A KID estimate: the mean over random subsets and its standard deviation across them."""

    mean: float
    std: float


def subset_kid(
    x: dict[str, torch.Tensor], y: dict[str, torch.Tensor], subsets: int, generator: torch.Generator
) -> KernelDistance:
    """KID of two sets of per-layer statistics [n, d], over random subsets, averaged over layers.

    Each subset takes 3/4 of the smaller set's size from both sets; rows are scaled per layer by the
    RMS of y's, so every layer counts the same.
    """
    size_x, size_y = (len(next(iter(stats.values()))) for stats in (x, y))
    count = max(2, min(size_x, size_y) * 3 // 4)
    scales = {layer: y[layer].pow(2).mean().sqrt().clamp_min(1e-12) for layer in y}
    values = []
    for _ in range(subsets):
        rows_x = torch.randperm(size_x, generator=generator)[:count]
        rows_y = torch.randperm(size_y, generator=generator)[:count]
        per_layer = [kernel_mmd2(x[layer][rows_x] / scales[layer], y[layer][rows_y] / scales[layer]) for layer in x]
        values.append(statistics.fmean(per_layer))
    return KernelDistance(statistics.fmean(values), statistics.pstdev(values))


def random_crops(image: torch.Tensor, count: int, side: int, generator: torch.Generator) -> list[torch.Tensor]:
    """`count` random side x side crops of an image [1,3,H,W] (side shrinks to fit small images)."""
    height, width = image.shape[-2:]
    side = min(side, height, width)
    tops = torch.randint(0, height - side + 1, (count,), generator=generator).tolist()
    lefts = torch.randint(0, width - side + 1, (count,), generator=generator).tolist()
    return [image[..., t : t + side, left : left + side] for t, left in zip(tops, lefts)]


def _stack_statistics(
    meter: StyleContentMeter, images: Sequence[torch.Tensor], count: int, side: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    rows = [meter.style_statistics(c) for image in images for c in random_crops(image, count, side, generator)]
    return {layer: torch.stack([row[layer] for row in rows]).double() for layer in STYLE_LAYERS}


def kernel_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased squared MMD between samples x [n,d] and y [m,d] with the kernel (x.y / d + 1)^3."""
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"MMD needs at least two samples per set, got {x.shape[0]} and {y.shape[0]}")
    dimension = x.shape[1]

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b.T / dimension + 1) ** 3

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    n, m = x.shape[0], y.shape[0]
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return (within_x + within_y - 2 * k_xy.mean()).item()


@torch.no_grad()
def content_retrieval(
    outputs: Sequence[torch.Tensor], photos: Sequence[torch.Tensor], meter: StyleContentMeter, side: int = 128
) -> float:
    """Fraction of outputs whose nearest photo in relu4_2 features (all resized to side x side) is their own."""
    if len(outputs) != len(photos) or len(photos) < 2:
        raise ValueError(f"need matching lists of at least 2 outputs and photos, got {len(outputs)} and {len(photos)}")
    layer = CONTENT_LAYERS[0]
    photo_features = [meter.features(resize(p, (side, side)))[layer] for p in photos]
    correct = 0
    for index, output in enumerate(outputs):
        features = meter.features(resize(output, (side, side)))[layer]
        distances = [relative_squared_error(features, f).item() for f in photo_features]
        correct += min(range(len(distances)), key=distances.__getitem__) == index
    return correct / len(outputs)


@dataclass
class TransferScores:
    """Scores of one stylised output against its photo and style image."""

    style_distance: float
    style_ratio: float
    content_distance: float
    ssim: float
    edge_f1: float

    def as_dict(self) -> dict[str, float]:
        """The scores as a plain dict (for JSON and tables)."""
        return asdict(self)


def score_transfer(
    output: torch.Tensor, photo: torch.Tensor, style: torch.Tensor, meter: StyleContentMeter | None = None
) -> TransferScores:
    """Style distance (and ratio to the photo's), content distance, SSIM and edge F1 of a stylised output."""
    meter = meter or StyleContentMeter()
    photo = resize(photo, tuple(output.shape[-2:]))
    distance = meter.style_distance(output, style)
    baseline = meter.style_distance(photo, style)
    return TransferScores(
        style_distance=distance,
        style_ratio=distance / baseline,
        content_distance=meter.content_distance(output, photo),
        ssim=ssim(output, photo),
        edge_f1=edge_f1(output, photo),
    )
