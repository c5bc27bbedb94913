"""Image input in one place: validation, decoding limits, mode conversion, masks, and PIL <-> tensor."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .limits import current

MAX_PIXELS = current().max_input_pixels
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's decompression-bomb guard, set explicitly (re-set on every open)
# Raster formats a browser or camera produces; nothing that runs an external interpreter (EPS) or is exotic.
ALLOWED_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "WEBP", "BMP", "TIFF", "PPM", "AVIF")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
BACKGROUND, BACKGROUND_NAME = (255, 255, 255), "white"  # what transparent pixels are composited on
# The shorter side of the smallest picture a task works on, the same for every task (each one's picture goes to a
# model's input): a quarter of the smallest model input (CIFAR-10's 32 px). A smaller one would be enlarged more than
# 4x to reach any model, and its result would be a few pixels across.
MIN_SIDE = 8
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
ACCEPTED = "a PIL image, numpy array, torch tensor, file path or bytes"


def _unreadable(name: str, reason: str) -> ValueError:
    return ValueError(f"{name} could not be read as an image: {reason}")


def _check_pixels(name: str, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise _unreadable(name, f"it is empty ({width}x{height} pixels)")
    limit = current().max_input_pixels
    if width * height > limit:
        raise ValueError(f"{name} is too large: {width}x{height} = {width * height / 1e6:.3g} megapixels, "
                         f"the limit is {limit / 1e6:g} megapixels")


def _open_encoded(source, name: str) -> Image.Image:
    """Decode a file path or bytes after checking the header's size; EXIF orientation applied, first frame."""
    limit = current().max_input_pixels
    Image.MAX_IMAGE_PIXELS = limit
    Image.init()
    formats = [f for f in ALLOWED_FORMATS if f in Image.OPEN]
    try:
        img = Image.open(source, formats=formats)
    except Image.DecompressionBombError:
        raise ValueError(f"{name} is too large: over the limit of {limit / 1e6:g} megapixels") from None
    except FileNotFoundError:
        raise _unreadable(name, f"no such file {str(source)!r}") from None
    except Exception as e:  # Pillow raises many types for junk input; all mean "not an image we accept"
        raise _unreadable(name, f"not a supported image file ({', '.join(formats)})") from e
    with img:
        _check_pixels(name, *img.size)  # from the header: nothing decoded yet
        try:
            img.seek(0)  # animated images: the first frame
            return ImageOps.exif_transpose(img)  # a decoded copy; a truncated or corrupt file fails here
        except Exception as e:
            raise _unreadable(name, f"the file is truncated or corrupt ({e})") from e


