"""Device and precision choice, seeding and memory layout."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Runtime:
    """Where and how to compute: a device plus an autocast dtype (None = plain fp32)."""

    device: torch.device
    autocast_dtype: torch.dtype | None

    @property
    def precision(self) -> str:
        """The precision name: 'fp32', 'bf16' or 'fp16'."""
        names = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
        return names[self.autocast_dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context for network forward passes (a no-op in fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler for one optimiser: active in fp16 (whose gradients underflow), a pass-through otherwise."""
        return torch.amp.GradScaler(self.device.type, enabled=self.autocast_dtype == torch.float16)

    def __str__(self) -> str:
        return f"{self.device.type}/{self.precision} on {device_name(self.device)}"


@functools.cache
def device_name(device: torch.device) -> str:
    """What a device is, for timings: the GPU's name, or the CPU's model, family and model numbers and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type != "cpu":
        return device.type
    fields = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or platform.processor() or platform.machine()
    numbers = f"family {fields['cpu family']} model {fields['model']}, " if "cpu family" in fields else ""
    return f"{model} ({numbers}{os.cpu_count()} cores)"


# auto picks bf16 on a CPU only when its matrix products run at least this much faster than fp32: some CPUs
# (and virtual machines hiding AMX) have the AVX512-BF16 instructions yet run bf16 at half the fp32 rate.
CPU_BF16_MIN_SPEEDUP = 1.25
BF16_SPEEDUP_VARIABLE = "STYLELIB_CPU_BF16_SPEEDUP"


def cpu_has_bf16_matmul() -> bool:
    """True when this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def matmul_seconds(
    dtypes: tuple[torch.dtype, ...], side: int = 1024, repeats: int = 5, clock=time.perf_counter
) -> list[float]:
    """Best-of-`repeats` seconds for one side x side matrix product on the CPU in each dtype, measured in turns
    (so a busy neighbour slows every dtype alike) after a warm-up."""
    numbers = torch.Generator().manual_seed(0)  # not the global generator: measuring must not shift seeded runs
    pairs = [tuple(torch.randn(side, side, generator=numbers).to(dtype) for _ in range(2)) for dtype in dtypes]
    for a, b in pairs:
        a @ b
    best = [math.inf] * len(dtypes)
    for _ in range(repeats):
        for index, (a, b) in enumerate(pairs):
            start = clock()
            a @ b
            best[index] = min(best[index], clock() - start)
    return best


@functools.cache
def cpu_bf16_speedup() -> float:
    """fp32 time over bf16 time of a matrix product on this CPU (0 without native bf16).

    Measured once per process tree: the result goes into the environment variable STYLELIB_CPU_BF16_SPEEDUP,
    which worker processes inherit (and read instead of measuring), so every process picks the same precision.
    """
    if not cpu_has_bf16_matmul():
        return 0.0
    if BF16_SPEEDUP_VARIABLE in os.environ:
        return float(os.environ[BF16_SPEEDUP_VARIABLE])
    fp32, bf16 = matmul_seconds((torch.float32, torch.bfloat16))
    os.environ[BF16_SPEEDUP_VARIABLE] = repr(fp32 / bf16)
    return fp32 / bf16


def cuda_has_native_bf16(device: torch.device) -> bool:
    """True on GPUs of compute capability 8.0 (Ampere) and newer, whose tensor cores run bf16.

    torch.cuda.is_bf16_supported() also answers True where bf16 is only emulated (a T4 or V100),
    which is slower than fp16 there.
    """
    return torch.cuda.get_device_capability(device) >= (8, 0)


def choose_device(name: str = "auto") -> torch.device:
    """Resolve 'auto' to cuda, then mps, then cpu; validate an explicit device name."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or mps") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available: use --device cpu")
    return device


def choose_precision(device: torch.device, name: str = "auto") -> torch.dtype | None:
    """Resolve a precision name to an autocast dtype (None means plain fp32).

    auto: on a GPU, bf16 where its tensor cores have it, else fp16 (with a loss scaler); on a CPU, bf16 where
    native bf16 matrix products measure at least CPU_BF16_MIN_SPEEDUP times faster than fp32, else fp32.
    """
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}: use one of {', '.join(PRECISIONS)}")
    if name == "fp32":
        return None
    if name == "bf16":
        return torch.bfloat16
    if name == "fp16":
        return torch.float16  # on a CPU only for testing the GPU path: slower than fp32 there
    if device.type == "cuda":
        return torch.bfloat16 if cuda_has_native_bf16(device) else torch.float16
    if device.type == "cpu" and cpu_bf16_speedup() >= CPU_BF16_MIN_SPEEDUP:
        return torch.bfloat16
    return None


def module_device(module: torch.nn.Module) -> torch.device:
    """The device a module's parameters live on (the CPU for a module without parameters)."""
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@contextlib.contextmanager
def evaluation_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put a module in eval mode for the block, then restore the mode it had."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def make_runtime(device: str = "auto", precision: str = "auto") -> Runtime:
    """Pick the device and autocast dtype in one call."""
    resolved = choose_device(device)
    return Runtime(resolved, choose_precision(resolved, precision))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a torch generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def check_compiler(device: torch.device) -> None:
    """Raise ValueError when torch.compile cannot work on `device` (on a CPU it needs a C++ compiler)."""
    if device.type == "cpu" and not any(shutil.which(cxx) for cxx in ("g++", "clang++", "c++")):
        raise ValueError("compiling on the CPU needs a C++ compiler (g++ or clang++): install one or do not compile")
