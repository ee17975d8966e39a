import copy
import json
import math
import os
import re
import signal
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from stylelib import teachers
from stylelib.distributed import ProcessInfo
from stylelib.features import STYLE_LAYERS
from stylelib.feeding import loader_workers, style_groups
from stylelib.images import grey, image_grid, resize_style_image, rgb_to_ycbcr
from stylelib.losses import gram_matrix, relative_style_targets
from stylelib.storage import load_checkpoint, save_checkpoint
from stylelib.train import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    TrainConfig,
    Trainer,
    TrainingDivergedError,
    learning_rate_factor,
)


def _config(**overrides) -> TrainConfig:
    """A tiny, fast, deterministic run: lite generator, 32 px, fp32."""
    values = dict(
        styles=["woodcut"],
        generator="lite",
        size=32,
        style_size=64,
        batch_size=2,
        steps=6,
        warmup_steps=2,
        d_width=8,
        d_layers=2,
        log_every=1,
        sample_every=3,
        checkpoint_every=3,
        device="cpu",
        precision="fp32",
    )
    return TrainConfig(**{**values, **overrides})


def _log(run_dir):
    return [json.loads(line) for line in (run_dir / METRICS).read_text().splitlines()]


def test_config_round_trips_through_json_and_rejects_bad_values(tmp_path):
    config = _config(styles=["swirls", "woodcut"], style_weights=[0.3, 0.7])
    path = tmp_path / "cfg.json"
    path.write_text(config.to_json())
    assert TrainConfig.load(path) == config
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainConfig.from_dict({"stepz": 3})
    for key, value, expected in [
        ("size", "256", "size must be an integer, got '256'"),
        ("steps", 10.0, "steps must be an integer"),
        ("styles", "hokusai", "styles must be a list of strings"),
        ("style_weights", [1, "a"], "style_weights must be a list of finite numbers or null"),
        ("spectral_norm", 1, "spectral_norm must be true or false"),
        ("style_weight", None, "style_weight must be a finite number"),
    ]:
        with pytest.raises(ValueError, match=re.escape(expected)):
            TrainConfig.from_dict({key: value})
    assert TrainConfig.from_dict({"style_weight": 2, "style_weights": None}).style_weight == 2
    with pytest.raises(ValueError, match="adversarial_loss"):
        _config(adversarial_loss="wgan").validate()
    with pytest.raises(ValueError, match="warmup_steps"):
        _config(warmup_steps=10).validate()


def test_training_writes_config_log_samples_and_checkpoint(tmp_path):
    trainer = Trainer(_config(), tmp_path / "run")
    trainer.train(progress=False)
    run = tmp_path / "run"
    assert TrainConfig.load(run / CONFIG) == _config()
    log = _log(run)
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert log[0]["warmup"] == 1.0 and "pixel" in log[0]
    assert {"content", "style", "adversarial", "d_loss", "d_real", "d_fake"} <= set(log[-1])
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000003.png", "step_000006.png"]
    assert torch.load(run / CHECKPOINT, weights_only=True)["step"] == 6
    with pytest.raises(FileExistsError, match="already holds a run"):
        Trainer(_config(), run)


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    Trainer(_config(), tmp_path / "straight").train(progress=False)
    Trainer(_config(steps=3), tmp_path / "split").train(progress=False)
    with open(tmp_path / "split" / METRICS, "a") as log:
        log.write('{"step": 4, "cont')  # a crash in the middle of writing step 4's line
    resumed = Trainer.resume(tmp_path / "split", steps=6)
    assert resumed.step == 3
    resumed.train(progress=False)
    straight, split = _log(tmp_path / "straight"), _log(tmp_path / "split")
    assert [r["step"] for r in split] == [1, 2, 3, 4, 5, 6]  # the torn line is gone
    for a, b in zip(straight, split):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    # the training time counts the steps before the resume too
    assert resumed.train_seconds == pytest.approx(sum(r["seconds"] for r in split))


