"""The feed-forward generator and the PatchGAN discriminator.

Generator (after Johnson et al. 2016): a 9x9 stem, two stride-2 downsampling convs, residual
blocks (dilated 1, 2, 4, 2, 1 in the default configuration, after Yu & Koltun 2016), two
nearest-upsample + 3x3 conv stages (never transposed convs, whose uneven kernel overlap prints a
checkerboard) and a 9x9 output conv, with instance norm throughout. Instance norm removes each
photo's contrast; with contrast_aware every norm layer is followed by a per-channel scale and
shift in proportion to the photo's log contrast (ContrastModulation), so a generator trained on
crops at random contrasts can paint a soft photo differently from a busy one (an option, not the
default: benchmarks/results/recipe_search.md). The "lite" configuration narrows it and makes the
residual blocks depthwise-separable (undilated). Two decoder layers compute exactly that function
in a cheaper arrangement: UpsampleConv2d and PhaseConv2d.
A multi-style generator (styles > 1) shares every convolution between its styles and keeps one
scale and shift per style in each norm layer (conditional instance norm, Dumoulin et al. 2017);
mixing the styles' scales and shifts, globally or per pixel, mixes the styles.

Discriminator (after Isola et al. 2017): a stack of 4x4 convs whose output is a map of logits,
one per overlapping patch of the input, so it judges local texture rather than the whole image.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError
from .images import LUMA_WEIGHTS

# The default generator's residual blocks are dilated 1, 2, 4, 2, 1: their receptive field at quarter
# resolution doubles (about 190 instead of 110 px), which removed the dark blotches an undilated
# generator paints into large flat regions (benchmarks/results/recipe_search.md).
GENERATOR_CONFIGS = {
    "default": {"width": 24, "blocks": 5, "separable": False, "dilations": (1, 2, 4, 2, 1)},
    "lite": {"width": 16, "blocks": 4, "separable": True},
}


class ReflectionPad(nn.Module):
    """The same values as nn.ReflectionPad2d, built from slices: 1.2-1.7x faster eager generators on CPU.

    Under torch.compile it uses F.pad instead, which the compiler fuses into one indexing kernel
    while the slices become several strided copies.
    """

    def __init__(self, padding: int) -> None:
        super().__init__()
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mirror `padding` rows and columns (edge excluded) on every side."""
        p = self.padding
        if p == 0:
            return x
        if x.shape[-1] <= p or x.shape[-2] <= p:
            raise ValueError("image too small for reflection padding: use a larger input")
        if torch.compiler.is_compiling():
            return F.pad(x, [p, p, p, p], mode="reflect")
        x = torch.cat([x[..., 1 : p + 1].flip(-1), x, x[..., -p - 1 : -1].flip(-1)], dim=-1)
        return torch.cat([x[..., 1 : p + 1, :].flip(-2), x, x[..., -p - 1 : -1, :].flip(-2)], dim=-2)


