"""What the generator minimises, in one place.

  content_weight * mean_l ||F_l(G(p)) - F_l(p)||^2 / ||F_l(p)||^2        (VGG19 relu4_2 by default)
+ style_strength * style_weight * mean_l ||Gram_l(G(p)) - A_l||^2 / ||A_l||^2   (relu1_1 ... relu5_1)
+ style_strength * adversarial_weight * L_adv(D(G(p)))                  (D: PatchGAN, real = painting crops)
+ distill_weight * mean_l ||F_l(G(p)) - F_l(T(p))||^2 / ||F_l(T(p))||^2   (T(p): Gatys's output; 0 = off)
+ tv_weight * TV(G(p))
+ temporal_weight * ||G(T(p) + n) - T(G(p))||^2                        (T: a small shift and zoom; 0 = off)

Every term is relative, so the weights are dimensionless. `style_strength` is the user's dial on top
of the calibrated weights: 1 is the recipe, below 1 keeps more of the photo, above 1 paints more.
During warm-up only the content term and a pixel L1 term ||G(p) - p||_1 count, so the generator
starts as a near-identity map. (The discriminator's objective is losses.discriminator_loss.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from . import distributed
from .losses import (
    generator_adversarial_loss,
    relative_squared_error,
    style_loss,
    temporal_consistency_loss,
    total_variation,
)
from .runtime import Runtime
from .train_config import TrainConfig

StyleTargets = tuple[dict[str, torch.Tensor], dict[str, float]]  # Gram targets A_l and layer weights 1 / ||A_l||^2


class GeneratorObjective:
    """The generator's loss terms for a batch: call it with the photos and the generator's outputs.

    `loss_network` maps images to named VGG19 features; `style_targets` holds one StyleTargets per
    style; `seen` is what the losses look at (the images themselves, or their grey for preserve_color).
    Under torchrun each process passes its share of the batch: `world_size` makes the content terms
    those of the global batch.
    """

    def __init__(
        self,
        config: TrainConfig,
        loss_network: Callable[..., dict[str, torch.Tensor]],
        style_targets: Sequence[StyleTargets],
        runtime: Runtime,
        seen: Callable[[torch.Tensor], torch.Tensor],
        world_size: int = 1,
    ) -> None:
        self.config, self.loss_network, self.style_targets = config, loss_network, list(style_targets)
        self.runtime, self.seen, self.world_size = runtime, seen, world_size

    def __call__(
        self,
        photos: torch.Tensor,
        output: torch.Tensor,
        style: int = 0,
        discriminator: torch.nn.Module | None = None,
        teachers: torch.Tensor | None = None,
        moved: tuple[torch.Tensor, torch.Tensor] | None = None,
        warmup: bool = False,
    ) -> dict[str, torch.Tensor]:
        """{'content', 'style', 'adversarial', 'distill', 'temporal', 'tv', 'total'} (those that apply) for G(p).

        `teachers`: Gatys's outputs for the photos; `moved`: G(T(p) + n) and T's sampling grids.
        """
        config = self.config
        with self.runtime.autocast():
            features = self.loss_network(self.seen(output))
            with torch.no_grad():
                targets = self.loss_network(self.seen(photos), layers=config.content_layers)
        terms = {"content": self.content(features, targets)}
        if warmup:
            terms["pixel"] = (output.float() - photos).abs().mean()
            terms["total"] = terms["content"] + terms["pixel"]
            return terms
        terms["style"] = style_loss(features, *self.style_targets[style])
        painted = config.style_weight * terms["style"]
        if discriminator is not None:
            terms["adversarial"] = self.adversarial(discriminator, output, style)
            painted = painted + config.adversarial_weight * terms["adversarial"]
        terms["tv"] = total_variation(output)
        total = config.content_weight * terms["content"] + config.style_strength * painted
        total = total + config.tv_weight * terms["tv"]
        if teachers is not None:
            with torch.no_grad(), self.runtime.autocast():
                taught = self.loss_network(self.seen(teachers), layers=config.content_layers)
            terms["distill"] = self.content(features, taught)
            total = total + config.distill_weight * terms["distill"]
        if moved is not None:
            terms["temporal"] = temporal_consistency_loss(moved[0], output, moved[1])
            total = total + config.temporal_weight * terms["temporal"]
        terms["total"] = total
        return terms

    def content(self, features: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """mean_l ||F_l(x) - F_l(p)||^2 / ||F_l(p)||^2 over the whole batch, summed over all processes.

        Each process returns W * (its squared error) / (everyone's target energy), so the mean over the
        W processes, which is what DDP's averaged gradients optimise, is the loss of the global batch.
        """
        total = torch.zeros((), device=self.runtime.device)
        for layer in self.config.content_layers:
            energy = distributed.all_sum(targets[layer].float().pow(2).sum())
            total = total + self.world_size * relative_squared_error(features[layer], targets[layer], energy)
        return total / len(self.config.content_layers)

    def adversarial(self, discriminator: torch.nn.Module, output: torch.Tensor, style: int) -> torch.Tensor:
        """L_adv(D(G(p))): how far D is from calling the outputs paintings. D's own weights get no gradient."""
        discriminator.requires_grad_(False)  # frozen for this pass, so DDP sees nothing of it
        try:
            with self.runtime.autocast():
                logits = discriminator(self.seen(output), style)
                return generator_adversarial_loss(logits, self.config.adversarial_loss)
        finally:
            discriminator.requires_grad_(True)
