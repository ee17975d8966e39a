"""stylelib: the library behind the content-preserving style transfer workbook."""

from .features import VGG19Features
from .images import load_image, save_image
from .losses import content_loss, gram_matrix, style_loss, total_variation
from .nst import stylize_gatys

__all__ = [
    "VGG19Features",
    "content_loss",
    "gram_matrix",
    "load_image",
    "save_image",
    "style_loss",
    "stylize_gatys",
    "total_variation",
]
__version__ = "0.1.0"
