"""The GPU check (`make gpu-check`): the CUDA tests and the GPU measurements, in one run.

On a GPU it runs the tests marked `cuda` (training in bf16 and fp16, exact resume, a GPU
checkpoint resumed on the CPU, compiled training, Gatys, stylize, TorchScript, a one-GPU
torchrun), then measures,
side by side in the same process:
- training images/s at 256 px, batch 16, eager and compiled (`train --compile`), and that as a
  share of a bf16 matrix-multiply peak measured right there;
- where a training step spends its time: the costliest operators by their own GPU time, and the
  share of the step the GPU was busy;
- the data loader alone (JPEG files decoded and cropped by its worker processes), in images/s;
- Gatys seconds per L-BFGS iteration at 512 px, ours against pastiche's on the same GPU, and where
  one of ours spends its time;
- default and lite generator latency at 1024x768 and 3840x2160, bf16, eager and compiled;
- peak GPU memory.
It writes benchmarks/results/gpu.{md,json}, naming the GPU, torch and CUDA versions.

`make gpu-check DEVICE=cpu` runs the same script at tiny sizes and writes runs/gpu_check_cpu/
instead (the test suite runs that form, so the script cannot rot). The targets it reports:
training >= 35% of the bf16 peak, loader >= 2x what training consumes, Gatys <= 0.5x pastiche,
lite generator at 3840x2160 <= 33 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from gatys_vs_pastiche import median, run_ours, run_pastiche
from generator_speed import cpu_name, matmul_peak, time_generator, training_throughput, warm_trainer
from torch.profiler import ProfilerActivity, profile

from stylelib.data import TRAIN_PHOTOS, load_photo, procedural_style
from stylelib.datasets import RandomCrops, crop_loader
from stylelib.distributed import ProcessInfo
from stylelib.feeding import loader_workers
from stylelib.images import save_image
from stylelib.models import Generator
from stylelib.runtime import make_runtime
from stylelib.train import TrainConfig

ROOT = Path(__file__).parent.parent
# What each device form measures: the GPU's real sizes, the CPU's tiny smoke sizes (eager only: compiling
# takes tens of seconds on a CPU; tests/test_cli.py and tests/test_models.py cover it).
PLANS = {
    "cuda": {
        "train_size": 256, "batch": 16, "train_steps": 20, "loader_batches": 40, "gatys_size": 512,
        "gatys_steps": 12, "latency_sizes": ("1024x768", "3840x2160"), "compile": True, "repeats": 10,
        "precision": "bf16", "workers": -1, "matmul_size": 8192,
    },
    "cpu": {
        "train_size": 32, "batch": 2, "train_steps": 2, "loader_batches": 3, "gatys_size": 48, "gatys_steps": 3,
        "latency_sizes": ("64x48",), "compile": False, "repeats": 2, "precision": "fp32", "workers": 1,
        "matmul_size": 256,
    },
}  # fmt: skip


def run_cuda_tests() -> dict:
    """pytest -m cuda; on a machine without a GPU they are all skipped."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-m",
            "cuda",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "test_cuda.py"),
        ],
        capture_output=True,
        text=True,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    return {"passed": done.returncode in (0, 5), "summary": summary, "output_tail": done.stdout[-3000:]}


def loader_throughput(plan: dict, device: str) -> float:
    """Images/s that the crop loader alone delivers from JPEG files (decoded every time, no cache)."""
    with tempfile.TemporaryDirectory() as folder:
        files = [save_image(load_photo(name), Path(folder) / f"{name}.jpg") for name in TRAIN_PHOTOS]
        crops = RandomCrops(files, plan["train_size"], cache_size=0)
        workers = loader_workers(TrainConfig(workers=plan["workers"]), torch.device(device), ProcessInfo())
        batches = crop_loader(crops, plan["batch"], workers=workers, pin_memory=device == "cuda")
        next(batches)  # the workers start
        started = time.perf_counter()
        for _ in range(plan["loader_batches"]):
            batch, _ = next(batches)
            batch.to(device, non_blocking=True)
        return plan["loader_batches"] * plan["batch"] / (time.perf_counter() - started)


def gatys_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """The photo and the painting every Gatys measurement uses."""
    return load_photo("chelsea"), procedural_style("swirls", size=512)


def gatys_against_pastiche(plan: dict, device: str) -> dict:
    """Median seconds per L-BFGS iteration, ours and pastiche's, on the same photo and painting."""
    photo, painting = gatys_inputs()
    with tempfile.TemporaryDirectory() as folder:
        content = save_image(photo, Path(folder) / "content.png")
        style = save_image(painting, Path(folder) / "style.png")
        theirs = run_pastiche(content, style, plan["gatys_size"], plan["gatys_steps"], device)
    ours = run_ours(photo, painting, plan["gatys_size"], plan["gatys_steps"], device=device, keep_images=False)
    ours_seconds, theirs_seconds = median(ours["step_times"]), median(theirs["step_times"][1:])
    return {
        "ours": ours_seconds, "pastiche": theirs_seconds, "ratio": ours_seconds / theirs_seconds,
        "runtime": str(ours["runtime"]),
    }  # fmt: skip


