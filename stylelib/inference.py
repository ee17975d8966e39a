"""Use a trained generator: load it from a run, stylise images or folders, export it."""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from .datasets import find_images
from .errors import InputError
from .images import ImageError, ImageSource, load_image, luminance, save_image, with_chroma
from .models import Generator
from .runtime import Runtime, check_compiler, choose_precision, evaluation_mode, make_runtime, module_device
from .storage import CHECKPOINT, load_checkpoint

EXPORT_FORMATS = ("torchscript", "onnx")


def load_generator(source: str | os.PathLike, use_ema: bool = True, device: str | torch.device = "cpu") -> Generator:
    """The generator of a run folder or checkpoint file (its EMA copy when there is one), in eval mode on `device`.

    Checkpoints written on any device load on any other.
    """
    path = Path(source)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise InputError(f"no checkpoint at '{path}': pass a training run folder or its {CHECKPOINT}")
    state = load_checkpoint(path)
    try:
        generator = Generator.from_settings(state["generator_settings"])
        weights = state["ema"] if use_ema and state.get("ema") is not None else state["generator"]
        generator.load_state_dict(weights)
    except InputError:
        raise
    except (TypeError, KeyError, AttributeError, ValueError, RuntimeError) as error:
        raise InputError(
            f"'{path}' is not a stylelib training checkpoint ({type(error).__name__}: {str(error)[:120]}); "
            "pass the folder that `train` wrote"
        ) from error
    return generator.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)


def fix_style(generator: Generator, style_weights: list[float] | None) -> Generator:
    """A multi-style generator's one-style copy painting this mix of its styles (None: the first style),
    on the same device and in eval mode; a one-style generator is returned as it is when no weights are given."""
    if generator.styles == 1:
        if style_weights is not None:
            raise ValueError("this generator was trained on one style: style weights need a multi-style run")
        return generator
    if style_weights is None:
        style_weights = [1.0] + [0.0] * (generator.styles - 1)
    fixed = generator.fixed_style(style_weights)
    return fixed.to(module_device(generator), memory_format=torch.channels_last).eval().requires_grad_(False)


def compile_generator(generator: Generator, runtime: Runtime | None = None) -> torch.nn.Module:
    """A compiled copy of the generator on the runtime's device: slow first call per image size, then faster.

    The generator passed in is left where it is.
    """
    runtime = runtime or make_runtime()
    check_compiler(runtime.device)
    duplicate = copy.deepcopy(generator).to(runtime.device, memory_format=torch.channels_last).eval()
    return torch.compile(duplicate, dynamic=False)


def stylize_image(
    generator: torch.nn.Module,
    image: ImageSource,
    max_side: int | None = None,
    runtime: Runtime | None = None,
    preserve_color: bool = False,
    style: torch.Tensor | None = None,
) -> torch.Tensor:
    """Stylise one image (any size; `max_side` resizes the long side first) in one forward pass.

    `preserve_color` keeps the output's luminance and the photo's colours (chroma). `style` (multi-style
    generators): the style weights for this pass, [S] or per pixel [1,S,H,W] at the image's size.

    Runs where the generator's weights are (stylelib never moves a module it is handed; move it
    with `generator.to(device)`), in eval mode for the pass; `runtime` sets the autocast precision.
    """
    device = module_device(generator)
    runtime = runtime or Runtime(device, choose_precision(device))
    if runtime.device.type != device.type:
        raise ValueError(
            f"the generator is on {device} but the runtime asks for {runtime.device}: move it first "
            f"(generator.to('{runtime.device}')) or load it with load_generator(..., device='{runtime.device}')"
        )
    photo = load_image(image, max_side=max_side).to(device, memory_format=torch.channels_last)
    previous = None if style is None else generator.set_style(style)
    try:
        with torch.no_grad(), runtime.autocast(), evaluation_mode(generator):
            output = generator(photo).float().cpu().clamp(0.0, 1.0)
    finally:
        if previous is not None:
            generator.set_style(previous)
    return with_chroma(luminance(output), photo.float().cpu()) if preserve_color else output


def at_strength(output: torch.Tensor, photo: torch.Tensor, strength: float) -> torch.Tensor:
    """A live dial between the photo (0) and the stylised output (1): (1 - s) * photo + s * output, per pixel.

    A post-process for exploring; `train --style-strength` changes what the network learns instead.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return torch.lerp(photo.float().cpu(), output.float().cpu(), strength)


@dataclass
class FolderRun:
    """What stylize_folder did: outputs written, outputs already there (skipped), and unreadable images."""

    written: list[Path]
    skipped: list[Path]
    failed: list[str]  # one message per image that could not be read


def stylize_folder(
    generator: torch.nn.Module,
    source: str | os.PathLike,
    destination: str | os.PathLike,
    max_side: int | None = None,
    overwrite: bool = False,
    runtime: Runtime | None = None,
    preserve_color: bool = False,
) -> FolderRun:
    """Stylise every image under `source` into `destination`, keeping relative paths (as .png).

    Outputs already there are skipped unless `overwrite`: each is written atomically, so an existing
    one is complete, and re-running an interrupted folder continues where it stopped. An unreadable
    image is reported and the others are still done. Ctrl-C says how many were finished.
    """
    source, destination = Path(source), Path(destination)
    files = find_images(source)
    run = FolderRun([], [], [])
    try:
        for path in files:
            target = destination / path.relative_to(source).with_suffix(".png")
            if target.exists() and not overwrite:
                run.skipped.append(target)
                continue
            try:
                image = stylize_image(generator, path, max_side, runtime, preserve_color)
            except ImageError as error:
                run.failed.append(str(error))
                continue
            run.written.append(save_image(image, target, overwrite=overwrite))
    except KeyboardInterrupt:
        finished = len(run.written) + len(run.skipped)
        raise KeyboardInterrupt(
            f"{finished} of {len(files)} images are finished in '{destination}'; run the same command again to "
            "stylise the rest"
        ) from None
    return run


@contextlib.contextmanager
def _torchscript_warnings_silenced() -> Iterator[None]:
    # TorchScript is deprecated upstream (torch.export is its successor) but still saves and loads.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def load_exported(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """Load a generator that export_generator saved as TorchScript; it needs only PyTorch."""
    with _torchscript_warnings_silenced():
        return torch.jit.load(str(path), map_location=device)


def export_generator(generator: Generator, path: str | os.PathLike, fmt: str = "torchscript") -> Path:
    """Save a one-style generator as TorchScript (.pt) or ONNX (.onnx) with dynamic image size.

    A multi-style generator is exported at one mix of its styles: pass fix_style(generator, weights).
    """
    target = Path(path)
    if generator.styles > 1:
        raise ValueError("export one mix of a multi-style generator: export_generator(fix_style(generator, weights))")
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    if target.exists():
        raise FileExistsError(f"'{target}' already exists; choose another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    generator = copy.deepcopy(generator).float().eval().cpu()  # the caller's module stays as it is
    if fmt == "torchscript":
        with _torchscript_warnings_silenced():
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
