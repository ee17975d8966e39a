"""Hyperparameter sweeps: one training run per grid point, scored on held-out photos and diagnosed.

Each run lives in `OUT/<name>/` (the trainer's files) and ends with `OUT/<name>/metrics.json`:
the config changes, final losses, scores on the held-out photos, colour shift, content retrieval
and the failure modes `diagnose` found. Re-running a sweep skips finished runs and resumes
interrupted ones, so a sweep can be stopped and continued, or grown by adding values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from .data import HELD_OUT_PHOTOS, TRAIN_PHOTOS, load_photo, load_styles
from .inference import load_generator, stylize_image
from .metrics import (
    StyleContentMeter,
    checkerboard_score,
    colour_shift,
    content_retrieval,
    score_transfer,
)
from .runtime import make_runtime
from .storage import CHECKPOINT, CONFIG, METRICS, atomic_write
from .train import TrainConfig, Trainer, TrainingDivergedError, read_log

RESULT = "metrics.json"
# D's loss when it cannot tell real from fake (lsgan: D = 0.5 everywhere; hinge, BCE: logits 0).
CHANCE_D_LOSS = {"lsgan": 0.5, "hinge": 2.0, "nonsaturating": 2 * math.log(2)}
# name -> (what it means, the usual remedy); `diagnose` assigns them from measurements.
FAILURE_MODES = {
    "diverged": ("a loss became NaN or infinite", "lower the learning rates; keep spectral norm on"),
    "discriminator wins": (
        "D separates paintings from outputs almost perfectly, so its gradients carry little information",
        "lower lr_discriminator or d_layers, keep spectral_norm on, add an R1 penalty",
    ),
    "mode collapse": (
        "outputs no longer identify their photos: the generator paints the same thing whatever the input",
        "raise content_weight, keep the reconstruction warm-up, lower adversarial_weight",
    ),
    "colour shift": (
        "the colours (mean, saturation, contrast) moved away from the photo without moving towards the painting's",
        "raise style_weight (Gram matrices pin colour statistics) or lower adversarial_weight",
    ),
    "content lost": ("the photo's relu4_2 content is mostly gone", "lower style_weight or raise content_weight"),
    "no style": ("outputs are still close to the photo in Gram terms", "raise style_weight or train longer"),
    "checkerboard": ("periodic upsampling artefacts", "keep upsample+conv; lower lr_generator; add tv_weight"),
}


# The models notebooks 05 and 06 compare: name -> (run folder name, TrainConfig changes).
ABLATIONS: dict[str, tuple[str, dict]] = {
    "content + style": ("content_style", {"adversarial_weight": 0.0}),
    "content + adversarial": ("content_adversarial", {"style_weight": 0.0}),
    "full": ("full", {}),
}


def parse_value(text: str) -> bool | int | float | str:
    """A command-line value: true/false, an int, a float, or else the string itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return text


def parse_vary(spec: str) -> tuple[str, list]:
    """'field=v1,v2,...' -> (field, [values]), e.g. 'style_weight=0.3,1,3'.

    For a list field each value is one list, its items joined by '+': 'styles=hokusai,matisse+picabia'
    is two grid points, hokusai alone and the blend of matisse and picabia.
    """
    name, sep, values = spec.partition("=")
    if not sep or not values:
        raise ValueError(f"--vary needs field=value1,value2,... (e.g. style_weight=0.3,1,3), got {spec!r}")
    name = name.strip()
    field_types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    if field_types.get(name, "").startswith("list"):
        return name, [[parse_value(item.strip()) for item in v.split("+")] for v in values.split(",")]
    return name, [parse_value(v.strip()) for v in values.split(",")]


