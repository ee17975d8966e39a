"""Optimisation-based style transfer (Gatys, Ecker & Bethge 2016).

The image itself is the parameter: starting from the photo (or noise), L-BFGS or Adam
lowers  content_weight * L_content + style_weight * L_style + tv_weight * L_tv.

By default both losses are *relative*, so the weights are dimensionless:
L_content = mean_l ||F_l(x) - F_l(p)||^2 / ||F_l(p)||^2 over relu3_2 and relu4_2, and
L_style = mean_l ||G_l(x) - A_l||^2 / ||A_l||^2 over relu1_1 ... relu5_1.
relu4_2 keeps the layout of the scene; relu3_2 adds the photo's edges, which keeps faces and
outlines recognisable under strong styles. Pass explicit `content_layer_weights` /
`style_layer_weights` to use absolute losses instead (benchmarks/ does this to reproduce
pastiche's objective exactly).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .features import STYLE_LAYERS, VGG19Features
from .images import (
    ImageSource,
    grey,
    load_image,
    luminance,
    resize,
    resize_to_area,
    size_for_long_side,
    with_chroma,
)
from .losses import (
    blend_grams,
    check_blend_weights,
    content_loss,
    gram_matrix,
    regional_style_loss,
    relative_style_targets,
    style_loss,
    total_variation,
)
from .runtime import Runtime, make_runtime, module_device

DEFAULT_CONTENT_WEIGHT = 1.0
DEFAULT_STYLE_WEIGHT = 5.0
DEFAULT_TV_WEIGHT = 0.01
DEFAULT_STEPS = 300
DEFAULT_MAX_SIDE = 384
OPTIMIZERS = ("lbfgs", "adam")
NST_CONTENT_LAYERS = ("relu3_2", "relu4_2")


class StyleObjective:
    """The Gatys objective for one content image and one (blended) set of style targets."""

    def __init__(
        self,
        extractor: VGG19Features,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        *,
        style_weights: Sequence[float] | None = None,
        content_weight: float = DEFAULT_CONTENT_WEIGHT,
        style_weight: float = DEFAULT_STYLE_WEIGHT,
        tv_weight: float = DEFAULT_TV_WEIGHT,
        content_layers: Sequence[str] = NST_CONTENT_LAYERS,
        style_layers: Sequence[str] = STYLE_LAYERS,
        style_layer_weights: Mapping[str, float] | None = None,
        content_layer_weights: Mapping[str, float] | None = None,
        regions: Sequence[torch.Tensor] | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        _check_regions(regions, styles, style_weights, style_layer_weights)
        missing = [layer for layer in (*content_layers, *style_layers) if layer not in extractor.layers]
        if missing:
            raise ValueError(f"the feature extractor does not compute {missing}; build it with those layers")
        if not styles:
            raise ValueError("give at least one style image")
        self.extractor = extractor
        self.runtime = runtime or make_runtime("cpu", "fp32")
        self.content_layers, self.style_layers = tuple(content_layers), tuple(style_layers)
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        with torch.no_grad():
            content_features = self._features(content)
            self.content_targets = {layer: content_features[layer].float() for layer in self.content_layers}
            grams = []
            for style in styles:
                style_features = self._features(style)
                grams.append({layer: gram_matrix(style_features[layer]) for layer in self.style_layers})
        blend = list(style_weights or [1.0] * len(styles))
        self.regions = None if regions is None else [r.float().to(self.runtime.device) for r in regions]
        if regions is not None:  # each style keeps its own targets, matched inside its region
            per_style = [relative_style_targets([g], [1.0]) for g in grams]
            self.region_targets, self.region_layer_weights = [t for t, _ in per_style], [w for _, w in per_style]
            self.style_targets, style_layer_weights = {}, {}
        elif style_layer_weights is None:
            self.style_targets, style_layer_weights = relative_style_targets(grams, blend)
        else:
            self.style_targets = blend_grams(grams, blend)
        self.style_layer_weights = dict(style_layer_weights)
        if content_layer_weights is None:
            count = len(self.content_layers)
            content_layer_weights = {
                layer: 1.0 / (count * target.pow(2).mean().item()) for layer, target in self.content_targets.items()
            }
        unknown = set(content_layer_weights) - set(self.content_targets)
        if unknown:
            raise ValueError(f"content_layer_weights name {sorted(unknown)}, which are not in content_layers")
        self.content_layer_weights = dict(content_layer_weights)

    def _features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        with self.runtime.autocast():  # the extractor lays its input out channels-last itself
            return self.extractor(image.to(self.runtime.device))

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms {'content', 'style', 'tv', 'total'} (fp32 scalars) for an image [1,3,H,W]."""
        features = self._features(image)
        content = sum(
            weight * content_loss(features[layer], self.content_targets[layer])
            for layer, weight in self.content_layer_weights.items()
        )
        if self.regions is None:
            style = style_loss(features, self.style_targets, self.style_layer_weights)
        else:
            style = regional_style_loss(features, self.region_targets, self.region_layer_weights, self.regions)
        tv = total_variation(image)
        total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return {"content": content, "style": style, "tv": tv, "total": total}


