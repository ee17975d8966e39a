"""The two core loops written out by hand, as notebooks 03 and 05 write them, equal the library's."""

import copy

import pytest
import torch

from stylelib.data import load_painting, load_photo
from stylelib.features import STYLE_LAYERS
from stylelib.images import resize_to_area
from stylelib.losses import gram_matrix
from stylelib.nst import stylize_gatys
from stylelib.runtime import make_runtime
from stylelib.train import TrainConfig, Trainer


def _relative(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).pow(2).sum() / b.pow(2).sum()


def _tv(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def gatys_by_hand(vgg, photo, painting, steps, content_weight=1.0, style_weight=5.0, tv_weight=0.01):
    """Gatys et al. in twenty lines: L-BFGS on the pixels against relative content and Gram losses."""
    content_layers = ["relu3_2", "relu4_2"]
    with torch.no_grad():
        P = vgg(photo)
        A = {layer: gram_matrix(f) for layer, f in vgg(painting).items() if layer in STYLE_LAYERS}
    x = photo.clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=100)

    def closure():
        optimiser.zero_grad()
        F = vgg(x)
        content = sum(_relative(F[layer], P[layer]) for layer in content_layers) / len(content_layers)
        style = sum(_relative(gram_matrix(F[layer]), A[layer]) for layer in STYLE_LAYERS) / len(STYLE_LAYERS)
        loss = content_weight * content + style_weight * style + tv_weight * _tv(x)
        loss.backward()
        return loss

    losses = [optimiser.step(closure).item() for _ in range(steps)]
    return x.detach(), losses


def test_gatys_by_hand_equals_stylize_gatys(extractor):
    photo = load_photo("chelsea", max_side=64)
    painting = resize_to_area(load_painting("hokusai"), photo.shape[-2] * photo.shape[-1])
    by_hand, losses = gatys_by_hand(extractor, photo, painting, steps=5)
    library = stylize_gatys(
        photo, painting, steps=5, max_side=64, extractor=extractor, runtime=make_runtime("cpu", "fp32"), progress=False
    )
    assert (by_hand - photo).abs().max() > 0.1  # five steps move the pixels
    # Float sums in another order differ by 1e-7, and L-BFGS amplifies that step by step: the losses agree
    # to 1e-5 at every step, the pixels to one 8-bit grey level.
    assert losses == pytest.approx([record["total"] for record in library.history], rel=1e-5)
    assert (by_hand.clamp(0, 1) - library.image).abs().max() < 1 / 255


def adversarial_step_by_hand(G, D, ema, opt_g, opt_d, vgg, photos, paintings, style_targets, config, step):
    """One step of notebook 05: D on real paintings and detached outputs, then G, then the EMA copy."""
    fake = G(photos)
    logits = D(torch.cat([paintings, fake.detach()]), 0)  # one map per D scale
    half = len(paintings)
    d_loss = sum((m[:half] - 1).pow(2).mean() + m[half:].pow(2).mean() for m in logits) / len(logits)  # LSGAN
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()

    targets, layer_weights = style_targets  # A_l and 1 / (L ||A_l||^2)
    F_out = vgg(fake)
    with torch.no_grad():
        F_photo = vgg(photos)
    content = _relative(F_out["relu4_2"], F_photo["relu4_2"])
    style = sum(
        layer_weights[layer] * (gram_matrix(F_out[layer]) - targets[layer]).pow(2).sum(dim=(1, 2)).mean()
        for layer in targets
    )
    D.requires_grad_(False)
    adversarial = sum((m - 1).pow(2).mean() for m in D(fake, 0)) / len(logits)
    D.requires_grad_(True)
    painted = config.style_weight * style + config.adversarial_weight * adversarial
    g_loss = config.content_weight * content + config.style_strength * painted + config.tv_weight * _tv(fake)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()

    decay = min(config.ema_decay, (1 + step) / (10 + step))  # short runs average over the steps so far
    with torch.no_grad():
        for kept, current in zip(ema.parameters(), G.parameters()):
            kept.lerp_(current, 1 - decay)
    return {"d_loss": d_loss, "content": content, "style": style, "adversarial": adversarial, "total": g_loss}


def test_an_adversarial_step_by_hand_equals_the_trainers(tmp_path):
    config = TrainConfig(
        styles=["hokusai"], generator="lite", size=32, style_size=64, batch_size=2, steps=3, warmup_steps=1,
        style_strength=1.5, tv_weight=0.1, precision="fp32", device="cpu",
    )  # fmt: skip
    trainer = Trainer(config, tmp_path / "run")
    trainer.train_step()  # warm-up, so the optimisers have state
    G, D, ema = (copy.deepcopy(net) for net in (trainer.generator, trainer.discriminator, trainer.ema))
    start = copy.deepcopy(G)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_generator, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_discriminator, betas=(0.5, 0.999))
    opt_g.load_state_dict(copy.deepcopy(trainer.opt_g.state_dict()))  # its own moments, not shared ones
    opt_d.load_state_dict(copy.deepcopy(trainer.opt_d.state_dict()))
    photos, paintings, teachers = trainer.data.batches(trainer.step)
    targets = trainer.objective.style_targets[0]
    by_hand = adversarial_step_by_hand(
        G, D, ema, opt_g, opt_d, trainer.extractor, photos, paintings, targets, config, trainer.step
    )
    library = trainer.train_step((photos, paintings, teachers))
    for name, value in by_hand.items():
        assert torch.allclose(value, library[name], rtol=1e-5, atol=1e-7), name
    for mine, theirs in ((G, trainer.generator), (D, trainer.discriminator), (ema, trainer.ema)):
        for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    moved = [not torch.equal(a, b) for a, b in zip(G.parameters(), start.parameters())]
    assert all(moved)  # the step changed every weight of G