def test_a_checkpoint_without_its_training_time_estimates_it_from_the_log(tmp_path):
    Trainer(_config(steps=3, log_every=3), tmp_path / "run").train(progress=False)
    state = load_checkpoint(tmp_path / "run" / CHECKPOINT)
    del state["train_seconds"]  # as written before the time was recorded
    save_checkpoint(state, tmp_path / "run" / CHECKPOINT)
    (logged,) = _log(tmp_path / "run")
    assert Trainer.resume(tmp_path / "run").train_seconds == pytest.approx(3 * logged["seconds"])


def test_paintings_are_sized_by_area_and_older_runs_resume_sized_by_long_side(tmp_path):
    wide, tall = torch.rand(1, 3, 60, 180), torch.rand(1, 3, 150, 50)
    assert TrainConfig().style_scale == "area"
    by_area = [resize_style_image(p, 96, "area") for p in (wide, tall)]
    assert all(abs(p.shape[-2] * p.shape[-1] - 96 * 96) < 2 * 96 for p in by_area)  # equal pixel counts
    Trainer(_config(steps=3), tmp_path / "run").train(progress=False)
    state = load_checkpoint(tmp_path / "run" / CHECKPOINT)
    del state["config"]["style_scale"]  # as saved before style_scale existed
    save_checkpoint(state, tmp_path / "run" / CHECKPOINT)
    assert Trainer.resume(tmp_path / "run").config.style_scale == "long_side"
    with pytest.raises(ValueError, match="style_scale"):
        _config(style_scale="height").validate()


def test_cosine_schedule_decays_after_warm_up_and_resumes_exactly(tmp_path):
    config = _config(lr_schedule="cosine", lr_final_fraction=0.2, steps=6, warmup_steps=2)
    factors = [learning_rate_factor(config, step) for step in range(6)]
    assert factors[:3] == [1.0, 1.0, 1.0] and factors == sorted(factors, reverse=True)
    assert learning_rate_factor(config, 6) == pytest.approx(0.2)
    assert learning_rate_factor(_config(), 5) == 1.0

    Trainer(config, tmp_path / "straight").train(progress=False)
    interrupted = Trainer(config, tmp_path / "split")
    for _ in range(3):
        interrupted.train_step()
    interrupted.save_checkpoint()
    resumed = Trainer.resume(tmp_path / "split")
    assert resumed.opt_g.param_groups[0]["lr"] == pytest.approx(config.lr_generator * factors[2])
    for _ in range(3):
        resumed.train_step()
    record = resumed.flush_records()[-1]
    assert resumed.opt_g.param_groups[0]["lr"] == pytest.approx(config.lr_generator * factors[5])
    straight = _log(tmp_path / "straight")[-1]
    assert {k: v for k, v in straight.items() if k != "seconds"} == {k: v for k, v in record.items() if k != "seconds"}
    with pytest.raises(ValueError, match="lr_schedule"):
        _config(lr_schedule="linear").validate()


def test_one_step_lowers_each_loss_on_a_fixed_batch(tmp_path):
    trainer = Trainer(_config(), tmp_path / "run")
    trainer.step = trainer.config.warmup_steps  # adversarial phase
    photos = trainer.data.content_crops.batch(0, 2)
    for term in ("content", "style", "adversarial", "tv"):
        generator = copy.deepcopy(trainer.generator)
        trainer.generator = generator
        optimiser = torch.optim.Adam(generator.parameters(), lr=1e-4)
        before = trainer.objective(photos, generator(photos), discriminator=trainer.discriminator)[term]
        optimiser.zero_grad()
        before.backward()
        optimiser.step()
        with torch.no_grad():
            after = trainer.objective(photos, generator(photos), discriminator=trainer.discriminator)[term]
        assert after < before, term
    fake = trainer.generator(photos).detach()
    real = trainer.data.style_crops.batch(0, 2)
    before = trainer._discriminator_step(real, fake)["d_loss"]
    trainer.discriminator.eval()
    with torch.no_grad():
        from stylelib.losses import discriminator_loss

        after = discriminator_loss(trainer.discriminator(real), trainer.discriminator(fake))
    assert after < before


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = Trainer(_config(checkpoint_every=1), tmp_path / "run")
    trainer.config.steps = 3
    trainer.train(progress=False)
    targets, _ = trainer.objective.style_targets[0]
    for layer in targets:
        targets[layer] = targets[layer] * float("nan")
    trainer.config.steps = 6
    with pytest.raises(TrainingDivergedError, match="became nan at step 4.*last good checkpoint"):
        trainer.train(progress=False)
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["step"] == 3


