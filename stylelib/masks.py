"""Regions for spatially controlled style transfer: which style paints which part of the photo.

A *region map* is one soft map per style, [1,1,H,W] in [0, 1], summing to 1 at every pixel.
They come from a greyscale mask image or are found automatically from the photo's colours:

- a mask image with two styles: black selects the first style, white the second, grey blends them;
- with N styles, style k sits at grey level k / (N - 1) (0, 0.5, 1 for three styles) and a grey
  between two levels blends those two linearly;
- `auto`: k-means on the photo's colours (scipy) splits it into one region per style, ordered from
  the darkest to the lightest, with edges feathered by a Gaussian blur so no seam shows.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from scipy.cluster.vq import kmeans2

from .images import ImageSource, load_image, luminance, resize, rgb_to_ycbcr

AUTO = "auto"


def load_mask(source: ImageSource) -> torch.Tensor:
    """A mask image (any mode; colour is reduced to luminance) as [1,1,H,W] in [0, 1]."""
    return luminance(load_image(source)).clamp(0.0, 1.0)


def style_regions(mask: torch.Tensor, count: int) -> list[torch.Tensor]:
    """One region map per style from a greyscale mask: style k at grey level k / (count - 1), linear in between."""
    if count < 2:
        raise ValueError(f"a mask splits the photo between styles: give at least two styles, got {count}")
    position = mask.float().clamp(0.0, 1.0) * (count - 1)
    return [(1 - (position - k).abs()).clamp_min(0.0) for k in range(count)]


def auto_regions(photo: torch.Tensor, count: int, feather: float = 0.02, seed: int = 0) -> list[torch.Tensor]:
    """`count` region maps from k-means on the photo's YCbCr colours, darkest first, edges blurred by feather x side."""
    if count < 2:
        raise ValueError(f"automatic regions need at least two styles, got {count}")
    pixels = rgb_to_ycbcr(photo.float()).squeeze(0).flatten(1).T.double().numpy()
    centres, labels = kmeans2(pixels, count, seed=seed, minit="++")
    order = np.argsort(centres[:, 0])  # by luminance, so the regions' order does not depend on the seed
    height, width = photo.shape[-2:]
    sigma = feather * max(height, width)
    members = [(labels == cluster).reshape(height, width).astype(np.float64) for cluster in order]
    maps = [ndimage.gaussian_filter(member, sigma) for member in members]
    total = np.maximum(sum(maps), 1e-12)
    return [torch.from_numpy(m / total).float()[None, None] for m in maps]


def regions_for(spec: ImageSource, photo: torch.Tensor, count: int) -> list[torch.Tensor]:
    """Region maps at the photo's size from a mask file, a mask tensor, or 'auto' / 'auto:N' (N = count)."""
    if isinstance(spec, str) and spec.split(":")[0] == AUTO:
        wanted = spec.split(":", 1)[1] if ":" in spec else str(count)
        if wanted != str(count):
            raise ValueError(f"mask '{spec}' asks for {wanted} regions for {count} styles: use 'auto:{count}'")
        return auto_regions(photo, count)
    mask = load_mask(spec)
    return style_regions(resize(mask, tuple(photo.shape[-2:])), count)