def _conv(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Sequential:
    """Reflection-padded convolution (reflection avoids dark borders in stylised images)."""
    return nn.Sequential(
        ReflectionPad(dilation * (kernel // 2)),
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, groups=groups, dilation=dilation),
    )


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm with one scale and shift per style (Dumoulin et al. 2017), applied to a mix of styles.

    `mix` holds the style weights (Generator.set_style sets it): [S] (every image), [B,S] (one mix per
    image) or [B,S,H,W] (one per pixel, resized to the features). The scale and shift are the mix's
    weighted sums of the styles' rows, so a one-hot mix is a plain affine instance norm with that
    style's parameters.
    """

    def __init__(self, channels: int, styles: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(styles, channels))
        self.bias = nn.Parameter(torch.zeros(styles, channels))
        self.eps = eps
        self.mix = F.one_hot(torch.tensor(0), styles).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each channel of each image, then scale and shift by the mix of the styles."""
        normalised = F.instance_norm(x, eps=self.eps)
        if self.mix.dim() < 4:
            mix = self.mix.to(x.device, x.dtype).expand(len(x), -1)
            scale, shift = (mix @ p.to(x.dtype) for p in (self.weight, self.bias))
            return normalised * scale[:, :, None, None] + shift[:, :, None, None]
        mix = F.interpolate(self.mix.to(x.device, x.dtype), size=x.shape[-2:], mode="bilinear", align_corners=False)
        scale, shift = (torch.einsum("bshw,sc->bchw", mix, p.to(x.dtype)) for p in (self.weight, self.bias))
        return normalised * scale + shift


class ContrastModulation(nn.Module):
    """A per-channel scale and shift in proportion to the photo's log contrast, after a norm layer.

    Instance norm removes each image's contrast, so without this a generator paints a soft photo
    and a busy one alike. `photo_contrast` (log of the luminance standard deviation over 0.2, one per
    image) is set by Generator.forward; the parameters start at zero, so the layer starts as the
    identity and learns only what contrast-jittered training crops teach it.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(channels))
        self.shift = nn.Parameter(torch.zeros(channels))
        self.photo_contrast = torch.zeros(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x * (1 + c * scale) + c * shift, per image c and per channel."""
        c = self.photo_contrast.to(x.device, x.dtype)[:, None, None, None]
        scale, shift = self.scale.to(x.dtype)[None, :, None, None], self.shift.to(x.dtype)[None, :, None, None]
        return x * (1 + c * scale) + c * shift


def _norm(channels: int, styles: int, contrast_aware: bool) -> nn.Module:
    norm = nn.InstanceNorm2d(channels, affine=True) if styles == 1 else ConditionalInstanceNorm2d(channels, styles)
    return nn.Sequential(norm, ContrastModulation(channels)) if contrast_aware else norm


def _norm_relu(conv: nn.Module, channels: int, styles: int, contrast_aware: bool) -> nn.Sequential:
    return nn.Sequential(conv, _norm(channels, styles, contrast_aware), nn.ReLU(inplace=True))


def _conv_norm_relu(
    in_channels: int, out_channels: int, kernel: int, styles: int, contrast_aware: bool, stride: int = 1
) -> nn.Sequential:
    return _norm_relu(_conv(in_channels, out_channels, kernel, stride), out_channels, styles, contrast_aware)


# For output row phase r (even/odd row of the upsampled image), which of the three taps of a 3x3
# kernel over the upsampled image land on small-image rows i-1+r and i+r: FOLD[r, small row, tap].
_UPSAMPLE_FOLD = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])


def _per_phase(bias: torch.Tensor | None) -> torch.Tensor | None:
    """A conv bias repeated for the four pixel phases of each output channel."""
    return None if bias is None else bias.repeat_interleave(4)


def _replicate_edge(x: torch.Tensor) -> torch.Tensor:
    """x with its edge rows and columns repeated once on every side (F.pad "replicate" by 1).

    Compiled code gathers rows and columns instead: the compiler's replicate-pad backward
    mislabels channels-last strides (torch 2.14) and stops the training step.
    """
    if not torch.compiler.is_compiling():
        return F.pad(x, [1, 1, 1, 1], mode="replicate")
    height, width = x.shape[-2:]
    rows = torch.arange(-1, height + 1, device=x.device).clamp(0, height - 1)
    columns = torch.arange(-1, width + 1, device=x.device).clamp(0, width - 1)
    return x[:, :, rows][:, :, :, columns]