def expand_grid(grid: Mapping[str, Sequence]) -> list[dict]:
    """Every combination of the grid's values as TrainConfig changes; unknown field names are rejected."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(grid) - known
    if unknown:
        raise ValueError(f"unknown TrainConfig fields in the sweep grid: {sorted(unknown)}")
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def run_name(changes: Mapping) -> str:
    """A folder name for one grid point, e.g. 'style_weight=3,adversarial_weight=0.5' ('baseline' if none)."""

    def text(value: object) -> str:
        if isinstance(value, list):
            return "+".join(text(item) for item in value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    return ",".join(f"{k}={text(v)}" for k, v in changes.items()) or "baseline"


def evaluate_run(run_dir: str | os.PathLike, eval_size: int = 256, meter: StyleContentMeter | None = None) -> dict:
    """Scores of a run's generator on the held-out photos, plus colour shift and content retrieval."""
    run_dir = Path(run_dir)
    config = TrainConfig.load(run_dir / CONFIG, saved_run=True)
    runtime = make_runtime(config.device, config.precision)
    meter = meter or StyleContentMeter(device=runtime.device)
    generator = load_generator(run_dir, device=runtime.device)
    styles = load_styles(config.styles)
    photos = {name: load_photo(name, max_side=eval_size) for name in HELD_OUT_PHOTOS}
    outputs = {name: stylize_image(generator, photo, runtime=runtime) for name, photo in photos.items()}
    scores = {}
    for name, photo in photos.items():
        scores[name] = {
            **score_transfer(outputs[name], photo, styles[0], meter).as_dict(),
            "checkerboard": checkerboard_score(outputs[name]),
            "colour_shift": colour_shift(outputs[name], photo),
            "colour_shift_to_painting": colour_shift(outputs[name], styles[0]),
            "painting_colour_shift": colour_shift(styles[0], photo),
        }
    every_photo = [load_photo(name, max_side=96) for name in TRAIN_PHOTOS + HELD_OUT_PHOTOS]
    retrieval = content_retrieval(
        [stylize_image(generator, p, runtime=runtime) for p in every_photo], every_photo, meter
    )
    return {"scores": scores, "content_retrieval": retrieval, "outputs": outputs}


def _mean(scores: Mapping[str, Mapping[str, float]], key: str) -> float:
    return sum(s[key] for s in scores.values()) / len(scores)


