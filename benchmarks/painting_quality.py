"""The `train` recipe on the bundled public-domain paintings: one generator per painting, scored on unseen photos.

For each painting, trains a generator with the TrainConfig defaults (the `train` command with only
`--style` and `--size 256` given), stylises the held-out photos (chelsea, grace_hopper) at 384 px
and scores them: style ratio, content distance, luminance SSIM, checkerboard score, colour shift,
and the failure modes `sweep.diagnose` finds. The quality bar (issue "The GAN on real paintings"):
style ratio <= 0.40, content distance <= 1.0, SSIM >= 0.30 per photo, no checkerboard, no colour
collapse.

    python benchmarks/painting_quality.py                      # the defaults on all five paintings
    python benchmarks/painting_quality.py --paintings hokusai matisse --set style_weight=3 --tag sw3

`--set field=value` changes the recipe (any TrainConfig field) to measure one ablation; results
are kept per tag, so ablations accumulate in one table. Runs live in runs/painting_quality/<tag>/
and finished ones are reused. Writes benchmarks/results/painting_quality.{json,md} and, per tag,
a picture grid painting_quality_<tag>.jpg (photo, painting, outputs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
from generator_speed import cpu_name

from stylelib.data import HELD_OUT_PHOTOS, PAINTING_FILES, load_painting, load_photo
from stylelib.features import STYLE_LAYERS
from stylelib.images import image_grid, load_image, luminance, resize_style_image, save_image
from stylelib.inference import load_generator, stylize_image
from stylelib.metrics import StyleContentMeter
from stylelib.models import Generator
from stylelib.nst import DEFAULT_STYLE_WEIGHT, stylize_gatys
from stylelib.runtime import cpu_bf16_speedup, cpu_has_bf16_matmul, make_runtime
from stylelib.storage import CHECKPOINT, load_checkpoint
from stylelib.sweep import parse_value, train_and_evaluate
from stylelib.train import TrainConfig

RESULTS = Path(__file__).parent / "results"
RUNS = Path(__file__).parent.parent / "runs" / "painting_quality"
EVAL_SIZE = 384
BARS = {
    "style_ratio": ("<=", 0.40),
    "content_distance": ("<=", 1.0),
    "ssim": (">=", 0.30),
    "checkerboard": ("<=", 0.01),
}
# Failure modes that fail the bar whatever the numbers (see stylelib.sweep.FAILURE_MODES).
FAILING_DIAGNOSES = ("diverged", "mode collapse", "colour shift", "checkerboard")
NEAR_BLACK = 0.03  # luminance below which a pixel counts as near-black


def parse_changes(specs: list[str]) -> dict:
    """['field=value', ...] -> TrainConfig changes, checked against the fields."""
    changes = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep:
            raise SystemExit(f"--set needs field=value, got {spec!r}")
        changes[name.strip()] = parse_value(value.strip())
    unknown = set(changes) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise SystemExit(f"unknown TrainConfig fields {sorted(unknown)}")
    return changes


def meets_bar(scores: dict, diagnoses: list[str]) -> bool:
    """True when one photo's scores pass every numeric bar and no failing diagnosis was made."""
    numeric = all(
        scores[key] <= limit if sense == "<=" else scores[key] >= limit for key, (sense, limit) in BARS.items()
    )
    return numeric and not set(diagnoses) & set(FAILING_DIAGNOSES)


def machine(precision: str = "auto") -> str:
    """The CPU or GPU the run used, whether the CPU has native bf16, and the precision trained in."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    bf16 = f"bf16 matmul {cpu_bf16_speedup():.2f}x fp32" if cpu_has_bf16_matmul() else "no native bf16"
    trained = make_runtime(precision=precision).precision
    return f"{cpu_name()}, {torch.get_num_threads()} threads, {bf16}, trained in {trained}"


def check_architecture(run_dir: Path, config: TrainConfig) -> None:
    """Stop when a reused run holds a generator of an earlier architecture than the one its name builds now."""
    saved = load_checkpoint(run_dir / CHECKPOINT)["generator_settings"]
    current = Generator.from_name(config.generator, contrast_aware=config.contrast_aware).settings
    if saved != current:
        raise SystemExit(
            f"{run_dir} holds an earlier '{config.generator}' generator ({saved}, now {current}): "
            "move it away and re-run"
        )


def painting_rows(painting: str, result: dict) -> list[dict]:
    """One row per held-out photo: its scores, the run's diagnoses and training time."""
    diagnoses = result.get("diagnoses", [])
    rows = []
    for photo, scores in (result.get("scores") or {}).items():
        rows.append(
            {
                "painting": painting,
                "photo": photo,
                **{key: scores[key] for key in (*BARS, "colour_shift")},
                "content_retrieval": result.get("content_retrieval"),
                "diagnoses": diagnoses,
                "train_minutes": result.get("train_seconds", float("nan")) / 60,
                "meets_bar": meets_bar(scores, diagnoses),
            }
        )
    return rows


