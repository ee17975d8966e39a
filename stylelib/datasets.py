"""Training data: folders of images, and reproducible random crops fed by a torch DataLoader.

`RandomCrops` is a map-style dataset over an endless stream: item k is a random crop whose
image, scale, window and flip depend only on (seed, k). So the crops do not depend on how many
worker processes decode them, a resumed run continues the stream exactly from its step, and
several processes (one per GPU) can split each step's batch between them. Images are chosen
epoch by epoch in a fresh random order, so within an epoch every image is used once and the
ranks of a multi-GPU run read disjoint shards of the photos. Files are decoded only when a crop
needs them, so a folder of 100,000 photos costs nothing up front.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .images import ImageError, ImageSource, load_image, resize

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
_STREAM_LENGTH = 2**62  # the stream is endless; DataLoader only needs a length
_ORDER_STREAM, _CROP_STREAM = 0, 1

WORKER_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None


def _generator(*key: int) -> torch.Generator:
    """A torch generator seeded from integers, the same in every process (unlike hash())."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0]))


def find_images(folder: str | os.PathLike) -> list[Path]:
    """All image files under `folder` (recursive, by suffix), sorted for reproducibility."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"'{root}' is not a folder: pass a folder of photos (jpg, png, webp)")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"'{root}' holds no images ({', '.join(IMAGE_SUFFIXES)}); check the folder")
    return files


class RandomCrops(Dataset):
    """Item k: a `size` x `size` crop [3,size,size] of one image, reproducible from (seed, k).

    Each crop resizes its image so the short side is a random length in `short_side` (pixels),
    cuts a random window and flips it left-right half the time. With `contrast` (low, high) it
    then scales the crop's deviations from its mean by a factor drawn log-uniformly in that range
    (clipped to [0, 1]), so a generator sees soft and busy versions of every photo. An image that
    cannot be read is replaced by the next one in the epoch's order, and its path is returned
    beside the crop (`collate_crops` gathers them) so the caller can warn about it once.
    """

    def __init__(
        self,
        sources: Sequence[ImageSource],
        size: int,
        short_side: tuple[float, float] | None = None,
        flip: bool = True,
        seed: int = 0,
        cache_size: int = 64,
        contrast: tuple[float, float] | None = None,
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
        if contrast is not None and not 0 < contrast[0] <= contrast[1]:
            raise ValueError(f"contrast range {contrast} must be two positive factors, low <= high")
        self.flip = flip
        self.contrast = contrast
        self.seed = seed
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._cache_size = cache_size
        self._order: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:
        return _STREAM_LENGTH

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if self._order is None or self._order[0] != epoch:
            generator = _generator(self.seed, _ORDER_STREAM, epoch)
            self._order = (epoch, torch.randperm(len(self.sources), generator=generator))
        return self._order[1]

    def source_image(self, index: int) -> torch.Tensor:
        """Image number `index` as the crops are cut from it: [1,3,H,W], short side at most the largest scale."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        image = load_image(self.sources[index])
        # Keep no more pixels than the largest crop scale needs, to bound memory and resize time.
        image = _shrink_short_side(image, math.ceil(self.short_side[1]))
        self._cache[index] = image
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return image

    def _readable_image(self, k: int) -> tuple[torch.Tensor, list[str]]:
        count = len(self.sources)
        epoch, position = divmod(k, count)
        order = self._epoch_order(epoch)
        skipped = []
        for offset in range(count):
            index = int(order[(position + offset) % count])
            try:
                return self.source_image(index), skipped
            except ImageError as error:
                skipped.append(str(error))
        raise ValueError(f"none of the {count} training images could be read: {'; '.join(skipped[:3])} ...")

    def __getitem__(self, k: int) -> tuple[torch.Tensor, list[str]]:
        """The crop of item k and the unreadable files skipped to make it."""
        image, skipped = self._readable_image(k)
        generator = _generator(self.seed, _CROP_STREAM, k)
        scale_draw, top_draw, left_draw, flip_draw, contrast_draw = torch.rand(5, generator=generator).tolist()
        low, high = self.short_side
        height, width = image.shape[-2:]
        scale = round(low + (high - low) * scale_draw) / min(height, width)
        window = min(height, width, max(1, round(self.size / scale)))  # the crop's side before resizing
        top = int(top_draw * (height - window + 1))
        left = int(left_draw * (width - window + 1))
        crop = resize(image[..., top : top + window, left : left + window], (self.size, self.size))[0]
        if self.contrast is not None:
            low, high = (math.log(bound) for bound in self.contrast)
            mean = crop.mean()
            crop = ((crop - mean) * math.exp(low + (high - low) * contrast_draw) + mean).clamp(0.0, 1.0)
        return (crop.flip(-1) if self.flip and flip_draw < 0.5 else crop), skipped

    def batch(self, start: int, count: int) -> torch.Tensor:
        """Items start .. start+count-1 as one batch [count,3,size,size] (for figures and tests)."""
        return torch.stack([self[k][0] for k in range(start, start + count)])


