import numpy as np
import pytest
import torch
from PIL import Image

from stylelib.datasets import RandomCrops, crop_loader, find_images, warn_skipped


def _write_photos(folder, count=3, size=(40, 56)):
    rng = np.random.default_rng(0)
    (folder / "nested").mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / ("nested" if index % 2 else "") / f"photo_{index}.png"
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_find_images_is_recursive_sorted_and_explains_failures(tmp_path):
    _write_photos(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    files = find_images(tmp_path)
    assert files == sorted(files)
    assert len(files) == 3 and all(p.suffix == ".png" for p in files)
    with pytest.raises(ValueError, match="is not a folder"):
        find_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        find_images(tmp_path / "empty")


def _batches(loader, count):
    return [next(loader)[0] for _ in range(count)]


def test_crops_depend_only_on_the_seed_and_index_not_on_the_workers(tmp_path):
    crops = RandomCrops(_write_photos(tmp_path), size=32, seed=3)
    assert crops[5][0].shape == (3, 32, 32)
    assert torch.equal(crops[5][0], RandomCrops(crops.sources, size=32, seed=3)[5][0])
    assert not torch.equal(crops[5][0], RandomCrops(crops.sources, size=32, seed=4)[5][0])
    in_process = _batches(crop_loader(crops, batch_size=4), 3)
    with_workers = _batches(crop_loader(crops, batch_size=4, workers=2), 3)
    assert all(torch.equal(a, b) for a, b in zip(in_process, with_workers))
    assert torch.equal(in_process[1], crops.batch(4, 4))


def test_a_loader_started_at_a_step_continues_the_stream_exactly(tmp_path):
    crops = RandomCrops(_write_photos(tmp_path), size=24, seed=0)
    straight = _batches(crop_loader(crops, batch_size=3), 5)
    resumed = _batches(crop_loader(crops, batch_size=3, start_step=2), 3)
    assert all(torch.equal(a, b) for a, b in zip(straight[2:], resumed))


def test_ranks_split_each_global_batch_and_together_see_one_process_crops(tmp_path):
    crops = RandomCrops(_write_photos(tmp_path, count=5), size=24, seed=1)
    one_process = _batches(crop_loader(crops, batch_size=4), 3)
    ranks = [_batches(crop_loader(crops, batch_size=2, rank=r, world_size=2), 3) for r in range(2)]
    for step in range(3):
        assert torch.equal(torch.cat([ranks[0][step], ranks[1][step]]), one_process[step])


def test_every_image_is_used_once_per_epoch_and_files_are_decoded_only_when_needed(tmp_path, monkeypatch):
    colours = [i / 10 for i in range(1, 8)]
    sources = [torch.full((1, 3, 40, 40), c) for c in colours]
    crops = RandomCrops(sources, size=16, flip=False, seed=2)
    for epoch in range(2):
        seen = sorted(round(crops[k][0].mean().item(), 3) for k in range(epoch * 7, epoch * 7 + 7))
        assert seen == colours
    decoded = []
    monkeypatch.setattr(
        "stylelib.datasets.load_image", lambda source: decoded.append(source) or torch.rand(1, 3, 40, 40)
    )
    many = RandomCrops([tmp_path / f"photo_{i}.jpg" for i in range(100_000)], size=16, seed=0)
    assert decoded == []  # nothing is read when the dataset is built
    many.batch(0, 4)
    assert len(decoded) == 4


def test_corrupt_files_are_skipped_with_one_warning_naming_them(tmp_path):
    paths = _write_photos(tmp_path)
    broken = tmp_path / "broken.jpg"
    good = tmp_path / "good.jpg"
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8) + 128).save(good)
    broken.write_bytes(good.read_bytes()[:200])  # truncated JPEG
    fake = tmp_path / "fake.png"
    fake.write_text("plain text")
    loader = crop_loader(RandomCrops([*paths, broken, fake], size=24, seed=0), batch_size=8, workers=2)
    already: set[str] = set()
    with pytest.warns(UserWarning) as caught:
        for _ in range(5):
            batch, skipped = next(loader)
            warn_skipped(skipped, already)
    assert batch.shape == (8, 3, 24, 24)
    messages = [str(w.message) for w in caught]
    assert sum("broken.jpg" in m for m in messages) == 1 and sum("fake.png" in m for m in messages) == 1


def test_all_unreadable_is_a_clear_error(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("plain text")
    with pytest.raises(ValueError, match="could be read"):
        RandomCrops([fake], size=24)[0]


def test_contrast_jitter_scales_each_crop_about_its_mean_within_the_range(tmp_path):
    sources = _write_photos(tmp_path, count=4)
    plain = RandomCrops(sources, size=24, seed=5)
    jittered = RandomCrops(sources, size=24, seed=5, contrast=(0.5, 1.5))
    factors = []
    for k in range(12):
        crop, changed = plain[k][0], jittered[k][0]
        mean = crop.mean()
        inside = (changed > 0) & (changed < 1)  # pixels the clipping left alone
        factor = ((changed - mean)[inside] / (crop - mean)[inside]).median().item()
        assert torch.allclose(changed, ((crop - mean) * factor + mean).clamp(0, 1), atol=1e-5)
        factors.append(factor)
    assert 0.5 <= min(factors) and max(factors) <= 1.5 and max(factors) - min(factors) > 0.3
    with pytest.raises(ValueError, match="contrast range"):
        RandomCrops(sources, size=24, contrast=(1.5, 0.5))
