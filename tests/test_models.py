import pytest
import torch

from stylelib.images import luminance, rgb_to_ycbcr, with_chroma
from stylelib.inference import export_generator, load_exported
from stylelib.models import (
    ConditionalInstanceNorm2d,
    ContrastModulation,
    ConvGeometry,
    Discriminator,
    Generator,
    PhaseConv2d,
    ReflectionPad,
    UpsampleConv2d,
    count_parameters,
    receptive_field,
)


@pytest.mark.parametrize("name", ["default", "lite"])
@pytest.mark.parametrize("size", [(37, 53), (64, 64), (17, 90)])
def test_generator_keeps_any_input_size_and_range(name, size):
    generator = Generator.from_name(name)
    out = generator(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *size)
    assert 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("padding", [1, 4])
def test_reflection_pad_equals_torchs_with_the_same_gradients(padding):
    x = torch.randn(2, 3, 9, 13, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    ours, reference = ReflectionPad(padding)(x), torch.nn.ReflectionPad2d(padding)(x)
    assert torch.equal(ours, reference)
    assert torch.autograd.gradcheck(ReflectionPad(padding), x.clone().requires_grad_())
    with pytest.raises(ValueError, match="too small"):
        ReflectionPad(padding)(torch.rand(1, 1, padding, 20))


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_upsample_conv_equals_upsampling_then_reflection_padded_conv(memory_format):
    torch.manual_seed(0)
    layer = UpsampleConv2d(5, 4).double()
    reference = torch.nn.Sequential(
        torch.nn.Upsample(scale_factor=2, mode="nearest"), torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(5, 4, 3)
    ).double()
    reference[2].load_state_dict(layer.state_dict())
    layer, reference = layer.to(memory_format=memory_format), reference.to(memory_format=memory_format)
    x = torch.randn(2, 5, 7, 10, dtype=torch.float64).contiguous(memory_format=memory_format).requires_grad_()
    ours, expected = layer(x), reference(x)
    assert ours.shape == (2, 4, 14, 20)
    assert torch.allclose(ours, expected, atol=1e-12)
    ours.square().sum().backward()
    grads = [x.grad.clone(), layer.weight.grad.clone()]
    x.grad = None
    expected.square().sum().backward()
    assert torch.allclose(grads[0], x.grad, atol=1e-10)
    assert torch.allclose(grads[1], reference[2].weight.grad, atol=1e-10)


def test_phase_conv_equals_the_plain_conv():
    torch.manual_seed(0)
    layer = PhaseConv2d(6, 3, 9).double()
    plain = torch.nn.Conv2d(6, 3, 9).double()
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(2, 6, 20, 24, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(layer(x), plain(x), atol=1e-12)
    assert torch.autograd.gradcheck(
        PhaseConv2d(2, 3, 3).double(), torch.randn(1, 2, 6, 8, dtype=torch.float64).requires_grad_()
    )
    with pytest.raises(ValueError, match="even output size"):
        layer(torch.randn(1, 6, 21, 24, dtype=torch.float64))


def _plain_decoder(width: int) -> torch.nn.Sequential:
    """The decoder as first written: separate upsampling, padding and convolution layers."""

    def stage(channels_in: int, channels_out: int) -> torch.nn.Sequential:
        padded_conv = torch.nn.Sequential(torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(channels_in, channels_out, 3))
        norm = torch.nn.InstanceNorm2d(channels_out, affine=True)
        return torch.nn.Sequential(padded_conv, norm, torch.nn.ReLU())

    upsample = torch.nn.Upsample(scale_factor=2, mode="nearest")
    output = torch.nn.Sequential(torch.nn.ReflectionPad2d(4), torch.nn.Conv2d(width, 3, 9))
    return torch.nn.Sequential(upsample, stage(4 * width, 2 * width), upsample, stage(2 * width, width), output)


def test_checkpoint_with_the_plain_decoder_layout_loads_to_the_same_function():
    torch.manual_seed(0)
    generator = Generator(width=8, blocks=1).eval()
    plain = _plain_decoder(8).eval()
    for parameter in plain.parameters():
        torch.nn.init.normal_(parameter, std=0.1)
    old_checkpoint = {key: value for key, value in generator.state_dict().items() if not key.startswith("decoder.")}
    old_checkpoint.update({f"decoder.{key}": value for key, value in plain.state_dict().items()})
    generator.load_state_dict(old_checkpoint)
    image = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        expected = torch.sigmoid(plain(generator.residuals(generator.encoder(image))))
        assert torch.allclose(generator(image), expected, atol=1e-5)


def test_default_residual_blocks_are_dilated_and_older_checkpoints_load_undilated():
    torch.manual_seed(0)
    default = Generator.from_name("default").eval()
    convs = [m for m in default.residuals.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [conv.dilation[0] for conv in convs] == [1, 1, 2, 2, 4, 4, 2, 2, 1, 1]
    assert [conv.padding[0] for conv in convs] == [0] * 10  # the reflection padding before each one does it
    # A checkpoint from before dilation has no "dilations" in its settings: it rebuilds undilated,
    # with the same parameter names and shapes, so its weights load and compute what they were trained for.
    older = Generator(**{k: v for k, v in default.settings.items() if k != "dilations"}).eval()
    assert all(m.dilation == (1, 1) for m in older.modules() if isinstance(m, torch.nn.Conv2d))
    older.load_state_dict(default.state_dict())
    rebuilt = Generator(**default.settings).eval()
    rebuilt.load_state_dict(default.state_dict())
    image = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        assert not torch.allclose(older(image), default(image), atol=1e-3)
        assert torch.equal(rebuilt(image), default(image))
    with pytest.raises(ValueError, match="one dilation"):
        Generator(blocks=2, dilations=[1])


def test_generator_has_no_transposed_convs_and_lite_is_smaller():
    default, lite = Generator.from_name("default"), Generator.from_name("lite")
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in default.modules())
    assert count_parameters(lite) < count_parameters(default) / 5
    with pytest.raises(ValueError, match="unknown generator"):
        Generator.from_name("huge")
    with pytest.raises(ValueError, match=r"\[B,3,H,W\]"):
        default(torch.rand(3, 32, 32))


def test_patch_discriminator_output_grid_matches_its_receptive_field():
    discriminator = Discriminator(width=8, layers=3, scales=2)
    maps = discriminator(torch.rand(1, 3, 128, 96))
    assert [m.shape[1] for m in maps] == [1, 1]
    fields = discriminator.receptive_fields()
    assert fields[0].size == 70 and fields[0].jump == 8  # the classic 70x70 PatchGAN
    assert fields[1].size > fields[0].size and fields[1].jump == 16
    # Each output cell depends only on its receptive field: changing pixels outside it leaves the cell alone.
    image = torch.rand(1, 3, 128, 128)
    top, left, bottom, right = fields[0].box(0, 0)
    changed = image.clone()
    changed[..., int(bottom) + 1 :, :] = torch.rand_like(changed[..., int(bottom) + 1 :, :])
    discriminator.eval()  # no power iteration between the two calls
    with torch.no_grad():
        assert torch.allclose(discriminator(image)[0][..., 0, 0], discriminator(changed)[0][..., 0, 0])


def test_receptive_field_composition_by_hand():
    field = receptive_field([ConvGeometry(3, 1, 1), ConvGeometry(3, 2, 1), ConvGeometry(3, 1, 1)])
    assert (field.size, field.jump, field.start) == (9, 2, -4.0)


def test_spectral_norm_bounds_each_layer():
    discriminator = Discriminator(width=8, layers=2)
    discriminator(torch.rand(1, 3, 64, 64))  # one power iteration per call in training mode
    for _ in range(20):
        discriminator(torch.rand(1, 3, 64, 64))
    for conv in (m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)):
        sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, rel=0.05)