def _array_to_pil(arr: np.ndarray, name: str) -> Image.Image:
    """HxW or HxWx{1,3,4} array (uint8, uint16, bool, other ints in 0..255, or float in [0,1]) to L/RGB/RGBA."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"{name} array must have shape HxW, HxWx3 or HxWx4, got {arr.shape}")
    _check_pixels(name, arr.shape[1], arr.shape[0])
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = np.round(arr / 257.0).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() > 255:
            raise ValueError(f"{name} integer array must be in 0..255, got {arr.min()}..{arr.max()}")
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        if arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"{name} float array must be in [0, 1], got [{arr.min():g}, {arr.max():g}]")
        arr = np.round(arr * 255.0)
    else:
        raise ValueError(f"{name} array has unsupported dtype {arr.dtype}")
    return Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8))


def _tensor_to_array(x: torch.Tensor, name: str) -> np.ndarray:
    x = x.detach().cpu()
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if x.dim() == 3 and x.shape[0] in (1, 3, 4):
        x = x.permute(1, 2, 0)
    elif x.dim() != 2:
        raise ValueError(f"{name} tensor must have shape (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
    return x.numpy() if x.dtype != torch.bfloat16 else x.float().numpy()


def _editor_image(value: dict):
    """A gr.ImageEditor / gr.Sketchpad value: the composite, else the background."""
    composite = value.get("composite")
    return composite if composite is not None else value.get("background")


def open_image(image, *, name: str = "image") -> Image.Image:
    """Validate any input load_image accepts and return it as a PIL image in its own mode (metadata kept)."""
    if image is None:
        raise ValueError(f"{name} is required")
    if isinstance(image, dict):
        return open_image(_editor_image(image), name=name)
    if isinstance(image, Image.Image):
        _check_pixels(name, *image.size)
        return image
    if isinstance(image, np.ndarray):
        return _array_to_pil(image, name)
    if isinstance(image, torch.Tensor):
        return _array_to_pil(_tensor_to_array(image, name), name)
    if isinstance(image, (str, Path)):
        return _open_encoded(image, name)
    if isinstance(image, (bytes, bytearray, memoryview)):
        if len(image) == 0:
            raise _unreadable(name, "the file is empty (0 bytes)")
        return _open_encoded(io.BytesIO(bytes(image)), name)
    raise TypeError(f"{name} must be {ACCEPTED}, got {type(image).__name__}")


def _rescale_to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    """32-bit int ("I") or float ("F") pixels to 0..255: float [0,1] and 0..255 kept, 0..65535 as 16-bit, else min-max."""
    unit_float = np.issubdtype(arr.dtype, np.floating)
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    low, high = arr.min(), arr.max()
    if unit_float and low >= 0 and high <= 1:
        arr = arr * 255.0
    elif low >= 0 and 255 < high <= 65535:
        arr = arr / 257.0
    elif low < 0 or high > 65535:
        arr = (arr - low) * (255.0 / max(high - low, 1e-12))
    return np.clip(np.round(arr), 0, 255).astype(np.uint8)


def _to_rgb(img: Image.Image, name: str) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in SIXTEEN_BIT_MODES:
        gray = np.round(np.asarray(img, dtype=np.float64) / 257.0).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if img.mode in ("I", "F"):
        return Image.fromarray(_rescale_to_uint8(np.asarray(img), name)).convert("RGB")
    if img.mode in ALPHA_MODES or img.has_transparency_data:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except Exception as e:
        raise _unreadable(name, f"unsupported image mode {img.mode!r}") from e


def load_image(image, *, name: str = "image") -> Image.Image:
    """Validate and decode any accepted input to an RGB PIL image.

    Accepts a PIL image, a numpy array (HxW, HxWx3/4; uint8, or float in [0,1]), a torch tensor (3,H,W) or
    (1,3,H,W) in [0,1], a file path, bytes, or a Gradio ImageEditor value (its composite). Raises ValueError with
    one sentence for empty, truncated, corrupt or oversized input. Alpha is composited on BACKGROUND (white), EXIF
    orientation applied, 16-bit and float images rescaled to 8 bits, animated images give their first frame.
    """
    return _to_rgb(open_image(image, name=name), name)


def load_picture(image, *, name: str = "image") -> Image.Image:
    """load_image for a task's picture: also refused (ValueError) under MIN_SIDE pixels on either side."""
    img = load_image(image, name=name)
    if min(img.size) < MIN_SIDE:
        raise ValueError(f"{name} is {img.width}x{img.height} pixels, too small to work on: give a picture of at "
                         f"least {MIN_SIDE}x{MIN_SIDE} pixels")
    return img


def has_transparency(img: Image.Image) -> bool:
    """True when some pixel of img is not fully opaque (what load_image composites on BACKGROUND)."""
    if img.mode not in ALPHA_MODES and not img.has_transparency_data:
        return False
    return img.convert("RGBA").getchannel("A").getextrema()[0] < 255


def fit_within(img: Image.Image, side: int) -> Image.Image:
    """img scaled down (aspect kept, antialiased) so that its longer side is at most `side`; a smaller one as it is."""
    if max(img.size) <= side:
        return img
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def fit_square(img: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square and resize to size x size (bicubic; Pillow antialiases when downsampling)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return ImageOps.fit(img, (size, size), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))


