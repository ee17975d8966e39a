"""Matplotlib figures and ipywidgets explorers used by the notebooks."""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import random
import time
from collections.abc import Mapping, Sequence
from functools import partial

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from .images import to_numpy, to_pil
from .inference import at_strength, stylize_image
from .models import Generator
from .preference import Vote, record_vote
from .runtime import Runtime
from .train_config import TrainConfig

JPEG_QUALITY = 88  # photographic panels at a fifth of their PNG size, with no visible loss
# Frontends show the text; the workbook's tests read this part to catch runs made with defaults changed since.
CONFIG_MIME = "application/vnd.stylelib.train-config+json"


class PhotoFigure(Figure):
    """A figure of photographs or paintings: a notebook shows it as JPEG; savefig writes what it is asked for."""


def _show_photo_figures_as_jpeg() -> None:
    """In an IPython kernel, display PhotoFigures as JPEG instead of PNG (other figures stay PNG)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters
    formatters["image/png"].for_type(PhotoFigure, lambda figure: None)
    jpeg = partial(print_figure, fmt="jpeg", base64=True, pil_kwargs={"quality": JPEG_QUALITY})
    formatters["image/jpeg"].for_type(PhotoFigure, jpeg)


def photo_subplots(*args, **kwargs) -> tuple[PhotoFigure, object]:
    """plt.subplots for figures of images, shown in notebooks as JPEG."""
    _show_photo_figures_as_jpeg()
    return plt.subplots(*args, FigureClass=PhotoFigure, **kwargs)


def show_images(
    images: Sequence[torch.Tensor], titles: Sequence[str] | None = None, columns: int | None = None, size: float = 3.2
) -> Figure:
    """Images side by side (wrapping after `columns`), each with an optional title."""
    columns = columns or len(images)
    rows = (len(images) + columns - 1) // columns
    aspect = images[0].shape[-2] / images[0].shape[-1]
    figsize = (size * columns, size * aspect * rows + 0.4 * rows)
    fig, axes = photo_subplots(rows, columns, figsize=figsize, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(images):
            ax.imshow(to_numpy(images[index]))
            if titles:
                ax.set_title(titles[index], fontsize=9)
    fig.tight_layout()
    return fig


DISCRIMINATOR_OUTPUTS = {"d_real", "d_fake"}  # the trainer's logged mean logits of D on paintings and outputs


def _trailing_mean(values: Sequence[float], window: int) -> list[float]:
    """Mean of each value and up to window - 1 values before it (window 1 returns the values)."""
    return [sum(values[max(0, i - window + 1) : i + 1]) / (i + 1 - max(0, i - window + 1)) for i in range(len(values))]


def plot_losses(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    keys: Sequence[str | Sequence[str]] = ("total", "content", "style"),
    x: str = "step",
    log: bool = True,
    smooth: int = 1,
    shade: tuple[float, float, str] | None = None,
) -> Figure:
    """One panel per key (a tuple of keys shares a panel), one line per run and key; x is 'step' or 'seconds'.

    smooth > 1 draws the raw values faintly under their trailing mean over `smooth` records;
    shade = (start, end, label) marks a span of x, such as a warm-up.
    """
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, panel in zip(axes.flat, keys):
        series = (panel,) if isinstance(panel, str) else tuple(panel)
        if shade is not None:
            ax.axvspan(shade[0], shade[1], color="0.9", label=shade[2])
        for (name, history), key in itertools.product(histories.items(), series):
            rows = [r for r in history if key in r]
            xs, values = [r[x] for r in rows], [r[key] for r in rows]
            parts = (name if len(histories) > 1 else "", key if len(series) > 1 else "")
            label = " / ".join(part for part in parts if part)
            line = ax.plot(xs, _trailing_mean(values, smooth), label=label or None)[0]
            if smooth > 1:
                ax.plot(xs, values, color=line.get_color(), alpha=0.25, linewidth=0.8)
        ax.set_title(" and ".join(series) + (f" (mean of {smooth} logs)" if smooth > 1 else ""), fontsize=10)
        ax.set_xlabel("wall time (s)" if x == "seconds" else x)
        ax.set_ylabel("mean logit" if set(series) <= DISCRIMINATOR_OUTPUTS else "loss")
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if len(histories) > 1 or len(series) > 1 or shade is not None:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def feature_maps_figure(features: Mapping[str, torch.Tensor], channels: int = 8, size: float = 1.4) -> Figure:
    """A grid: one row per layer, the first `channels` activation maps of image 0, each min-max scaled."""
    fig, axes = photo_subplots(len(features), channels, figsize=(size * channels, size * len(features)), squeeze=False)
    for row, (layer, activation) in enumerate(features.items()):
        for column in range(channels):
            ax = axes[row, column]
            ax.imshow(activation[0, column].float().cpu(), cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(f"{layer}\n{tuple(activation.shape[-2:])}", fontsize=8)
    fig.tight_layout()
    return fig


def gram_heatmaps(grams: Mapping[str, torch.Tensor], size: float = 3.0, channels: int = 32) -> Figure:
    """Heatmaps of the top-left `channels` x `channels` block of each Gram matrix, each with its own labelled scale."""
    fig, axes = plt.subplots(1, len(grams), figsize=(size * 1.25 * len(grams), size), squeeze=False)
    for ax, (title, gram) in zip(axes.flat, grams.items()):
        shown = ax.imshow(gram.squeeze(0)[:channels, :channels].float().cpu(), cmap="magma", vmin=0)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("channel j")
        ax.set_ylabel("channel i")
        fig.colorbar(shown, ax=ax, shrink=0.8, label="$G_{ij}$")
    fig.tight_layout()
    return fig


class LiveLossPlot:
    """A callback for stylize_gatys that redraws the loss curves and current image every `every` steps."""

    def __init__(self, every: int = 20, keys: Sequence[str] = ("total", "content", "style")) -> None:
        self.every, self.keys = every, tuple(keys)
        self.history: list[dict[str, float]] = []

    def __call__(self, record: Mapping[str, float], image: torch.Tensor) -> None:
        """Store the step and redraw when due."""
        from IPython.display import clear_output, display

        self.history.append(dict(record))
        if record["step"] % self.every:
            return
        fig, axes = plt.subplots(1, len(self.keys) + 1, figsize=(3.6 * (len(self.keys) + 1), 3.0))
        for ax, key in zip(axes, self.keys):
            ax.plot([r["step"] for r in self.history], [r[key] for r in self.history])
            ax.set_yscale("log")
            ax.set_title(f"{key}: {record[key]:.3g}")
            ax.set_xlabel("L-BFGS step")
            ax.set_ylabel(f"{key} loss (log scale)")
            ax.grid(alpha=0.3)
        axes[-1].imshow(to_numpy(image.float().clamp(0, 1)))
        axes[-1].set_title(f"step {record['step']}")
        axes[-1].axis("off")
        fig.tight_layout()
        clear_output(wait=True)
        display(fig)
        plt.close(fig)


def live_frontend() -> bool:
    """True in a kernel started by a Jupyter server (JupyterLab, Notebook), where widgets draw.

    False under papermill and nbval, whose saved outputs would hold a widget's text repr instead.
    """
    return "JPY_SESSION_NAME" in os.environ


def feature_browser(features: Mapping[str, torch.Tensor]):
    """An ipywidgets explorer: pick a layer and a channel, see that activation map (None outside a live front end)."""
    if not live_frontend():
        first = next(iter(features))
        _show_widget_picture(
            "the layer and channel browser",
            [(f"layer: {first}", 0.0), (f"channel: 0 of {features[first].shape[1]}", 0.0)],
            [("activation map", features[first][0, 0].float().cpu())],
        )
        return None
    import ipywidgets as widgets

    layer = widgets.Dropdown(options=list(features), description="layer")
    channel = widgets.IntSlider(min=0, max=features[layer.value].shape[1] - 1, description="channel")

    def _limit_channels(change: dict) -> None:
        channel.max = features[change["new"]].shape[1] - 1

    layer.observe(_limit_channels, names="value")

    def _show(layer: str, channel: int) -> None:
        fig, ax = plt.subplots(figsize=(4, 4))
        activation = features[layer][0, channel].float().cpu()
        ax.imshow(activation, cmap="viridis")
        ax.set_title(f"{layer}, channel {channel}: max {activation.max():.1f}")
        ax.axis("off")
        plt.show()

    return widgets.interactive(_show, layer=layer, channel=channel)


def _png_bytes(image: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def style_mixer(generator: Generator, photo: torch.Tensor, names: Sequence[str], runtime: Runtime | None = None):
    """Sliders over a multi-style generator's styles and a strength dial, redrawing the stylised photo live.

    The style weights are normalised to sum to 1 (all at 0 shows the photo); the strength blends the
    photo and the output pixel by pixel (`inference.at_strength`). None outside a live front end.
    """
    if not live_frontend():
        first = stylize_image(generator, photo, runtime=runtime, style=torch.eye(len(names))[0])
        controls = [(f"{name}: {float(index == 0):.2f}", float(index == 0)) for index, name in enumerate(names)]
        _show_widget_picture("the style mixer", [*controls, ("strength: 1.00", 1.0)], [("", first)])
        return None
    import ipywidgets as widgets

    sliders = [
        widgets.FloatSlider(value=float(index == 0), min=0.0, max=1.0, step=0.05, description=name)
        for index, name in enumerate(names)
    ]
    strength = widgets.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="strength")
    picture, status = widgets.Image(format="png"), widgets.Label()

    def redraw(_: object = None) -> None:
        weights = [slider.value for slider in sliders]
        started = time.perf_counter()
        output = photo
        if sum(weights) > 0:
            stylised = stylize_image(generator, photo, runtime=runtime, style=torch.tensor(weights))
            output = at_strength(stylised, photo, strength.value)
        picture.value = _png_bytes(output)
        status.value = f"redrawn in {1000 * (time.perf_counter() - started):.0f} ms"

    for slider in [*sliders, strength]:
        slider.observe(redraw, names="value")
    redraw()
    return widgets.HBox([widgets.VBox([*sliders, strength, status]), picture])


def preference_widget(
    outputs: Mapping[str, Mapping[str, torch.Tensor]], votes_path: str | os.PathLike, seed: int = 0, width: int = 360
):
    """An A/B widget: two methods' outputs for one photo, in random order; each click appends a vote to the CSV.

    None outside a live front end, where the widget could not draw (see live_frontend).
    """
    if not live_frontend():
        photo, per_method = next(iter(outputs.items()))
        left, right = sorted(per_method)[:2]
        buttons = [("[ left is better ]  [ right is better ]  [ skip ]", None)]
        pair = [(f"{photo}: A", per_method[left]), ("B", per_method[right])]
        _show_widget_picture("the voting widget", buttons, pair)
        return None
    import ipywidgets as widgets

    rng = random.Random(seed)
    pairs = [
        (photo, a, b) for photo, per_method in outputs.items() for a, b in itertools.combinations(sorted(per_method), 2)
    ]
    rng.shuffle(pairs)
    panels = [widgets.Image(format="png", width=width) for _ in range(2)]
    buttons = [widgets.Button(description=text) for text in ("left is better", "right is better", "skip")]
    status = widgets.Label()
    shown: dict = {}

    def show_next() -> None:
        if not pairs:
            status.value = f"all pairs seen; votes are in {votes_path}"
            for button in buttons:
                button.disabled = True
            return
        photo, a, b = pairs.pop()
        left, right = (a, b) if rng.random() < 0.5 else (b, a)
        shown.update(photo=photo, left=left, right=right)
        for panel, method in zip(panels, (left, right)):
            panel.value = _png_bytes(outputs[photo][method])
        status.value = (
            f"photo: {photo}; {len(pairs)} pairs left. Which looks more like the painting while keeping the photo?"
        )

    def on_click(button) -> None:
        if button is not buttons[2]:
            winner = shown["left"] if button is buttons[0] else shown["right"]
            record_vote(votes_path, Vote(shown["photo"], shown["left"], shown["right"], winner))
        show_next()

    for button in buttons:
        button.on_click(on_click)
    show_next()
    return widgets.VBox([widgets.HBox(panels), widgets.HBox(buttons), status])


def show_config(config: TrainConfig, name: str = "") -> None:
    """Show how a run's TrainConfig differs from the defaults, and keep the whole config in the cell's output.

    The output also holds the defaults it was compared with, so a test can tell a notebook whose
    committed runs used a default the library has since changed.
    """
    from IPython.display import display

    values, defaults = dataclasses.asdict(config), dataclasses.asdict(TrainConfig())
    changed = ", ".join(f"{key}={value!r}" for key, value in values.items() if value != defaults[key])
    text = f"TrainConfig{f' ({name})' if name else ''}: the defaults except {changed or 'nothing'}"
    display({"text/plain": text, CONFIG_MIME: {"name": name, "config": values, "defaults": defaults}}, raw=True)


def _show_widget_picture(
    name: str, controls: Sequence[tuple[str, float | None]], panels: Sequence[tuple[str, torch.Tensor]]
) -> None:
    """Where widgets cannot draw (papermill, nbval, a static viewer): a picture of the widget as it opens.

    `controls` are (label, slider position in [0, 1] or None for a plain label); `panels` the images it shows.
    """
    from IPython.display import display

    fig = plt.figure(figsize=(3.0 + 3.2 * len(panels), 2.8))
    grid = fig.add_gridspec(1, 1 + len(panels), width_ratios=[0.9] + [1.0] * len(panels))
    knobs = fig.add_subplot(grid[0, 0])
    knobs.set_xlim(0, 1)
    knobs.set_ylim(-len(controls), 0.5)
    knobs.axis("off")
    for row, (label, position) in enumerate(controls):
        knobs.text(0.0, -row, label, fontsize=8, va="bottom")
        if position is not None:
            knobs.plot([0.0, 1.0], [-row - 0.25] * 2, color="0.8", linewidth=3)
            knobs.plot([position], [-row - 0.25], "o", color="tab:blue")
    for column, (title, image) in enumerate(panels, start=1):
        ax = fig.add_subplot(grid[0, column])
        ax.imshow(to_numpy(image) if image.dim() == 4 else image, cmap=None if image.dim() == 4 else "viridis")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"A static picture of {name} as it opens; in JupyterLab it is live", fontsize=9)
    fig.tight_layout()
    display(fig)
    plt.close(fig)