class UpsampleConv2d(nn.Conv2d):
    """Nearest 2x upsampling, reflection padding by 1 and this 3x3 conv, computed on the small image.

    Every 3x3 window of a nearest-upsampled image covers only 2x2 distinct pixels of the small
    image, so each of the four output phases (even/odd row and column) is a 2x2 conv of the small
    image with summed taps: 4/9 of the FLOPs and no full-size upsampled copy. Reflecting the
    upsampled image by one pixel equals replicating the small image's edge. The weights are those
    of the 3x3 conv, so this is the same function as Upsample + ReflectionPad(1) + Conv2d.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3)
        self.register_buffer("fold", _UPSAMPLE_FOLD.clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,C,H,W] -> [B,out,2H,2W]."""
        batch, _, height, width = x.shape
        fold = self.fold.to(self.weight.dtype)
        kernel = torch.einsum("ryk,cxl,oikl->orciyx", fold, fold, self.weight)
        kernel = kernel.reshape(4 * self.out_channels, self.in_channels, 2, 2)
        y = F.conv2d(_replicate_edge(x), kernel, _per_phase(self.bias))
        y = y.view(batch, self.out_channels, 2, 2, height + 1, width + 1)
        if torch.compiler.is_compiling():  # the compiler's as_strided backward gets this view wrong
            rows = [torch.stack([y[:, :, r, c, r : r + height, c : c + width] for c in (0, 1)], -1) for r in (0, 1)]
            return torch.stack(rows, 3).reshape(batch, self.out_channels, 2 * height, 2 * width)
        # Output pixel (2i+r, 2j+c) is phase (r, c) at (i+r, j+c): one strided view [B,O,i,r,j,c]
        # reads all four phases, as stepping r or c moves both the phase and the position.
        s_batch, s_out, s_r, s_c, s_i, s_j = y.stride()
        phases = y.as_strided(
            (batch, self.out_channels, height, 2, width, 2), (s_batch, s_out, s_i, s_r + s_i, s_j, s_c + s_j)
        )
        return phases.reshape(batch, self.out_channels, 2 * height, 2 * width)


