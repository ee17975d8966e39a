import pytest
import torch

from stylelib import teachers
from stylelib.datasets import RandomCrops
from stylelib.images import load_image, save_image
from stylelib.runtime import make_runtime


@pytest.fixture
def quick_teachers(monkeypatch):
    """Gatys with a few steps: the tests check the plumbing, the benchmark checks the pictures."""
    monkeypatch.setattr(teachers, "TEACHER_STEPS", 3)


def test_teachers_have_their_photos_size_and_are_made_once(tmp_path, quick_teachers):
    photos = [load_image(torch.rand(3, 70, 100)), load_image(torch.rand(3, 90, 60))]
    crops = RandomCrops(photos, 32)
    painting = [torch.rand(1, 3, 64, 64)]
    kept, files = teachers.gatys_teachers(crops, painting, [1.0], tmp_path, make_runtime("cpu", "fp32"), progress=False)
    assert kept == [0, 1] and [f.name for f in files] == ["00000.png", "00001.png"]
    for index, path in enumerate(files):  # the size the crops are cut from: short side 1.5 x 32 px
        assert load_image(path).shape == crops.source_image(index).shape
        assert min(load_image(path).shape[-2:]) == 48
    # Gatys moved the photo towards the painting (not a copy) and the second call reuses the files.
    assert (load_image(files[0]) - crops.source_image(0)).abs().mean() > 0.01
    stamps = [path.stat().st_mtime_ns for path in files]
    teachers.gatys_teachers(crops, painting, [1.0], tmp_path, make_runtime("cpu", "fp32"), progress=False)
    assert [path.stat().st_mtime_ns for path in files] == stamps


def test_teacher_crops_cut_the_photo_crops_windows(tmp_path):
    # Large photos are shrunk before cropping: the teacher files are made at that size, so both cut alike.
    photos = [load_image(torch.rand(3, 300, 500)), load_image(torch.rand(3, 200, 120))]
    crops = RandomCrops(photos, 32, seed=7)
    files = [save_image(crops.source_image(i), tmp_path / f"{i}.png") for i in range(2)]
    taught = RandomCrops(files, 32, seed=7)
    assert torch.allclose(crops.batch(0, 12), taught.batch(0, 12), atol=1 / 255)
