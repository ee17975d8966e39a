import json

import pytest
import torch

from stylelib.cli import main
from stylelib.sweep import CHANCE_D_LOSS, collect_runs, diagnose, expand_grid, parse_vary, run_name


def test_grid_expansion_names_and_parsing():
    grid = {"style_weight": [0.3, 3.0], "adversarial_loss": ["lsgan", "hinge"]}
    points = expand_grid(grid)
    assert len(points) == 4 and points[0] == {"style_weight": 0.3, "adversarial_loss": "lsgan"}
    assert run_name(points[-1]) == "style_weight=3,adversarial_loss=hinge" and run_name({}) == "baseline"
    assert parse_vary("style_weight=0.3,1,3") == ("style_weight", [0.3, 1, 3])
    assert parse_vary("spectral_norm=false,true") == ("spectral_norm", [False, True])
    # A list field takes one list per value, never the characters of a name.
    assert parse_vary("styles=hokusai,matisse+picabia") == ("styles", [["hokusai"], ["matisse", "picabia"]])
    assert parse_vary("style_weights=0.3+0.7") == ("style_weights", [[0.3, 0.7]])
    blend = {"styles": ["matisse", "picabia"], "style_weight": 1.5}
    assert run_name(blend) == "styles=matisse+picabia,style_weight=1.5"
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        expand_grid({"style_wieght": [1]})
    with pytest.raises(ValueError, match="field=value1"):
        parse_vary("style_weight")


def _evaluation(**overrides):
    scores = {"style_ratio": 0.3, "content_distance": 0.6, "ssim": 0.5, "checkerboard": 0.001}
    scores.update(colour_shift=0.05, colour_shift_to_painting=0.08, painting_colour_shift=0.1)
    scores.update(overrides)
    return {"scores": {"a": scores, "b": scores}, "content_retrieval": 1.0}


def test_diagnose_names_each_failure_from_measurements():
    balanced = [{"warmup": 0.0, "d_loss": CHANCE_D_LOSS["lsgan"]}] * 8
    assert diagnose(balanced, _evaluation()) == []
    d_wins = balanced[:4] + [{"warmup": 0.0, "d_loss": 0.01}] * 4
    assert diagnose(d_wins, _evaluation()) == ["discriminator wins"]
    assert diagnose(d_wins, _evaluation(), "hinge") == ["discriminator wins"]
    assert diagnose(balanced, {**_evaluation(), "content_retrieval": 1 / 6}) == ["mode collapse"]
    assert diagnose(balanced, {**_evaluation(), "content_retrieval": 0.5}) == []  # a strong style, not a collapse
    assert diagnose(balanced, _evaluation(colour_shift=0.3, colour_shift_to_painting=0.3)) == ["colour shift"]
    towards_painting = _evaluation(colour_shift=0.3, colour_shift_to_painting=0.05)
    assert diagnose(balanced, towards_painting) == []
    assert diagnose(balanced, _evaluation(content_distance=1.4, style_ratio=0.9)) == ["content lost", "no style"]
    assert diagnose([], _evaluation(checkerboard=0.05)) == ["checkerboard"]


@pytest.mark.slow
def test_sweep_cli_trains_each_point_once_collects_metrics_and_parallel_jobs_agree(tmp_path, capsys, monkeypatch):
    threads = torch.get_num_threads()
    grid = ["--vary", "style_weight=0.5,2", "--style", "woodcut", "--size", "32"]
    grid += ["--steps", "2", "--warmup-steps", "1", "--batch-size", "1", "--eval-size", "48", "--quiet"]
    grid += ["--precision", "fp32"]  # the same on every CPU
    one = tmp_path / "one"
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    torch.set_num_threads(1)  # as each of the two jobs below: float sums depend on the thread count
    try:
        assert main(["sweep", "--out", str(one), *grid]) == 0
    finally:
        torch.set_num_threads(threads)
    table = capsys.readouterr().out
    assert "style_weight=0.5" in table and "style_weight=2" in table
    runs = collect_runs(one)
    assert sorted(runs) == ["style_weight=0.5", "style_weight=2"]
    result = runs["style_weight=2"]
    assert result["config"]["style_weight"] == 2 and set(result["scores"]) == {"chelsea", "grace_hopper"}
    assert 0 <= result["content_retrieval"] <= 1 and isinstance(result["diagnoses"], list)
    stamp = (one / "style_weight=2" / "checkpoint.pt").stat().st_mtime_ns
    assert main(["sweep", "--out", str(one), *grid]) == 0  # finished runs are skipped, not retrained
    assert (one / "style_weight=2" / "checkpoint.pt").stat().st_mtime_ns == stamp
    assert json.loads((one / "style_weight=2" / "metrics.json").read_text()) == result
    assert main(["sweep", "--out", str(one), "--vary", "nope=1"]) == 2

    assert main(["sweep", "--out", str(tmp_path / "two"), "--jobs", "2", *grid]) == 0
    two = collect_runs(tmp_path / "two")
    assert sorted(runs) == sorted(two)
    for name in runs:
        for photo, scores in runs[name]["scores"].items():
            assert two[name]["scores"][photo] == pytest.approx(scores, rel=1e-3), (name, photo)
