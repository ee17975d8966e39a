"""Two training processes on the CPU (gloo), started by torchrun as a user would start them on GPUs."""

import json
import subprocess
import sys

import pytest
import torch

from stylelib.storage import load_checkpoint
from stylelib.train import CHECKPOINT, CONFIG, METRICS, TrainConfig

# A tiny run: 32 px crops, lite generator; every step logged so the steps can be compared.
TINY = dict(
    styles=["woodcut"], generator="lite", size=32, style_size=64, warmup_steps=1, d_width=8, d_layers=2,
    log_every=1, sample_every=100, checkpoint_every=100, device="cpu", precision="fp32",
)  # fmt: skip


def _train(tmp_path, name, processes, batch_size, steps, resume=False):
    run = tmp_path / name
    config = tmp_path / f"{name}.json"
    config.write_text(TrainConfig(**TINY, batch_size=batch_size, steps=steps).to_json())
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command = [*launcher, "-m", "stylelib", "train", "--out", str(run), "--quiet"]
    command += ["--resume", "--steps", str(steps)] if resume else ["--config", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return run, done.stdout


def _log(run):
    return [json.loads(line) for line in (run / METRICS).read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_train_like_one_with_the_global_batch_and_resume_exactly(tmp_path):
    pair, stdout = _train(tmp_path, "pair", processes=2, batch_size=1, steps=4)
    single, _ = _train(tmp_path, "single", processes=1, batch_size=2, steps=4)
    assert stdout.count("training lite generator") == 1, "only rank 0 prints"
    assert [r["step"] for r in _log(pair)] == [1, 2, 3, 4], "one log line per step, not one per process"
    assert sorted(p.name for p in pair.iterdir()) == sorted([CHECKPOINT, CONFIG, METRICS, "samples"])
    assert load_checkpoint(pair / CHECKPOINT)["step"] == 4
    # Same crops and the same global batch: the losses agree up to float summation order.
    for ours, reference in zip(_log(pair)[:3], _log(single)[:3]):
        for term in ("content", "style", "adversarial", "d_loss"):
            if term in reference:
                assert ours[term] == pytest.approx(reference[term], rel=1e-3, abs=1e-5), (ours["step"], term)

    split, _ = _train(tmp_path, "split", processes=2, batch_size=1, steps=2)
    _train(tmp_path, "split", processes=2, batch_size=1, steps=4, resume=True)
    for ours, reference in zip(_log(split), _log(pair)):
        assert {k: v for k, v in ours.items() if k != "seconds"} == {
            k: v for k, v in reference.items() if k != "seconds"
        }
    assert torch.equal(
        load_checkpoint(split / CHECKPOINT)["generator"]["encoder.0.0.1.weight"],
        load_checkpoint(pair / CHECKPOINT)["generator"]["encoder.0.0.1.weight"],
    )
