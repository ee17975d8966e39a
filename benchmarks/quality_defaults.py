"""Quality check of the default Gatys settings on bundled photos and procedural styles.

Runs `stylize_gatys` with the CLI defaults (384 px long side, 300 L-BFGS steps) on each
photo x style pair and reports the style ratio (per-layer relative Gram distances, and the
plain sum), the relu4_2 content distance and luminance SSIM. Writes
benchmarks/results/quality_defaults.json and .md, and a PNG grid of the outputs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stylelib.data import load_photo, procedural_style
from stylelib.images import image_grid, resize, save_image
from stylelib.metrics import StyleContentMeter, score_transfer
from stylelib.nst import DEFAULT_MAX_SIDE, DEFAULT_STEPS, stylize_gatys

RESULTS = Path(__file__).parent / "results"
PAIRS = ["astronaut:swirls", "coffee:woodcut", "rocket:pointillism", "chelsea:stained_glass"]


def main() -> None:
    """Run every pair and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", nargs="+", default=PAIRS, help="photo:style pairs")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--size", type=int, default=DEFAULT_MAX_SIDE)
    args = parser.parse_args()
    meter = StyleContentMeter()
    rows, tiles = [], []
    for pair in args.pairs:
        photo_name, style_name = pair.split(":")
        photo, style = load_photo(photo_name, max_side=args.size), procedural_style(style_name, size=512)
        result = stylize_gatys(photo, style, steps=args.steps, max_side=args.size, progress=False)
        scores = score_transfer(result.image, photo, style, meter)
        plain = meter.style_distance(result.image, style, relative=False)
        plain_photo = meter.style_distance(photo, style, relative=False)
        rows.append(
            {
                "photo": photo_name,
                "style": style_name,
                **scores.as_dict(),
                "style_ratio_plain_sum": plain / plain_photo,
                "seconds": result.seconds,
                "runtime": result.runtime,
            }
        )
        print(rows[-1], flush=True)
        tiles += [photo, resize(style, tuple(photo.shape[-2:])), result.image]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality_defaults.json").write_text(json.dumps(rows, indent=2))
    lines = [
        f"# Default Gatys settings: {args.size} px, {args.steps} steps",
        "",
        "| photo x style | style ratio (relative layers) | style ratio (plain sum) | content dist. | SSIM | seconds |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['photo']} x {r['style']} | {r['style_ratio']:.3f} | {r['style_ratio_plain_sum']:.3f} | "
        f"{r['content_distance']:.3f} | {r['ssim']:.3f} | {r['seconds']:.0f} |"
        for r in rows
    ]
    (RESULTS / "quality_defaults.md").write_text("\n".join(lines) + "\n")
    save_image(image_grid(tiles, columns=3), RESULTS / "quality_defaults.png", overwrite=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
