"""Properties of a style image that change how it transfers: stroke size, how busy it is, its colours.

- *texture scale*: the correlation length of the image's luminance, in pixels: the lag at which
  its radially averaged autocorrelation falls to 1/e, after removing the composition (light and
  dark areas larger than 1/16 of the image's long side, a Gaussian blur subtracted). Fine
  brushwork gives a few pixels, broad flat strokes tens. (For white noise blurred by a Gaussian of
  standard deviation s it is about 2s.)
- *busyness*: the mean Sobel gradient magnitude of the luminance (0 for a flat image): how much
  edge the painting has per pixel.
- *colour distance*: `metrics.colour_shift` between the painting and a photo (YCbCr means and
  standard deviations): how far the photo's palette has to move.

Measured on the image at the size it is used at: the Gram matrices see the painting at that scale.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage, signal

from .images import luminance
from .metrics import colour_shift

COMPOSITION_FRACTION = 16  # structure larger than the long side / 16 counts as composition, not texture


def _grey(image: torch.Tensor) -> np.ndarray:
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] not in (1, 3):
        raise ValueError(f"expected one image [1,3,H,W] or [1,1,H,W], got shape {tuple(image.shape)}")
    grey = luminance(image) if image.shape[1] == 3 else image
    return grey[0, 0].double().cpu().numpy()


def autocorrelation(image: torch.Tensor) -> np.ndarray:
    """Normalised autocorrelation of the luminance at every lag [2H-1, 2W-1] (1 at zero lag).

    Each lag's sum is divided by the number of pixel pairs it overlaps, so long lags are not damped.
    """
    grey = _grey(image)
    centred = grey - grey.mean()
    products = signal.correlate(centred, centred, mode="full", method="fft")
    pairs = signal.correlate(np.ones_like(centred), np.ones_like(centred), mode="full", method="fft")
    covariance = products / np.maximum(np.rint(pairs), 1)
    zero_lag = covariance[centred.shape[0] - 1, centred.shape[1] - 1]
    if zero_lag <= 0:
        raise ValueError("the image is flat (one grey level): it has no texture to measure")
    return covariance / zero_lag


def strokes(image: torch.Tensor) -> torch.Tensor:
    """The luminance [1,1,H,W] less its Gaussian blur at 1/16 of the long side: the strokes without the composition."""
    grey = _grey(image)
    composition = ndimage.gaussian_filter(grey, max(grey.shape) / COMPOSITION_FRACTION, mode="reflect")
    return torch.from_numpy(grey - composition)[None, None]


def texture_scale(image: torch.Tensor) -> float:
    """Correlation length in px of the strokes: where their radially averaged autocorrelation drops below 1/e."""
    correlation = autocorrelation(strokes(image))
    height, width = correlation.shape
    rows, columns = np.indices(correlation.shape)
    radius = np.hypot(rows - height // 2, columns - width // 2)
    limit = min(height, width) // 4  # lags beyond half the image's side: few pixel pairs remain
    bins = np.rint(radius).astype(int)
    inside = bins <= limit
    profile = np.bincount(bins[inside], correlation[inside]) / np.bincount(bins[inside])
    below = np.flatnonzero(profile < 1 / np.e)
    if below.size == 0:
        return float(limit)  # coarser than the image can show
    r = below[0]  # profile[r - 1] >= 1/e > profile[r]: interpolate linearly between them
    return float(r - 1 + (profile[r - 1] - 1 / np.e) / (profile[r - 1] - profile[r]))


def busyness(image: torch.Tensor) -> float:
    """Mean Sobel gradient magnitude of the luminance (0 = flat; a hard black-white edge scores 4 on its pixels)."""
    grey = _grey(image)
    return float(np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1)).mean())


def describe_style(painting: torch.Tensor, photo: torch.Tensor) -> dict[str, float]:
    """The three properties of a style image (module doc), the colour distance measured to `photo`."""
    return {
        "texture_scale": texture_scale(painting),
        "busyness": busyness(painting),
        "colour_distance": colour_shift(painting, photo),
    }
