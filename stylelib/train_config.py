"""Every hyperparameter of a training run: the TrainConfig dataclass, its checks, its JSON form and the
learning-rate schedule it sets."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .images import STYLE_SCALES
from .losses import ADVERSARIAL_LOSSES, check_blend_weights
from .models import GENERATOR_CONFIGS

LR_SCHEDULES = ("constant", "cosine")
# What runs saved before these fields existed were trained with, for resuming or extending them.
PREDATED_FIELDS = {"style_scale": "long_side"}


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
