"""The numbers each notebook's smoke run reports, checked after nbval has run them (`make notebooks`).

Not collected by `pytest tests`: the notebooks run once per test run, under nbval, and this module
reads the metrics.json each run wrote to its default OUTPUT_DIR (notebooks/outputs/<name>/).
"""

import json
import time
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COLLECTED_AT = time.time()  # collection precedes every test, so nbval's runs come after this


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_smoke_run_reported_sensible_numbers(path):
    output_dir = path.parent / "outputs" / path.stem
    metrics_file = output_dir / "metrics.json"
    assert metrics_file.exists() and metrics_file.stat().st_mtime >= COLLECTED_AT, (
        f"{path.name} wrote no metrics.json in this session: run `make notebooks` (nbval, then these checks)"
    )
    metrics = json.loads(metrics_file.read_text())
    assert metrics, "metrics.json is empty"
    figures = [p for p in output_dir.iterdir() if p.suffix == ".png" and p.stat().st_mtime >= COLLECTED_AT]
    assert figures, f"{path.name} saved no figure"
    CHECKS.get(path.stem[:2], lambda m: None)(metrics)


def _check_01(metrics):
    assert metrics["toy_content_loss"] == pytest.approx(1.125)
    assert metrics["toy_style_loss"] == pytest.approx(75 / 64)
    assert metrics["gram_change_shuffled_positions"] < 1e-5 < metrics["gram_change_shuffled_channels"]


def _check_02(metrics):
    assert list(metrics["reconstruction_ssim"]) == ["conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2"]
    assert "caffe (pretrained)" in metrics["weights_style_distance"]


def _check_03(metrics):
    assert 0.0 < metrics["main"]["ssim"] <= 1.0 and metrics["main"]["style_ratio"] > 0
    assert len(metrics["weight_grid"]) == 9


def _check_04(metrics):
    assert metrics["receptive_field_computed"] == [70, 141]
    assert metrics["parameters"]["generator (lite)"] < metrics["parameters"]["generator (default)"]
    assert metrics["checkerboard_score"]["transposed"] > metrics["checkerboard_score"]["upsample + conv"]


def _check_05(metrics):
    assert set(metrics["scores"]) == {"content + style", "content + adversarial", "full"}
    assert metrics["export_max_difference"] < 1e-4 and metrics["images_per_second"] > 0


def _check_06(metrics):
    methods = set(metrics["summary"])
    assert {"content + style", "content + adversarial", "full"} < methods and any(
        m.startswith("Gatys") for m in methods
    )
    assert all(0.0 <= s["edge_f1"] <= 1.0 and s["style_kid"] == s["style_kid"] for s in metrics["summary"].values())
    preference = metrics["preference"]
    assert preference["simulated"] and preference["votes"] == 6 * 2 * 20  # 4 methods: 6 pairs, 2 photos
    assert abs(sum(preference["bradley_terry"].values())) < 1e-6


def _check_07(metrics):
    assert "baseline" in metrics["sweep"] and len(metrics["sweep"]) == 9
    assert set(metrics["papermill"]) == {"picabia"}
    assert all(isinstance(f["diagnoses"], list) for f in metrics["failures"].values())


def _check_08(metrics):
    styles = ["hokusai", "mondrian", "matisse"]
    assert list(metrics["style_distances"]) == styles and all(
        list(d) == styles for d in metrics["style_distances"].values()
    )
    assert metrics["redraw_ms"] > 0 and len(metrics["between"]) == 5
    masks = [f"{method}, {mask}" for mask in ("halves", "auto:2") for method in ("Gatys", "generator")]
    assert sorted(metrics["regions"]) == sorted(masks)
    assert all(len(d) == 4 and min(d.values()) > 0 for d in metrics["regions"].values())
    methods = ("trained in colour", "trained in colour, chroma put back", "trained on luminance")
    rows = metrics["colour_training"]
    assert sorted(rows) == sorted(f"{m}, {photo}" for m in methods for photo in ("chelsea", "grace_hopper"))
    assert all(r["colour_shift"] >= r["chroma_part"] >= 0 and r["grey_style_ratio"] > 0 for r in rows.values())


def _check_09(metrics):
    scores = metrics["scores"]
    assert len(scores) == 3 and all(s["flicker"] >= 0 for s in scores.values())
    assert metrics["video"]["frames"] == 4 and 0 <= metrics["video"]["trusted"] <= 1


def _check_10(metrics):
    assert len(metrics["styles"]) == 9 and all(0 < s["style_ratio"] for s in metrics["styles"].values())
    correlations = metrics["correlations"].values()
    assert len(correlations) == 6 and all(set(c) == {"chelsea", "grace_hopper"} for c in correlations)
    assert all(set(by_photo) == {"rho", "p"} for c in correlations for by_photo in c.values())
    assert len(metrics["zoom"]) == 2 * 3 * 2 and all(z["texture_scale"] > 0 for z in metrics["zoom"].values())


CHECKS = {
    "01": _check_01,
    "02": _check_02,
    "03": _check_03,
    "04": _check_04,
    "05": _check_05,
    "06": _check_06,
    "07": _check_07,
    "08": _check_08,
    "09": _check_09,
    "10": _check_10,
}
