"""What a training run is fed: photo crops, painting crops (D's real samples), Gatys teachers, held-out photos.

Every crop follows from (seed, step), so a resumed run is fed exactly what it would have been fed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch

from . import distributed
from .data import HELD_OUT_PHOTOS, TRAIN_PHOTOS, load_photo, load_style_groups, resolve_image
from .datasets import RandomCrops, StyleCycle, crop_loader, find_images, warn_skipped
from .images import resize_long_side, resize_style_image
from .runtime import Runtime
from .teachers import gatys_teachers
from .train_config import TrainConfig

StyleGroup = tuple[list[torch.Tensor], list[float]]  # one style's paintings and their blend weights


class TrainingData:
    """The crops one training process draws each step, and the held-out photos its samples show."""

    def __init__(
        self,
        config: TrainConfig,
        groups: list[StyleGroup],
        runtime: Runtime,
        process: distributed.ProcessInfo,
        trained_styles: range,
    ) -> None:
        self.config, self.runtime, self.process = config, runtime, process
        crops = [_painting_crops(paintings, config.size) for paintings, _ in groups]
        global_batch = config.batch_size * process.world_size
        self.style_crops = crops[0] if len(crops) == 1 else StyleCycle(crops, global_batch, trained_styles)
        train_sources, self.held_out = _content_sources(config.content_dir, config.size)
        jitter = None if config.contrast_jitter == [1.0, 1.0] else tuple(config.contrast_jitter)
        self.content_crops = RandomCrops(train_sources, config.size, seed=config.seed, contrast=jitter)
        self.teacher_crops: RandomCrops | None = None  # Gatys's outputs, made by prepare_teachers
        self._loaders: tuple[int, list[Iterator]] | None = None  # (the next step they serve, the loaders)
        self._unreadable: set[str] = set()

    def prepare_teachers(self, folder: Path, progress: bool = True) -> None:
        """With distill_weight: stylise every training photo once with Gatys (kept in `folder`).

        About 47 s per bundled photo on a 2-core CPU; the trainer calls it before the first step.
        """
        if not self.config.distill_weight or self.teacher_crops is not None:
            return
        paintings, blend = style_groups(self.config, at_training_scale=False)[0]
        kept, files = gatys_teachers(
            self.content_crops,
            paintings,
            blend,
            folder,
            self.runtime,
            preserve_color=self.config.preserve_color,
            write=self.process.is_main,
            progress=progress and self.process.is_main,
        )
        distributed.barrier()  # the other processes read what the main one wrote
        photos = self.content_crops
        if len(kept) < len(photos.sources):  # photos and teachers must cut the same windows from lists alike
            sources = [photos.sources[i] for i in kept]
            self.content_crops = RandomCrops(sources, photos.size, seed=photos.seed, contrast=photos.contrast)
        self.teacher_crops = RandomCrops(files, photos.size, seed=photos.seed)

    def batches(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """This process's photo, painting and (when distilling) Gatys crops for `step`, on the device."""
        if self._loaders is None or self._loaders[0] != step:  # the first step, or a jump: start loaders there
            config, process = self.config, self.process
            workers = loader_workers(config, self.runtime.device, process)
            pin = self.runtime.device.type == "cuda"
            datasets = (self.content_crops, self.style_crops, self.teacher_crops)
            loaders = [
                crop_loader(crops, config.batch_size, step, process.rank, process.world_size, workers, pin)
                for crops in datasets
                if crops is not None
            ]
            self._loaders = (step, loaders)
        loaders = self._loaders[1]
        batches = [next(loader) for loader in loaders]
        warn_skipped([message for _, skipped in batches for message in skipped], self._unreadable)
        self._loaders = (step + 1, loaders)
        photos, paintings, *teachers = [to_device(images, self.runtime.device) for images, _ in batches]
        return photos, paintings, (teachers[0] if teachers else None)


def to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Images moved to `device` in channels_last, without waiting for the copy."""
    return images.to(device, memory_format=torch.channels_last, non_blocking=True)


def loader_workers(config: TrainConfig, device: torch.device, process: distributed.ProcessInfo) -> int:
    """Decoding processes per training process: config.workers, or on a GPU its share of the cores but one, up to
    16 (none on a CPU, where they would take cores from the computation)."""
    if config.workers >= 0:
        return config.workers
    if device.type != "cuda":
        return 0
    return max(1, min(16, (os.cpu_count() or 2) // process.world_size - 1))


def style_groups(config: TrainConfig, at_training_scale: bool = True) -> list[StyleGroup]:
    """The paintings (at their training scale, else as loaded) and blend weights of each style to learn: one
    group per style for a multi-style run, else one group blending them all. A folder counts as one style
    (one artist), its files sharing the style's weight."""
    groups = []
    weights = config.style_weights or [1.0] * len(config.styles)
    for group, weight in zip(load_style_groups(config.styles), weights):
        if at_training_scale:
            group = [resize_style_image(image, config.style_size, config.style_scale) for image in group]
        groups.append((group, [weight / len(group)] * len(group)))
    if config.multi_style:
        return groups
    return [([p for paintings, _ in groups for p in paintings], [w for _, blend in groups for w in blend])]


def _painting_crops(paintings: list[torch.Tensor], size: int) -> RandomCrops:
    """D's real samples: crops of the paintings at about their Gram-target scale."""
    shortest = min(min(p.shape[-2:]) for p in paintings)
    return RandomCrops(paintings, size, (max(size, 0.75 * shortest), max(size, 1.25 * shortest)), seed=1)


def _content_sources(content_dir: str | None, size: int) -> tuple[list, list[torch.Tensor]]:
    """Training photos and held-out sample photos: bundled sets, or a folder minus its first two files."""
    if content_dir is None:
        return [load_photo(name) for name in TRAIN_PHOTOS], [load_photo(n, max_side=size) for n in HELD_OUT_PHOTOS]
    files = find_images(content_dir)
    if len(files) < 3:
        raise ValueError(f"'{content_dir}' holds {len(files)} images; training needs at least 3 (2 are held out)")
    held_out = [resize_long_side(resolve_image(path), size) for path in files[:2]]
    return files[2:], held_out
