"""Use a trained generator: load it from a run, stylise images or folders, export it."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import torch

from .datasets import find_images
from .images import ImageSource, load_image, save_image
from .models import Generator
from .runtime import Runtime, make_runtime
from .storage import load_checkpoint
from .train import CHECKPOINT

EXPORT_FORMATS = ("torchscript", "onnx")


def load_generator(source: str | os.PathLike, use_ema: bool = True) -> Generator:
    """The generator of a run folder or checkpoint file (its EMA copy when there is one)."""
    path = Path(source)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise ValueError(f"no checkpoint at '{path}': pass a training run folder or its {CHECKPOINT}")
    state = load_checkpoint(path)
    if "generator_settings" not in state:
        raise ValueError(f"'{path}' is not a stylelib training checkpoint")
    generator = Generator(**state["generator_settings"])
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["generator"]
    generator.load_state_dict(weights)
    return generator.eval().requires_grad_(False)


def compile_generator(generator: Generator, runtime: Runtime | None = None) -> torch.nn.Module:
    """The generator compiled with torch.compile: slow first call per image size, then about 2x faster."""
    runtime = runtime or make_runtime()
    if runtime.device.type == "cpu" and not any(shutil.which(cxx) for cxx in ("g++", "clang++", "c++")):
        raise ValueError("compiling on the CPU needs a C++ compiler (g++ or clang++): install one or do not compile")
    generator = generator.to(runtime.device, memory_format=torch.channels_last)
    return torch.compile(generator, dynamic=False)


def stylize_image(
    generator: torch.nn.Module, image: ImageSource, max_side: int | None = None, runtime: Runtime | None = None
) -> torch.Tensor:
    """Stylise one image (any size; `max_side` resizes the long side first) in one forward pass."""
    runtime = runtime or make_runtime()
    photo = load_image(image, max_side=max_side).to(runtime.device, memory_format=torch.channels_last)
    generator = generator.to(runtime.device, memory_format=torch.channels_last)
    with torch.no_grad(), runtime.autocast():
        return generator(photo).float().cpu().clamp(0.0, 1.0)


def stylize_folder(
    generator: torch.nn.Module,
    source: str | os.PathLike,
    destination: str | os.PathLike,
    max_side: int | None = None,
    overwrite: bool = False,
    runtime: Runtime | None = None,
) -> list[Path]:
    """Stylise every image under `source` into `destination`, keeping relative paths (as .png)."""
    source, destination = Path(source), Path(destination)
    files = find_images(source)
    targets = [destination / path.relative_to(source).with_suffix(".png") for path in files]
    clashes = [str(t) for t in targets if t.exists()]
    if clashes and not overwrite:
        raise FileExistsError(f"{len(clashes)} outputs already exist (e.g. '{clashes[0]}'); pass --overwrite")
    for path, target in zip(files, targets):
        save_image(stylize_image(generator, path, max_side, runtime), target, overwrite=overwrite)
    return targets


def export_generator(generator: Generator, path: str | os.PathLike, fmt: str = "torchscript") -> Path:
    """Save the generator as TorchScript (.pt) or ONNX (.onnx) with dynamic image size."""
    target = Path(path)
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    if target.exists():
        raise FileExistsError(f"'{target}' already exists; choose another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    generator = generator.float().eval().cpu()
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated upstream but still loads
            torch.jit.script(generator).save(str(target))
        return target
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError as error:
        raise ValueError("ONNX export needs the 'onnx' package: pip install onnx, or export torchscript") from error
    example = torch.rand(1, 3, 64, 64)
    torch.onnx.export(
        generator,
        (example,),
        str(target),
        input_names=["image"],
        output_names=["stylised"],
        dynamic_axes={name: {0: "batch", 2: "height", 3: "width"} for name in ("image", "stylised")},
        dynamo=False,
    )
    return target
