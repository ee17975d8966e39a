import pytest
import torch

from stylelib.data import PHOTO_FILES, STYLE_PAINTERS, load_photo, procedural_style


@pytest.mark.parametrize("name", sorted(STYLE_PAINTERS))
def test_procedural_styles_are_deterministic_and_textured(name):
    a = procedural_style(name, size=96, seed=3)
    assert a.shape == (1, 3, 96, 96)
    assert torch.equal(a, procedural_style(name, size=96, seed=3))
    assert not torch.equal(a, procedural_style(name, size=96, seed=4))
    assert a.std() > 0.1, "a style image should not be flat"


def test_bundled_photos_load():
    for name in PHOTO_FILES:
        photo = load_photo(name, max_side=64)
        assert photo.shape[1] == 3 and max(photo.shape[-2:]) == 64


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="swirls"):
        procedural_style("cubism")
    with pytest.raises(ValueError, match="astronaut"):
        load_photo("mona_lisa")
    with pytest.raises(ValueError, match="at least 64"):
        procedural_style("swirls", size=32)