def _multi_style_generator(styles: int = 2) -> Generator:
    """A small multi-style generator whose styles differ (random scales and shifts per style)."""
    torch.manual_seed(0)
    generator = Generator(width=8, blocks=1, styles=styles).eval()
    for module in generator.modules():
        if isinstance(module, ConditionalInstanceNorm2d):
            module.weight.data.normal_(1.0, 0.5)
            module.bias.data.normal_(0.0, 0.5)
    return generator


def test_conditional_norm_with_one_hot_weights_is_a_plain_instance_norm():
    norm = ConditionalInstanceNorm2d(6, styles=3)
    norm.weight.data.normal_(1.0, 0.5)
    norm.bias.data.normal_(0.0, 0.5)
    x = torch.randn(2, 6, 9, 11)
    for style in range(3):
        plain = torch.nn.InstanceNorm2d(6, affine=True)
        plain.weight.data, plain.bias.data = norm.weight[style].detach().clone(), norm.bias[style].detach().clone()
        norm.mix = torch.nn.functional.one_hot(torch.tensor(style), 3).float()
        assert torch.allclose(norm(x), plain(x), atol=1e-6)
    norm.mix = torch.tensor([0.25, 0.75, 0.0])  # a mix interpolates the parameters
    plain.weight.data = 0.25 * norm.weight[0].detach() + 0.75 * norm.weight[1].detach()
    plain.bias.data = 0.25 * norm.bias[0].detach() + 0.75 * norm.bias[1].detach()
    assert torch.allclose(norm(x), plain(x), atol=1e-6)


def test_style_mixes_interpolate_between_the_trained_styles():
    generator = _multi_style_generator()
    photo = torch.rand(1, 3, 36, 44)
    with torch.no_grad():
        first = generator(photo)  # nothing set: the first style
        generator.set_style([2.0, 0.0])  # weights are normalised
        assert torch.equal(generator(photo), first)
        generator.set_style([0.0, 1.0])
        second = generator(photo)
        assert (second - first).abs().mean() > 0.02  # the styles differ
        for mix in ([1.0, 0.0], [0.0, 1.0], [0.3, 0.7]):
            generator.set_style(mix)
            assert torch.allclose(generator.fixed_style(mix)(photo), generator(photo), atol=1e-5)
        generator.set_style(torch.tensor([0.3, 0.7])[None, :, None, None].expand(1, 2, 36, 44))
        assert torch.allclose(generator(photo), generator.fixed_style([0.3, 0.7])(photo), atol=1e-5)
        halves = torch.zeros(1, 2, 36, 44)
        halves[:, 0, :, :22], halves[:, 1, :, 22:] = 1.0, 1.0
        generator.set_style(halves)  # per pixel: each half nearer its own style (norm statistics stay global)
        regional = generator(photo)
    left, right = (slice(None, 12),), (slice(-12, None),)
    for part, own, other in ((left, first, second), (right, second, first)):
        distance_to = {name: (regional[..., part[0]] - image[..., part[0]]).abs().mean() for name, image in
                       (("own", own), ("other", other))}  # fmt: skip
        assert distance_to["own"] < 0.8 * distance_to["other"]