class StyleCycle(Dataset):
    """The painting crops of a multi-style run: step s draws its whole batch from style styles[s mod len(styles)].

    Item k of the stream belongs to step k // items_per_step (the global batch, as StepSampler counts)
    and is item k of that style's RandomCrops, so resuming stays exact.
    """

    def __init__(self, crops: Sequence[RandomCrops], items_per_step: int, styles: Sequence[int] | None = None) -> None:
        if not crops or items_per_step < 1:
            raise ValueError("StyleCycle needs at least one style's crops and a positive batch")
        self.crops, self.items_per_step = list(crops), items_per_step
        self.styles = list(range(len(crops)) if styles is None else styles)

    def __len__(self) -> int:
        return _STREAM_LENGTH

    def style_of(self, k: int) -> int:
        """The style item k is a crop of."""
        return self.styles[(k // self.items_per_step) % len(self.styles)]

    def __getitem__(self, k: int) -> tuple[torch.Tensor, list[str]]:
        """The crop of item k (from its step's style) and the unreadable files skipped to make it."""
        return self.crops[self.style_of(k)][k]

    def batch(self, start: int, count: int) -> torch.Tensor:
        """Items start .. start+count-1 as one batch (for figures and tests)."""
        return torch.stack([self[k][0] for k in range(start, start + count)])


def collate_crops(items: list[tuple[torch.Tensor, list[str]]]) -> tuple[torch.Tensor, list[str]]:
    """Stack crops into a batch and gather the unreadable files skipped on the way."""
    return torch.stack([crop for crop, _ in items]), [message for _, skipped in items for message in skipped]


class StepSampler(Sampler[int]):
    """Stream indices for steps start_step, start_step+1, ...: this rank's slice of each global batch.

    Step s covers stream items s*B*W ... (s+1)*B*W - 1 for B crops per rank and W ranks; rank r
    takes the r-th block of B. One process with batch B*W therefore sees the same crops as W
    processes with batch B each.
    """

    def __init__(self, batch_size: int, start_step: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.batch_size, self.start_step, self.rank, self.world_size = batch_size, start_step, rank, world_size

    def __iter__(self) -> Iterator[int]:
        step = self.start_step
        while True:
            first = (step * self.world_size + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)
            step += 1

    def __len__(self) -> int:
        return _STREAM_LENGTH


def crop_loader(
    crops: RandomCrops,
    batch_size: int,
    start_step: int = 0,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[tuple[torch.Tensor, list[str]]]:
    """An endless iterator of (batch [B,3,S,S], skipped files) from `start_step` on, decoded by `workers` processes."""
    loader = DataLoader(
        crops,
        batch_size=batch_size,
        sampler=StepSampler(batch_size, start_step, rank, world_size),
        num_workers=workers,
        collate_fn=collate_crops,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
        persistent_workers=workers > 0,
        # Forking a process that already runs threads (CUDA, OpenMP) can deadlock, and Python 3.12 warns
        # about it; the fork server forks workers from a clean single-threaded process instead.
        multiprocessing_context=WORKER_START_METHOD if workers else None,
    )
    return iter(loader)


def warn_skipped(messages: list[str], already: set[str]) -> None:
    """One warning per unreadable file, the first time it is reported."""
    for message in messages:
        if message not in already:
            already.add(message)
            warnings.warn(f"skipping unreadable training image: {message}", stacklevel=2)


def _shrink_short_side(image: torch.Tensor, limit: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    if min(height, width) <= limit:
        return image
    scale = limit / min(height, width)
    return resize(image, (round(height * scale), round(width * scale)))