def test_ctrl_c_saves_a_checkpoint_then_stops(tmp_path):
    def interrupt(trainer, record):
        if record["step"] == 2:
            os.kill(os.getpid(), signal.SIGINT)

    trainer = Trainer(_config(), tmp_path / "run")
    with pytest.raises(KeyboardInterrupt, match="checkpoint saved at step 2"):
        trainer.train(callback=interrupt, progress=False)
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["step"] == 2
    assert Trainer.resume(tmp_path / "run").step == 2


def _photo_folder(folder, count=5, broken=()):
    """Random 90x60 photos p0.png ... and broken files, in a new folder."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)).save(folder / f"p{index}.png")
    for name in broken:
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return folder


def test_a_photo_folder_with_a_corrupt_file_trains(tmp_path):
    folder = _photo_folder(tmp_path / "photos", count=4, broken=["p9_broken.png"])
    trainer = Trainer(_config(content_dir=str(folder), adversarial_weight=0.0), tmp_path / "run")
    assert trainer.discriminator is None and len(trainer.data.held_out) == 2
    with pytest.warns(UserWarning, match="p9_broken.png"):
        trainer.train(progress=False)
    assert trainer.step == 6


def test_a_folder_of_paintings_is_one_style_sharing_its_weight(tmp_path):
    folder = tmp_path / "artist"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for index in range(2):
        Image.fromarray(rng.integers(0, 255, (70, 80, 3), dtype=np.uint8)).save(folder / f"painting{index}.png")
    trainer = Trainer(_config(styles=[str(folder), "woodcut"], style_weights=[1.0, 1.0]), tmp_path / "run")
    assert len(trainer.data.style_crops.sources) == 3
    assert trainer.data.style_crops.batch(0, 2).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("strength", [0.0, 0.5, 3.0])
def test_style_strength_scales_the_style_and_adversarial_terms(tmp_path, strength):
    trainer = Trainer(_config(style_strength=strength, warmup_steps=0, distill_weight=0.7), tmp_path / "run")
    photos = trainer.data.content_crops.batch(0, 2)
    output = trainer.generator(photos)
    terms = trainer.objective(photos, output, discriminator=trainer.discriminator, teachers=photos.flip(-1))
    config = trainer.config
    stylised = config.style_weight * terms["style"] + config.adversarial_weight * terms["adversarial"]
    # the distillation term is Gatys's own trade-off, so the strength leaves it alone
    expected = config.content_weight * terms["content"] + strength * stylised + 0.7 * terms["distill"]
    assert torch.allclose(terms["total"], expected, rtol=1e-6)
    with pytest.raises(ValueError, match="style_strength"):
        _config(style_strength=-1).validate()


def test_fp16_trains_with_fp32_style_targets_and_its_scaler_skips_overflowing_steps(tmp_path):
    trainer = Trainer(_config(precision="fp16", warmup_steps=0, steps=3), tmp_path / "run")
    targets, _ = trainer.objective.style_targets[0]
    assert all(target.dtype == torch.float32 and target.isfinite().all() for target in targets.values())
    assert trainer.scaler_g.is_enabled() and trainer.scaler_d.is_enabled()
    trainer.train(progress=False)
    assert all(math.isfinite(value) for record in trainer.history for value in record.values())

    # An overflowing gradient (as fp16 produces) must skip the generator's update and lower the loss scale.
    weight = next(trainer.generator.parameters())
    before, scale = weight.detach().clone(), trainer.scaler_g.get_scale()
    hook = weight.register_hook(lambda grad: grad * float("inf"))
    trainer.train_step()
    hook.remove()
    assert torch.equal(weight.detach(), before) and trainer.scaler_g.get_scale() < scale


def test_loader_workers_none_on_a_cpu_and_the_cores_but_one_per_gpu_process(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert loader_workers(TrainConfig(), cpu, ProcessInfo()) == 0
    assert loader_workers(TrainConfig(), cuda, ProcessInfo()) == 15
    assert loader_workers(TrainConfig(), cuda, ProcessInfo(rank=0, world_size=4)) == 3
    assert loader_workers(TrainConfig(), cuda, ProcessInfo(rank=0, world_size=16)) == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 128)
    assert loader_workers(TrainConfig(), cuda, ProcessInfo()) == 16
    assert loader_workers(TrainConfig(workers=3), cpu, ProcessInfo()) == 3


_D_LOSSES = {
    "lsgan": lambda r, f: (r - 1).pow(2).mean() + f.pow(2).mean(),
    "hinge": lambda r, f: torch.relu(1 - r).mean() + torch.relu(1 + f).mean(),
    "nonsaturating": lambda r, f: torch.nn.functional.softplus(-r).mean() + torch.nn.functional.softplus(f).mean(),
}
_G_LOSSES = {
    "lsgan": lambda f: (f - 1).pow(2).mean(),
    "hinge": lambda f: -f.mean(),
    "nonsaturating": lambda f: torch.nn.functional.softplus(-f).mean(),
}


@pytest.mark.parametrize(
    ("kind", "scales", "r1_weight"), [("lsgan", 1, 0.0), ("hinge", 2, 1.0), ("nonsaturating", 1, 0.0)]
)
def test_the_trainer_applies_each_adversarial_loss_r1_and_multi_scale_d_as_written(tmp_path, kind, scales, r1_weight):
    trainer = Trainer(
        _config(adversarial_loss=kind, d_scales=scales, r1_weight=r1_weight, spectral_norm=False, warmup_steps=0),
        tmp_path,
    )
    seen = {}
    d_step = trainer._discriminator_step

    def spy(real, fake, style):
        seen.update(real=real.clone(), fake=fake.clone(), d_before=copy.deepcopy(trainer.discriminator))
        return d_step(real, fake, style)

    trainer._discriminator_step = spy
    terms = trainer.train_step()
    real, fake = seen["real"], seen["fake"]
    with torch.no_grad():
        before_real, before_fake = seen["d_before"](real), seen["d_before"](fake)
        after_fake = trainer.discriminator(fake)
    assert len(before_real) == scales and before_real[0].shape[-1] > (before_real[-1].shape[-1] if scales > 1 else 0)
    expected_d = sum(_D_LOSSES[kind](r, f) for r, f in zip(before_real, before_fake)) / scales
    assert terms["d_loss"].item() == pytest.approx(expected_d.item(), rel=1e-5)
    expected_g = sum(_G_LOSSES[kind](f) for f in after_fake) / scales  # G meets the D that was just updated
    assert terms["adversarial"].item() == pytest.approx(expected_g.item(), rel=1e-5)
    if r1_weight:
        images = real.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(sum(m.sum() for m in seen["d_before"](images)), images)
        assert terms["r1"].item() == pytest.approx(gradient.pow(2).flatten(1).sum(1).mean().item(), rel=1e-4)
    else:
        assert "r1" not in terms


def test_the_ema_follows_its_formula_with_the_short_run_warm_start(tmp_path):
    trainer = Trainer(_config(ema_decay=0.5, steps=4, warmup_steps=1), tmp_path)
    expected = [p.detach().clone() for p in trainer.generator.parameters()]
    for _ in range(4):
        step = trainer.step
        trainer.train_step()
        decay = min(0.5, (1 + step) / (10 + step))  # 0.1, 0.18, 0.25, 0.31: capped at ema_decay only later
        for average, weight in zip(expected, trainer.generator.parameters()):
            average.mul_(decay).add_(weight.detach(), alpha=1 - decay)
    for average, ema in zip(expected, trainer.ema.parameters()):
        assert torch.allclose(average, ema, atol=1e-6)
    assert not torch.allclose(expected[0], next(trainer.generator.parameters()))  # it is an average, not a copy


def test_the_temporal_term_is_logged_after_warm_up_and_trains(tmp_path):
    trainer = Trainer(_config(temporal_weight=1.0, steps=4), tmp_path / "run")
    trainer.train(progress=False)
    log = _log(tmp_path / "run")
    assert ["temporal" in r for r in log] == [False, False, True, True]
    assert all(0 < r["temporal"] < 1 for r in log[2:])
    with pytest.raises(ValueError, match="temporal_weight"):
        _config(temporal_weight=-1.0).validate()


def test_a_multi_style_run_trains_each_style_in_turn_and_resumes_exactly(tmp_path):
    config = _config(styles=["woodcut", "swirls"], multi_style=True)
    trainer = Trainer(config, tmp_path / "straight")
    assert [trainer.step_style(step) for step in range(5)] == [0, 1, 0, 1, 0]
    assert trainer.generator.styles == 2 and trainer.discriminator.settings["styles"] == 2
    # The painting crops of step 1 (items 2 and 3 at batch 2) are crops of the second style's painting.
    assert [trainer.data.style_crops.style_of(k) for k in range(6)] == [0, 0, 1, 1, 0, 0]
    assert torch.equal(trainer.data.style_crops[3][0], trainer.data.style_crops.crops[1][3][0])
    trainer.train(progress=False)
    Trainer(_config(styles=["woodcut", "swirls"], multi_style=True, steps=3), tmp_path / "split").train(progress=False)
    Trainer.resume(tmp_path / "split", steps=6).train(progress=False)
    for a, b in zip(_log(tmp_path / "straight"), _log(tmp_path / "split")):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)["generator_settings"]["styles"] == 2
    photos = trainer.data.held_out  # the samples: a row of held-out photos, then one row per style
    assert trainer.samples().shape == image_grid(photos * 3, columns=len(photos)).shape
    with pytest.raises(ValueError, match="at least two styles"):
        _config(multi_style=True).validate()


def test_extending_a_run_trains_only_the_new_styles_norm_parameters(tmp_path):
    Trainer(_config(styles=["woodcut", "swirls"], multi_style=True), tmp_path / "two").train(progress=False)
    old = torch.load(tmp_path / "two" / CHECKPOINT, weights_only=True)["ema"]
    config = _config(
        styles=["woodcut", "swirls", "pointillism"], multi_style=True, extend=str(tmp_path / "two"), warmup_steps=0
    )
    extended = Trainer(config, tmp_path / "three")
    assert list(extended.trained_styles) == [2] and extended.step_style(1) == 2
    extended.train(progress=False)
    new = extended.generator.state_dict()
    for key, value in old.items():
        if value.dim() == 2 and value.shape[0] == 2:  # a conditional norm's scales or shifts, one row per style
            assert torch.equal(new[key][:2], value) and not torch.equal(new[key][2], value.mean(0))
        else:
            assert torch.equal(new[key], value), f"{key} changed"
    with pytest.raises(ValueError, match="already has 3 styles"):
        Trainer(_config(styles=["woodcut", "swirls"], multi_style=True, extend=str(tmp_path / "three")), tmp_path / "x")
    Trainer(_config(), tmp_path / "one").train(progress=False)
    with pytest.raises(ValueError, match="not a multi-style run"):
        Trainer(_config(styles=["woodcut", "swirls"], multi_style=True, extend=str(tmp_path / "one")), tmp_path / "y")


def test_a_preserve_color_run_learns_from_grey_paintings_and_keeps_the_photos_colours(tmp_path, monkeypatch):
    config = _config(preserve_color=True)
    trainer = Trainer(config, tmp_path / "run")
    [(paintings, _)] = style_groups(config)
    painting = paintings[0].contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        grams = {layer: gram_matrix(trainer.extractor(grey(painting))[layer]) for layer in STYLE_LAYERS}
    expected, _ = relative_style_targets([grams], [1.0])
    for layer in STYLE_LAYERS:
        assert torch.allclose(trainer.objective.style_targets[0][0][layer], expected[layer], rtol=1e-4)
    seen_by_d = []
    original = trainer._discriminator_step
    monkeypatch.setattr(
        trainer,
        "_discriminator_step",
        lambda real, fake, style: seen_by_d.append((real, fake)) or original(real, fake, style),
    )
    trainer.train(progress=False)
    assert seen_by_d and all(torch.equal(x[:, 0], x[:, 2]) for pair in seen_by_d for x in pair)  # grey, both sides
    photo = trainer.data.held_out[0]
    with torch.no_grad():
        output = trainer.sampling_generator(photo)
    inside = ((output > 0.01) & (output < 0.99)).all(1, keepdim=True).expand(-1, 2, -1, -1)
    chroma_error = (rgb_to_ycbcr(output)[:, 1:] - rgb_to_ycbcr(photo)[:, 1:]).abs().masked_select(inside)
    assert chroma_error.max() < 1e-4
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["generator_settings"]["photo_chroma"]


def test_a_contrast_aware_run_trains_on_jittered_crops_and_resumes_as_it_was_built(tmp_path):
    trainer = Trainer(_config(steps=3, contrast_aware=True, contrast_jitter=[0.5, 1.5]), tmp_path / "run")
    assert trainer.generator.contrast_aware and trainer.data.content_crops.contrast == (0.5, 1.5)
    trainer.train(progress=False)
    resumed = Trainer.resume(tmp_path / "run", steps=4)
    assert resumed.generator.contrast_aware and resumed.data.content_crops.contrast == (0.5, 1.5)
    resumed.train(progress=False)
    assert resumed.step == 4
    assert Trainer(_config(), tmp_path / "plain").data.content_crops.contrast is None
    with pytest.raises(ValueError, match="contrast_jitter"):
        _config(contrast_jitter=[1.5, 0.5]).validate()


@pytest.fixture
def identity_teachers(monkeypatch):
    """'Gatys' that returns the photo unchanged, so a teacher crop should equal its photo crop."""
    calls = []

    def unchanged(photo, *args, **kwargs):
        calls.append(tuple(photo.shape))
        return SimpleNamespace(image=photo)

    monkeypatch.setattr(teachers, "stylize_gatys", unchanged)
    return calls


def test_distillation_trains_towards_each_photos_teacher_and_resumes_exactly(tmp_path, identity_teachers):
    # With the photo as its own teacher the distillation term must equal the content term, step by step:
    # it would not if the two crops' windows, flips or order differed.
    Trainer(_config(distill_weight=2.0), tmp_path / "straight").train(progress=False)
    log = _log(tmp_path / "straight")
    assert "distill" not in log[0] and "distill" not in log[1]  # warm-up: reconstruction only
    for record in log[2:]:
        assert math.isclose(record["distill"], record["content"], rel_tol=0.02)
    assert len(identity_teachers) == 4 and len(list((tmp_path / "straight" / "teachers").iterdir())) == 4
    Trainer(_config(distill_weight=2.0, steps=3), tmp_path / "split").train(progress=False)
    calls = len(identity_teachers)
    Trainer.resume(tmp_path / "split", steps=6).train(progress=False)
    assert len(identity_teachers) == calls  # the resumed run reads the teachers the first part made
    for a, b in zip(log, _log(tmp_path / "split")):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def test_an_unreadable_photo_has_no_teacher_and_no_crops(tmp_path, identity_teachers):
    folder = _photo_folder(tmp_path / "photos", broken=["p3_broken.png"])
    trainer = Trainer(_config(content_dir=str(folder), distill_weight=1.0), tmp_path / "run")
    with pytest.warns(UserWarning, match="p3_broken.png"):
        trainer.prepare_teachers(progress=False)
    assert len(trainer.data.content_crops.sources) == len(trainer.data.teacher_crops.sources) == 3  # 2 of 6 held out
    assert "p3_broken" not in " ".join(str(source) for source in trainer.data.content_crops.sources)
    photos, _, taught = trainer.data.batches(0)
    assert torch.allclose(photos, taught, atol=1 / 255)


def test_distillation_needs_one_style_and_a_non_negative_weight():
    with pytest.raises(ValueError, match="distill_weight: one style"):
        TrainConfig(styles=["swirls", "woodcut"], multi_style=True, distill_weight=1.0).validate()
    with pytest.raises(ValueError, match="distill_weight must be >= 0"):
        TrainConfig(distill_weight=-1.0).validate()
