"""Shared fixtures: small real photos and style images, and one cached caffe extractor."""

import pytest
import torch

from stylelib.data import load_photo, procedural_style
from stylelib.features import VGG19Features


@pytest.fixture(scope="session")
def photo() -> torch.Tensor:
    """A real photo (scikit-image's chelsea), 96 px on the long side."""
    return load_photo("chelsea", max_side=96)


@pytest.fixture(scope="session")
def style() -> torch.Tensor:
    """A procedural painting, 96 px."""
    return procedural_style("swirls", size=96)


@pytest.fixture(scope="session")
def extractor() -> VGG19Features:
    """The default caffe VGG19 (style layers relu1_1 ... relu5_1, content layers relu3_2 and relu4_2)."""
    return VGG19Features("caffe")
