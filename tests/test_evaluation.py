import json

import pytest

from stylelib.cli import main
from stylelib.data import load_photo, procedural_style
from stylelib.images import save_image


@pytest.fixture
def photos_and_outputs(tmp_path):
    """Two photos in a folder, and 'outputs' with the same names: a copy and a painting."""
    photos, outputs = tmp_path / "photos", tmp_path / "outputs"
    chelsea, coffee = load_photo("chelsea", max_side=64), load_photo("coffee", max_side=64)
    save_image(chelsea, photos / "chelsea.png")
    save_image(coffee, photos / "coffee.jpg")
    save_image(chelsea, outputs / "chelsea.png")
    save_image(procedural_style("woodcut", 64)[..., : coffee.shape[-2], :], outputs / "coffee.png")
    return photos, outputs


def test_evaluate_files_prints_json_lines_with_every_metric(photos_and_outputs, capsys):
    photos, outputs = photos_and_outputs
    code = main(
        [
            "evaluate",
            str(outputs / "chelsea.png"),
            "--content",
            str(photos / "chelsea.png"),
            "--style",
            "woodcut",
            "--json",
        ]
    )
    assert code == 0
    row, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["ssim"] == pytest.approx(1.0, abs=1e-3) and row["edge_f1"] == pytest.approx(1.0, abs=0.02)
    assert row["style_ratio"] == pytest.approx(1.0, abs=0.02)
    assert set(summary["summary"]) >= {"style_kid", "content_distance", "checkerboard", "count"}


def test_evaluate_pairs_a_photo_folder_with_an_output_folder_by_name(photos_and_outputs, capsys):
    photos, outputs = photos_and_outputs
    assert main(["evaluate", str(outputs), "--content", str(photos), "--style", "woodcut"]) == 0
    table = capsys.readouterr().out
    assert "chelsea.png" in table and "coffee.png" in table and "style KID" in table
    save_image(load_photo("rocket", max_side=32), outputs / "rocket.png")
    assert main(["evaluate", str(outputs), "--content", str(photos), "--style", "woodcut"]) == 2
    assert "no photo named 'rocket" in capsys.readouterr().err


def test_evaluate_a_checkpoint_stylises_scores_and_times(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--style", "woodcut", "--generator", "lite", "--size", "32", "--steps", "2"]
    assert main([*args, "--warmup-steps", "1", "--batch-size", "1", "--precision", "fp32", "--quiet"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(run),
                "--content",
                "chelsea",
                "--style",
                "woodcut",
                "--size",
                "48",
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]
    assert summary["ms_per_image"] > 0 and summary["speed_size"] == "48x32"
    assert main(["evaluate", "x.png", "--checkpoint", str(run), "--content", "chelsea", "--style", "woodcut"]) == 2
    assert "not both" in capsys.readouterr().err
