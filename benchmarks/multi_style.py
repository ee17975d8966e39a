"""One multi-style generator against one generator per painting, at the same number of steps per style.

Trains, with the `train` defaults (256 px crops, 400 steps, every other option at its default):
- a multi-style generator on two bundled paintings (`train --style A --style B --multi-style`): its
  steps alternate between the paintings, so each gets (400 - 50 warm-up) / 2 = 175 adversarial steps;
- one generator per painting with the same 50 warm-up steps and 175 adversarial steps (225 steps);
- a third painting added to the multi-style network with `train --extend` (only its norm
  parameters train, EXTEND_STEPS steps), timed.
Every output is scored on the held-out photos at 384 px: the style ratio against its own painting,
the Gram style distance to its own painting and to the other one, content distance and SSIM. The
check (issue "Style control and video"): each one-hot output is closer in style to its own painting
than to the other, with content distance <= 1.0 and SSIM >= 0.30. Runs live in runs/multi_style/
and are reused when finished. Writes benchmarks/results/multi_style.{json,md} and multi_style.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from painting_quality import EVAL_SIZE, machine

from stylelib.data import HELD_OUT_PHOTOS, load_painting, load_photo
from stylelib.images import image_grid, save_image
from stylelib.inference import fix_style, load_generator, stylize_image
from stylelib.metrics import StyleContentMeter, score_transfer
from stylelib.storage import CHECKPOINT
from stylelib.train import EXTEND_STEPS, TrainConfig, Trainer, one_hot

RESULTS = Path(__file__).parent / "results"
RUNS = Path(__file__).parent.parent / "runs" / "multi_style"
PAINTINGS = ("hokusai", "picabia")
ADDED = "matisse"


def trained(config: TrainConfig, run_dir: Path, progress: bool) -> float:
    """Train a run to its end (resuming or reusing it); returns the seconds this call trained."""
    trainer = Trainer.resume(run_dir) if (run_dir / CHECKPOINT).exists() else Trainer(config, run_dir)
    started = time.perf_counter()
    if trainer.step < trainer.config.steps:
        trainer.train(progress=progress)
    return time.perf_counter() - started


def score(generator: torch.nn.Module, painting: str, other: str, meter: StyleContentMeter) -> dict[str, dict]:
    """Per held-out photo: style ratio to its painting, style distances to both paintings, content, SSIM."""
    rows = {}
    for name in HELD_OUT_PHOTOS:
        photo = load_photo(name, max_side=EVAL_SIZE)
        output = stylize_image(generator, photo)
        own = score_transfer(output, photo, load_painting(painting), meter)
        rows[name] = {
            "style_ratio": own.style_ratio,
            "style_distance_own": own.style_distance,
            "style_distance_other": meter.style_distance(output, load_painting(other)),
            "content_distance": own.content_distance,
            "ssim": own.ssim,
            "output": output,
        }
    return rows


def main() -> None:
    """Train (or reuse) the runs, score them, write the tables and the picture grid."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    base = TrainConfig(size=256)
    per_style_steps = base.warmup_steps + (base.steps - base.warmup_steps) // len(PAINTINGS)
    seconds = {"multi-style": trained(TrainConfig(styles=list(PAINTINGS), size=256, multi_style=True),
                                      RUNS / "multi", not args.quiet)}  # fmt: skip
    for painting in PAINTINGS:
        config = TrainConfig(styles=[painting], size=256, steps=per_style_steps)
        seconds[f"single: {painting}"] = trained(config, RUNS / f"single_{painting}", not args.quiet)
    extend = TrainConfig(styles=[*PAINTINGS, ADDED], size=256, multi_style=True, extend=str(RUNS / "multi"))
    extend.warmup_steps, extend.steps = 0, EXTEND_STEPS
    seconds[f"extend: {ADDED}"] = trained(extend, RUNS / "extended", not args.quiet)

    meter = StyleContentMeter()
    multi, extended = load_generator(RUNS / "multi"), load_generator(RUNS / "extended")
    results, tiles = {}, []
    for index, (painting, other) in enumerate(zip(PAINTINGS, reversed(PAINTINGS))):
        results[f"multi-style, {painting}"] = score(
            fix_style(multi, one_hot(index, 2).tolist()), painting, other, meter
        )
        results[f"single, {painting}"] = score(load_generator(RUNS / f"single_{painting}"), painting, other, meter)
    results[f"extended, {ADDED}"] = score(fix_style(extended, one_hot(2, 3).tolist()), ADDED, PAINTINGS[0], meter)
    for name in HELD_OUT_PHOTOS:
        tiles += [load_photo(name, max_side=EVAL_SIZE)] + [rows[name]["output"] for rows in results.values()]
    save_image(image_grid(tiles, columns=1 + len(results)), RESULTS / "multi_style.png", overwrite=True)

    table = {
        method: {photo: {k: v for k, v in row.items() if k != "output"} for photo, row in rows.items()}
        for method, rows in results.items()
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = {"machine": machine(), "train_seconds": seconds, "per_style_steps": per_style_steps, "scores": table}
    (RESULTS / "multi_style.json").write_text(json.dumps(summary, indent=2))
    lines = [
        "# One multi-style generator against one generator per painting",
        "",
        __doc__.split("\n\n")[0],
        "",
        f"Machine: {summary['machine']}. Training time (this run; 0 when reused): "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in seconds.items())
        + ".",
        "",
        "| generator | photo | style ratio | style distance to its painting | to the other | content distance "
        "| SSIM | nearer its own painting | meets the bar |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, rows in table.items():
        for photo, r in rows.items():
            nearer = r["style_distance_own"] < r["style_distance_other"]
            bar = nearer and r["content_distance"] <= 1.0 and r["ssim"] >= 0.30
            lines.append(
                f"| {method} | {photo} | {r['style_ratio']:.3f} | {r['style_distance_own']:.3f} | "
                f"{r['style_distance_other']:.3f} | {r['content_distance']:.2f} | {r['ssim']:.2f} | "
                f"{'yes' if nearer else 'no'} | {'yes' if bar else 'no'} |"
            )
    lines += ["", f"Picture: `multi_style.png` (per photo: the photo, then {', '.join(results)})."]
    (RESULTS / "multi_style.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
