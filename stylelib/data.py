"""Bundled content photos, public-domain paintings and procedural, painting-like style images.

Five public-domain paintings ship in the repository's `data/paintings/` (provenance in
`data/README.md`) and are known by short names (PAINTING_FILES). Four more styles are drawn
procedurally and deterministically (same name + size + seed = same pixels); they are fast,
simple test fixtures, much easier to match than a real painting:

- "swirls": short brush strokes following swirling currents in blues and yellows
  (line-integral convolution of paint dabs along a vortex field).
- "stained_glass": Voronoi panes of saturated glass separated by dark lead lines.
- "pointillism": thousands of small dots of jittered colour over a landscape gradient.
- "woodcut": bold ink bands following the contours of a smooth field, on cream paper.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from .datasets import find_images
from .images import ImageError, load_image

# Colour photos shipped inside installed wheels (scikit-image, matplotlib), all public domain or CC0
# (see data/README.md): name -> (package, file inside the package's data folder).
PHOTO_FILES = {
    "astronaut": ("skimage", "astronaut.png"),
    "chelsea": ("skimage", "chelsea.png"),
    "coffee": ("skimage", "coffee.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "hubble": ("skimage", "hubble_deep_field.jpg"),
    "grace_hopper": ("matplotlib", "grace_hopper.jpg"),
}
# Public-domain paintings in the repository's data/paintings/ (see data/README.md): short name -> file.
PAINTINGS_DIR = Path(__file__).resolve().parent.parent / "data" / "paintings"
PAINTING_FILES = {
    "hokusai": "hokusai_great_wave.jpg",
    "picabia": "picabia_udnie.jpg",
    "matisse": "matisse_woman_with_a_hat.jpg",
    "leger": "leger_contrast_of_forms.jpg",
    "mondrian": "mondrian_composition.jpg",
}
# The GAN trains on these and shows its samples on the others, which it never sees.
TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "hubble")
HELD_OUT_PHOTOS = ("chelsea", "grace_hopper")


def photo_path(name: str) -> Path:
    """Path of a bundled photo by short name (see PHOTO_FILES)."""
    if name not in PHOTO_FILES:
        raise ValueError(f"unknown photo {name!r}: choose one of {', '.join(PHOTO_FILES)}")
    package, filename = PHOTO_FILES[name]
    if package == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data" / filename
    import skimage.data

    return Path(skimage.data.__file__).parent / filename


def load_photo(name: str, max_side: int | None = None) -> torch.Tensor:
    """A bundled photo as a tensor [1,3,H,W] in [0, 1]."""
    return load_image(photo_path(name), max_side=max_side)


def painting_path(name: str) -> Path:
    """Path of a bundled public-domain painting by short name (see PAINTING_FILES)."""
    if name not in PAINTING_FILES:
        raise ValueError(f"unknown painting {name!r}: choose one of {', '.join(PAINTING_FILES)}")
    path = PAINTINGS_DIR / PAINTING_FILES[name]
    if not path.is_file():
        raise ImageError(
            f"painting '{name}' is missing from {PAINTINGS_DIR}: the paintings ship with the repository, "
            "so install stylelib from a clone (pip install -e .) or pass the image's path instead"
        )
    return path


def load_painting(name: str, max_side: int | None = None) -> torch.Tensor:
    """A bundled painting as a tensor [1,3,H,W] in [0, 1]."""
    return load_image(painting_path(name), max_side=max_side)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    """Band-limited noise in [0, 1]: a cells x cells random grid upsampled bicubically."""
    coarse = torch.from_numpy(rng.random((1, channels, cells + 3, cells + 3)).astype(np.float32))
    fine = F.interpolate(coarse, size=(size + size * 3 // cells,) * 2, mode="bicubic", align_corners=False)
    offset = size * 3 // (2 * cells)
    field = fine[0, :, offset : offset + size, offset : offset + size].numpy()
    lo, hi = field.min(), field.max()
    return ((field - lo) / (hi - lo + 1e-8)).squeeze(0) if channels == 1 else (field - lo) / (hi - lo + 1e-8)


def _palette_map(values: np.ndarray, palette: list[tuple[int, int, int]]) -> np.ndarray:
    """Map values in [0, 1] through a piecewise-linear colour palette to HxWx3 floats in [0, 1]."""
    colours = np.asarray(palette, dtype=np.float32) / 255.0
    stops = np.linspace(0.0, 1.0, len(colours))
    return np.stack([np.interp(values, stops, colours[:, c]) for c in range(3)], axis=-1)


def _swirls(rng: np.random.Generator, size: int) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    vx = np.full_like(xs, 0.3)
    vy = np.zeros_like(ys)
    for _ in range(5):
        cx, cy = rng.uniform(0, size, 2)
        radius = rng.uniform(0.12, 0.3) * size
        spin = rng.choice([-1.0, 1.0])
        dx, dy = xs - cx, ys - cy
        falloff = np.exp(-np.hypot(dx, dy) / radius)
        vx += spin * -dy / radius * falloff
        vy += spin * dx / radius * falloff
    norm = np.hypot(vx, vy) + 1e-6
    vx, vy = vx / norm, vy / norm
    dabs = rng.random((size, size)).astype(np.float32)
    dabs = (dabs > 0.75).astype(np.float32) * rng.random((size, size)).astype(np.float32)
    strokes = np.zeros_like(dabs)
    for direction in (1.0, -1.0):
        px, py = xs.copy(), ys.copy()
        for _ in range(max(6, size // 32)):
            ix = np.clip(px.astype(int), 0, size - 1)
            iy = np.clip(py.astype(int), 0, size - 1)
            strokes += dabs[iy, ix]
            px += direction * vx[iy, ix] * 1.5
            py += direction * vy[iy, ix] * 1.5
    strokes = strokes / (strokes.max() + 1e-8)
    tone = 0.55 * _smooth_noise(rng, size, 4) + 0.45 * np.clip(strokes * 2.2, 0, 1)
    palette = [(12, 24, 70), (25, 60, 140), (60, 110, 190), (140, 180, 220), (235, 205, 80), (250, 240, 170)]
    return _palette_map(np.clip(tone, 0, 1), palette)


def _stained_glass(rng: np.random.Generator, size: int) -> np.ndarray:
    panes = max(24, size // 4)
    seeds = torch.from_numpy(rng.uniform(0, size, (panes, 2)).astype(np.float32))
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    points = torch.stack([ys.flatten(), xs.flatten()], dim=1)
    nearest = torch.cdist(points, seeds).topk(2, largest=False)
    owner = nearest.indices[:, 0].reshape(size, size).numpy()
    gap = (nearest.values[:, 1] - nearest.values[:, 0]).reshape(size, size).numpy()
    palette = np.array([(180, 20, 30), (20, 60, 160), (240, 180, 20), (30, 130, 60), (120, 30, 130), (220, 90, 20)])
    colours = palette[rng.integers(0, len(palette), panes)] / 255.0
    colours = colours * rng.uniform(0.7, 1.1, (panes, 1))
    glass = colours[owner] * (0.75 + 0.35 * _smooth_noise(rng, size, 24)[..., None])
    lead = np.clip((gap - 1.0) / 2.5, 0.0, 1.0)[..., None]
    return np.clip(glass * lead + 0.06 * (1 - lead), 0, 1)


def _pointillism(rng: np.random.Generator, size: int) -> np.ndarray:
    horizon = 0.45 + 0.1 * (_smooth_noise(rng, size, 3) - 0.5)
    rows = np.linspace(0, 1, size)[:, None]
    sky = _palette_map(rows / horizon, [(120, 170, 230), (250, 230, 170)])
    land = _palette_map((rows - horizon) / (1 - horizon), [(70, 150, 60), (20, 80, 40)])
    base = np.where((rows < horizon)[..., None], sky, land)
    base = 0.8 * base + 0.2 * _smooth_noise(rng, size, 6, channels=3).transpose(1, 2, 0)
    canvas = Image.new("RGB", (size, size), (245, 240, 225))
    draw = ImageDraw.Draw(canvas)
    radius = max(1.5, size / 140)
    for _ in range(int(2.2 * (size / radius) ** 2)):
        x, y = rng.uniform(0, size, 2)
        colour = np.clip(base[int(y), int(x)] + rng.normal(0, 0.12, 3), 0, 1)
        r = radius * rng.uniform(0.7, 1.3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c * 255) for c in colour))
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _woodcut(rng: np.random.Generator, size: int) -> np.ndarray:
    field = 0.7 * _smooth_noise(rng, size, 3) + 0.3 * _smooth_noise(rng, size, 9)
    bands = np.sin(field * 2 * np.pi * 9)
    ink = (bands > 0.55).astype(np.float32)
    wash = (np.sin(field * 2 * np.pi * 3) > 0).astype(np.float32)
    paper = np.array([0.93, 0.88, 0.76], dtype=np.float32)
    blue = np.array([0.12, 0.25, 0.48], dtype=np.float32)
    image = np.where(wash[..., None] > 0, blue + 0.25 * (paper - blue), paper)
    image = image * (0.92 + 0.08 * _smooth_noise(rng, size, 40)[..., None])
    return np.where(ink[..., None] > 0, np.array([0.08, 0.08, 0.12], dtype=np.float32), image)


STYLE_PAINTERS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "swirls": _swirls,
    "stained_glass": _stained_glass,
    "pointillism": _pointillism,
    "woodcut": _woodcut,
}


def procedural_style(name: str, size: int = 512, seed: int = 0) -> torch.Tensor:
    """A deterministic painting-like style image [1,3,size,size] in [0, 1] (see module doc)."""
    if name not in STYLE_PAINTERS:
        raise ValueError(f"unknown style {name!r}: choose one of {', '.join(STYLE_PAINTERS)}")
    if size < 64:
        raise ValueError(f"style size {size} is too small to hold brush strokes: use at least 64 px")
    pixels = STYLE_PAINTERS[name](np.random.default_rng(seed), size)
    return load_image(np.clip(pixels, 0.0, 1.0).astype(np.float32))


STYLE_NAMES = (*PAINTING_FILES, *STYLE_PAINTERS)  # every style known by a short name


def resolve_image(spec: str | os.PathLike) -> torch.Tensor:
    """An image file path, or the name of a bundled photo, painting or procedural style."""
    if Path(spec).exists() or spec not in {*PHOTO_FILES, *STYLE_NAMES}:
        return load_image(spec)
    if spec in PHOTO_FILES:
        return load_photo(spec)
    return load_painting(spec) if spec in PAINTING_FILES else procedural_style(spec)


def load_style_groups(specs: Sequence[str]) -> list[list[torch.Tensor]]:
    """One list of paintings per style: a folder gives all its images (one artist), a file or bundled name one."""
    if not specs:
        raise ValueError("give at least one --style (a painting, a folder of paintings or a bundled style name)")
    return [[resolve_image(f) for f in (find_images(spec) if Path(spec).is_dir() else [spec])] for spec in specs]


def load_styles(specs: Sequence[str]) -> list[torch.Tensor]:
    """Every painting of the given styles, in order (files, bundled names or folders of paintings)."""
    return [image for group in load_style_groups(specs) for image in group]
