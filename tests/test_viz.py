"""Figures: the loss plot's smoothing, shared panels and warm-up span; image figures shown as JPEG."""

import base64

import numpy as np
import pytest
import torch
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.pylabtools import select_figure_formats

from stylelib.viz import _trailing_mean, plot_losses, show_images


def test_trailing_mean_matches_a_cumulative_sum_reference():
    values = list(np.random.default_rng(0).normal(size=30))
    window = 7
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    starts = np.maximum(np.arange(30) - window + 1, 0)
    expected = (cumulative[1:] - cumulative[starts]) / (np.arange(30) + 1 - starts)
    assert _trailing_mean(values, window) == pytest.approx(expected)
    assert _trailing_mean(values, 1) == pytest.approx(values)


def test_plot_losses_shares_panels_smooths_and_marks_the_warmup():
    history = [{"step": s, "content": 1.0 / s, "d_real": 0.5, "d_fake": -0.5} for s in range(1, 21)]
    history[:5] = [{"step": r["step"], "content": r["content"]} for r in history[:5]]  # warm-up: no D outputs
    keys = ("content", ("d_real", "d_fake"))
    fig = plot_losses({"run": history}, keys=keys, log=False, smooth=4, shade=(0, 5, "warm-up"))
    content_ax, d_ax = fig.axes
    assert len(content_ax.lines) == 2 and len(d_ax.lines) == 4  # a smoothed and a faint raw line per key
    assert [t.get_text() for t in d_ax.get_legend().get_texts()] == ["warm-up", "d_real", "d_fake"]
    assert d_ax.get_ylabel() == "mean logit" and content_ax.get_ylabel() == "loss"
    assert len(d_ax.lines[0].get_xdata()) == 15  # only the records that have the key
    assert content_ax.lines[0].get_ydata()[-1] == pytest.approx(np.mean([1 / s for s in range(17, 21)]))


def test_figures_of_images_display_as_jpeg_and_plots_as_png():
    shell = InteractiveShell.instance()
    select_figure_formats(shell, {"png"})  # what the inline backend does
    photos = show_images([torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)], ["a", "b"])
    plot = plot_losses({"run": [{"step": 1, "total": 1.0, "content": 1.0, "style": 1.0}]})
    photo_formats, _ = shell.display_formatter.format(photos)
    plot_formats, _ = shell.display_formatter.format(plot)
    assert "image/jpeg" in photo_formats and "image/png" not in photo_formats
    assert base64.b64decode(photo_formats["image/jpeg"])[:2] == b"\xff\xd8"  # a JPEG stream
    assert "image/png" in plot_formats and "image/jpeg" not in plot_formats
