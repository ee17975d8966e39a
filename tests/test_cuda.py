"""GPU paths, run by `make gpu-check` on a machine with an NVIDIA GPU and skipped everywhere else."""

import json
import subprocess
import sys

import pytest
import torch

from stylelib.inference import export_generator, load_exported, load_generator, stylize_image
from stylelib.nst import stylize_gatys
from stylelib.runtime import make_runtime
from stylelib.train import CHECKPOINT, METRICS, TrainConfig, Trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU (run by make gpu-check)"),
]


def _config(**overrides) -> TrainConfig:
    values = dict(
        styles=["woodcut"], generator="lite", size=64, style_size=128, batch_size=2, steps=6, warmup_steps=2,
        log_every=1, sample_every=3, checkpoint_every=3, device="cuda",
    )  # fmt: skip
    return TrainConfig(**{**values, **overrides})


def _losses(run) -> list[dict]:
    records = [json.loads(line) for line in (run / METRICS).read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, len(records) + 1))
    return [{k: v for k, v in r.items() if k not in ("seconds", "step")} for r in records]


def _largest_relative_difference(a: list[dict], b: list[dict]) -> float:
    return max(abs(x[k] - y[k]) / max(abs(x[k]), abs(y[k]), 1e-6) for x, y in zip(a, b, strict=True) for k in x)


@pytest.fixture
def deterministic():
    """cuDNN and cuBLAS in their reproducible modes, so two runs can be compared exactly."""
    previous = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_training_steps_on_the_gpu(tmp_path, precision):
    trainer = Trainer(_config(precision=precision), tmp_path / "run")
    assert trainer.runtime.device.type == "cuda" and trainer.scaler_g.is_enabled() == (precision == "fp16")
    trainer.train(progress=False)
    assert len(trainer.history) == 6 and all(
        torch.isfinite(torch.tensor(list(r.values()))).all() for r in trainer.history
    )
    assert all(target.dtype == torch.float32 for target in trainer.objective.style_targets[0][0].values())


def test_resume_on_the_gpu_is_exact_and_a_gpu_checkpoint_resumes_on_the_cpu(tmp_path, deterministic):
    # fp32: in bf16 a last-bit difference in a sum flips roundings, so two identical runs already
    # differ by ~1e-3 after three steps (measured on an H200).
    for name in ("straight", "again"):
        Trainer(_config(precision="fp32"), tmp_path / name).train(progress=False)
    Trainer(_config(precision="fp32", steps=3), tmp_path / "split").train(progress=False)
    Trainer.resume(tmp_path / "split", steps=6).train(progress=False)
    straight, again, split = (_losses(tmp_path / name) for name in ("straight", "again", "split"))
    # Same crops, weights and RNG states; CUDA's atomic additions (reflection-pad backward has no
    # deterministic kernel) may still reorder sums, so resuming must be as exact as running twice.
    noise = _largest_relative_difference(straight, again)
    assert _largest_relative_difference(straight, split) <= max(10 * noise, 1e-5), f"run-to-run noise {noise:.2e}"
    on_cpu = Trainer.resume(tmp_path / "straight", steps=7, device="cpu")
    assert on_cpu.runtime.device.type == "cpu"
    on_cpu.train(progress=False)
    assert on_cpu.step == 7


def test_gatys_stylize_and_torchscript_on_the_gpu(tmp_path):
    runtime = make_runtime("cuda", "bf16")
    photo, style = torch.rand(1, 3, 64, 80), torch.rand(1, 3, 96, 96)
    result = stylize_gatys(photo, style, steps=3, max_side=64, runtime=runtime, progress=False)
    assert result.image.shape == (1, 3, 51, 64) and torch.isfinite(result.image).all()
    Trainer(_config(steps=2, warmup_steps=1), tmp_path / "run").train(progress=False)
    generator = load_generator(tmp_path / "run", device="cuda")
    output = stylize_image(generator, photo, runtime=runtime)
    assert output.shape == photo.shape
    export_generator(generator, tmp_path / "g.pt")
    scripted = load_exported(tmp_path / "g.pt", device="cuda")
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # TF32 convs: ~1e-3 off
        assert torch.allclose(scripted(photo.cuda()).cpu(), load_generator(tmp_path / "run")(photo), atol=1e-4)


def test_torchrun_on_one_gpu(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(_config(steps=3).to_json())
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]
    command = [*launcher, "-m", "stylelib", "train", "--out", str(tmp_path / "run"), "--config", str(config), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "run" / CHECKPOINT).exists()


def test_a_compiled_run_takes_the_eager_steps(tmp_path, deterministic):
    # fp32, a warm-up step then adversarial steps; generator, discriminator and loss network compiled.
    Trainer(_config(steps=3, warmup_steps=1, precision="fp32"), tmp_path / "eager").train(progress=False)
    Trainer(_config(steps=3, warmup_steps=1, precision="fp32", compile=True), tmp_path / "compiled").train(
        progress=False
    )
    eager, compiled = _losses(tmp_path / "eager"), _losses(tmp_path / "compiled")
    # Adam's first updates turn rounding-sized gradient differences into whole steps: step 3 agrees less.
    assert _largest_relative_difference(eager[:2], compiled[:2]) < 1e-3
    assert _largest_relative_difference(eager[2:], compiled[2:]) < 2e-2
