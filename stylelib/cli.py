"""Command line: `python -m stylelib stylize ...`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from . import nst
from .data import PHOTO_FILES, STYLE_PAINTERS, load_photo, procedural_style
from .features import WeightsUnavailableError
from .images import ImageError, load_image, save_image
from .runtime import PRECISIONS, make_runtime, seed_everything


def resolve_image(spec: str) -> torch.Tensor:
    """An image file path, or the name of a bundled photo or procedural style."""
    if Path(spec).exists() or spec not in {*PHOTO_FILES, *STYLE_PAINTERS}:
        return load_image(spec)
    return load_photo(spec) if spec in PHOTO_FILES else procedural_style(spec)


def _add_stylize(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "stylize",
        help="stylise a photo by optimisation (Gatys et al.)",
        description="Stylise a photo by optimising its pixels against VGG19 content and Gram style losses. "
        f"Images are file paths, or bundled names: photos {', '.join(PHOTO_FILES)}; "
        f"styles {', '.join(STYLE_PAINTERS)}.",
    )
    parser.add_argument("--content", required=True, help="content photo (path or bundled name)")
    parser.add_argument("--style", required=True, action="append", help="style image; repeat to blend styles")
    parser.add_argument("--style-weights", type=float, nargs="+", help="one blend weight per --style")
    parser.add_argument("--out", required=True, type=Path, help="output image path (.png or .jpg)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it already exists")
    parser.add_argument("--size", type=int, default=nst.DEFAULT_MAX_SIDE, help="long side of the output in px")
    parser.add_argument("--steps", type=int, default=nst.DEFAULT_STEPS, help="optimisation steps (per scale)")
    parser.add_argument("--scales", type=int, nargs="+", help="coarse-to-fine long sides, ending at --size")
    parser.add_argument("--optimizer", choices=nst.OPTIMIZERS, default="lbfgs")
    parser.add_argument("--init", choices=("content", "noise"), default="content")
    parser.add_argument("--content-weight", type=float, default=nst.DEFAULT_CONTENT_WEIGHT)
    parser.add_argument("--style-weight", type=float, default=nst.DEFAULT_STYLE_WEIGHT)
    parser.add_argument("--tv-weight", type=float, default=nst.DEFAULT_TV_WEIGHT)
    parser.add_argument("--preserve-color", action="store_true", help="keep the photo's colours (luminance-only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_stylize)


def run_stylize(args: argparse.Namespace) -> None:
    """Run `stylize`: optimise, save, print the final losses and the wall time."""
    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"'{args.out}' already exists; pass --overwrite or choose another --out")
    if args.steps < 1 or args.size < 16:
        raise ValueError("--steps must be at least 1 and --size at least 16")
    seed_everything(args.seed)
    runtime = make_runtime(args.device, args.precision)
    started = time.perf_counter()
    result = nst.stylize_gatys(
        resolve_image(args.content),
        [resolve_image(spec) for spec in args.style],
        style_weights=args.style_weights,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        steps=args.steps,
        optimizer=args.optimizer,
        init=args.init,
        max_side=args.size,
        scales=args.scales,
        preserve_color=args.preserve_color,
        runtime=runtime,
        seed=args.seed,
        progress=not args.quiet,
    )
    save_image(result.image, args.out, overwrite=args.overwrite)
    losses = "  ".join(f"{name} {value:.4g}" for name, value in result.final_losses.items())
    height, width = result.image.shape[-2:]
    print(f"saved {args.out} ({width}x{height}, {runtime})")
    print(f"final losses: {losses}")
    print(f"wall time: {time.perf_counter() - started:.1f} s for {len(result.history)} steps")


def build_parser() -> argparse.ArgumentParser:
    """The top-level argument parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="python -m stylelib", description="Content-preserving style transfer.")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_stylize(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad input prints one line on stderr and returns 2."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ImageError, ValueError, FileExistsError, WeightsUnavailableError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
