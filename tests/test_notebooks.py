"""Run every notebook with papermill at smoke settings and check the numbers it reports."""

import json
from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(autouse=True)
def smoke(monkeypatch):
    monkeypatch.setenv("STYLELIB_SMOKE", "1")


def test_notebooks_are_committed_with_outputs_and_one_parameters_cell():
    assert len(NOTEBOOKS) >= 3
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
        assert notebook.metadata["kernelspec"]["name"] == "python3"
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{path.name}: commit it executed top to bottom"
        assert not any(o.get("output_type") == "error" for c in code for o in c.outputs), f"{path.name}: has errors"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_with_papermill_parameters(path, tmp_path):
    output_dir = tmp_path / "outputs"
    papermill.execute_notebook(
        str(path),
        str(tmp_path / path.name),
        parameters={"OUTPUT_DIR": str(output_dir), "SEED": 1},
        cwd=str(path.parent),
        kernel_name="python3",
        progress_bar=False,
    )
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert metrics, "metrics.json is empty"
    assert any(p.suffix == ".png" for p in output_dir.iterdir()), "the notebook saved no figure"
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
    assert set(metrics["papermill"]) == {"swirls", "woodcut"}
    assert all(isinstance(f["diagnoses"], list) for f in metrics["failures"].values())


def test_the_canonical_failure_runs_are_diagnosed_as_intended():
    """Smoke runs are too short to fail as intended; the committed canonical run of notebook 07 is not."""
    notebook = nbformat.read(next(p for p in NOTEBOOKS if p.stem.startswith("07")), as_version=4)
    printed = [
        "".join(o.get("text", ""))
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if '"diagnoses"' in "".join(o.get("text", ""))
    ]
    assert len(printed) == 1, "notebook 07 should print its failure runs' diagnoses once"
    failures = json.loads(printed[0])
    assert set(failures) == {"discriminator wins", "mode collapse", "colour shift"}
    for intended, result in failures.items():
        assert intended in result["diagnoses"], f"the {intended!r} run was diagnosed as {result['diagnoses']}"


CHECKS = {
    "01": _check_01,
    "02": _check_02,
    "03": _check_03,
    "04": _check_04,
    "05": _check_05,
    "06": _check_06,
    "07": _check_07,
}
