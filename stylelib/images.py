"""Load, validate, resize and save images; convert between tensors, arrays and PIL."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError
from .storage import atomic_write

MIN_SIDE = 16
ImageSource = str | os.PathLike | np.ndarray | Image.Image | torch.Tensor


class ImageError(InputError):
    """An image could not be used; the message names the file and the fix."""


def _describe(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"'{source}'"
    return f"the {type(source).__name__} passed in"


def _open_file(path: Path) -> Image.Image:
    if not path.exists():
        raise ImageError(f"'{path}': no such file; check the path")
    if path.is_dir():
        raise ImageError(f"'{path}' is a folder, not an image file")
    try:
        with Image.open(path) as opened:
            opened.load()
            return ImageOps.exif_transpose(opened)
    except UnidentifiedImageError as error:
        raise ImageError(f"'{path}' is not an image PIL can read (jpg, png, webp, ...)") from error
    except Image.DecompressionBombError as error:
        raise ImageError(
            f"'{path}' declares more pixels than PIL's safety limit ({error}); downscale it first, or raise "
            "PIL.Image.MAX_IMAGE_PIXELS if you trust the file"
        ) from error
    except (OSError, SyntaxError) as error:
        raise ImageError(f"'{path}' is truncated or corrupt ({error}); re-export or re-download it") from error


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite transparent images on white so transparent areas do not turn black."""
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _pil_to_float_array(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> float32 HxWx3 array in [0, 1]."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() > 255 or image.mode.startswith("I;16") else 255.0
        gray = np.clip(array / top, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "F":
        gray = _unit_floats(np.asarray(image, dtype=np.float32))
        return np.repeat(gray[..., None], 3, axis=2)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    rgb = _flatten_alpha(image) if has_alpha else image.convert("RGB")
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _unit_floats(values: np.ndarray, tolerance: float = 1e-3) -> np.ndarray:
    """Float pixel values clipped to [0, 1]; values clearly outside (0-255 data, NaN) are an error."""
    if not np.isfinite(values).all():
        raise ImageError("float image holds NaN or infinite values")
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if low < -tolerance or high > 1.0 + tolerance:
        hint = "; divide 0-255 data by 255" if high <= 255.0 + tolerance and low >= -tolerance else ""
        raise ImageError(f"float image values span [{low:g}, {high:g}]: float images must be in [0, 1]{hint}")
    return np.clip(values, 0.0, 1.0)


def _array_to_float_array(array: np.ndarray) -> np.ndarray:
    """A NumPy image (HxW, HxWx1/3/4; uint8, uint16 or float in [0, 1]) -> float32 HxWx3."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageError(f"array of shape {array.shape} is not an image: expected HxW, HxWx3 or HxWx4")
    if array.dtype == np.uint8:
        values = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        values = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        values = _unit_floats(array.astype(np.float32))
    else:
        raise ImageError(f"array dtype {array.dtype} is not supported: use uint8, uint16 or float in [0, 1]")
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    if values.shape[2] == 4:
        alpha = values[..., 3:]
        values = values[..., :3] * alpha + (1.0 - alpha)
    return values


def _tensor_to_batch(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4 or tensor.shape[0] != 1 or tensor.shape[1] != 3:
        raise ImageError(f"tensor of shape {tuple(tensor.shape)} is not an image: expected [3,H,W] or [1,3,H,W]")
    return tensor.detach().float().clamp(0.0, 1.0)


def load_image(source: ImageSource, max_side: int | None = None) -> torch.Tensor:
    """Load a path, array, PIL image or tensor as an RGB float tensor [1,3,H,W] in [0, 1]."""
    if isinstance(source, torch.Tensor):
        batch = _tensor_to_batch(source)
    else:
        if isinstance(source, (str, os.PathLike)):
            array = _pil_to_float_array(_open_file(Path(source)))
        elif isinstance(source, Image.Image):
            array = _pil_to_float_array(source)
        elif isinstance(source, np.ndarray):
            array = _array_to_float_array(source)
        else:
            raise ImageError(f"cannot load an image from {type(source).__name__}: pass a path, array or PIL image")
        batch = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0)
    height, width = batch.shape[-2:]
    if min(height, width) < MIN_SIDE:
        raise ImageError(
            f"{_describe(source)} is {width}x{height} px, smaller than the {MIN_SIDE} px minimum; use a larger image"
        )
    return resize_long_side(batch, max_side) if max_side else batch


def size_for_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) scaled so the longer side equals long_side, keeping the aspect ratio."""
    if long_side < MIN_SIDE:
        raise ImageError(f"size {long_side} px is below the {MIN_SIDE} px minimum")
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: torch.Tensor, size: tuple[int, int], clamp: bool = True) -> torch.Tensor:
    """Resize [B,C,H,W] to (height, width) with antialiased bicubic filtering, clamped to [0, 1] by default."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    resized = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)
    return resized.clamp(0.0, 1.0) if clamp else resized


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize so the longer side equals long_side."""
    return resize(image, size_for_long_side(*image.shape[-2:], long_side))


STYLE_SCALES = ("area", "long_side")


def resize_style_image(image: torch.Tensor, style_size: int, by: str = "area") -> torch.Tensor:
    """A style image at its training scale: about style_size^2 pixels (by="area") or style_size on its long side."""
    if by not in STYLE_SCALES:
        raise ValueError(f"unknown style scale {by!r}: use one of {', '.join(STYLE_SCALES)}")
    return resize_to_area(image, style_size * style_size) if by == "area" else resize_long_side(image, style_size)


def resize_to_area(image: torch.Tensor, area: int) -> torch.Tensor:
    """Resize to about `area` pixels, keeping the aspect ratio (used to match style to content scale)."""
    height, width = image.shape[-2:]
    scale = (area / (height * width)) ** 0.5
    return resize(image, (max(MIN_SIDE, round(height * scale)), max(MIN_SIDE, round(width * scale))))


def to_numpy(image: torch.Tensor) -> np.ndarray:
    """[1,3,H,W] or [3,H,W] tensor -> HxWx3 float array in [0, 1] (for matplotlib)."""
    if image.dim() == 4:
        image = image[0]
    return image.detach().float().clamp(0.0, 1.0).permute(1, 2, 0).cpu().numpy()


def to_pil(image: torch.Tensor) -> Image.Image:
    """[1,3,H,W] or [3,H,W] tensor in [0, 1] -> 8-bit RGB PIL image."""
    return Image.fromarray((to_numpy(image) * 255.0 + 0.5).astype(np.uint8))


def save_image(image: torch.Tensor, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write an image atomically (temporary file, then rename), creating folders as needed."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"'{target}' already exists; choose another name or pass overwrite=True")
    suffix = target.suffix.lower() or ".png"
    if suffix not in Image.registered_extensions():
        raise ImageError(f"'{target}': unknown image extension {suffix!r}; use .png or .jpg")
    pil = to_pil(image)
    return atomic_write(target, lambda temporary: pil.save(temporary, format=Image.registered_extensions()[suffix]))


def image_grid(images: Sequence[torch.Tensor], columns: int | None = None, padding: int = 4) -> torch.Tensor:
    """Tile images (resized to the first one's height, centred in equal cells) on a white canvas."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    height = images[0].shape[-2]
    rows_of = [resize(_tensor_to_batch(im), (height, round(im.shape[-1] * height / im.shape[-2]))) for im in images]
    cell_width = max(im.shape[-1] for im in rows_of)
    columns = columns or len(rows_of)
    rows = (len(rows_of) + columns - 1) // columns
    canvas = torch.ones(1, 3, rows * (height + padding) + padding, columns * (cell_width + padding) + padding)
    for index, im in enumerate(rows_of):
        row, column = divmod(index, columns)
        top = padding + row * (height + padding)
        left = padding + column * (cell_width + padding) + (cell_width - im.shape[-1]) // 2
        canvas[..., top : top + height, left : left + im.shape[-1]] = im
    return canvas


# ITU-R BT.601 luma weights and the matching YCbCr transform (full range, values in [0, 1]).
_RGB_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
LUMA_WEIGHTS = _RGB_TO_YCBCR[0]  # Y = 0.299 R + 0.587 G + 0.114 B; the weights sum to 1 and Cb's and Cr's to 0


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    """RGB [B,3,H,W] in [0, 1] -> YCbCr with Y in [0, 1] and Cb, Cr centred on 0."""
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YCBCR.to(image), image)


def ycbcr_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """Inverse of rgb_to_ycbcr."""
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YCBCR).to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """BT.601 luma [B,1,H,W] of RGB images in [0, 1]."""
    return rgb_to_ycbcr(image)[:, :1]


def grey(image: torch.Tensor) -> torch.Tensor:
    """RGB images [B,3,H,W] as grey RGB images: their luminance in all three channels."""
    return luminance(image).expand(-1, 3, -1, -1)


def with_chroma(luma: torch.Tensor, colour_source: torch.Tensor) -> torch.Tensor:
    """RGB [B,3,H,W] with luminance `luma` [B,1,H,W] and the chroma (Cb, Cr) of `colour_source`, resized to fit."""
    chroma = resize(rgb_to_ycbcr(colour_source)[:, 1:], tuple(luma.shape[-2:]), clamp=False)
    return ycbcr_to_rgb(torch.cat([luma, chroma], 1)).clamp(0.0, 1.0)
