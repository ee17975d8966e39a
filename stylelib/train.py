"""Adversarial training of the feed-forward generator: config, trainer, checkpoints, exact resume.

Generator objective (every term relative, so the weights are dimensionless):
  content_weight * ||F(G(p)) - F(p)||^2 / ||F(p)||^2                         (VGG19 relu4_2 by default)
+ style_strength * style_weight * mean_l ||G_l(G(p)) - A_l||^2 / ||A_l||^2    (Gram matrices, relu1_1..relu5_1)
+ style_strength * adversarial_weight * L_adv(D(G(p)))                        (D: PatchGAN, real = style crops)
+ distill_weight * ||F(G(p)) - F(T(p))||^2 / ||F(T(p))||^2                   (T(p): Gatys's output; 0 = off)
+ tv_weight * TV(G(p))
`style_strength` is the user's dial on top of the calibrated weights: 1 = the recipe, below 1 keeps
more of the photo, above 1 paints more of the painting.
Several styles are blended into one by default; with `multi_style` one network learns each of them
(conditional instance norm): step k trains style k mod S, with that painting's Gram targets and
crops and D's verdicts for it. `extend` adds styles to a trained multi-style network by training only
the new styles' norm parameters. With `preserve_color` the generator paints luminance only and
keeps each photo's chroma (Gatys et al. 2017's luminance-only transfer, trained): the content, style
and adversarial terms see grey images, the Gram targets and D's real crops are the paintings' grey.
It starts with `warmup_steps` of reconstruction only (content + pixel L1), so the generator
begins as a near-identity map and the style is added onto a photo rather than onto noise.
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
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import distributed
from .data import HELD_OUT_PHOTOS, TRAIN_PHOTOS, load_photo, load_style_groups, resolve_image
from .datasets import RandomCrops, StyleCycle, crop_loader, find_images, warn_skipped
from .errors import InputError
from .features import STYLE_LAYERS, VGG19Features
from .images import STYLE_SCALES, grey, image_grid, resize_long_side, resize_style_image, save_image
from .losses import (
    ADVERSARIAL_LOSSES,
    check_blend_weights,
    discriminator_loss,
    generator_adversarial_loss,
    gram_matrix,
    r1_penalty,
    random_warp_grids,
    relative_squared_error,
    relative_style_targets,
    style_loss,
    temporal_consistency_loss,
    total_variation,
    warp,
)
from .models import GENERATOR_CONFIGS, ConditionalInstanceNorm2d, Discriminator, Generator
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
from .teachers import gatys_teachers

LR_SCHEDULES = ("constant", "cosine")
# What runs saved before these fields existed were trained with, for resuming or extending them.
PREDATED_FIELDS = {"style_scale": "long_side"}
EXTEND_STEPS = 200  # default steps for `train --extend`: only norm parameters train, from a trained network
# The temporal term's perturbation T(x) + n: shifts and zooms up to 2% of the crop, noise of std 0.02,
# about what separates two neighbouring video frames.
TEMPORAL_SHIFT, TEMPORAL_ZOOM, TEMPORAL_NOISE = 0.02, 0.02, 0.02


class TrainingDivergedError(FloatingPointError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    """Every hyperparameter of a training run (saved as config.json beside the run)."""

    styles: list[str] = field(default_factory=lambda: ["swirls"])  # image paths, folders or bundled names
    style_weights: list[float] | None = None  # blend weights, one per style
    multi_style: bool = False  # one network for every style (conditional instance norm), instead of one blend
    extend: str | None = None  # a multi-style run whose styles come first in `styles`: train only the new ones' norms
    content_dir: str | None = None  # folder of photos; None = the bundled photos
    generator: str = "default"  # "default" or "lite"
    size: int = 256  # training crop side, px
    style_size: int = 384  # the paintings' scale for Gram targets and D's crops: about style_size^2 px each
    style_scale: str = "area"  # "area": every painting gets style_size^2 px (shape kept); "long_side": that long side
    batch_size: int = 4
    steps: int = 400  # total steps, warm-up included
    warmup_steps: int = 50  # reconstruction-only steps at the start
    lr_generator: float = 1e-3
    lr_discriminator: float = 2e-4
    lr_schedule: str = "constant"  # "constant", or "cosine": after warm-up, both rates decay to lr_final_fraction
    lr_final_fraction: float = 0.1  # the cosine schedule's last learning rate, as a fraction of the first
    content_weight: float = 1.0
    style_weight: float = 1.5  # calibrated on the bundled paintings (benchmarks/results/recipe_search.md)
    adversarial_weight: float = 0.05  # 0 = no discriminator (Johnson et al.)
    style_strength: float = 1.0  # scales the style and adversarial weights together: <1 more photo, >1 more painting
    tv_weight: float = 0.0
    distill_weight: float = 0.0  # pull G(p)'s content features towards Gatys's output for p (stylelib.teachers)
    temporal_weight: float = 0.0  # video stability: G(T(x) + noise) ~ T(G(x)) for small random shifts and zooms
    preserve_color: bool = False  # paint the painting's luminance only: outputs keep the photo's colours
    adversarial_loss: str = "lsgan"  # "lsgan", "hinge" or "nonsaturating"
    r1_weight: float = 0.0  # R1 gradient penalty on real images
    d_width: int = 32
    d_layers: int = 3  # stride-2 layers: 3 -> 70 px receptive field
    d_scales: int = 1
    spectral_norm: bool = True
    ema_decay: float = 0.99  # 0 = no EMA copy of the generator
    content_layers: list[str] = field(default_factory=lambda: ["relu4_2"])
    contrast_aware: bool = False  # the generator's norm layers see each photo's contrast (models.ContrastModulation)
    contrast_jitter: list[float] = field(default_factory=lambda: [1.0, 1.0])  # crop contrast factor range; [1, 1] off
    log_every: int = 10
    sample_every: int = 100
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    workers: int = -1  # photo-decoding processes per training process; -1 = auto (none on a CPU)
    compile: bool = False  # torch.compile G, D and the loss network: a minute or two to start, then faster steps

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot work."""
        for item in dataclasses.fields(self):
            problem = _field_type_error(item.name, item.type, getattr(self, item.name))
            if problem:
                raise InputError(f"bad training config: {problem}")
        checks = [
            (bool(self.styles), "styles: give at least one style image"),
            (self.generator in GENERATOR_CONFIGS, f"generator: use one of {', '.join(GENERATOR_CONFIGS)}"),
            (self.adversarial_loss in ADVERSARIAL_LOSSES, f"adversarial_loss: use one of {ADVERSARIAL_LOSSES}"),
            (self.size >= 32 and self.size % 4 == 0, "size: use a multiple of 4, at least 32"),
            (self.style_size >= self.size, "style_size: must be at least size"),
            (self.style_scale in STYLE_SCALES, f"style_scale: use one of {', '.join(STYLE_SCALES)}"),
            (self.batch_size >= 1 and self.steps >= 1, "batch_size and steps must be at least 1"),
            (0 <= self.warmup_steps <= self.steps, "warmup_steps: must be between 0 and steps"),
            (self.lr_generator > 0 and self.lr_discriminator > 0, "learning rates must be positive"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule: use one of {', '.join(LR_SCHEDULES)}"),
            (0 <= self.lr_final_fraction <= 1, "lr_final_fraction: must be in [0, 1]"),
            (min(self.content_weight, self.style_weight, self.adversarial_weight) >= 0, "weights must be >= 0"),
            (
                min(self.tv_weight, self.temporal_weight, self.distill_weight) >= 0,
                "tv_weight, temporal_weight and distill_weight must be >= 0",
            ),
            (not (self.distill_weight and self.multi_style), "distill_weight: one style or one blend, not multi_style"),
            (self.style_strength >= 0, "style_strength: must be >= 0 (0 keeps the photo, 1 is the recipe)"),
            (
                len(self.contrast_jitter) == 2 and 0 < self.contrast_jitter[0] <= self.contrast_jitter[1],
                "contrast_jitter: two positive factors, low <= high ([1, 1] turns it off)",
            ),
            (0 <= self.ema_decay < 1, "ema_decay: must be in [0, 1)"),
            (not self.multi_style or len(self.styles) >= 2, "multi_style: give at least two styles"),
            (not (self.multi_style and self.style_weights), "style_weights: blend weights, not for multi_style"),
            (self.extend is None or self.multi_style, "extend: adds styles to a multi_style network; set multi_style"),
            (min(self.log_every, self.sample_every, self.checkpoint_every) >= 1, "*_every must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"bad training config: {message}")
        if self.style_weights is not None:
            check_blend_weights(self.style_weights, len(self.styles))

    def to_json(self) -> str:
        """The config as indented JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a dict, rejecting unknown keys and wrongly typed or impossible values by name."""
        if not isinstance(values, dict):
            raise InputError(f"a training config is a JSON object of TrainConfig fields, got {type(values).__name__}")
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InputError(f"unknown training config keys {sorted(unknown)}; see TrainConfig for the fields")
        config = cls(**values)
        config.validate()
        return config

    @classmethod
    def load(cls, path: str | os.PathLike, saved_run: bool = False) -> TrainConfig:
        """Read a config JSON file; saved_run: a run's own config, whose missing fields it was trained without."""
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"cannot read training config '{path}': {error}") from error
        return cls.from_dict({**PREDATED_FIELDS, **values} if saved_run else values)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_TYPE_CHECKS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "int": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "float": ("a finite number", _is_number),
    "str": ("a string", lambda v: isinstance(v, str)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "list[str]": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    "list[float]": ("a list of finite numbers", lambda v: isinstance(v, list) and all(_is_number(x) for x in v)),
}


def _field_type_error(name: str, annotation: str, value: object) -> str | None:
    """Why `value` cannot be the config field `name` (annotated `annotation`), or None when it can."""
    optional = annotation.endswith(" | None")
    description, accepts = _TYPE_CHECKS[annotation.removesuffix(" | None")]
    if (optional and value is None) or accepts(value):
        return None
    return f"{name} must be {description}{' or null' if optional else ''}, got {value!r} ({type(value).__name__})"


def learning_rate_factor(config: TrainConfig, step: int) -> float:
    """The multiplier of both learning rates at `step` (0-based): 1 through warm-up, then the schedule."""
    if config.lr_schedule == "constant" or step < config.warmup_steps:
        return 1.0
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    final = config.lr_final_fraction
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


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
    """Owns the networks, optimisers, data and run folder of one training run (or one process of it)."""

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
        groups = _style_groups(config)
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
        self.style_targets = [self._style_targets(paintings, blend) for paintings, blend in groups]
        self._loss_features = self.extractor
        if config.compile:  # after the style targets: the paintings' sizes would each compile a graph
            check_compiler(device)
            self._train_generator = torch.compile(self._train_generator)
            if self._train_discriminator is not None:
                self._train_discriminator = torch.compile(self._train_discriminator)
            self._loss_features = torch.compile(self.extractor)
        crops = [_painting_crops(paintings, config.size) for paintings, _ in groups]
        global_batch = config.batch_size * self.process.world_size
        self.style_crops = crops[0] if len(crops) == 1 else StyleCycle(crops, global_batch, self.trained_styles)
        train_sources, self.held_out = _content_sources(config.content_dir, config.size)
        jitter = None if config.contrast_jitter == [1.0, 1.0] else tuple(config.contrast_jitter)
        self.content_crops = RandomCrops(train_sources, config.size, seed=config.seed, contrast=jitter)
        self.teacher_crops: RandomCrops | None = None  # Gatys's outputs, made by prepare_teachers
        self.step = 0
        self.train_seconds = 0.0  # every step's time since the run began, across resumes
        self.history: list[dict[str, float]] = []
        self._pending: list[tuple[int, bool, float, dict[str, torch.Tensor]]] = []
        self._batches: tuple[int, list[Iterator]] | None = None
        self._unreadable: set[str] = set()

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
                {layer: gram_matrix(self.extractor(self._seen(self._on_device(p)))[layer]) for layer in STYLE_LAYERS}
                for p in paintings
            ]
        return relative_style_targets(grams, blend)

    def step_style(self, step: int | None = None) -> int:
        """The style a step trains (0 for a one-style run): the trained styles in turn."""
        step = self.step if step is None else step
        return self.trained_styles[step % len(self.trained_styles)]

    def _on_device(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.runtime.device, memory_format=torch.channels_last, non_blocking=True)

    def prepare_teachers(self, progress: bool = True) -> None:
        """With distill_weight: stylise every training photo once with Gatys (kept in the run's teachers/ folder).

        About 47 s per bundled photo on a 2-core CPU; `train` calls it before the first step.
        """
        if not self.config.distill_weight or self.teacher_crops is not None:
            return
        paintings, blend = _style_groups(self.config, at_training_scale=False)[0]
        kept, files = gatys_teachers(
            self.content_crops,
            paintings,
            blend,
            self.run_dir / "teachers",
            self.runtime,
            preserve_color=self.config.preserve_color,
            write=self.process.is_main,
            progress=progress and self.process.is_main,
        )
        distributed.barrier()  # the other processes read what the main one wrote
        photos = self.content_crops
        if len(kept) < len(photos.sources):  # photos and teachers must cut the same windows from lists alike
            sources = [photos.sources[i] for i in kept]
            self.content_crops = RandomCrops(sources, photos.size, seed=photos.seed, contrast=photos.contrast)
        self.teacher_crops = RandomCrops(files, photos.size, seed=photos.seed)

    def _next_batches(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """This process's photo, painting and (when distilling) Gatys crops for the current step."""
        if self._batches is None or self._batches[0] != self.step:
            self.prepare_teachers(progress=False)
            config, process = self.config, self.process
            workers, pin = loader_workers(config, self.runtime.device, process), self.runtime.device.type == "cuda"
            datasets = (self.content_crops, self.style_crops, self.teacher_crops)
            loaders = [
                crop_loader(crops, config.batch_size, self.step, process.rank, process.world_size, workers, pin)
                for crops in datasets
                if crops is not None
            ]
            self._batches = (self.step, loaders)
        loaders = self._batches[1]
        batches = [next(loader) for loader in loaders]
        warn_skipped([message for _, skipped in batches for message in skipped], self._unreadable)
        self._batches = (self.step + 1, loaders)
        photos, paintings, *teachers = [self._on_device(images) for images, _ in batches]
        return photos, paintings, (teachers[0] if teachers else None)

    def _content_loss(self, features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """mean_l ||F_l(x) - F_l(p)||^2 / ||F_l(p)||^2 over the whole batch, summed over all processes.

        Each process returns W * (its squared error) / (everyone's target energy), so the mean over the
        W processes, which is what DDP's averaged gradients optimise, is the loss of the global batch.
        """
        total = torch.zeros((), device=self.runtime.device)
        for layer in self.config.content_layers:
            energy = distributed.all_sum(targets[layer].float().pow(2).sum())
            total = total + self.process.world_size * relative_squared_error(features[layer], targets[layer], energy)
        return total / len(self.config.content_layers)

    def _generator_losses(
        self, photos: torch.Tensor, output: torch.Tensor, warmup: bool, teachers: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        config = self.config
        with self.runtime.autocast():
            features = self._loss_features(self._seen(output))
            with torch.no_grad():
                targets = self._loss_features(self._seen(photos), layers=config.content_layers)
        content = self._content_loss(features, targets)
        terms = {"content": content}
        if warmup:
            terms["pixel"] = (output.float() - photos).abs().mean()
            terms["total"] = content + terms["pixel"]
            return terms
        terms["style"] = style_loss(features, *self.style_targets[self.step_style()])
        terms["tv"] = total_variation(output)
        stylised = config.style_weight * terms["style"]
        if self.discriminator is not None:
            # D's own weights get no gradient here (they are frozen for this pass, so DDP sees nothing).
            self.discriminator.requires_grad_(False)
            with self.runtime.autocast():
                logits = self.discriminator(self._seen(output), self.step_style())
                terms["adversarial"] = generator_adversarial_loss(logits, config.adversarial_loss)
            self.discriminator.requires_grad_(True)
            stylised = stylised + config.adversarial_weight * terms["adversarial"]
        total = config.content_weight * content + config.style_strength * stylised + config.tv_weight * terms["tv"]
        if teachers is not None:
            with torch.no_grad(), self.runtime.autocast():
                taught = self._loss_features(self._seen(teachers), layers=config.content_layers)
            terms["distill"] = self._content_loss(features, taught)
            total = total + config.distill_weight * terms["distill"]
        terms["total"] = total
        return terms

    def _discriminator_step(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        # Real and fake go through D in one batch: one forward per backward, as DDP requires.
        with self.runtime.autocast():
            logits = self._train_discriminator(torch.cat([real, fake]), self.step_style())
        real_logits, fake_logits = [m[: len(real)] for m in logits], [m[len(real) :] for m in logits]
        loss = discriminator_loss(real_logits, fake_logits, self.config.adversarial_loss)
        terms = {"d_loss": loss}
        if self.config.r1_weight > 0:
            terms["r1"] = self._r1_penalty(real)
            loss = loss + self.config.r1_weight / 2 * terms["r1"]
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        terms["d_real"] = torch.stack([r.float().mean() for r in real_logits]).mean()
        terms["d_fake"] = torch.stack([f.float().mean() for f in fake_logits]).mean()
        return terms

    def _r1_penalty(self, real: torch.Tensor) -> torch.Tensor:
        """R1 in fp32, on the unwrapped D (its gradient reaches D's weights through the D loss's backward)."""
        real = real.detach().float().requires_grad_(True)
        return r1_penalty(self.discriminator(real, self.step_style()), real)

    def _set_learning_rates(self) -> None:
        factor = learning_rate_factor(self.config, self.step)
        for optimizer, base in ((self.opt_g, self.config.lr_generator), (self.opt_d, self.config.lr_discriminator)):
            for group in optimizer.param_groups if optimizer is not None else ():
                group["lr"] = base * factor

    def train_step(self) -> dict[str, torch.Tensor]:
        """One step: a D update on the current outputs (after warm-up), then a G update.

        Returns the step's loss terms as tensors still on the device: reading them back would make
        the host wait for the accelerator, so they are read in bulk at log steps (flush_records).
        """
        warmup = self.step < self.config.warmup_steps
        self._set_learning_rates()
        started = time.perf_counter()
        photos, paintings, teachers = self._next_batches()
        if self.style_count > 1:
            self.generator.set_style(one_hot(self.step_style(), self.style_count))
        perturbed = None if warmup or self.config.temporal_weight == 0 else self._perturb(photos)
        with self.runtime.autocast():
            if perturbed is None:
                output = self._train_generator(photos)
            else:  # one forward pass for both batches, as DDP requires
                output, perturbed_output = self._train_generator(torch.cat([photos, perturbed[0]])).chunk(2)
        terms: dict[str, torch.Tensor] = {}
        if self.discriminator is not None and not warmup:
            terms.update(self._discriminator_step(self._seen(paintings), self._seen(output.detach())))
        generator_terms = self._generator_losses(photos, output, warmup, teachers)
        if perturbed is not None:
            temporal = temporal_consistency_loss(perturbed_output, output, perturbed[1])
            total = generator_terms["total"] + self.config.temporal_weight * temporal
            generator_terms.update(temporal=temporal, total=total)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(generator_terms["total"]).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        self._update_ema()
        self.step += 1
        terms = {key: value.detach() for key, value in {**generator_terms, **terms}.items()}
        self._pending.append((self.step, warmup, time.perf_counter() - started, terms))
        return terms

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
                outputs += [network(self._on_device(photo)).float().cpu() for photo in self.held_out]
            if previous is not None:
                network.set_style(previous)
        return image_grid([*self.held_out, *outputs], columns=len(self.held_out))

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


def loader_workers(config: TrainConfig, device: torch.device, process: distributed.ProcessInfo) -> int:
    """Decoding processes per training process: config.workers, or on a GPU its share of the cores but one, up to
    16 (none on a CPU, where they would take cores from the computation)."""
    if config.workers >= 0:
        return config.workers
    if device.type != "cuda":
        return 0
    return max(1, min(16, (os.cpu_count() or 2) // process.world_size - 1))


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


def _style_groups(config: TrainConfig, at_training_scale: bool = True) -> list[tuple[list[torch.Tensor], list[float]]]:
    """The paintings (at their training scale, else as loaded) and blend weights of each style to learn: one
    group per style for a multi-style run, else one group blending them all. A folder counts as one style
    (one artist), its files sharing the style's weight."""
    groups = []
    weights = config.style_weights or [1.0] * len(config.styles)
    for group, weight in zip(load_style_groups(config.styles), weights):
        if at_training_scale:
            group = [resize_style_image(image, config.style_size, config.style_scale) for image in group]
        groups.append((group, [weight / len(group)] * len(group)))
    if config.multi_style:
        return groups
    return [([p for paintings, _ in groups for p in paintings], [w for _, blend in groups for w in blend])]


def _painting_crops(paintings: list[torch.Tensor], size: int) -> RandomCrops:
    """D's real samples: crops of the paintings at about their Gram-target scale."""
    shortest = min(min(p.shape[-2:]) for p in paintings)
    return RandomCrops(paintings, size, (max(size, 0.75 * shortest), max(size, 1.25 * shortest)), seed=1)


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


def _content_sources(content_dir: str | None, size: int) -> tuple[list, list[torch.Tensor]]:
    """Training photos and held-out sample photos: bundled sets, or a folder minus its first two files."""
    if content_dir is None:
        return [load_photo(name) for name in TRAIN_PHOTOS], [load_photo(n, max_side=size) for n in HELD_OUT_PHOTOS]
    files = find_images(content_dir)
    if len(files) < 3:
        raise ValueError(f"'{content_dir}' holds {len(files)} images; training needs at least 3 (2 are held out)")
    held_out = [resize_long_side(resolve_image(path), size) for path in files[:2]]
    return files[2:], held_out