def test_style_weights_are_checked():
    generator = _multi_style_generator(styles=3)
    for bad, message in (([1.0, 0.0], "need 3 values"), ([1.0, -1.0, 0.5], "non-negative"), ([0.0] * 3, "all be zero")):
        with pytest.raises(ValueError, match=message):
            generator.set_style(bad)
    with pytest.raises(ValueError, match="paints one style"):
        Generator(width=4, blocks=0).set_style([1.0])


def test_a_multi_style_discriminator_gives_one_verdict_map_per_style():
    torch.manual_seed(0)
    discriminator = Discriminator(width=8, layers=2, scales=2, styles=3)
    image = torch.rand(2, 3, 48, 48)
    maps = [discriminator(image, style) for style in range(3)]
    assert [m.shape[1] for m in maps[0]] == [1, 1]
    assert all(not torch.equal(maps[0][0], maps[k][0]) for k in (1, 2))


def test_a_photo_chroma_generator_paints_luminance_only_and_exports(tmp_path):
    keeping = Generator(width=4, blocks=1, photo_chroma=True).eval()
    plain = Generator(width=4, blocks=1).eval()
    plain.load_state_dict(keeping.state_dict())  # the same weights: the flag adds no parameters
    photo = torch.rand(2, 3, 22, 30)
    with torch.no_grad():
        kept = keeping(photo)
        assert torch.allclose(kept, with_chroma(luminance(plain(photo)), photo), atol=1e-5)
        exported = load_exported(export_generator(keeping, tmp_path / "g.pt"))
        assert torch.allclose(exported(photo), kept, atol=1e-6)
    unclipped = ((kept > 0.01) & (kept < 0.99)).all(1, keepdim=True)
    chroma_error = (rgb_to_ycbcr(kept)[:, 1:] - rgb_to_ycbcr(photo)[:, 1:]).abs()
    assert chroma_error.masked_select(unclipped.expand_as(chroma_error)).max() < 1e-5
    assert (luminance(kept) - luminance(photo)).abs().mean() > 0.01  # the luminance is the network's
    assert keeping.settings["photo_chroma"] and "photo_chroma" not in plain.settings


def test_a_contrast_aware_generator_starts_blind_to_contrast_and_learns_to_see_it(tmp_path):
    torch.manual_seed(0)
    aware = Generator(width=8, blocks=1, contrast_aware=True).eval()
    photo = torch.rand(1, 3, 48, 64) * 0.5 + 0.25
    softer = (photo - photo.mean()) * 0.5 + photo.mean()
    with torch.no_grad():
        # Instance norm removes the contrast, and the modulation starts as the identity.
        assert (aware(photo) - aware(softer)).abs().max() < 1e-3
        for module in aware.modules():
            if isinstance(module, ContrastModulation):
                torch.nn.init.normal_(module.scale, std=0.5)
                torch.nn.init.normal_(module.shift, std=0.5)
        assert (aware(photo) - aware(softer)).abs().mean() > 1e-2
        rebuilt = Generator(**aware.settings).eval()
        rebuilt.load_state_dict(aware.state_dict())
        assert torch.equal(rebuilt(photo), aware(photo))
        path = export_generator(aware, tmp_path / "aware.pt")
        assert torch.allclose(load_exported(path)(softer), aware(softer), atol=1e-6)
    # An older checkpoint (no "contrast_aware" in its settings) rebuilds without the modulation.
    assert not any(isinstance(m, ContrastModulation) for m in Generator(width=8, blocks=1).modules())


def test_a_compiled_generator_back_propagates_the_eager_gradients():
    # The upsampling convolutions take another code path under the compiler; their gradients must agree.
    torch.manual_seed(0)
    generator = Generator(width=4, blocks=1)
    compiled = torch.compile(generator)
    photo = torch.rand(2, 3, 24, 32).contiguous(memory_format=torch.channels_last)
    weights = torch.rand(2, 3, 24, 32)
    gradients = []
    for network in (generator, compiled):
        generator.zero_grad()
        (network(photo) * weights).sum().backward()
        gradients.append({name: p.grad.clone() for name, p in generator.named_parameters()})
    eager, traced = gradients
    for name, gradient in eager.items():
        if gradient.norm() > 1e-4:  # conv biases before an instance norm have no gradient but rounding noise
            assert torch.allclose(traced[name], gradient, rtol=1e-4, atol=1e-5 * gradient.abs().max()), name
