"""Command line: `python -m stylelib stylize | train | export | evaluate | sweep | data ...`."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import torch

from . import data, distributed, downloads, evaluation, inference, masks, nst, sweep, train, video
from .data import PHOTO_FILES, STYLE_NAMES, resolve_image
from .features import WeightsUnavailableError
from .images import load_image, save_image
from .runtime import PRECISIONS, Runtime, make_runtime, seed_everything


def _add_stylize(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "stylize",
        help="stylise a photo by optimisation (Gatys et al.)",
        description="Stylise a photo by optimising its pixels against VGG19 content and Gram style losses. "
        f"Images are file paths, or bundled names: photos {', '.join(PHOTO_FILES)}; "
        f"styles {', '.join(STYLE_NAMES)}.",
    )
    parser.add_argument(
        "--content", required=True, help="content photo (path, bundled name, a folder, or with --checkpoint a video)"
    )
    parser.add_argument("--style", action="append", help="style image; repeat to blend styles")
    parser.add_argument("--checkpoint", type=Path, help="a training run folder: stylise with its generator")
    parser.add_argument(
        "--style-weights",
        type=float,
        nargs="+",
        help="one blend weight per --style; with a multi-style --checkpoint one per trained style (default: first)",
    )
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
    parser.add_argument(
        "--mask",
        help="which style paints where, one region per --style (or per style of a multi-style --checkpoint): a "
        "greyscale image (two styles: black = first, white = second; N styles: style k at grey k/(N-1)), or "
        "'auto' for regions found by colour",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--compile", action="store_true", help="with --checkpoint: torch.compile the generator (pays off on folders)"
    )
    parser.set_defaults(run=run_stylize)


def run_stylize(args: argparse.Namespace) -> None:
    """Run `stylize`: with --checkpoint one generator pass, otherwise Gatys optimisation."""
    if args.checkpoint is not None:
        return run_stylize_checkpoint(args)
    if not args.style:
        raise ValueError("give --style (optimise against a painting) or --checkpoint (use a trained generator)")
    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"'{args.out}' already exists; pass --overwrite or choose another --out")
    if args.steps < 1 or args.size < 16:
        raise ValueError("--steps must be at least 1 and --size at least 16")
    seed_everything(args.seed)
    runtime = make_runtime(args.device, args.precision)
    started = time.perf_counter()
    photo = resolve_image(args.content)
    regions = None if args.mask is None else masks.regions_for(args.mask, photo, len(args.style))
    result = nst.stylize_gatys(
        photo,
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
        regions=regions,
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


def run_stylize_checkpoint(args: argparse.Namespace) -> None:
    """Stylise one image, a folder or a video with a trained generator (one style, a mix, or regions)."""
    if args.style:
        raise ValueError("--style and --checkpoint exclude each other: a trained generator already has its style")
    runtime = make_runtime(args.device, args.precision)
    generator = inference.load_generator(args.checkpoint, device=runtime.device)
    if args.mask:
        return _stylize_regions(args, generator, runtime)
    generator = inference.fix_style(generator, args.style_weights)
    if args.compile:
        generator = inference.compile_generator(generator, runtime)
    started = time.perf_counter()
    if video.is_video(args.content):
        info = video.stylize_video(
            generator, args.content, args.out, args.size, runtime, args.preserve_color, args.overwrite, not args.quiet
        )
        sound = "audio carried over" if info.audio else "the source has no audio track"
        print(f"saved {args.out} ({info.frames} frames, {info.size[0]}x{info.size[1]} at {info.fps:g} fps; {sound})")
        if info.truncated:
            print(
                f"warning: '{args.content}' announces {info.expected_frames} frames but only {info.frames} could be "
                "read (the file is truncated or damaged); the output holds those",
                file=sys.stderr,
            )
    elif Path(args.content).is_dir():
        run = inference.stylize_folder(
            generator, args.content, args.out, args.size, args.overwrite, runtime, args.preserve_color
        )
        print(f"saved {len(run.written)} images to {args.out} ({runtime})")
        if run.skipped:
            print(f"{len(run.skipped)} outputs were already there and were kept (pass --overwrite to redo them)")
        for message in run.failed:
            print(f"skipped: {message}", file=sys.stderr)
    else:
        if args.out.exists() and not args.overwrite:
            raise FileExistsError(f"'{args.out}' already exists; pass --overwrite or choose another --out")
        image = inference.stylize_image(generator, resolve_image(args.content), args.size, runtime, args.preserve_color)
        save_image(image, args.out, overwrite=args.overwrite)
        print(f"saved {args.out} ({image.shape[-1]}x{image.shape[-2]}, {runtime})")
    print(f"wall time: {time.perf_counter() - started:.2f} s")


def _stylize_regions(args: argparse.Namespace, generator: torch.nn.Module, runtime: Runtime) -> None:
    """One photo painted by a multi-style generator, each style in its region of --mask (a per-pixel mix)."""
    if generator.styles < 2:
        raise ValueError("--mask with --checkpoint needs a multi-style run (train --multi-style); this one has 1 style")
    if args.style_weights or video.is_video(args.content) or Path(args.content).is_dir():
        raise ValueError("--mask paints one photo by regions: give one image and no --style-weights")
    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"'{args.out}' already exists; pass --overwrite or choose another --out")
    photo = load_image(resolve_image(args.content), max_side=args.size)
    mix = torch.cat(masks.regions_for(args.mask, photo, generator.styles), dim=1)
    image = inference.stylize_image(generator, photo, runtime=runtime, preserve_color=args.preserve_color, style=mix)
    save_image(image, args.out, overwrite=args.overwrite)
    print(f"saved {args.out} ({image.shape[-1]}x{image.shape[-2]}, {generator.styles} styles by region, {runtime})")


def _add_train(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train a feed-forward generator adversarially",
        description="Train a generator with content + Gram style + adversarial losses. Options left out "
        "take their value from --config, else the TrainConfig defaults.",
    )
    parser.add_argument("--out", required=True, type=Path, help="run folder (checkpoint, log, samples)")
    parser.add_argument(
        "--style", action="append", help="style image, folder of paintings or bundled name; repeat to blend"
    )
    parser.add_argument("--config", type=Path, help="a config.json to start from")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument(
        "--multi-style", action="store_true", help="one network for all the --style paintings instead of one blend"
    )
    parser.add_argument(
        "--preserve-color",
        action="store_true",
        help="paint the paintings' luminance only: the generator's outputs keep each photo's colours",
    )
    parser.add_argument(
        "--extend",
        type=Path,
        help="a multi-style run: add the --style paintings to it, training only their norm parameters",
    )
    options = {
        "content_dir": (str, "folder of training photos (default: the bundled photos)"),
        "generator": (str, "default or lite"),
        "size": (int, "training crop side in px"),
        "style_size": (int, "each painting is resized to about this many px squared: larger paints larger strokes"),
        "style_scale": (str, "area (every painting gets style_size^2 px) or long_side (style_size is the long side)"),
        "steps": (int, "total training steps"),
        "batch_size": (int, "crops per step (per process under torchrun)"),
        "warmup_steps": (int, "reconstruction-only steps first"),
        "content_weight": (float, "weight of the relu4_2 content loss"),
        "style_weight": (float, "weight of the Gram style loss"),
        "adversarial_weight": (float, "weight of the adversarial loss (0: no discriminator)"),
        "style_strength": (float, "scales the style and adversarial weights: 0.5 keeps more photo, 2 paints more"),
        "tv_weight": (float, "weight of total variation"),
        "distill_weight": (float, "pull outputs towards Gatys's for each training photo (computed once first; 0: off)"),
        "temporal_weight": (float, "video stability: outputs follow small shifts and zooms of the photo (0: off)"),
        "adversarial_loss": (str, "lsgan, hinge or nonsaturating"),
        "lr_generator": (float, "Adam learning rate of G"),
        "lr_discriminator": (float, "Adam learning rate of D"),
        "seed": (int, "random seed"),
        "device": (str, "auto, cpu, cuda or mps"),
        "precision": (str, "auto, fp32, bf16 or fp16"),
    }
    for name, (kind, text) in options.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=text)
    parser.add_argument(
        "--contrast-aware",
        action="store_const",
        const=True,
        help="the generator's norm layers also see each photo's contrast (train with --contrast-jitter)",
    )
    parser.add_argument(
        "--contrast-jitter",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="scale each training crop's contrast by a random factor in [LOW, HIGH], e.g. 0.5 1.5",
    )
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="torch.compile the networks: a minute or two to start, then faster steps (for long GPU runs)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_train, config_fields=(*options, "contrast_aware", "contrast_jitter", "compile"))


def run_train(args: argparse.Namespace) -> None:
    """Run `train`: a new run from defaults/--config/flags, or --resume an existing one (also under torchrun)."""
    try:
        _train(args)
    finally:
        distributed.stop()


def _train(args: argparse.Namespace) -> None:
    if args.resume:
        changed = [f"--{name.replace('_', '-')}" for name in args.config_fields if getattr(args, name) is not None]
        changed = [flag for flag in changed if flag not in ("--steps", "--device", "--compile")]
        given = (("--style", args.style), ("--config", args.config), ("--multi-style", args.multi_style))
        given += (("--preserve-color", args.preserve_color),)
        changed += [flag for flag, value in (*given, ("--extend", args.extend)) if value]
        if changed:
            raise ValueError(
                "--resume continues the run with its saved config.json; only --steps, --device and --compile may "
                f"change, not {', '.join(changed)} (start a new run with another --out to change them)"
            )
        trainer = train.Trainer.resume(args.out, steps=args.steps, device=args.device, compile=args.compile)
    else:
        trainer = train.Trainer(_new_config(args), args.out)
    if trainer.runtime.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # crops have one fixed shape: let cuDNN time its kernels once
    say = print if trainer.process.is_main else (lambda *_: None)
    processes = f" x {trainer.process.world_size} processes" if trainer.process.is_distributed else ""
    say(
        f"training {trainer.config.generator} generator in {args.out} on {trainer.runtime}{processes}, "
        f"from step {trainer.step} to {trainer.config.steps}"
    )
    started = time.perf_counter()
    trainer.train(progress=not args.quiet)
    last = trainer.history[-1] if trainer.history else {}
    losses = "  ".join(f"{k} {last[k]:.4g}" for k in ("content", "style", "adversarial", "d_loss") if k in last)
    say(f"done: step {trainer.step}; {losses}")
    say(f"wall time: {time.perf_counter() - started:.1f} s; samples in {args.out / 'samples'}")


def _new_config(args: argparse.Namespace) -> train.TrainConfig:
    """A new run's config: --extend's run config, else --config, else the defaults; then the flags given."""
    if args.extend is not None:
        if not args.style or args.config or args.multi_style or args.preserve_color:
            raise ValueError(
                "--extend RUN adds --style paintings to RUN's styles: give --style, not --config, --multi-style or "
                "--preserve-color (RUN's config sets them)"
            )
        config = train.TrainConfig.load(args.extend / "config.json", saved_run=True)
        config.styles = [*config.styles, *args.style]
        config.extend, config.warmup_steps, config.steps = str(args.extend), 0, train.EXTEND_STEPS
    else:
        config = train.TrainConfig.load(args.config) if args.config else train.TrainConfig()
        if args.style:
            config.styles = args.style
        config.multi_style = config.multi_style or args.multi_style
        config.preserve_color = config.preserve_color or args.preserve_color
    for name in args.config_fields:
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    return config


def _add_export(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("export", help="export a trained generator to TorchScript or ONNX")
    parser.add_argument("--checkpoint", required=True, type=Path, help="training run folder")
    parser.add_argument("--out", required=True, type=Path, help="output file (.pt or .onnx)")
    parser.add_argument("--format", choices=inference.EXPORT_FORMATS, default="torchscript")
    parser.add_argument("--style-weights", type=float, nargs="+", help="multi-style runs: the mix to export")
    parser.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> None:
    """Run `export`."""
    generator = inference.fix_style(inference.load_generator(args.checkpoint), args.style_weights)
    path = inference.export_generator(generator, args.out, args.format)
    print(f"exported {args.format} generator to {path}")


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="score stylised images: style, content, SSIM, edges, checkerboard, style KID, speed",
        description="Score stylised outputs against their photo and the style image(s). With --checkpoint, "
        "stylise the photo(s) with a trained generator first and also time it. A photo folder as --content "
        "pairs with one output folder, files matched by name.",
    )
    parser.add_argument("outputs", nargs="*", help="stylised images, or one folder of them")
    parser.add_argument("--content", required=True, help="the photo (path or bundled name) or a folder of photos")
    parser.add_argument("--style", action="append", help="style image, folder or bundled name (not with --temporal)")
    parser.add_argument("--checkpoint", type=Path, help="a training run folder: evaluate its generator")
    parser.add_argument(
        "--temporal",
        type=Path,
        help="a stylised video or folder of frames: report its flicker, the motion taken from the --content clip",
    )
    parser.add_argument("--size", type=int, default=384, help="long side in px of the photos, with --checkpoint")
    parser.add_argument("--json", action="store_true", help="print JSON lines (one per output, then a summary)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> None:
    """Run `evaluate` and print a table or JSON lines."""
    if args.temporal is not None:
        if args.outputs or args.checkpoint or args.style:
            raise ValueError("--temporal measures one stylised clip against its --content clip: drop the other inputs")
        result = evaluation.evaluate_temporal(args.temporal, args.content)
        print(json.dumps(result) if args.json else (
            f"flicker (warping error, motion by optical flow): {result['flicker']:.6f} over {result['frames']} "
            f"frames; motion trusted on {result['trusted']:.0%} of the pixels"
        ))  # fmt: skip
        return
    if not args.style:
        raise ValueError("give --style: the style image(s) to score against")
    styles = data.load_styles(args.style)
    if args.checkpoint is not None:
        if args.outputs:
            raise ValueError("give either stylised images or --checkpoint, not both")
        runtime = make_runtime(args.device, args.precision)
        result = evaluation.evaluate_generator(args.checkpoint, args.content, styles, args.size, runtime)
    else:
        result = evaluation.evaluate_files(args.content, args.outputs, styles)
    if args.json:
        for row in result.rows:
            print(json.dumps(row))
        print(json.dumps({"summary": result.summary}))
    else:
        print(evaluation.format_table(result))


SWEEP_BASE_OPTIONS = {"size": int, "steps": int, "batch_size": int, "warmup_steps": int, "seed": int, "precision": str}


def _add_sweep(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sweep",
        help="train and score one run per combination of hyperparameter values",
        description="Train one run per point of a grid of TrainConfig values, score each on the held-out "
        "photos and diagnose failure modes. Finished runs are skipped, so a sweep can be continued.",
    )
    parser.add_argument("--out", required=True, type=Path, help="sweep folder (one run folder per grid point)")
    parser.add_argument(
        "--vary",
        action="append",
        required=True,
        help="field=v1,v2,... e.g. style_weight=0.3,1,3; list fields join items with +: styles=hokusai,matisse+picabia",
    )
    parser.add_argument("--config", type=Path, help="a config.json with the base recipe")
    parser.add_argument("--style", action="append", help="style image, folder or bundled name")
    for name, kind in SWEEP_BASE_OPTIONS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=f"base {name} for every run")
    parser.add_argument("--eval-size", type=int, default=256, help="long side in px of the held-out photos")
    parser.add_argument(
        "--jobs", type=int, default=1, help="grid points trained at once (one per GPU on a GPU machine)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run_sweep)


def run_sweep(args: argparse.Namespace) -> None:
    """Run `sweep` and print one line per run."""
    base = train.TrainConfig.load(args.config) if args.config else train.TrainConfig()
    for name in SWEEP_BASE_OPTIONS:
        if getattr(args, name) is not None:
            setattr(base, name, getattr(args, name))
    if args.style:
        base.styles = args.style
    base.warmup_steps = min(base.warmup_steps, base.steps)
    grid = dict(sweep.parse_vary(spec) for spec in args.vary)
    results = sweep.run_sweep(base, grid, args.out, args.eval_size, progress=not args.quiet, jobs=args.jobs)
    print(f"{'run':<48} {'style ratio':>11} {'content':>8} {'SSIM':>6} {'retrieval':>9}  diagnoses")
    for row in map(sweep.summary_row, results):
        print(
            f"{row['run']:<48} {row['style_ratio']:>11.3f} {row['content_distance']:>8.3f} {row['ssim']:>6.3f} "
            f"{row['content_retrieval']:>9.2f}  {row['diagnoses']}"
        )
    print(f"each run's metrics.json is in {args.out}/<run>/")


def _add_data(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("data", help="download painting/photo datasets (needs internet)")
    actions = parser.add_subparsers(dest="action", required=True)
    download = actions.add_parser("download", help="download and extract a CycleGAN dataset")
    download.add_argument("name", choices=downloads.DATASETS)
    download.add_argument("--root", type=Path, default=downloads.DEFAULT_ROOT, help="where datasets go")
    download.add_argument("--url", help="download from this address instead (a mirror)")
    download.add_argument("--sha256", help="the archive's expected SHA-256 (known for the default address)")
    download.set_defaults(run=run_download)


def run_download(args: argparse.Namespace) -> None:
    """Run `data download`."""
    folder = downloads.download_dataset(args.name, args.root, url=args.url, sha256=args.sha256)
    print(f"{args.name} is in {folder} (trainA: paintings, trainB: photos)")


def build_parser() -> argparse.ArgumentParser:
    """The top-level argument parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="python -m stylelib", description="Content-preserving style transfer.")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_stylize(commands)
    _add_train(commands)
    _add_export(commands)
    _add_evaluate(commands)
    _add_sweep(commands)
    _add_data(commands)
    _add_verbose(parser)
    return parser


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """--verbose on every command that runs (the leaves of the subcommand tree)."""
    leaves = [action.choices.values() for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not leaves:
        parser.add_argument("--verbose", action="store_true", help="on errors, show tracebacks and ffmpeg's messages")
    for children in leaves:
        for child in children:
            _add_verbose(child)


# Errors a user can fix from the message alone: one line, no traceback.
EXPECTED_ERRORS = (
    ValueError,  # bad input, including InputError and ImageError
    OSError,  # missing files, permissions, a full disk
    WeightsUnavailableError,
    FloatingPointError,  # a diverged training run
    downloads.DownloadError,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: expected errors print one line on stderr and return 2; unexpected ones return 1.

    With --verbose an error also prints its traceback (and what ffmpeg said, for a video).
    """
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    try:
        args.run(args)
    except EXPECTED_ERRORS as error:
        if verbose:
            traceback.print_exc()
            print(getattr(error, "details", ""), file=sys.stderr)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"interrupted: {interrupt}" if str(interrupt) else "interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if verbose:
            traceback.print_exc()
        hint = "" if verbose else "; run the command again with --verbose for the traceback"
        print(f"error: unexpected {type(error).__name__}: {error}{hint}", file=sys.stderr)
        return 1
    return 0
