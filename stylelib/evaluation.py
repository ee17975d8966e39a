"""Evaluate stylised outputs (files, folders or a trained generator) against photos and styles."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .data import resolve_image
from .datasets import find_images
from .images import load_image, resize
from .inference import load_generator, stylize_image
from .metrics import StyleContentMeter, checkerboard_score, milliseconds_per_image, score_transfer, warping_error
from .motion import estimate_motion
from .runtime import Runtime, make_runtime
from .video import read_frames

SCORE_COLUMNS = ("style_ratio", "style_distance", "content_distance", "ssim", "edge_f1", "checkerboard")


@dataclass
class Evaluation:
    """Per-output scores plus set-level numbers (means, style KID, speed when a generator ran)."""

    rows: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def pair_outputs(content: str, outputs: Sequence[str | os.PathLike]) -> list[tuple[Path, str]]:
    """(output file, photo) pairs: one photo for every output, or a photo folder matched to an output folder."""
    if not outputs:
        raise ValueError("give the stylised images to evaluate (files, or one folder), or --checkpoint")
    if not Path(content).is_dir():
        files = [p for o in outputs for p in (find_images(o) if Path(o).is_dir() else [Path(o)])]
        return [(path, content) for path in files]
    if len(outputs) != 1 or not Path(outputs[0]).is_dir():
        raise ValueError("--content is a folder, so give exactly one output folder (files matched by name)")
    photos = {path.relative_to(content).with_suffix(""): path for path in find_images(content)}
    output_root = Path(outputs[0])
    pairs = []
    for path in find_images(output_root):
        key = path.relative_to(output_root).with_suffix("")
        if key not in photos:
            raise ValueError(f"output '{path}' has no photo named '{key}.*' in '{content}'")
        pairs.append((path, str(photos[key])))
    return pairs


def _score_row(
    name: str, photo_name: str, output: torch.Tensor, photo: torch.Tensor, styles: list, meter: StyleContentMeter
) -> dict:
    """All per-output scores; with several styles, the style distance is to the closest one."""
    per_style = [score_transfer(output, photo, style, meter).as_dict() for style in styles]
    best = min(per_style, key=lambda scores: scores["style_ratio"])
    return {"output": name, "photo": photo_name, **best, "checkerboard": checkerboard_score(output)}


def _summarise(rows: list[dict], outputs: list[torch.Tensor], styles: list, meter: StyleContentMeter) -> dict:
    summary = {column: sum(row[column] for row in rows) / len(rows) for column in SCORE_COLUMNS}
    summary["style_kid"], summary["style_kid_std"] = meter.style_kid(outputs, styles)
    summary["count"] = len(rows)
    return summary


def evaluate_files(
    content: str, outputs: Sequence[str | os.PathLike], styles: list, meter: StyleContentMeter | None = None
) -> Evaluation:
    """Scores of existing stylised images against their photos and the style image(s)."""
    meter = meter or StyleContentMeter()
    evaluation, images = Evaluation(), []
    for path, photo_spec in pair_outputs(content, outputs):
        output = load_image(path)
        photo = resize(resolve_image(photo_spec), tuple(output.shape[-2:]))
        evaluation.rows.append(_score_row(str(path), str(photo_spec), output, photo, styles, meter))
        images.append(output)
    evaluation.summary = _summarise(evaluation.rows, images, styles, meter)
    return evaluation


def evaluate_generator(
    checkpoint: str | os.PathLike,
    content: str,
    styles: list,
    max_side: int = 384,
    runtime: Runtime | None = None,
    meter: StyleContentMeter | None = None,
) -> Evaluation:
    """Stylise the photo(s) with a trained generator, score each output and time the generator."""
    runtime = runtime or make_runtime()
    meter = meter or StyleContentMeter(device=runtime.device)
    generator = load_generator(checkpoint, device=runtime.device)
    photo_specs = [str(p) for p in find_images(content)] if Path(content).is_dir() else [content]
    evaluation, images = Evaluation(), []
    photos = [load_image(resolve_image(spec), max_side=max_side) for spec in photo_specs]
    for spec, photo in zip(photo_specs, photos):
        output = stylize_image(generator, photo, runtime=runtime)
        evaluation.rows.append(_score_row(f"{checkpoint}:{Path(spec).stem}", spec, output, photo, styles, meter))
        images.append(output)
    evaluation.summary = _summarise(evaluation.rows, images, styles, meter)
    first = photos[0]
    timed = functools.partial(stylize_image, generator, runtime=runtime)
    evaluation.summary["ms_per_image"] = milliseconds_per_image(timed, first)
    evaluation.summary["speed_size"] = f"{first.shape[-1]}x{first.shape[-2]}"
    return evaluation


def evaluate_temporal(styled: str | os.PathLike, source: str | os.PathLike) -> dict[str, float]:
    """Flicker of a stylised clip (video file or folder of frames): metrics.flicker with the motion of the
    source clip estimated by optical flow (stylelib.motion), streaming two frames at a time.

    Returns the frame count, the flicker and the share of pixels whose motion passed the occlusion test.
    """
    errors, trusted, previous = [], [], None
    styled_frames, source_frames = read_frames(styled), read_frames(source)
    for output in styled_frames:
        photo = next(source_frames, None)
        if photo is None:
            raise ValueError(f"'{source}' has fewer frames than '{styled}': give the clip that was stylised")
        photo = resize(photo, tuple(output.shape[-2:]))
        if previous is not None:
            grid, mask = estimate_motion(previous[1], photo)
            errors.append(warping_error(previous[0], output, grid, mask))
            trusted.append(mask.mean().item())
        previous = (output, photo)
    if not errors:
        raise ValueError(f"'{styled}' needs at least two frames to measure flicker")
    return {"frames": len(errors) + 1, "flicker": sum(errors) / len(errors), "trusted": sum(trusted) / len(trusted)}


def format_table(evaluation: Evaluation) -> str:
    """A fixed-width text table: one line per output, then the set's means and style KID."""
    header = f"{'output':<40} " + " ".join(f"{c:>16}" for c in SCORE_COLUMNS)
    lines = [header, "-" * len(header)]
    for row in evaluation.rows:
        name = row["output"] if len(row["output"]) <= 40 else "..." + row["output"][-37:]
        lines.append(f"{name:<40} " + " ".join(f"{row[c]:>16.4f}" for c in SCORE_COLUMNS))
    summary = evaluation.summary
    lines.append(f"{'mean of ' + str(summary['count']):<40} " + " ".join(f"{summary[c]:>16.4f}" for c in SCORE_COLUMNS))
    lines.append(f"style KID (VGG19 statistics): {summary['style_kid']:.4f} +- {summary['style_kid_std']:.4f}")
    if not math.isnan(summary.get("ms_per_image", math.nan)):
        lines.append(f"speed: {summary['ms_per_image']:.1f} ms per image at {summary['speed_size']}")
    return "\n".join(lines)
