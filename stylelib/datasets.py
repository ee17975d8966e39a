"""Training data: folders of images, and reproducible random crops for the generator and discriminator."""

from __future__ import annotations

import math
import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch

from .images import ImageError, ImageSource, load_image, resize

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def find_images(folder: str | os.PathLike) -> list[Path]:
    """All image files under `folder` (recursive, by suffix), sorted for reproducibility."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"'{root}' is not a folder: pass a folder of photos (jpg, png, webp)")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"'{root}' holds no images ({', '.join(IMAGE_SUFFIXES)}); check the folder")
    return files


class CropSampler:
    """Random square crops of a set of images, rescaled and flipped, reproducible from a seed.

    Each crop picks an image, resizes it so its short side is a random length in `short_side`
    (pixels), cuts a random `size` x `size` window and flips it left-right half the time.
    Files are decoded on first use and kept in a small cache; a file that cannot be read is
    dropped with one warning naming it, so a bad file never stops a long run.
    """

    def __init__(
        self,
        sources: Sequence[ImageSource],
        size: int,
        short_side: tuple[float, float] | None = None,
        flip: bool = True,
        seed: int = 0,
        cache_size: int = 256,
    ) -> None:
        if not sources:
            raise ValueError("no images to sample from: give at least one photo or painting")
        if size < 16:
            raise ValueError(f"crop size {size} px is too small: use at least 16")
        self.sources = list(sources)
        self.size = size
        self.short_side = short_side or (size, 1.5 * size)
        if self.short_side[0] < size or self.short_side[1] < self.short_side[0]:
            raise ValueError(f"short_side {self.short_side} must be an increasing range starting at >= size {size}")
        self.flip = flip
        self.generator = torch.Generator().manual_seed(seed)
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._cache_size = cache_size
        self._unreadable: set[int] = set()

    def _image(self, index: int) -> torch.Tensor | None:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        try:
            image = load_image(self.sources[index])
        except ImageError as error:
            warnings.warn(f"skipping unreadable training image: {error}", stacklevel=3)
            self._unreadable.add(index)
            return None
        # Keep no more pixels than the largest crop scale needs, to bound the cache's memory.
        image = _shrink_short_side(image, math.ceil(self.short_side[1]))
        self._cache[index] = image
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return image

    def _uniform(self) -> float:
        return torch.rand((), generator=self.generator).item()

    def crop(self) -> torch.Tensor:
        """One random crop [1,3,size,size]."""
        while len(self._unreadable) < len(self.sources):
            index = int(torch.randint(len(self.sources), (), generator=self.generator))
            if index in self._unreadable:
                continue
            image = self._image(index)
            if image is not None:
                break
        else:
            raise ValueError(f"none of the {len(self.sources)} training images could be read; see the warnings")
        low, high = self.short_side
        short = round(low + (high - low) * self._uniform())
        height, width = image.shape[-2:]
        scale = short / min(height, width)
        scaled = resize(image, (max(self.size, round(height * scale)), max(self.size, round(width * scale))))
        top = int(self._uniform() * (scaled.shape[-2] - self.size + 1))
        left = int(self._uniform() * (scaled.shape[-1] - self.size + 1))
        patch = scaled[..., top : top + self.size, left : left + self.size]
        return patch.flip(-1) if self.flip and self._uniform() < 0.5 else patch

    def sample(self, batch_size: int) -> torch.Tensor:
        """A batch of random crops [batch_size,3,size,size]."""
        return torch.cat([self.crop() for _ in range(batch_size)])

    def state_dict(self) -> dict:
        """The random state, for exact resume."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore the random state saved by state_dict()."""
        self.generator.set_state(state["generator"])


def _shrink_short_side(image: torch.Tensor, limit: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    if min(height, width) <= limit:
        return image
    scale = limit / min(height, width)
    return resize(image, (round(height * scale), round(width * scale)))
