"""Gatys outputs of the training photos: the targets a generator is distilled towards (`distill_weight`).

A feed-forward generator trained only on content and Gram losses trades a photo's structure for
style more readily than Gatys's optimisation does, which keeps each photo's own layout because it
optimises that one image. Distillation gives the generator Gatys's answer: every training photo is
stylised once by Gatys, at the scale the crops are cut from, and the generator's features are pulled
towards those of the Gatys crop cut with the same window. The outputs are stored as 8-bit PNG files
in the run folder, so a resumed run reads exactly what the first one trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .datasets import RandomCrops, warn_skipped
from .features import VGG19Features
from .images import ImageError, load_image, save_image
from .nst import stylize_gatys
from .runtime import Runtime

TEACHER_STEPS = 100  # L-BFGS steps per photo: most of Gatys's change happens in the first hundred


def teacher_path(folder: Path, index: int) -> Path:
    """The file holding the Gatys output of training photo number `index`."""
    return folder / f"{index:05d}.png"


def gatys_teachers(
    crops: RandomCrops,
    paintings: Sequence[torch.Tensor],
    blend: Sequence[float],
    folder: Path,
    runtime: Runtime,
    *,
    preserve_color: bool = False,
    write: bool = True,
    progress: bool = True,
) -> tuple[list[int], list[Path]]:
    """Stylise each of `crops`' images with Gatys, at the size the crops are cut from; reuse files already made.

    Returns the indices of the readable photos and their teachers' files (unreadable photos are left
    out, one warning each). With write=False (the other processes of a multi-GPU run) nothing is
    computed: the files are expected from the process that writes them.
    """
    extractor = None
    kept, files = [], []
    for index in tqdm(range(len(crops.sources)), desc="gatys teachers", disable=not progress, leave=False):
        try:
            photo = crops.source_image(index)
        except ImageError as error:
            warn_skipped([str(error)], set())
            continue
        path = teacher_path(folder, index)
        if write and not _matches(path, photo):
            if extractor is None:
                extractor = VGG19Features().to(runtime.device, memory_format=torch.channels_last)
            result = stylize_gatys(
                photo,
                list(paintings),
                style_weights=list(blend),
                steps=TEACHER_STEPS,
                max_side=max(photo.shape[-2:]),
                preserve_color=preserve_color,
                extractor=extractor,
                runtime=runtime,
                progress=False,
            )
            save_image(result.image, path, overwrite=True)
        kept.append(index)
        files.append(path)
    if not kept:
        raise ValueError("none of the training photos could be read, so there is nothing to distil from")
    return kept, files


def _matches(path: Path, photo: torch.Tensor) -> bool:
    """True when `path` holds an image of the photo's size (a teacher made earlier for this photo)."""
    try:
        return load_image(path).shape == photo.shape
    except ImageError:
        return False