class PhaseConv2d(nn.Conv2d):
    """A stride-1 conv computed as a stride-2 conv of the four pixel phases, then pixel shuffle.

    oneDNN computes output channels in blocks of 16, so a conv with 3 output channels does the
    work of 16. Output phase (r, c) is the same kernel shifted by r rows and c columns inside a
    window one larger; stacked, the four phases make 12 output channels at a quarter of the
    positions: about 3x faster on this CPU. Same weights and function as the plain (unpadded) conv; the
    output height and width must be even.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Valid (unpadded) convolution of x, like nn.Conv2d with padding 0."""
        out_height, out_width = x.shape[-2] - self.kernel_size[0] + 1, x.shape[-1] - self.kernel_size[1] + 1
        if out_height % 2 or out_width % 2:
            raise ValueError(f"PhaseConv2d needs an even output size, got {out_height}x{out_width}")
        # Phase p = 2r + c: the kernel shifted down by r rows and right by c columns.
        shifted = [F.pad(self.weight, [p % 2, 1 - p % 2, p // 2, 1 - p // 2]) for p in range(4)]
        kernel = torch.stack(shifted, dim=1).flatten(0, 1)
        return F.pixel_shuffle(F.conv2d(x, kernel, _per_phase(self.bias), stride=2), 2)


class ResidualBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x); depthwise 3x3 + pointwise 1x1 convs when separable.

    With dilation d the 3x3 kernels sample every d-th pixel: the same weights see d times as far.
    """

    def __init__(
        self, channels: int, separable: bool = False, styles: int = 1, dilation: int = 1, contrast_aware: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index in range(2):
            if separable:
                depthwise = _conv(channels, channels, 3, groups=channels, dilation=dilation)
                layers += [depthwise, nn.Conv2d(channels, channels, 1)]
            else:
                layers.append(_conv(channels, channels, 3, dilation=dilation))
            layers.append(_norm(channels, styles, contrast_aware))
            if index == 0:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the block's residual to its input."""
        return x + self.body(x)


class Generator(nn.Module):
    """Image-to-image network: RGB [B,3,H,W] in [0, 1] in, same size out, any H and W.

    With styles > 1 it paints any of its styles or a mix of them (`style` in forward). With
    photo_chroma it paints the luminance only: its output takes the input photo's chroma (Cb, Cr).
    With contrast_aware every norm layer is followed by a ContrastModulation: the network sees how
    soft or busy each photo is.
    """

    def __init__(
        self,
        width: int = 24,
        blocks: int = 5,
        separable: bool = False,
        styles: int = 1,
        photo_chroma: bool = False,
        dilations: Sequence[int] | None = None,
        contrast_aware: bool = False,
    ) -> None:
        super().__init__()
        dilations = list(dilations) if dilations is not None else [1] * blocks
        if width < 4 or blocks < 0 or styles < 1:
            raise ValueError(
                f"generator width must be at least 4, blocks non-negative and styles positive, got {width}, "
                f"{blocks}, {styles}"
            )
        if len(dilations) != blocks or min(dilations, default=1) < 1:
            raise ValueError(f"give one dilation of at least 1 per residual block ({blocks}), got {dilations}")
        self.settings = {"width": width, "blocks": blocks, "separable": separable, "styles": styles}
        # Optional keys only when set, so the settings of earlier checkpoints still match.
        if photo_chroma:
            self.settings["photo_chroma"] = True
        if any(d > 1 for d in dilations):
            self.settings["dilations"] = dilations
        if contrast_aware:
            self.settings["contrast_aware"] = True
        self.styles = styles
        self.photo_chroma = photo_chroma
        self.contrast_aware = contrast_aware
        self.register_buffer("luma_weights", LUMA_WEIGHTS.view(1, 3, 1, 1).clone(), persistent=False)
        self.encoder = nn.Sequential(
            _conv_norm_relu(3, width, 9, styles, contrast_aware),
            _conv_norm_relu(width, 2 * width, 3, styles, contrast_aware, stride=2),
            _conv_norm_relu(2 * width, 4 * width, 3, styles, contrast_aware, stride=2),
        )
        self.residuals = nn.Sequential(
            *(ResidualBlock(4 * width, separable, styles, d, contrast_aware) for d in dilations)
        )
        self.decoder = nn.Sequential(
            _norm_relu(UpsampleConv2d(4 * width, 2 * width), 2 * width, styles, contrast_aware),
            _norm_relu(UpsampleConv2d(2 * width, width), width, styles, contrast_aware),
            nn.Sequential(ReflectionPad(4), PhaseConv2d(width, 3, 9)),
        )
        self.register_load_state_dict_pre_hook(_rename_legacy_decoder_keys)

    @classmethod
    def from_settings(cls, settings: object) -> Generator:
        """A generator from a checkpoint's `generator_settings`, checked first (a damaged file raises InputError)."""
        limits = {"width": (4, 512), "blocks": (0, 64), "styles": (1, 4096)}
        flags = ("separable", "photo_chroma", "contrast_aware")
        if not isinstance(settings, dict) or not set(settings) <= {*limits, *flags, "dilations"}:
            raise InputError(f"generator settings {settings!r:.200} are not a stylelib generator's")
        for name, (low, high) in limits.items():
            value = settings.get(name)
            if not (type(value) is int and low <= value <= high):
                raise InputError(f"generator setting {name}={value!r:.50} is not an integer in [{low}, {high}]")
        if any(type(settings.get(name, False)) is not bool for name in flags):
            raise InputError(f"generator settings {settings!r:.200}: {', '.join(flags)} must be true or false")
        dilations = settings.get("dilations", [1] * settings["blocks"])
        if not (
            isinstance(dilations, (list, tuple))
            and len(dilations) == settings["blocks"]
            and all(type(d) is int and 1 <= d <= 64 for d in dilations)
        ):
            raise InputError(f"generator setting dilations={dilations!r:.100} needs one integer in [1, 64] per block")
        return cls(**settings)

    @classmethod
    def from_name(
        cls, name: str, styles: int = 1, photo_chroma: bool = False, contrast_aware: bool = False
    ) -> Generator:
        """A generator in a named configuration: 'default' or 'lite'."""
        if name not in GENERATOR_CONFIGS:
            raise ValueError(f"unknown generator {name!r}: use one of {', '.join(GENERATOR_CONFIGS)}")
        return cls(**GENERATOR_CONFIGS[name], styles=styles, photo_chroma=photo_chroma, contrast_aware=contrast_aware)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Stylise; pads H and W up to a multiple of 4 (reflection) and crops back.

        A multi-style generator paints the mix of styles last given to set_style (the first style until then).
        """
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError("expected RGB images [B,3,H,W], got shape " + str(list(image.shape)))
        height, width = image.shape[2], image.shape[3]
        pad_h, pad_w = (4 - height % 4) % 4, (4 - width % 4) % 4
        x = F.pad(image, [0, pad_w, 0, pad_h], mode="reflect") if pad_h > 0 or pad_w > 0 else image
        if self.contrast_aware:
            # log(luminance standard deviation / 0.2) of each photo, in fp32
            luma = (image.float() * self.luma_weights.float()).sum(1)
            contrast = torch.log(luma.flatten(1).std(1).clamp_min(1e-3) / 0.2)
            for module in self.modules():
                if hasattr(module, "photo_contrast"):  # a ContrastModulation (a name TorchScript resolves statically)
                    module.photo_contrast = contrast
        x = self.decoder(self.residuals(self.encoder(x)))
        output = torch.sigmoid(x[..., :height, :width])
        if not self.photo_chroma:
            return output
        # The photo shifted by the luminance difference: adding the same amount to R, G and B moves Y by
        # that amount and leaves Cb and Cr alone (their weights sum to 0), so this is the output's Y with
        # the photo's Cb and Cr.
        photo, luma = image.to(output.dtype), self.luma_weights.to(output.dtype)
        shift = ((output - photo) * luma).sum(1, keepdim=True)
        return (photo + shift).clamp(0.0, 1.0)

    def set_style(self, style: torch.Tensor | list[float] | None) -> torch.Tensor:
        """Choose what a multi-style generator paints from now on; returns the previous mix (to restore it).

        `style`: the weights of the styles (normalised to sum to 1), [S] for every image, [B,S] per
        image or [B,S,H,W] per pixel of the image; None = the first style alone.
        """
        norms = [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm2d)]
        if not norms:
            raise ValueError("this generator paints one style: it takes no style weights")
        previous = norms[0].mix
        mix = style_mix(style, self.styles)
        for norm in norms:
            norm.mix = mix
        return previous

    def fixed_style(self, style: torch.Tensor | list[float]) -> Generator:
        """A one-style copy painting this global mix of styles: the same outputs as forward(image, style)."""
        if self.styles == 1:
            raise InputError("this generator already paints one style")
        mix = style_mix(torch.as_tensor(style, dtype=torch.float32), self.styles)
        if mix.dim() != 1:
            raise InputError("fixed_style takes one weight per style, [S]")
        single = Generator(**{**self.settings, "styles": 1}).to(next(self.parameters()).device)
        state = {}
        for key, value in self.state_dict().items():
            module = self.get_submodule(key.rsplit(".", 1)[0])
            state[key] = mix.to(value) @ value if isinstance(module, ConditionalInstanceNorm2d) else value
        single.load_state_dict(state)
        return single.train(self.training)


# Checkpoints saved before the decoder's upsampling moved into UpsampleConv2d: old -> new prefix.
_LEGACY_DECODER_KEYS = {
    "decoder.1.0.1.": "decoder.0.0.",
    "decoder.1.1.": "decoder.0.1.",
    "decoder.3.0.1.": "decoder.1.0.",
    "decoder.3.1.": "decoder.1.1.",
    "decoder.4.1.": "decoder.2.1.",
}


def style_mix(style: torch.Tensor | None, styles: int) -> torch.Tensor:
    """Style weights checked and normalised to sum to 1 over the style axis: [S], [B,S] or [B,S,H,W].

    None means the first style alone.
    """
    if style is None:
        return F.one_hot(torch.tensor(0), styles).float()
    style = torch.as_tensor(style, dtype=torch.float32)
    axis = 0 if style.dim() == 1 else 1
    if style.dim() not in (1, 2, 4) or style.shape[axis] != styles:
        raise InputError(
            f"style weights need {styles} values (one per trained style) as [S], [B,S] or [B,S,H,W], "
            f"got shape {list(style.shape)}"
        )
    if not torch.isfinite(style).all() or (style < 0).any():
        raise InputError("style weights must be finite and non-negative")
    total = style.sum(axis, keepdim=True)
    if (total <= 0).any():
        raise InputError("style weights must not all be zero (at any pixel)")
    return style / total


def _rename_legacy_decoder_keys(module: nn.Module, state_dict: dict, prefix: str, *args: object) -> None:
    """Load-state-dict pre-hook: rename an old-layout checkpoint's decoder keys in place."""
    if prefix + "decoder.4.1.weight" not in state_dict:
        return
    renamed = {}
    for key in [k for k in state_dict if k.startswith(prefix + "decoder.")]:
        for old, new in _LEGACY_DECODER_KEYS.items():
            if key.startswith(prefix + old):
                renamed[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)
                break
    state_dict.update(renamed)


class PatchDiscriminator(nn.Module):
    """One PatchGAN: 4x4 convs, stride 2 for `layers` levels, then two stride-1 convs to a logit map per style."""

    def __init__(self, width: int = 32, layers: int = 3, spectral_norm: bool = True, styles: int = 1) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"a discriminator needs at least one downsampling layer, got {layers}")
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda module: module)
        channels = [3] + [width * 2 ** min(i, 3) for i in range(layers + 1)]
        modules: list[nn.Module] = []
        for index in range(layers + 1):
            stride = 2 if index < layers else 1
            modules += [wrap(nn.Conv2d(channels[index], channels[index + 1], 4, stride, 1)), nn.LeakyReLU(0.2)]
        modules.append(wrap(nn.Conv2d(channels[-1], styles, 4, 1, 1)))
        self.body = nn.Sequential(*modules)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits [B,styles,h,w], one per input patch and style (positive = looks like that style)."""
        return self.body(image * 2.0 - 1.0)


class Discriminator(nn.Module):
    """PatchGAN discriminator(s) at `scales` image scales (each halving the previous).

    For a multi-style generator (styles > 1) the convolutions are shared and the last layer has one
    output map per style: "does this patch look like painting k?"
    """

    def __init__(
        self, width: int = 32, layers: int = 3, scales: int = 1, spectral_norm: bool = True, styles: int = 1
    ) -> None:
        super().__init__()
        if scales < 1 or styles < 1:
            raise ValueError(f"scales and styles must be at least 1, got {scales} and {styles}")
        self.settings = {
            "width": width, "layers": layers, "scales": scales, "spectral_norm": spectral_norm, "styles": styles
        }  # fmt: skip
        self.levels = nn.ModuleList(PatchDiscriminator(width, layers, spectral_norm, styles) for _ in range(scales))

    def forward(self, image: torch.Tensor, style: int = 0) -> list[torch.Tensor]:
        """One logit map [B,1,h,w] per scale, finest first: the verdicts for style number `style`."""
        maps = []
        for index, level in enumerate(self.levels):
            if index:
                image = F.avg_pool2d(image, 3, stride=2, padding=1, count_include_pad=False)
            maps.append(level(image)[:, style : style + 1])
        return maps

    def receptive_fields(self) -> list[ReceptiveField]:
        """Receptive field of one output cell of each scale, in input pixels."""
        downsample = [ConvGeometry(3, 2, 1)]
        base = [ConvGeometry(m.kernel_size[0], m.stride[0], m.padding[0]) for m in _convs(self.levels[0])]
        return [receptive_field(downsample * index + base) for index in range(len(self.levels))]


@dataclass(frozen=True)
class ConvGeometry:
    """Kernel size, stride and padding of one sliding-window layer."""

    kernel: int
    stride: int
    padding: int


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field size, the stride between neighbouring output cells and the first cell's start."""

    size: int
    jump: int
    start: float

    def box(self, row: int, column: int) -> tuple[float, float, float, float]:
        """The input box (top, left, bottom, right) seen by output cell (row, column)."""
        top, left = self.start + row * self.jump, self.start + column * self.jump
        return top, left, top + self.size, left + self.size


def receptive_field(layers: Iterable[ConvGeometry]) -> ReceptiveField:
    """Compose sliding-window layers: size grows by (k-1)*jump, jump multiplies by the stride."""
    size, jump, start = 1, 1, 0.0
    for layer in layers:
        size += (layer.kernel - 1) * jump
        start -= layer.padding * jump
        jump *= layer.stride
    return ReceptiveField(size, jump, start)


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
