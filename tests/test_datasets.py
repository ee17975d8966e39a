import numpy as np
import pytest
import torch
from PIL import Image

from stylelib.datasets import CropSampler, find_images


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


def test_crops_have_the_size_and_are_reproducible_and_resumable(tmp_path):
    paths = _write_photos(tmp_path)
    first = CropSampler(paths, size=32, seed=3)
    second = CropSampler(paths, size=32, seed=3)
    batch = first.sample(4)
    assert batch.shape == (4, 3, 32, 32)
    assert torch.equal(batch, second.sample(4))
    state = first.state_dict()
    expected = first.sample(2)
    second.load_state_dict(state)
    assert torch.equal(second.sample(2), expected)


def test_corrupt_files_are_skipped_with_one_warning_naming_them(tmp_path):
    paths = _write_photos(tmp_path)
    broken = tmp_path / "broken.jpg"
    good = tmp_path / "good.jpg"
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8) + 128).save(good)
    broken.write_bytes(good.read_bytes()[:200])  # truncated JPEG
    fake = tmp_path / "fake.png"
    fake.write_text("plain text")
    sampler = CropSampler([*paths, broken, fake], size=24, seed=0)
    with pytest.warns(UserWarning) as caught:
        batch = sampler.sample(40)
    assert batch.shape == (40, 3, 24, 24)
    messages = [str(w.message) for w in caught]
    assert sum("broken.jpg" in m for m in messages) == 1 and sum("fake.png" in m for m in messages) == 1


def test_all_unreadable_is_a_clear_error(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("plain text")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="could be read"):
        CropSampler([fake], size=24).sample(1)