def to_tensor(img, size: int | None = None) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1]; centre-cropped and resized to size x size when size is given."""
    img = load_image(img)
    if size is not None:
        img = fit_square(img, size)
    arr = np.array(img, dtype=np.uint8)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, *size): bicubic, antialiased where it shrinks (as Pillow); the same size is returned as is.

    Not clamped: it also resizes signed changes (result minus input).
    """
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    shrinks = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bicubic", antialias=shrinks, align_corners=False)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A (B, 1, h, w) {0,1} mask at another size: a pixel is set where any pixel it covers is set (never shrinks a hole)."""
    return F.adaptive_max_pool2d(mask.float(), (int(size[0]), int(size[1])))


def to_pil(x: torch.Tensor) -> Image.Image:
    """A (3, H, W) or (1, 3, H, W) tensor in [0, 1] to an RGB PIL image (clamped, rounded)."""
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"to_pil expects a (3, H, W) or (1, 3, H, W) tensor, got shape {tuple(x.shape)}")
    x = x.detach().float().cpu().nan_to_num(0.0).clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(x.expand(3, -1, -1).permute(1, 2, 0).contiguous().numpy(), "RGB")


def _painted(img: Image.Image, name: str) -> np.ndarray:
    """Boolean HxW: alpha > 0 where the image has any transparency, else luminance > 0.5."""
    if img.mode in ALPHA_MODES or img.has_transparency_data:
        alpha = np.asarray(img.convert("RGBA"))[:, :, 3]
        if alpha.min() < 255:
            return alpha > 0
    return np.asarray(_to_rgb(img, name).convert("L")) > 127


def _editor_layers_mask(value: dict, name: str) -> np.ndarray | None:
    layers = [layer for layer in value.get("layers") or [] if layer is not None]
    masks = [_painted(open_image(layer, name=f"{name} layer"), name) for layer in layers]
    if not masks:
        return None
    if any(m.shape != masks[0].shape for m in masks):
        raise ValueError(f"{name} layers have different sizes: {[m.shape[::-1] for m in masks]}")
    return np.logical_or.reduce(masks)


def _resize_mask(mask: np.ndarray, size: tuple[int, int], name: str) -> np.ndarray:
    (width, height), (mask_w, mask_h) = size, mask.shape[::-1]
    if (mask_w, mask_h) == (width, height):
        return mask
    if abs((mask_w / mask_h) / (width / height) - 1) > 0.02:
        raise ValueError(f"{name} is {mask_w}x{mask_h} but the image is {width}x{height}: "
                         f"draw the mask on the image, or give a mask with the same aspect ratio")
    resized = Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(resized, dtype=bool)


def load_mask(mask, size: tuple[int, int], *, name: str = "mask") -> torch.Tensor:
    """A (1, 1, H, W) float mask in {0, 1} for an image of size=(W, H); 1 (white / painted) = missing or editable.

    Accepts what load_image accepts, or a Gradio ImageEditor value (the union of its layers' painted pixels;
    the background is ignored). An RGBA mask uses its alpha where it has any transparency, else luminance > 0.5.
    A mask with the image's aspect ratio (within 2%) is resized (nearest); anything else raises ValueError,
    as does an empty mask or one that covers the whole image.
    """
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)):
        raise ValueError(f"size must be a (width, height) pair of positive integers, got {size!r}")
    if isinstance(mask, dict):
        painted = _editor_layers_mask(mask, name)
        if painted is None:
            raise ValueError(f"{name} is empty: paint the region to fill or edit on the image")
    else:
        painted = _painted(open_image(mask, name=name), name)
    painted = _resize_mask(painted, tuple(size), name)
    if not painted.any():
        raise ValueError(f"{name} is empty: paint the region to fill or edit (white or painted pixels)")
    if painted.all():
        raise ValueError(f"{name} covers the whole image: leave some of the image unpainted to keep")
    return torch.from_numpy(painted.astype(np.float32))[None, None]
