import pytest
import torch
from skimage.metrics import structural_similarity
from torchmetrics.image.kid import poly_mmd

from stylelib import metrics as metrics_module
from stylelib.data import load_photo, procedural_style
from stylelib.features import STYLE_LAYERS
from stylelib.images import luminance, resize
from stylelib.losses import gram_matrix, relative_style_targets, style_loss
from stylelib.metrics import (
    StyleContentMeter,
    checkerboard_score,
    colour_shift,
    content_retrieval,
    edge_f1,
    kernel_mmd2,
    milliseconds_per_image,
    score_transfer,
    ssim,
    subset_kid,
)
from stylelib.nst import stylize_gatys


@pytest.fixture(scope="module")
def meter(extractor):
    return StyleContentMeter(extractor)


def test_identical_images_score_ideally(photo, style, meter):
    assert ssim(photo, photo) == pytest.approx(1.0)
    assert meter.content_distance(photo, photo) == pytest.approx(0.0, abs=1e-10)
    assert meter.style_distance(style, style) == pytest.approx(0.0, abs=1e-8)
    assert meter.style_distance(style, style, relative=False) == pytest.approx(0.0, abs=1e-3)
    assert meter.style_distance(photo, style, relative=False) > meter.style_distance(photo, style)
    assert edge_f1(photo, photo) == pytest.approx(1.0)
    scores = score_transfer(photo, photo, style, meter)
    assert scores.style_ratio == pytest.approx(1.0)
    assert scores.edge_f1 == pytest.approx(1.0)


def test_style_distance_is_the_training_style_loss(photo, meter):
    painting = resize(procedural_style("woodcut", size=96), tuple(photo.shape[-2:]))  # same size: no resizing inside
    photo_features, painting_features = meter.features(photo), meter.features(painting)
    grams = {layer: gram_matrix(painting_features[layer]) for layer in STYLE_LAYERS}
    targets, layer_weights = relative_style_targets([grams], [1.0])
    training_loss = style_loss(photo_features, targets, layer_weights).item()
    assert meter.style_distance(photo, painting) == pytest.approx(training_loss, rel=1e-5)
    per_layer = meter.style_distances(photo, painting)
    for layer in STYLE_LAYERS:  # each term is that layer's share of the loss, times the number of layers
        term = style_loss(photo_features, {layer: targets[layer]}, {layer: layer_weights[layer]}).item()
        assert per_layer[layer] == pytest.approx(term * len(STYLE_LAYERS), rel=1e-5)


def test_style_distances_at_the_styles_own_scale(photo, meter):
    painting = procedural_style("woodcut", size=160)
    same_area = resize(painting, tuple(photo.shape[-2:]))
    # Given at the image's area already, both ways compare the same two images...
    assert meter.style_distances(photo, same_area, match_area=False) == pytest.approx(
        meter.style_distances(photo, same_area), rel=1e-6
    )
    # ...but a larger painting has finer statistics per position than the one resized to the image's area.
    own_scale = meter.style_distances(photo, painting, match_area=False)
    assert own_scale != pytest.approx(meter.style_distances(photo, painting), rel=1e-3)
    photo_features, painting_features = meter.features(photo), meter.features(painting)
    relu3 = gram_matrix(painting_features["relu3_1"])
    expected = (gram_matrix(photo_features["relu3_1"]) - relu3).pow(2).sum() / relu3.pow(2).sum()
    assert own_scale["relu3_1"] == pytest.approx(expected.item(), rel=1e-5)


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
    assert edge_f1(painted, photo) < scores.edge_f1 < 1.0


def test_gatys_output_scores_between_photo_and_painting(photo, style, meter):
    output = stylize_gatys(photo, [style], steps=30, max_side=96, extractor=meter.extractor, progress=False).image
    painted = torch.nn.functional.interpolate(style, size=photo.shape[-2:], mode="bilinear")
    scores, painting_scores = score_transfer(output, photo, style, meter), score_transfer(painted, photo, style, meter)
    assert scores.style_ratio < 0.5  # the photo itself scores 1.0
    assert 0.0 < scores.content_distance < painting_scores.content_distance
    assert painting_scores.ssim < scores.ssim < 1.0
    assert painting_scores.edge_f1 < scores.edge_f1 < 1.0


def test_edge_f1_is_symmetric_and_drops_when_edges_move(photo):
    shifted = torch.roll(photo, shifts=(6, 6), dims=(-2, -1))
    assert edge_f1(photo, shifted) == pytest.approx(edge_f1(shifted, photo))
    assert edge_f1(photo, shifted) < 0.8
    assert edge_f1(photo, torch.roll(photo, shifts=(1, 1), dims=(-2, -1))) > 0.9  # within the 2 px tolerance
    flat = torch.full_like(photo, 0.5)
    assert edge_f1(flat, flat) == 1.0
    assert edge_f1(flat, photo) == 0.0


