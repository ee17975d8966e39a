"""Matplotlib figures and ipywidgets explorers used by the notebooks."""

from __future__ import annotations

import io
import itertools
import os
import random
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from .images import to_numpy, to_pil
from .preference import Vote, record_vote


def show_images(
    images: Sequence[torch.Tensor], titles: Sequence[str] | None = None, columns: int | None = None, size: float = 3.2
) -> Figure:
    """Images side by side (wrapping after `columns`), each with an optional title."""
    columns = columns or len(images)
    rows = (len(images) + columns - 1) // columns
    aspect = images[0].shape[-2] / images[0].shape[-1]
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * aspect * rows + 0.4 * rows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(images):
            ax.imshow(to_numpy(images[index]))
            if titles:
                ax.set_title(titles[index], fontsize=9)
    fig.tight_layout()
    return fig


def plot_losses(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    keys: Sequence[str] = ("total", "content", "style"),
    x: str = "step",
    log: bool = True,
) -> Figure:
    """One panel per loss term, one line per run; x is 'step' or 'seconds'."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for name, history in histories.items():
            ax.plot([r[x] for r in history], [r[key] for r in history], label=name)
        ax.set_title(key)
        ax.set_xlabel("wall time (s)" if x == "seconds" else x)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if len(histories) > 1:
        axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def feature_maps_figure(features: Mapping[str, torch.Tensor], channels: int = 8, size: float = 1.4) -> Figure:
    """A grid: one row per layer, the first `channels` activation maps of image 0, each min-max scaled."""
    fig, axes = plt.subplots(len(features), channels, figsize=(size * channels, size * len(features)), squeeze=False)
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
        print("The layer and channel browser draws in JupyterLab; the grid above shows the same maps.")
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


def preference_widget(
    outputs: Mapping[str, Mapping[str, torch.Tensor]], votes_path: str | os.PathLike, seed: int = 0, width: int = 360
):
    """An A/B widget: two methods' outputs for one photo, in random order; each click appends a vote to the CSV."""
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