def _check_regions(
    regions: Sequence[torch.Tensor] | None,
    styles: Sequence[torch.Tensor],
    style_weights: Sequence[float] | None,
    style_layer_weights: Mapping[str, float] | None,
) -> None:
    if regions is None:
        return
    if len(regions) != len(styles):
        raise ValueError(f"got {len(regions)} region maps for {len(styles)} styles: give one per style")
    if style_weights is not None or style_layer_weights is not None:
        raise ValueError("with regions each style paints its own part: drop style_weights and style_layer_weights")


@dataclass
class GatysResult:
    """A stylised image with the per-step loss history that produced it."""

    image: torch.Tensor
    history: list[dict[str, float]] = field(default_factory=list)
    runtime: str = ""

    @property
    def seconds(self) -> float:
        """Wall time of the whole optimisation."""
        return self.history[-1]["seconds"] if self.history else 0.0

    @property
    def final_losses(self) -> dict[str, float]:
        """The last recorded loss terms."""
        return {key: value for key, value in self.history[-1].items() if key not in ("step", "scale", "seconds")}


def _make_optimizer(name: str, image: torch.Tensor, lr: float | None) -> torch.optim.Optimizer:
    if name == "lbfgs":
        return torch.optim.LBFGS([image], lr=lr or 1.0, max_iter=1, history_size=100)
    return torch.optim.Adam([image], lr=lr or 0.02)


def _step_function(
    opt: torch.optim.Optimizer, objective: StyleObjective, image: torch.Tensor
) -> Callable[[], dict[str, torch.Tensor]]:
    """One optimiser step per call; returns the loss terms evaluated during it."""

    def step() -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            terms.update(objective(image))
            terms["total"].backward()
            return terms["total"]

        opt.step(closure)
        return terms

    return step


def _scale_schedule(
    height: int, width: int, max_side: int, scales: Sequence[int] | None, steps: int | Sequence[int]
) -> list[tuple[tuple[int, int], int]]:
    sides = list(scales) if scales else [max_side]
    if sides != sorted(sides) or sides[-1] != max_side:
        raise ValueError(f"scales {sides} must increase and end at max_side={max_side}")
    counts = [steps] * len(sides) if isinstance(steps, int) else list(steps)
    if len(counts) != len(sides) or min(counts) < 0:
        raise ValueError(f"give one non-negative step count per scale: got steps={steps} for scales={sides}")
    return [(size_for_long_side(height, width, side), count) for side, count in zip(sides, counts)]


def _match_luminance(style_gray: torch.Tensor, content_gray: torch.Tensor) -> torch.Tensor:
    """Shift and scale the style's luminance to the content's mean and standard deviation."""
    normalised = (style_gray - style_gray.mean()) / (style_gray.std() + 1e-6)
    return (normalised * content_gray.std() + content_gray.mean()).clamp(0.0, 1.0)