def held_out_outputs(run_dir: Path, photos: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The run's generator on each held-out photo."""
    generator = load_generator(run_dir)
    return {name: stylize_image(generator, photo) for name, photo in photos.items()}


def style_ratio_by_layer(
    photos: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor], painting: str, meter: StyleContentMeter
) -> dict[str, dict[str, float]]:
    """Per held-out photo, each style layer's term of the style ratio (they sum to it): which scales are missing."""
    style, shares = load_painting(painting), {}
    for name, photo in photos.items():
        before = sum(meter.style_distances(photo, style).values())
        after = meter.style_distances(outputs[name], style)
        shares[name] = {layer: distance / before for layer, distance in after.items()}
    return shares


def near_black_share(image: torch.Tensor) -> float:
    """Share of pixels darker than NEAR_BLACK: dark blotches raise it (and so do a painting's own black marks)."""
    return (luminance(image) < NEAR_BLACK).float().mean().item()


def scale_and_darkness(
    photos: dict[str, torch.Tensor],
    outputs: dict[str, torch.Tensor],
    painting: str,
    config: TrainConfig,
    meter: StyleContentMeter,
) -> dict[str, dict[str, float]]:
    """Per held-out photo: the style ratio against the painting at the scale the generator trained on (instead of
    the photo's area) and the near-black shares of the output and the photo."""
    trained_scale = resize_style_image(load_painting(painting), config.style_size, config.style_scale)
    measures = {}
    for name, photo in photos.items():
        before = sum(meter.style_distances(photo, trained_scale, match_area=False).values())
        after = sum(meter.style_distances(outputs[name], trained_scale, match_area=False).values())
        measures[name] = {
            "style_ratio_training_scale": after / before,
            "near_black": near_black_share(outputs[name]),
            "photo_near_black": near_black_share(photo),
        }
    return measures


def gatys_output(
    painting: str, photo_name: str, steps: int, style_weight: float = DEFAULT_STYLE_WEIGHT
) -> torch.Tensor:
    """Gatys (the `stylize` defaults but these steps and style weight) on a held-out photo, cached in runs/."""
    path = RUNS / "gatys" / f"{painting}_{photo_name}_w{style_weight:g}_{steps}steps.png"
    if not path.exists():
        photo = load_photo(photo_name, max_side=EVAL_SIZE)
        result = stylize_gatys(photo, load_painting(painting), style_weight=style_weight, steps=steps, progress=False)
        save_image(result.image, path)
    return load_image(path)


