"""Training throughput before and after the DataLoader pipeline, side by side in one run.

"Before" is stylelib as of a git revision (by default the last one whose trainer drew its crops
with the single-process CropSampler), extracted into a temporary folder; "after" is this
checkout. Both time `Trainer.train_step` at 256 px, batch 4, in the adversarial phase, in fresh
processes run alternately (before, after, before, after) so that drift hits both alike. Prints
and writes benchmarks/results/loader_throughput.{json,md}; the target is after / before >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from generator_speed import cpu_name

ROOT = Path(__file__).parent.parent
RESULTS = Path(__file__).parent / "results"
BEFORE = "3763d09"  # the last trainer with CropSampler
# Runs in a fresh interpreter with the chosen stylelib first on sys.path; prints seconds per step.
PROBE = """
import sys, tempfile, time
import torch
from stylelib.train import TrainConfig, Trainer
steps = int(sys.argv[1])
trainer = Trainer(TrainConfig(styles=[sys.argv[2]], warmup_steps=1, steps=steps + 3), tempfile.mkdtemp())
for _ in range(3):
    trainer.train_step()
started = time.perf_counter()
for _ in range(steps):
    trainer.train_step()
if hasattr(trainer, "flush_records"):
    trainer.flush_records()
print((time.perf_counter() - started) / steps)
"""


def extract_revision(revision: str, folder: Path) -> Path:
    """The stylelib package as of `revision`, written under `folder`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "stylelib"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def seconds_per_step(package_root: Path, steps: int, style: str) -> float:
    """Seconds per training step of the stylelib found in `package_root`, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(steps), style],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(package_root), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Alternate the two versions and report the throughput ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="git revision of the old pipeline")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="before/after pairs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        old = extract_revision(args.before, Path(scratch))
        # The old revision has no bundled paintings: both time the procedural "swirls" style.
        times = {"before": [], "after": []}
        for _ in range(args.rounds):
            times["before"].append(seconds_per_step(old, args.steps, "swirls"))
            times["after"].append(seconds_per_step(ROOT, args.steps, "swirls"))
            print(json.dumps(times), flush=True)
    best = {name: min(values) for name, values in times.items()}
    ratio = best["before"] / best["after"]
    results = {"cpu": cpu_name(), "before_revision": args.before, "seconds_per_step": times, "throughput_ratio": ratio}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "loader_throughput.json").write_text(json.dumps(results, indent=2))
    lines = [
        "# Training throughput: CropSampler (before) against the DataLoader pipeline (after)",
        "",
        f"CPU: {results['cpu']}. 256 px crops, batch 4, adversarial phase, fp32 or bf16 as `auto` picks; "
        f"{args.rounds} alternating fresh processes each, best of each.",
        "",
        f"- before ({args.before}): {best['before']:.2f} s per step ({4 / best['before']:.2f} images/s)",
        f"- after: {best['after']:.2f} s per step ({4 / best['after']:.2f} images/s)",
        f"- throughput after / before: {ratio:.3f} (target >= 0.95)",
    ]
    (RESULTS / "loader_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
