"""Adversarial training of the feed-forward generator: the trainer, its step, checkpoints and exact resume.

One step (Trainer.train_step): the discriminator D learns to tell crops of the painting from the
generator's current outputs; then the generator G learns to lower its objective (stylelib.objective:
content + style_strength * (Gram style + adversarial) + optional terms); then an exponential moving
average (EMA) of G's weights follows G, and that copy paints the samples.
Several styles are blended into one by default; with `multi_style` one network learns each of them
(conditional instance norm): step k trains style k mod S, with that painting's Gram targets and
crops and D's verdicts for it. `extend` adds styles to a trained multi-style network by training only
the new styles' norm parameters. With `preserve_color` the generator paints luminance only and
keeps each photo's chroma (Gatys et al. 2017's luminance-only transfer, trained): the content, style
and adversarial terms see grey images, the Gram targets and D's real crops are the paintings' grey.
The run's hyperparameters are a TrainConfig (stylelib.train_config); its crops come from
stylelib.feeding.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import distributed
from .features import STYLE_LAYERS, VGG19Features
from .feeding import TrainingData, style_groups, to_device
from .images import grey, image_grid, save_image
from .losses import (
    discriminator_loss,
    gram_matrix,
    r1_penalty,
    random_warp_grids,
    relative_style_targets,
    warp,
)
from .models import ConditionalInstanceNorm2d, Discriminator, Generator
from .objective import GeneratorObjective
from .runtime import Runtime, check_compiler, evaluation_mode, make_runtime, seed_everything
from .storage import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    atomic_write,
    load_checkpoint,
    random_states,
    restore_random_states,
    save_checkpoint,
)
from .train_config import PREDATED_FIELDS, TrainConfig, learning_rate_factor

EXTEND_STEPS = 200  # default steps for `train --extend`: only norm parameters train, from a trained network
# The temporal term's perturbation T(x) + n: shifts and zooms up to 2% of the crop, noise of std 0.02,
# about what separates two neighbouring video frames.
TEMPORAL_SHIFT, TEMPORAL_ZOOM, TEMPORAL_NOISE = 0.02, 0.02, 0.02


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # photos, paintings, Gatys teachers (or None)


class TrainingDivergedError(FloatingPointError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[dict]:
    """Turn Ctrl-C into a flag checked between steps, so the state saved on exit is consistent."""
    flag = {"interrupted": False}
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: flag.update(interrupted=True))
    except ValueError:  # not the main thread: leave Ctrl-C alone
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    """Owns the networks, optimisers, objective, data and run folder of one training run (or one process of it)."""

    def __init__(self, config: TrainConfig, run_dir: str | os.PathLike, *, _resuming: bool = False) -> None:
        config.validate()
        self.config = config
        self.run_dir = Path(run_dir)
        if (self.run_dir / CHECKPOINT).exists() and not _resuming:
            raise FileExistsError(f"'{self.run_dir}' already holds a run; resume it or choose another folder")
        self.process = distributed.process_info()
        seed_everything(config.seed)
        self.runtime = _process_runtime(config, self.process)
        distributed.start(self.process, self.runtime.device)
        device = self.runtime.device
        groups = style_groups(config)
        self.style_count = len(groups) if config.multi_style else 1
        self.generator = Generator.from_name(
            config.generator, self.style_count, photo_chroma=config.preserve_color, contrast_aware=config.contrast_aware
        )
        self._seen = grey if config.preserve_color else _unchanged  # what the losses and D look at
        self.trained_styles = range(self.style_count)  # the styles whose steps this run trains
        if config.extend is not None:
            self.trained_styles = _extend_generator(self.generator, config.extend)
        self.generator.to(device, memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.generator).requires_grad_(False) if config.ema_decay > 0 else None
        self.discriminator = None
        if config.adversarial_weight > 0:
            self.discriminator = Discriminator(
                config.d_width, config.d_layers, config.d_scales, config.spectral_norm, self.style_count
            ).to(device, memory_format=torch.channels_last)
        # Under torchrun the wrappers average gradients over the processes; alone they are the networks.
        self._train_generator = _data_parallel(self.generator, self.process, device)
        self._train_discriminator = _data_parallel(self.discriminator, self.process, device)
        trainable = [p for p in self.generator.parameters() if p.requires_grad]
        self.opt_g = torch.optim.Adam(trainable, lr=config.lr_generator, betas=(0.5, 0.999))
        self.opt_d = (
            torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_discriminator, betas=(0.5, 0.999))
            if self.discriminator is not None
            else None
        )
        self.scaler_g, self.scaler_d = self.runtime.grad_scaler(), self.runtime.grad_scaler()
        self.extractor = VGG19Features(layers=(*STYLE_LAYERS, *config.content_layers)).to(
            device, memory_format=torch.channels_last
        )
        style_targets = [self._style_targets(paintings, blend) for paintings, blend in groups]
        loss_network = self.extractor
        if config.compile:  # after the style targets: the paintings' sizes would each compile a graph
            check_compiler(device)
            self._train_generator = torch.compile(self._train_generator)
            if self._train_discriminator is not None:
                self._train_discriminator = torch.compile(self._train_discriminator)
            loss_network = torch.compile(self.extractor)
        self.objective = GeneratorObjective(
            config, loss_network, style_targets, self.runtime, self._seen, self.process.world_size
        )
        self.data = TrainingData(config, groups, self.runtime, self.process, self.trained_styles)
        self.step = 0
        self.train_seconds = 0.0  # every step's time since the run began, across resumes
        self.history: list[dict[str, float]] = []
        self._pending: list[tuple[int, bool, float, dict[str, torch.Tensor]]] = []

    @classmethod
    def resume(
        cls,
        run_dir: str | os.PathLike,
        steps: int | None = None,
        device: str | None = None,
        compile: bool | None = None,
    ) -> Trainer:
        """Reload a run from its checkpoint; `steps` raises the total step count, `device` moves the run.

        `compile` turns torch.compile on or off for the rest of the run (it changes speed, not the maths).
        A checkpoint written on a GPU resumes on a CPU and the reverse.
        """
        path = Path(run_dir) / CHECKPOINT
        if not path.exists():
            raise ValueError(f"no checkpoint in '{run_dir}': nothing to resume (start a new run instead)")
        state = load_checkpoint(path)
        config = TrainConfig.from_dict({**PREDATED_FIELDS, **state["config"]})
        if steps is not None:
            config.steps = steps
        if device is not None:
            config.device = device
        if compile is not None:
            config.compile = compile
        trainer = cls(config, run_dir, _resuming=True)
        trainer._load_state(state)
        return trainer

    def _style_targets(
        self, paintings: list[torch.Tensor], blend: list[float]
    ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """One style's Gram targets and layer weights (its paintings blended)."""
        # fp32 and outside autocast: fp16 Gram matrices of a large painting overflow.
        with torch.no_grad():
            grams = [
                {
                    layer: gram_matrix(self.extractor(self._seen(to_device(p, self.runtime.device)))[layer])
                    for layer in STYLE_LAYERS
                }
                for p in paintings
            ]
        return relative_style_targets(grams, blend)

    def step_style(self, step: int | None = None) -> int:
        """The style a step trains (0 for a one-style run): the trained styles in turn."""
        step = self.step if step is None else step
        return self.trained_styles[step % len(self.trained_styles)]

    def prepare_teachers(self, progress: bool = True) -> None:
        """With distill_weight: Gatys's output for every training photo, made once into the run's teachers/."""
        self.data.prepare_teachers(self.run_dir / "teachers", progress)

    def train_step(self, batch: Batch | None = None) -> dict[str, torch.Tensor]:
        """One step: D learns to tell painting crops from the current outputs, then G learns to keep the
        photos' content, match the painting's Gram matrices and fool D; then the EMA copy follows G.

        `batch` (photos, paintings, teachers) replaces the step's own crops. Returns the step's loss
        terms as tensors still on the device: reading them back would make the host wait for the
        accelerator, so they are read in bulk at log steps (flush_records).
        """
        warmup = self.step < self.config.warmup_steps
        self._set_learning_rates()
        started = time.perf_counter()
        if batch is None:
            self.prepare_teachers(progress=False)
            batch = self.data.batches(self.step)
        photos, paintings, teachers = batch
        style = self.step_style()
        if self.style_count > 1:
            self.generator.set_style(one_hot(style, self.style_count))
        perturbed = None if warmup or self.config.temporal_weight == 0 else self._perturb(photos)
        with self.runtime.autocast():
            if perturbed is None:
                output = self._train_generator(photos)
            else:  # one forward pass for both batches, as DDP requires
                output, perturbed_output = self._train_generator(torch.cat([photos, perturbed[0]])).chunk(2)
        terms: dict[str, torch.Tensor] = {}
        if self.discriminator is not None and not warmup:
            terms.update(self._discriminator_step(self._seen(paintings), self._seen(output.detach()), style))
        moved = None if perturbed is None else (perturbed_output, perturbed[1])
        generator_terms = self.objective(photos, output, style, self.discriminator, teachers, moved, warmup)
        self._generator_step(generator_terms["total"])
        self._update_ema()
        self.step += 1
        terms = {key: value.detach() for key, value in {**generator_terms, **terms}.items()}
        self._pending.append((self.step, warmup, time.perf_counter() - started, terms))
        return terms

    def _discriminator_step(self, real: torch.Tensor, fake: torch.Tensor, style: int = 0) -> dict[str, torch.Tensor]:
        """One update of D on painting crops (real) and the generator's detached outputs (fake)."""
        # Real and fake go through D in one batch: one forward per backward, as DDP requires.
        with self.runtime.autocast():
            logits = self._train_discriminator(torch.cat([real, fake]), style)
        real_logits, fake_logits = [m[: len(real)] for m in logits], [m[len(real) :] for m in logits]
        loss = discriminator_loss(real_logits, fake_logits, self.config.adversarial_loss)
        terms = {"d_loss": loss}
        if self.config.r1_weight > 0:
            terms["r1"] = self._r1_penalty(real, style)
            loss = loss + self.config.r1_weight / 2 * terms["r1"]
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        terms["d_real"] = torch.stack([r.float().mean() for r in real_logits]).mean()
        terms["d_fake"] = torch.stack([f.float().mean() for f in fake_logits]).mean()
        return terms

    def _r1_penalty(self, real: torch.Tensor, style: int) -> torch.Tensor:
        """R1 in fp32, on the unwrapped D (its gradient reaches D's weights through the D loss's backward)."""
        real = real.detach().float().requires_grad_(True)
        return r1_penalty(self.discriminator(real, style), real)

    def _generator_step(self, total: torch.Tensor) -> None:
        """One update of G down the gradient of its objective (scaled, for fp16)."""
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(total).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()

    def _set_learning_rates(self) -> None:
        factor = learning_rate_factor(self.config, self.step)
        for optimizer, base in ((self.opt_g, self.config.lr_generator), (self.opt_d, self.config.lr_discriminator)):
            for group in optimizer.param_groups if optimizer is not None else ():
                group["lr"] = base * factor

    def _perturb(self, photos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """T(x) + n for the temporal term: the photos slightly shifted and zoomed, plus noise; and T's grids."""
        grids = random_warp_grids(len(photos), *photos.shape[-2:], TEMPORAL_SHIFT, TEMPORAL_ZOOM, photos.device)
        noisy = warp(photos, grids) + TEMPORAL_NOISE * torch.randn_like(photos)
        return noisy.clamp(0.0, 1.0).contiguous(memory_format=torch.channels_last), grids

    def flush_records(self) -> list[dict[str, float]]:
        """Read back the losses of the steps not yet read (averaged over processes), check them, add them to history.

        Raises TrainingDivergedError at the first NaN or infinite term; the last checkpoint on disk
        predates it, because checkpoints are written only after a flush.
        """
        if not self._pending:
            return []
        values = distributed.all_mean(torch.cat([torch.stack(list(t.values())).float() for *_, t in self._pending]))
        numbers = iter(values.tolist())
        records = []
        for step, warmup, seconds, terms in self._pending:
            record = {name: next(numbers) for name in terms}
            bad = [name for name, value in record.items() if not math.isfinite(value)]
            if bad:
                self._pending = []
                raise TrainingDivergedError(
                    f"loss '{bad[0]}' became {record[bad[0]]} at step {step}; the last good checkpoint in "
                    f"'{self.run_dir}' is kept: lower the learning rates or the adversarial/style weights and "
                    "resume or restart"
                )
            record.update(step=step, warmup=float(warmup), seconds=seconds)
            records.append(record)
        self._pending = []
        self.history += records
        self.train_seconds += sum(record["seconds"] for record in records)
        return records

    def _update_ema(self) -> None:
        if self.ema is None:
            return
        # Short runs: average over at most the steps taken so far, so early samples are not stale.
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.generator.parameters()), 1 - decay)

    @property
    def sampling_generator(self) -> Generator:
        """The network used for samples and export: the EMA copy when there is one."""
        return self.ema if self.ema is not None else self.generator

    def train(self, callback: Callable[[Trainer, dict[str, float]], None] | None = None, progress: bool = True) -> None:
        """Train up to config.steps, logging, sampling and checkpointing; Ctrl-C saves, then stops.

        Under torchrun every process runs this; only rank 0 writes files and shows progress.
        """
        config, main = self.config, self.process.is_main
        if self.step == 0 and main:
            atomic_write(self.run_dir / CONFIG, lambda tmp: Path(tmp).write_text(config.to_json()))
        self.prepare_teachers(progress)
        bar = tqdm(total=config.steps, initial=self.step, disable=not (progress and main), desc="train", leave=False)
        with _deferred_interrupt() as flag:
            while self.step < config.steps:
                self.train_step()
                bar.update(1)
                last = self.step == config.steps
                log_now = self.step % config.log_every == 0 or last
                checkpoint_now = self.step % config.checkpoint_every == 0 or last
                if log_now:
                    record = self.flush_records()[-1]
                    bar.set_postfix({k: f"{record[k]:.3g}" for k in ("content", "style", "adversarial") if k in record})
                    if main:
                        self._log(record)
                    if callback is not None:
                        callback(self, record)
                if (self.step % config.sample_every == 0 or last) and main:
                    self.save_samples()
                interrupted = self._agreed_interrupt(flag["interrupted"], log_now)
                if checkpoint_now or interrupted:
                    self.flush_records()  # every process checks the losses before rank 0 saves
                    if main:
                        self.save_checkpoint()
                if interrupted:
                    bar.close()
                    distributed.barrier()
                    raise KeyboardInterrupt(f"training interrupted; checkpoint saved at step {self.step}")
        bar.close()
        distributed.barrier()

    def _agreed_interrupt(self, interrupted: bool, log_now: bool) -> bool:
        """Alone: stop at once on Ctrl-C. Under torchrun: all processes agree to stop, at a log step."""
        if not self.process.is_distributed:
            return interrupted
        if not log_now:
            return False
        return bool(distributed.all_sum(torch.tensor(float(interrupted), device=self.runtime.device)).item())

    def _log(self, record: dict[str, float]) -> None:
        with open(self.run_dir / METRICS, "a") as log:
            log.write(json.dumps(record) + "\n")

    def samples(self, generator: Generator | None = None) -> torch.Tensor:
        """Grid of the held-out photos (top row) and their stylised versions (a row per trained style)."""
        network = generator or self.sampling_generator
        outputs = []
        for style in self.trained_styles:
            previous = network.set_style(one_hot(style, self.style_count)) if self.style_count > 1 else None
            with torch.no_grad(), self.runtime.autocast(), evaluation_mode(network):
                outputs += [
                    network(to_device(photo, self.runtime.device)).float().cpu() for photo in self.data.held_out
                ]
            if previous is not None:
                network.set_style(previous)
        return image_grid([*self.data.held_out, *outputs], columns=len(self.data.held_out))

    def save_samples(self) -> Path:
        """Write samples/step_NNNNNN.png and return its path."""
        return save_image(self.samples(), self.run_dir / "samples" / f"step_{self.step:06d}.png", overwrite=True)

    def save_checkpoint(self) -> Path:
        """Atomically write everything needed to continue exactly: networks, optimisers, scalers, RNG states.

        The file loads with torch.load(weights_only=True) on any device; the data stream needs no
        state of its own, because its crops follow from the step number.
        """
        self.flush_records()  # never save a state whose losses were not checked
        state = {
            "step": self.step,
            "train_seconds": self.train_seconds,
            "config": dataclasses.asdict(self.config),
            "generator": self.generator.state_dict(),
            "generator_settings": self.generator.settings,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "discriminator": self.discriminator.state_dict() if self.discriminator is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "rng": random_states(),
        }
        return save_checkpoint(state, self.run_dir / CHECKPOINT)

    def _load_state(self, state: dict) -> None:
        self.step = state["step"]
        self.train_seconds = state["train_seconds"] if "train_seconds" in state else self._logged_seconds_estimate()
        self.generator.load_state_dict(state["generator"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["opt_d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        restore_random_states(state["rng"])
        if self.process.is_main:
            _truncate_log(self.run_dir / METRICS, self.step)

    def _logged_seconds_estimate(self) -> float:
        """Training time of a checkpoint that predates its record: the logged steps' mean time x steps."""
        seconds = [record["seconds"] for record in read_log(self.run_dir / METRICS) if record["step"] <= self.step]
        return sum(seconds) / len(seconds) * self.step if seconds else 0.0


def _unchanged(images: torch.Tensor) -> torch.Tensor:
    return images


def _process_runtime(config: TrainConfig, process: distributed.ProcessInfo) -> Runtime:
    """The runtime of this process: under torchrun each process takes the GPU of its local rank."""
    runtime = make_runtime(config.device, config.precision)
    if process.is_distributed and runtime.device.type == "cuda":
        device = torch.device("cuda", process.local_rank)
        torch.cuda.set_device(device)
        return Runtime(device, runtime.autocast_dtype)
    return runtime


def _data_parallel(module: torch.nn.Module | None, process: distributed.ProcessInfo, device: torch.device):
    """DistributedDataParallel around `module` when several processes train, else the module itself."""
    if module is None or not process.is_distributed:
        return module
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint, so a resumed run's log has no duplicates."""
    if not path.exists():
        return
    kept = [json.dumps(record) for record in read_log(path) if record["step"] <= step]
    atomic_write(path, lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in kept)))


def read_log(path: str | os.PathLike) -> list[dict]:
    """The records of a metrics.jsonl; a last line torn by a crash is dropped, any other bad line is an error."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):
                break  # the write that a crash interrupted
            raise ValueError(f"'{path}' line {number} is not JSON ({error}); fix or delete that line") from error
    return records


def one_hot(style: int, styles: int) -> torch.Tensor:
    """Style weights [styles] selecting style number `style` alone."""
    return torch.nn.functional.one_hot(torch.tensor(style), styles).float()


def _extend_generator(generator: Generator, run_dir: str) -> range:
    """Load a trained multi-style run into the first styles of `generator`, start the others at their mean,
    and leave only the norm parameters trainable; returns the new styles' indices."""
    state = load_checkpoint(Path(run_dir) / CHECKPOINT)
    old = Generator.from_settings(state.get("generator_settings"))
    old.load_state_dict(state["ema"] if state.get("ema") is not None else state["generator"])
    if old.styles < 2 or {**old.settings, "styles": generator.styles} != generator.settings:
        raise ValueError(
            f"'{run_dir}' is not a multi-style run of this generator ({old.settings}): extend a run trained with "
            "multi_style and the same generator"
        )
    if old.styles >= generator.styles:
        raise ValueError(f"'{run_dir}' already has {old.styles} styles: give the new styles after its own")
    merged = {}
    for key, value in old.state_dict().items():
        target = generator.state_dict()[key]
        if isinstance(generator.get_submodule(key.rsplit(".", 1)[0]), ConditionalInstanceNorm2d):
            value = torch.cat([value, value.mean(0, keepdim=True).expand(len(target) - len(value), -1)])
        merged[key] = value
    generator.load_state_dict(merged)
    generator.requires_grad_(False)
    for module in generator.modules():
        if isinstance(module, ConditionalInstanceNorm2d):
            module.requires_grad_(True)
    return range(old.styles, generator.styles)