def picture_grid(
    photos: dict[str, torch.Tensor], outputs: dict[str, dict[str, torch.Tensor]], gatys_steps: int
) -> torch.Tensor:
    """One row per painting: the painting, then per held-out photo the photo, Gatys (first photo) and the generator."""
    tiles = []
    for painting, generated in outputs.items():
        tiles.append(load_painting(painting, max_side=EVAL_SIZE))
        for index, (name, photo) in enumerate(photos.items()):
            tiles.append(photo)
            if index == 0 and gatys_steps:
                tiles.append(gatys_output(painting, name, gatys_steps))
            tiles.append(generated[name])
    return image_grid(tiles, columns=len(tiles) // len(outputs))


def write_tables(everything: dict) -> None:
    """painting_quality.json (every tag) and .md (one table per tag)."""
    (RESULTS / "painting_quality.json").write_text(json.dumps(everything, indent=2))
    lines = ["# The training recipe on real paintings", "", __doc__.split("\n\n")[0], ""]
    for tag, entry in everything.items():
        changes = ", ".join(f"{k}={v}" for k, v in entry["changes"].items()) or "none (the defaults)"
        recipe = entry.get("recipe", f"Changes to the defaults: {changes}")  # runs of an earlier recipe say which
        lines += [f"## {tag}", "", f"{recipe}. Machine: {entry['machine']}.", ""]
        lines += [
            "| painting | photo | style ratio | content distance | SSIM | checkerboard | colour shift | "
            "diagnoses | train min | meets bar |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in entry["rows"]:
            lines.append(
                f"| {r['painting']} | {r['photo']} | {r['style_ratio']:.3f} | {r['content_distance']:.2f} | "
                f"{r['ssim']:.2f} | {r['checkerboard']:.4f} | {r['colour_shift']:.3f} | "
                f"{', '.join(r['diagnoses']) or '-'} | {r['train_minutes']:.1f} | {'yes' if r['meets_bar'] else 'no'} |"
            )
        for table in (layer_table(entry["rows"]), scale_table(entry["rows"], entry["changes"])):
            lines += ["", *table] if table else []
        lines.append("")
    (RESULTS / "painting_quality.md").write_text("\n".join(lines))


def layer_table(rows: list[dict]) -> list[str]:
    """Markdown rows: each style layer's term of the style ratio, per painting and photo (where recorded)."""
    recorded = [r for r in rows if "style_ratio_by_layer" in r]
    if not recorded:
        return []
    lines = [
        "Each style layer's term of the style ratio (its distance over the photo's summed distance; they sum to it):",
        "",
        f"| painting | photo | {' | '.join(STYLE_LAYERS)} |",
        "|---|---|" + "---|" * len(STYLE_LAYERS),
    ]
    for r in recorded:
        terms = " | ".join(f"{r['style_ratio_by_layer'][layer]:.3f}" for layer in STYLE_LAYERS)
        lines.append(f"| {r['painting']} | {r['photo']} | {terms} |")
    return lines


def scale_table(rows: list[dict], changes: dict) -> list[str]:
    """Markdown rows: the style ratio at the training scale and the near-black shares (where recorded)."""
    recorded = [r for r in rows if "style_ratio_training_scale" in r]
    if not recorded:
        return []
    config = dataclasses.replace(TrainConfig(), **changes)
    scale = f"{config.style_size} px " + ("squared" if config.style_scale == "area" else "long side")
    lines = [
        f"The style ratio against the painting at its training scale ({scale}) instead of the "
        f"photo's area, and the share of near-black pixels (luminance < {NEAR_BLACK}) in output and photo:",
        "",
        "| painting | photo | style ratio | at training scale | near-black, output | near-black, photo |",
        "|---|---|---|---|---|---|",
    ]
    for r in recorded:
        lines.append(
            f"| {r['painting']} | {r['photo']} | {r['style_ratio']:.3f} | {r['style_ratio_training_scale']:.3f} | "
            f"{r['near_black']:.2%} | {r['photo_near_black']:.2%} |"
        )
    return lines


def main() -> None:
    """Train (or reuse) one run per painting, score it, and write the tables and the grid."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paintings", nargs="+", default=list(PAINTING_FILES), choices=list(PAINTING_FILES))
    parser.add_argument("--set", action="append", default=[], help="field=value: change the recipe (TrainConfig)")
    parser.add_argument("--tag", default="defaults", help="name of this recipe in the results")
    parser.add_argument(
        "--gatys-steps", type=int, default=0, help="also show Gatys (this many L-BFGS steps) on the first photo"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    changes = parse_changes(args.set)
    if changes and args.tag == "defaults":
        raise SystemExit("give --tag NAME when changing the recipe with --set")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "painting_quality.json"
    everything = json.loads(path.read_text()) if path.exists() else {}
    photos = {name: load_photo(name, max_side=EVAL_SIZE) for name in HELD_OUT_PHOTOS}
    rows, outputs, meter = [], {}, StyleContentMeter()
    for painting in args.paintings:
        config = dataclasses.replace(TrainConfig(styles=[painting], size=256), **changes)
        run_dir = RUNS / args.tag / painting
        result = train_and_evaluate(config, run_dir, EVAL_SIZE, progress=not args.quiet)
        check_architecture(run_dir, config)
        outputs[painting] = held_out_outputs(run_dir, photos)
        shares = style_ratio_by_layer(photos, outputs[painting], painting, meter)
        extra = scale_and_darkness(photos, outputs[painting], painting, config, meter)
        rows += [
            {**row, "style_ratio_by_layer": shares[row["photo"]], **extra[row["photo"]]}
            for row in painting_rows(painting, result)
        ]
        for row in rows[-len(HELD_OUT_PHOTOS) :]:
            print(json.dumps(row), flush=True)
    previous = [r for r in everything.get(args.tag, {}).get("rows", []) if r["painting"] not in args.paintings]
    precision = changes.get("precision", TrainConfig.precision)
    everything[args.tag] = {"changes": changes, "machine": machine(precision), "rows": previous + rows}
    write_tables(everything)
    grid = picture_grid(photos, outputs, args.gatys_steps)
    save_image(grid, RESULTS / f"painting_quality_{args.tag}.jpg", overwrite=True)
    print((RESULTS / "painting_quality.md").read_text())


if __name__ == "__main__":
    main()
