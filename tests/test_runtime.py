from pathlib import Path

import pytest
import torch

from stylelib.runtime import choose_device, choose_precision, cpu_has_bf16_matmul, make_runtime, seed_everything


def _cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":")[1].split()}


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU flags from Linux's /proc/cpuinfo")
def test_cpu_precision_follows_the_hardware():
    cpu = torch.device("cpu")
    native = bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})  # what the kernel reports, independently of torch
    assert cpu_has_bf16_matmul() is native
    expected = torch.bfloat16 if native else None
    assert choose_precision(cpu, "auto") is expected
    assert choose_precision(cpu, "fp32") is None
    assert choose_precision(cpu, "bf16") is torch.bfloat16


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
    assert str(bf16) == "cpu/bf16" and fp32.precision == "fp32"


def test_seeding_is_reproducible():
    seed_everything(5)
    a = torch.rand(3)
    generator = seed_everything(5)
    assert torch.equal(a, torch.rand(3))
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=torch.Generator().manual_seed(5)))