def test_style_kid_separates_paintings_from_photos(photo, style, meter):
    other_crops_of_painting = meter.style_kid([style], [style], seed=1)
    photos = meter.style_kid([photo], [style])
    assert abs(other_crops_of_painting.mean) < 0.1 * photos.mean
    assert 0 < photos.std < photos.mean  # subsets differ, but not by more than the distance itself
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64) + 1
    assert kernel_mmd2(x, y) == pytest.approx(kernel_mmd2(y, x))
    assert kernel_mmd2(x, y) > 0
    with pytest.raises(ValueError, match="at least two samples"):
        kernel_mmd2(x[:1], y)
    with pytest.raises(ValueError, match="at least one output"):
        meter.style_kid([], [style])


def test_subset_kid_averages_subsets_and_full_subsets_have_no_spread():
    generator = torch.Generator().manual_seed(0)
    x = {"a": torch.randn(8, 4, dtype=torch.float64), "b": torch.randn(8, 3, dtype=torch.float64) + 0.5}
    y = {"a": torch.randn(8, 4, dtype=torch.float64) + 1, "b": torch.randn(8, 3, dtype=torch.float64)}
    estimate = subset_kid(x, y, subsets=50, generator=generator)
    assert estimate.std > 0
    scaled = {
        layer: (x[layer] / y[layer].pow(2).mean().sqrt(), y[layer] / y[layer].pow(2).mean().sqrt()) for layer in x
    }
    full = sum(kernel_mmd2(*pair) for pair in scaled.values()) / 2
    assert estimate.mean == pytest.approx(full, rel=0.25)  # subsets of 6 of 8 samples scatter around the full MMD
    two = {"a": x["a"][:2]}
    whole = subset_kid(two, {"a": y["a"][:2]}, subsets=5, generator=generator)  # 3/4 of 2 rounds up to both rows
    assert whole.std == pytest.approx(0, abs=1e-12)


def test_milliseconds_per_image_warms_up_then_takes_the_median(monkeypatch):
    calls = []
    clock = iter([0.0, 0.010, 1.0, 1.030, 2.0, 2.020])  # three timed calls of 10, 30 and 20 ms
    monkeypatch.setattr(metrics_module.time, "perf_counter", lambda: next(clock))
    milliseconds = milliseconds_per_image(calls.append, torch.zeros(1), warmup=2, repeats=3)
    assert len(calls) == 5 and milliseconds == pytest.approx(20.0)
    with pytest.raises(ValueError, match="repeats"):
        milliseconds_per_image(calls.append, torch.zeros(1), repeats=0)


def test_checkerboard_score_flags_stride_two_artefacts(photo):
    clean = checkerboard_score(photo)
    tinted = photo.clone()
    tinted[..., ::2, ::2] *= 0.9  # a faint 2-pixel checkerboard
    assert clean < 0.01 < checkerboard_score(tinted)
    with pytest.raises(ValueError, match="too small"):
        checkerboard_score(photo[..., :8, :8])


def test_colour_shift_sees_mean_saturation_and_contrast(photo):
    assert colour_shift(photo, photo) == pytest.approx(0.0, abs=1e-7)
    gray = photo.mean(dim=1, keepdim=True).expand_as(photo)
    low_contrast = 0.5 + 0.3 * (photo - 0.5)
    assert colour_shift(photo, gray) > 0.02 and colour_shift(photo, low_contrast) > 0.05
    assert colour_shift(photo, gray) == pytest.approx(colour_shift(gray, photo))


def test_content_retrieval_is_perfect_for_photos_and_chance_for_one_repeated_image(meter):
    photos = [load_photo(name, max_side=64) for name in ("chelsea", "coffee", "rocket", "astronaut")]
    assert content_retrieval(photos, photos, meter) == 1.0
    tinted = [0.6 * p + 0.4 * torch.tensor([0.2, 0.4, 0.9]).view(1, 3, 1, 1) for p in photos]  # one shared palette
    assert content_retrieval(tinted, photos, meter) == 1.0
    assert content_retrieval([photos[0]] * 4, photos, meter) == 0.25
    with pytest.raises(ValueError, match="matching lists"):
        content_retrieval(photos[:1], photos[:1], meter)


def test_ssim_matches_scikit_image(photo):
    """Our SSIM (11x11 Gaussian window, sigma 1.5, interior only) against skimage's on the same luminance."""
    noisy = (photo + 0.1 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    blurred = torch.nn.functional.avg_pool2d(photo, 3, stride=1, padding=1, count_include_pad=False)
    for other in (noisy, blurred):
        a, b = (luminance(i)[0, 0].double().numpy() for i in (photo, other))
        reference = structural_similarity(
            a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        assert ssim(photo, other) == pytest.approx(reference, abs=2e-4)


def test_kernel_mmd_matches_torchmetrics_kid():
    """The unbiased polynomial-kernel MMD against torchmetrics' KID kernel on the same features."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(30, 16, generator=generator, dtype=torch.float64)  # torchmetrics assumes equal set sizes
    y = 0.8 * torch.randn(30, 16, generator=generator, dtype=torch.float64) + 0.3
    assert kernel_mmd2(x, y) == pytest.approx(poly_mmd(x, y, degree=3, coef=1.0).item(), rel=1e-9)