def diagnose(log: Sequence[Mapping[str, float]], evaluation: Mapping, adversarial_loss: str = "lsgan") -> list[str]:
    """Failure modes (keys of FAILURE_MODES) that a run's log and evaluation show; the thresholds are stated inline."""
    found = []
    adversarial = [r for r in log if not r.get("warmup") and "d_loss" in r]
    tail = adversarial[-max(1, len(adversarial) // 4) :]
    if tail and sum(r["d_loss"] for r in tail) / len(tail) < 0.25 * CHANCE_D_LOSS[adversarial_loss]:
        found.append("discriminator wins")  # last quarter's D loss under a quarter of chance level
    if evaluation["content_retrieval"] <= 1 / 3:
        found.append("mode collapse")  # at most two of six outputs still identify their own photo (chance: one)
    scores = evaluation["scores"]
    moved = _mean(scores, "colour_shift") > 0.1  # YCbCr mean and std, in [0, 1] units
    if moved and _mean(scores, "colour_shift_to_painting") > _mean(scores, "painting_colour_shift"):
        found.append("colour shift")  # the mean colour moved, but away from the painting's, not towards it
    if _mean(scores, "content_distance") > 1.0:
        found.append("content lost")  # the content bar of the quality check
    if _mean(scores, "style_ratio") > 0.8:
        found.append("no style")
    if _mean(scores, "checkerboard") > 0.01:
        found.append("checkerboard")  # photos score under 0.001
    return found


def _write_json(path: Path, values: dict) -> None:
    atomic_write(path, lambda temporary: Path(temporary).write_text(json.dumps(values, indent=2)))


def train_and_evaluate(
    config: TrainConfig, run_dir: str | os.PathLike, eval_size: int = 256, progress: bool = True
) -> dict:
    """Train one run (resuming an interrupted one), evaluate and diagnose it, and write its metrics.json."""
    run_dir = Path(run_dir)
    if (run_dir / RESULT).exists():
        return json.loads((run_dir / RESULT).read_text())
    trainer = Trainer.resume(run_dir) if (run_dir / CHECKPOINT).exists() else Trainer(config, run_dir)
    result = {"name": run_dir.name, "config": dataclasses.asdict(trainer.config)}
    try:
        trainer.train(progress=progress)
    except TrainingDivergedError as error:
        result.update(diagnoses=["diverged"], error=str(error), final_losses={}, scores={})
        _write_json(run_dir / RESULT, result)
        return result
    log = read_log(run_dir / METRICS)
    evaluation = evaluate_run(run_dir, eval_size)
    result.update(
        final_losses={k: v for k, v in log[-1].items() if k not in ("step", "warmup", "seconds")} if log else {},
        train_seconds=trainer.train_seconds,
        scores=evaluation["scores"],
        content_retrieval=evaluation["content_retrieval"],
        diagnoses=diagnose(log, evaluation, trainer.config.adversarial_loss),
    )
    _write_json(run_dir / RESULT, result)
    return result


def run_sweep(
    base: TrainConfig,
    grid: Mapping[str, Sequence],
    out_dir: str | os.PathLike,
    eval_size: int = 256,
    progress: bool = True,
    jobs: int = 1,
) -> list[dict]:
    """Train and evaluate every grid point (see module doc), `jobs` at a time; returns each run's metrics.

    With several jobs each grid point runs in its own process; on a machine with GPUs the jobs
    take the GPUs in turn (job i on cuda:i mod count), on a CPU they share its cores.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    points = []
    for changes in expand_grid(grid):
        config = dataclasses.replace(base, **changes)
        config.validate()
        points.append((changes, config, Path(out_dir) / run_name(changes)))
    if jobs == 1:
        results = []
        try:
            for changes, config, run_dir in points:
                results.append({**train_and_evaluate(config, run_dir, eval_size, progress), "changes": changes})
        except KeyboardInterrupt as interrupt:
            raise KeyboardInterrupt(
                f"{interrupt}; {len(results)} of {len(points)} runs finished in '{out_dir}': run the same sweep again "
                "to continue"
            ) from None
        return results
    gpus = torch.cuda.device_count() if base.device in ("auto", "cuda") else 0
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = []
        for index, (_, config, run_dir) in enumerate(points):
            if gpus:
                config = dataclasses.replace(config, device=f"cuda:{index % gpus}")
            futures.append(pool.submit(_train_and_evaluate_in_process, config, run_dir, eval_size, threads))
        return [{**future.result(), "changes": changes} for future, (changes, _, _) in zip(futures, points)]


def _train_and_evaluate_in_process(config: TrainConfig, run_dir: Path, eval_size: int, threads: int) -> dict:
    """One grid point in a worker process, with its share of the CPU threads and no progress bar."""
    torch.set_num_threads(threads)
    return train_and_evaluate(config, run_dir, eval_size, progress=False)


def collect_runs(out_dir: str | os.PathLike) -> dict[str, dict]:
    """Every metrics.json under `out_dir`, keyed by its folder's path relative to `out_dir`."""
    out_dir = Path(out_dir)
    return {str(p.parent.relative_to(out_dir)): json.loads(p.read_text()) for p in sorted(out_dir.rglob(RESULT))}


def summary_row(result: Mapping) -> dict[str, float | str]:
    """One run's headline numbers (means over held-out photos) for sweep tables."""
    scores = result.get("scores") or {}
    row: dict[str, float | str] = {"run": result["name"], "diagnoses": ", ".join(result.get("diagnoses", [])) or "-"}
    for key in ("style_ratio", "content_distance", "ssim", "colour_shift"):
        row[key] = _mean(scores, key) if scores else float("nan")
    row["content_retrieval"] = result.get("content_retrieval", float("nan"))
    losses = result.get("final_losses", {})
    row["d_loss"] = losses.get("d_loss", float("nan"))
    return row
