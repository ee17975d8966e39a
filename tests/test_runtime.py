import os
from pathlib import Path

import pytest
import torch

from stylelib import runtime
from stylelib.runtime import (
    CPU_BF16_MIN_SPEEDUP,
    choose_device,
    choose_precision,
    cpu_bf16_speedup,
    cpu_has_bf16_matmul,
    make_runtime,
    matmul_seconds,
    seed_everything,
)


def _cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":")[1].split()}


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU flags from Linux's /proc/cpuinfo")
def test_cpu_precision_follows_the_hardware():
    cpu = torch.device("cpu")
    native = bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})  # what the kernel reports, independently of torch
    assert cpu_has_bf16_matmul() is native
    assert (cpu_bf16_speedup() > 0) is native  # measured only where the instructions exist
    expected = torch.bfloat16 if native and cpu_bf16_speedup() >= CPU_BF16_MIN_SPEEDUP else None
    assert choose_precision(cpu, "auto") is expected
    assert choose_precision(cpu, "fp32") is None
    assert choose_precision(cpu, "bf16") is torch.bfloat16


@pytest.mark.parametrize(("speedup", "expected"), [(0.0, None), (0.53, None), (1.2, None), (1.9, torch.bfloat16)])
def test_cpu_auto_precision_is_bf16_only_where_measured_faster(monkeypatch, speedup, expected):
    # Native bf16 instructions that run slower than fp32 (seen on a virtual machine without AMX) must not win.
    monkeypatch.setattr(runtime, "cpu_bf16_speedup", lambda: speedup)
    assert choose_precision(torch.device("cpu"), "auto") is expected


def test_matmul_timing_takes_the_best_of_alternating_repeats():
    # fp32 and bf16 in turns: fp32 lasts 5, 2, 3 s and bf16 4, 6, 1 s.
    ticks = iter([0.0, 5.0, 10.0, 14.0, 20.0, 22.0, 30.0, 36.0, 40.0, 43.0, 50.0, 51.0])
    fp32, bf16 = matmul_seconds((torch.float32, torch.bfloat16), side=8, repeats=3, clock=lambda: next(ticks))
    assert (fp32, bf16) == (2.0, 1.0)


def test_the_bf16_measurement_is_shared_with_worker_processes(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_bf16_matmul", lambda: True)
    monkeypatch.setenv(runtime.BF16_SPEEDUP_VARIABLE, "1.9")
    runtime.cpu_bf16_speedup.cache_clear()
    try:
        assert cpu_bf16_speedup() == 1.9  # read from the parent's measurement, not measured again
        assert choose_precision(torch.device("cpu"), "auto") is torch.bfloat16
        monkeypatch.delenv(runtime.BF16_SPEEDUP_VARIABLE)
        monkeypatch.setattr(runtime, "matmul_seconds", lambda dtypes: [3.0, 2.0])
        runtime.cpu_bf16_speedup.cache_clear()
        assert cpu_bf16_speedup() == 1.5 and os.environ[runtime.BF16_SPEEDUP_VARIABLE] == "1.5"
    finally:
        runtime.cpu_bf16_speedup.cache_clear()


def test_bad_names_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown precision"):
        choose_precision(torch.device("cpu"), "fp8")
    with pytest.raises(ValueError, match="unknown device"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            choose_device("cuda")


def test_cuda_auto_precision_is_bf16_only_where_native(monkeypatch):
    cuda = torch.device("cuda")
    for capability, expected in (((7, 5), torch.float16), ((7, 0), torch.float16), ((8, 0), torch.bfloat16)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # emulation counts here
        assert choose_precision(cuda, "auto") is expected
    assert choose_precision(cuda, "fp16") is torch.float16 and choose_precision(cuda, "bf16") is torch.bfloat16


def test_grad_scaler_is_active_in_fp16_only():
    assert make_runtime("cpu", "fp16").grad_scaler().is_enabled()
    assert not make_runtime("cpu", "bf16").grad_scaler().is_enabled()
    assert not make_runtime("cpu", "fp32").grad_scaler().is_enabled()


def test_runtime_autocast_only_when_asked():
    fp32 = make_runtime("cpu", "fp32")
    with fp32.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    bf16 = make_runtime("cpu", "bf16")
    with bf16.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert str(bf16).startswith("cpu/bf16 on ") and fp32.precision == "fp32"
    assert "cores)" in str(bf16)  # timings name the machine


def test_seeding_is_reproducible():
    seed_everything(5)
    a = torch.rand(3)
    generator = seed_everything(5)
    assert torch.equal(a, torch.rand(3))
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=torch.Generator().manual_seed(5)))


def test_measuring_the_cpu_leaves_seeded_random_streams_alone():
    seed_everything(3)
    expected = torch.rand(4)
    seed_everything(3)
    matmul_seconds((torch.float32, torch.bfloat16), side=64, repeats=1)
    assert torch.equal(torch.rand(4), expected)
