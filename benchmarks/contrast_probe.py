"""Why chelsea misses the content bar: the generator does not see a photo's contrast.

The generator's stem is a convolution followed by instance norm, which removes each image's
per-channel mean and scale: G(c * x + b) = G(x) for any contrast c > 0 (up to clipping). So every
photo is painted at the contrast the generator learned, whatever its own. This probe, on the
`defaults` runs of benchmarks/painting_quality.py (run that first), measures per painting and
held-out photo at 384 px:

- the luminance contrast (standard deviation) of the photo and of the generator's output;
- how far the output moves when the photo's contrast is halved or doubled about its mean;
- the scores of the plain output, and of the output with its contrast pulled towards the
  photo's by the factor (photo contrast / output contrast) ** beta, beta = 0.5 and 1: whether
  keeping the photo's contrast buys content distance at less style than the style weight does.

    python benchmarks/contrast_probe.py

Writes benchmarks/results/contrast_probe.{json,md}.
"""

from __future__ import annotations

import json

import torch
from generator_speed import cpu_name
from painting_quality import EVAL_SIZE, RESULTS
from painting_quality import RUNS as QUALITY_RUNS

from stylelib.data import HELD_OUT_PHOTOS, PAINTING_FILES, load_painting, load_photo
from stylelib.images import luminance
from stylelib.inference import load_generator, stylize_image
from stylelib.metrics import StyleContentMeter, score_transfer

CONTRASTS = (0.5, 2.0)
BETAS = (0.0, 0.5, 1.0)


def with_contrast(image: torch.Tensor, contrast: float) -> torch.Tensor:
    """The image's deviation from its per-channel mean scaled by `contrast`, clipped to [0, 1]."""
    mean = image.mean(dim=(-2, -1), keepdim=True)
    return (mean + (image - mean) * contrast).clamp(0.0, 1.0)


def probe_pair(generator: torch.nn.Module, photo: torch.Tensor, painting: torch.Tensor, meter) -> dict:
    """Contrasts, the output's change under contrast changes of the photo, and scores per beta."""
    output = stylize_image(generator, photo)
    photo_contrast, output_contrast = float(luminance(photo).std()), float(luminance(output).std())
    changes = {
        f"{c:g}": float((stylize_image(generator, with_contrast(photo, c)) - output).abs().mean()) for c in CONTRASTS
    }
    scores = {}
    for beta in BETAS:
        matched = with_contrast(output, (photo_contrast / output_contrast) ** beta)
        row = score_transfer(matched, photo, painting, meter).as_dict()
        scores[f"{beta:g}"] = {key: float(row[key]) for key in ("style_ratio", "content_distance", "ssim")}
    return {
        "photo_contrast": photo_contrast,
        "output_contrast": output_contrast,
        "mean_change": changes,
        "scores": scores,
    }


def write_table(rows: list[dict], machine: str) -> None:
    """contrast_probe.md: one line per painting and photo."""
    lines = [
        "# The generator and the photo's contrast",
        "",
        f"Machine: {machine}. Generators: `painting_quality.py`'s `defaults` runs. Photos at {EVAL_SIZE} px.",
        "Contrast: standard deviation of the luminance in [0, 1]. Change: mean absolute difference of the",
        "output (0-1 scale) when the photo's contrast is halved / doubled. Scores: style ratio / content",
        "distance / SSIM of the output, then of the output with its contrast pulled towards the photo's",
        "by (photo contrast / output contrast) ** beta.",
        "",
        "| painting | photo | contrast: photo / output | change: x0.5 / x2 | beta 0 | beta 0.5 | beta 1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        scores = [
            "{style_ratio:.3f} / {content_distance:.2f} / {ssim:.2f}".format(**row["scores"][f"{b:g}"]) for b in BETAS
        ]
        change = " / ".join(f"{row['mean_change'][f'{c:g}']:.3f}" for c in CONTRASTS)
        contrasts = f"{row['photo_contrast']:.3f} / {row['output_contrast']:.3f}"
        lines.append(f"| {row['painting']} | {row['photo']} | {contrasts} | {change} | {' | '.join(scores)} |")
    (RESULTS / "contrast_probe.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    """Probe every painting's `defaults` generator on the held-out photos; write the table."""
    missing = [name for name in PAINTING_FILES if not (QUALITY_RUNS / "defaults" / name / "checkpoint.pt").exists()]
    if missing:
        raise SystemExit(f"no defaults run for {', '.join(missing)}: run benchmarks/painting_quality.py first")
    meter = StyleContentMeter()
    photos = {name: load_photo(name, max_side=EVAL_SIZE) for name in HELD_OUT_PHOTOS}
    rows = []
    for painting in PAINTING_FILES:
        generator = load_generator(QUALITY_RUNS / "defaults" / painting)
        style = load_painting(painting)
        for name, photo in photos.items():
            rows.append({"painting": painting, "photo": name, **probe_pair(generator, photo, style, meter)})
    machine = cpu_name()
    (RESULTS / "contrast_probe.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    write_table(rows, machine)
    print((RESULTS / "contrast_probe.md").read_text())


if __name__ == "__main__":
    main()
