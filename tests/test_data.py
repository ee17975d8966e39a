import pytest
import torch

from stylelib.data import (
    PAINTING_FILES,
    PAINTINGS_DIR,
    PHOTO_FILES,
    STYLE_NAMES,
    STYLE_PAINTERS,
    load_painting,
    load_photo,
    painting_path,
    procedural_style,
    resolve_image,
)


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


def test_bundled_paintings_resolve_by_name_with_bounded_size():
    for name, filename in PAINTING_FILES.items():
        assert painting_path(name).name == filename
        painting = resolve_image(name)
        height, width = painting.shape[-2:]
        assert painting.shape[1] == 3 and 256 <= min(height, width) and max(height, width) <= 1024
        assert painting.std() > 0.1, "a painting should not be flat"
        assert painting_path(name).stat().st_size < 600_000, "keep the bundled files small"
    assert set(PAINTING_FILES) <= set(STYLE_NAMES)


def test_every_bundled_painting_has_its_provenance_listed():
    readme = (PAINTINGS_DIR.parent / "README.md").read_text()
    shipped = {path.name for path in PAINTINGS_DIR.iterdir() if path.suffix == ".jpg"}
    assert shipped == set(PAINTING_FILES.values()), "every file in data/paintings/ needs a short name"
    for name, filename in PAINTING_FILES.items():
        rows = [line for line in readme.splitlines() if f"`{filename}`" in line]
        assert len(rows) == 1, f"data/README.md needs one provenance row for {filename}"
        assert f"`{name}`" in rows[0] and "public domain" in rows[0], rows[0]


def test_unknown_painting_lists_the_choices():
    with pytest.raises(ValueError, match="hokusai"):
        load_painting("mona_lisa")