def generator_latency(plan: dict, device: str, compiled: bool) -> dict:
    """Median seconds per forward pass for each generator (lite first) and size, eager or compiled."""
    latency = {}
    for name in ("lite", "default"):
        generator = Generator.from_name(name).eval()
        for size in plan["latency_sizes"]:
            key = f"{name}/{size}" + ("/compiled" if compiled else "")
            latency[key] = time_generator(generator, size, plan["precision"], compiled, plan["repeats"], device)
    return latency


def machine(device: str) -> dict:
    """What ran the check: the GPU (or CPU), torch, CUDA and Python versions."""
    name = torch.cuda.get_device_name() if device == "cuda" else cpu_name()
    return {"device": name, "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version()}


def report(results: dict) -> str:
    """The Markdown summary of the stages that ran, with each target's verdict."""
    plan = results["plan"]
    lines = [
        f"# GPU check on {results['machine']['device']}",
        "",
        f"torch {results['machine']['torch']}, CUDA {results['machine']['cuda']}, "
        f"Python {results['machine']['python']}; device form: {results['device']}.",
        "",
        f"- CUDA tests: {results['tests']['summary']}",
    ]
    training = results.get("training")
    if training:
        lines.append(
            f"- training: {training['images_per_second']:.1f} images/s at {plan['train_size']} px, batch "
            f"{plan['batch']} ({training['runtime']}); {training['achieved_tflops']:.2f} TFLOP/s = "
            f"{training['share_of_peak']:.1%} of the measured {plan['precision']} matmul peak "
            f"({training['matmul_peak_tflops']:.1f} TFLOP/s); target >= 35%"
        )
    compiled = results.get("training_compiled")
    if compiled:
        lines.append(
            f"- training compiled (`train --compile`): {compiled['images_per_second']:.1f} images/s = "
            f"{compiled['share_of_peak']:.1%} of the peak; target >= 35%"
        )
    if "loader_images_per_second" in results and training:
        loader = results["loader_images_per_second"]
        lines.append(
            f"- data loader alone: {loader:.0f} images/s = {loader / training['images_per_second']:.1f}x what "
            "training consumes; target >= 2x"
        )
    gatys = results.get("gatys")
    if gatys:
        lines.append(
            f"- Gatys at {plan['gatys_size']} px ({gatys['runtime']}): {gatys['ours'] * 1000:.1f} ms per L-BFGS "
            f"iteration against pastiche's {gatys['pastiche'] * 1000:.1f} ms = {gatys['ratio']:.2f}x; target <= 0.5x"
        )
    if "peak_memory_gib" in results:
        lines.append(f"- peak GPU memory: {results['peak_memory_gib']:.2f} GiB")
    for stage, error in results["errors"].items():
        lines.append(f"- {stage} FAILED: {error}")
    latency = {**results.get("latency", {}), **results.get("latency_compiled", {})}
    if latency:
        lines += ["", "| generator / size / mode | ms per image |", "|---|---|"]
        lines += [f"| {key} | {seconds * 1000:.1f} |" for key, seconds in latency.items()]
    lite_4k = latency.get("lite/3840x2160/compiled")
    if lite_4k is not None:
        lines += ["", f"Lite generator at 3840x2160, compiled: {lite_4k * 1000:.1f} ms; target <= 33 ms (30 frames/s)."]
    for stage, what in (("profile", "an eager training step"), ("gatys_profile", "a Gatys L-BFGS iteration")):
        if results.get(stage):
            lines += _profile_lines(results[stage], what)
    return "\n".join(lines) + "\n"


def _profile_lines(table: dict, what: str) -> list[str]:
    lines = ["", f"Where {what} spends its time (own time per operator):", ""]
    lines += ["| operator | ms each | share |", "|---|---|---|"]
    lines += [f"| `{r['operator']}` | {r['ms_per_call']:.2f} | {r['share']:.1%} |" for r in table["operators"]]
    return lines + [
        "",
        f"{table['seconds_per_call'] * 1000:.1f} ms each while profiled, of which the operators' own device "
        f"time adds up to {table['busy']:.0%} (the rest, the device waited on the host).",
    ]


def _training_config(plan: dict, device: str) -> dict:
    """The TrainConfig fields of the measured training runs."""
    return {
        "size": plan["train_size"], "batch_size": plan["batch"], "precision": plan["precision"], "device": device,
        "workers": plan["workers"], "style_size": max(plan["train_size"], 256),
    }  # fmt: skip


def training_against_peak(plan: dict, device: str) -> dict:
    """Training throughput, and its FLOP rate as a share of the matmul peak measured right after it."""
    training = training_throughput(plan["train_steps"], **_training_config(plan, device))
    runtime = make_runtime(device, plan["precision"])
    peak = matmul_peak(runtime.autocast_dtype or torch.float32, n=plan["matmul_size"], device=device)
    return {**training, "matmul_peak_tflops": peak / 1e12, "share_of_peak": training["achieved_tflops"] * 1e12 / peak}


def compiled_training(plan: dict, device: str, eager: dict) -> dict:
    """Compiled training throughput; its FLOP rate uses the eager step's FLOPs (the same maths)."""
    config = _training_config(plan, device)
    training = training_throughput(plan["train_steps"], count_flops=False, compile=True, **config)
    achieved = eager["tflop_per_step"] / training["seconds_per_step"]
    return {**training, "achieved_tflops": achieved, "share_of_peak": achieved / eager["matmul_peak_tflops"]}


def _activities(device: str) -> list[ProfilerActivity]:
    return [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])


