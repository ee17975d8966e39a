import pytest
import torch

from stylelib.metrics import StyleContentMeter, checkerboard_score, score_transfer, ssim


@pytest.fixture(scope="module")
def meter(extractor):
    return StyleContentMeter(extractor)


def test_identical_images_score_ideally(photo, style, meter):
    assert ssim(photo, photo) == pytest.approx(1.0)
    assert meter.content_distance(photo, photo) == pytest.approx(0.0, abs=1e-10)
    assert meter.style_distance(style, style) == pytest.approx(0.0, abs=1e-8)
    assert meter.style_distance(style, style, relative=False) == pytest.approx(0.0, abs=1e-3)
    assert meter.style_distance(photo, style, relative=False) > meter.style_distance(photo, style)
    scores = score_transfer(photo, photo, style, meter)
    assert scores.style_ratio == pytest.approx(1.0)


def test_ssim_drops_with_noise_and_is_symmetric(photo):
    noisy = (photo + 0.2 * torch.randn_like(photo)).clamp(0, 1)
    assert ssim(photo, noisy) < 0.8
    assert ssim(photo, noisy) == pytest.approx(ssim(noisy, photo), abs=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        ssim(photo, photo[..., :-1])


def test_blend_of_photo_and_style_scores_in_between(photo, style, meter):
    painted = torch.nn.functional.interpolate(style, size=photo.shape[-2:], mode="bilinear")
    blend = 0.5 * photo + 0.5 * painted
    scores = score_transfer(blend, photo, style, meter)
    assert 0.0 < scores.style_ratio < 1.0
    assert 0.0 < scores.content_distance < meter.content_distance(painted, photo)


def test_checkerboard_score_flags_stride_two_artefacts(photo):
    clean = checkerboard_score(photo)
    tinted = photo.clone()
    tinted[..., ::2, ::2] *= 0.9  # a faint 2-pixel checkerboard
    assert clean < 0.01 < checkerboard_score(tinted)
    with pytest.raises(ValueError, match="too small"):
        checkerboard_score(photo[..., :8, :8])