def stylize_gatys(
    content: ImageSource,
    styles: ImageSource | Sequence[ImageSource],
    *,
    style_weights: Sequence[float] | None = None,
    content_weight: float = DEFAULT_CONTENT_WEIGHT,
    style_weight: float = DEFAULT_STYLE_WEIGHT,
    tv_weight: float = DEFAULT_TV_WEIGHT,
    steps: int | Sequence[int] = DEFAULT_STEPS,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    init: str = "content",
    max_side: int = DEFAULT_MAX_SIDE,
    scales: Sequence[int] | None = None,
    preserve_color: bool = False,
    regions: Sequence[torch.Tensor] | None = None,
    extractor: VGG19Features | None = None,
    runtime: Runtime | None = None,
    seed: int = 0,
    callback: Callable[[dict[str, float], torch.Tensor], None] | None = None,
    progress: bool = True,
    **objective_options,
) -> GatysResult:
    """Stylise `content` with one or more `styles` by optimising the image (see module doc).

    `scales` lists long-side sizes for coarse-to-fine optimisation (ending at max_side);
    `steps` is the step count at every scale, or one count per scale. `preserve_color`
    transfers style to the luminance only and keeps the photo's chroma (Gatys et al. 2017).
    `regions` (one soft map per style, see stylelib.masks) paints each style in its own part of
    the photo, matching Gram matrices inside each region (spatial control, Gatys et al. 2017).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}: use 'lbfgs' or 'adam'")
    if init not in ("content", "noise"):
        raise ValueError(f"unknown init {init!r}: use 'content' or 'noise'")
    style_list = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    if style_weights is not None:
        style_weights = check_blend_weights(style_weights, len(style_list))
    runtime = runtime or make_runtime()
    if extractor is None:
        extractor = VGG19Features().to(runtime.device, memory_format=torch.channels_last)
    elif module_device(extractor).type != runtime.device.type:
        raise ValueError(f"the extractor is on {module_device(extractor)}, the runtime on {runtime.device}: move one")
    photo = load_image(content)
    style_images = [load_image(style) for style in style_list]
    photo_in_colour = photo
    if preserve_color:
        photo_gray = luminance(photo)
        style_images = [_match_luminance(luminance(s), photo_gray).expand(-1, 3, -1, -1) for s in style_images]
        photo = grey(photo)

    schedule = _scale_schedule(*photo.shape[-2:], max_side, scales, steps)
    generator = torch.Generator().manual_seed(seed)
    image = photo if init == "content" else torch.rand((1, 3, *schedule[0][0]), generator=generator)
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    bar = tqdm(total=sum(count for _, count in schedule), disable=not progress, desc="gatys", leave=False)
    for size, count in schedule:
        scaled_photo = resize(photo, size)
        objective = StyleObjective(
            extractor,
            scaled_photo,
            [resize_to_area(s, size[0] * size[1]) for s in style_images],
            style_weights=style_weights,
            content_weight=content_weight,
            style_weight=style_weight,
            tv_weight=tv_weight,
            regions=None if regions is None else [resize(r, size) for r in regions],
            runtime=runtime,
            **objective_options,
        )
        image = resize(image, size).to(runtime.device).contiguous().requires_grad_(True)
        step = _step_function(_make_optimizer(optimizer, image, lr), objective, image)
        for _ in range(count):
            terms = step()
            if optimizer == "adam":
                with torch.no_grad():
                    image.clamp_(0.0, 1.0)
            record = {key: value.item() for key, value in terms.items()}
            if not all(math.isfinite(value) for value in record.values()):
                raise FloatingPointError(
                    f"loss became {record} at step {len(history) + 1}: lower the learning rate or the style weight"
                )
            record.update(step=len(history) + 1, scale=max(size), seconds=time.perf_counter() - started)
            history.append(record)
            bar.update(1)
            bar.set_postfix(total=f"{record['total']:.3g}", content=f"{record['content']:.3g}")
            if callback is not None:
                callback(record, image.detach())
        image = image.detach()
    bar.close()
    output = image.detach().float().cpu().contiguous()
    if preserve_color:  # the optimised image is grey (three equal channels): it is the luminance
        output = with_chroma(output.mean(1, keepdim=True), photo_in_colour)
    return GatysResult(image=output.clamp(0.0, 1.0), history=history, runtime=str(runtime))