def operator_table(profiler: profile, calls: int, seconds: float, device: str, rows: int = 12) -> dict:
    """A finished profile's costliest operators by their own device time, per profiled call (a training
    step or a Gatys iteration), and how busy the device was: its own time over the `seconds` the calls took."""
    own_time = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    events = sorted(profiler.key_averages(), key=lambda event: getattr(event, own_time), reverse=True)
    total = sum(getattr(event, own_time) for event in events)
    operators = [
        {"operator": e.key, "ms_per_call": getattr(e, own_time) / 1000 / calls, "share": getattr(e, own_time) / total}
        for e in events[:rows]
    ]
    return {"operators": operators, "seconds_per_call": seconds / calls, "busy": total / 1e6 / seconds}


def training_profile(plan: dict, device: str) -> dict:
    """Where an eager training step spends its time (see operator_table)."""
    steps = max(2, plan["train_steps"] // 4)
    with warm_trainer(steps, **_training_config(plan, device)) as trainer:
        with profile(activities=_activities(device)) as profiler:
            started = time.perf_counter()
            for _ in range(steps):
                trainer.train_step()
            trainer.flush_records()  # reads the losses back: waits for the device
            seconds = time.perf_counter() - started
    return operator_table(profiler, steps, seconds, device)


def gatys_profile(plan: dict, device: str) -> dict:
    """Where a Gatys L-BFGS iteration at the check's size spends its time, from the second iteration on."""
    photo, painting = gatys_inputs()
    profiler = profile(activities=_activities(device))

    def start_after_first(record: dict, image: torch.Tensor) -> None:
        if record["step"] == 1:
            profiler.start()

    ours = run_ours(
        photo, painting, plan["gatys_size"], plan["gatys_steps"], device=device, keep_images=False,
        on_step=start_after_first,
    )  # fmt: skip
    profiler.stop()
    # the step times run from the end of the first step, and each step ends reading its losses back
    return operator_table(profiler, plan["gatys_steps"] - 1, sum(ours["step_times"]), device)


def main() -> None:
    """Run the tests and the measurements for the chosen device form, writing the results after each stage."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=tuple(PLANS), default="cuda")
    parser.add_argument("--out", type=Path, help="results folder (default benchmarks/results, or runs/gpu_check_cpu)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run `make gpu-check DEVICE=cpu` for the CPU form")
    plan = PLANS[args.device]
    out = args.out or ROOT / ("benchmarks/results" if args.device == "cuda" else "runs/gpu_check_cpu")
    out.mkdir(parents=True, exist_ok=True)
    name = "gpu" if args.device == "cuda" else "gpu_check"
    results = {"device": args.device, "plan": plan, "machine": machine(args.device), "errors": {}}
    results["tests"] = run_cuda_tests()
    print(f"CUDA tests: {results['tests']['summary']}", flush=True)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # as `stylelib train` sets it on a GPU
        torch.cuda.reset_peak_memory_stats()
    stages = {
        "training": lambda: training_against_peak(plan, args.device),
        "loader_images_per_second": lambda: loader_throughput(plan, args.device),
        "gatys": lambda: gatys_against_pastiche(plan, args.device),
        "latency": lambda: generator_latency(plan, args.device, compiled=False),
    }
    stages["profile"] = lambda: training_profile(plan, args.device)
    stages["gatys_profile"] = lambda: gatys_profile(plan, args.device)
    if plan["compile"]:
        stages["training_compiled"] = lambda: compiled_training(plan, args.device, results["training"])
        stages["latency_compiled"] = lambda: generator_latency(plan, args.device, compiled=True)
    for stage, measure in stages.items():
        started = time.perf_counter()
        try:
            results[stage] = measure()
        except Exception as error:  # one broken stage must not lose the others' figures
            results["errors"][stage] = f"{type(error).__name__}: {error}"
        print(f"{stage}: {time.perf_counter() - started:.1f} s", flush=True)
        results["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else 0.0
        (out / f"{name}.json").write_text(json.dumps(results, indent=2))
        (out / f"{name}.md").write_text(report(results))
    print(report(results))
    if not results["tests"]["passed"] or results["errors"]:
        raise SystemExit("the GPU check failed: see the errors above and the test output tail in the JSON")


if __name__ == "__main__":
    main()
