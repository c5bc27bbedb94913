"""A corpus of hostile and unusual inputs, generated in code, each with its expected outcome (refused or converted).

Kinds: "image" (load_image), "mask" (load_mask at MASK_SIZE), "params" (limits.check_run keywords),
"model" (a model name), "target" (a class for the CIFAR-10 model), "result_id" (ResultStore.load).
Items with `upload=True` make encoded bytes that can also be sent to the app as a file.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

MASK_SIZE = (32, 32)  # (W, H) of the image the mask items are checked against


@dataclass(frozen=True)
class BadInput:
    name: str
    kind: str                             # image | mask | params | model | target | result_id
    make: Callable[[], Any]               # builds the value (lazily: some are a few MB)
    expect: str = "error"                 # "error": refused with ValueError/TypeError; "ok": converted
    match: str = ""                       # regex the error message must match
    check: Callable[[Any], None] | None = None  # for "ok" items: asserts on the result
    upload: bool = False                  # make() returns file bytes the app can receive as an upload
    api_expect: str | None = None         # through the app's API, where it differs from the library's


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def header_bomb(width: int = 40000, height: int = 40000) -> bytes:
    """A valid-looking ~100-byte PNG whose header claims width x height RGB pixels (4.8 GB for 40000x40000)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gradient_png(size: int = 16) -> bytes:
    arr = np.linspace(0, 255, size * size * 3).reshape(size, size, 3).astype(np.uint8)
    return encode(Image.fromarray(arr))


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated_jpeg() -> bytes:
    """Stored 40x20 (left red, right blue) with EXIF orientation 6: displayed 20x40, red on top."""
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(img, "JPEG", exif=exif.tobytes(), quality=95)


def sixteen_bit_png() -> bytes:
    return encode(Image.fromarray(np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)))


def transparent_palette_png() -> bytes:
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 4, 8))
    return encode(img, transparency=0)


def corrupt_idat_png() -> bytes:
    data = bytearray(gradient_png(32))
    start = data.index(b"IDAT") + 8
    data[start:start + 40] = bytes(range(40))
    return bytes(data)


def mode_image(mode: str, value) -> Image.Image:
    return Image.new(mode, (8, 8), value)


def editor_value(layers: list) -> dict:
    background = Image.new("RGB", MASK_SIZE, (128, 128, 128))
    return {"background": background, "layers": layers, "composite": background}


def stroke_layer() -> Image.Image:
    layer = Image.new("RGBA", MASK_SIZE, (0, 0, 0, 0))
    layer.paste((0, 0, 0, 255), (4, 4, 12, 12))
    return layer


def half_mask(size=MASK_SIZE) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 0, size[0] // 2, size[1]))
    return mask


# --- checks for items that must be converted ---------------------------------------------------------------

def rgb_of_size(size):
    def check(img):
        assert img.mode == "RGB" and img.size == tuple(size), (img.mode, img.size)
    return check


def pixel_near(xy, rgb, size=None, tol=8):
    def check(img):
        assert img.mode == "RGB"
        if size is not None:
            assert img.size == size, img.size
        assert np.abs(np.subtract(img.getpixel(xy), rgb)).max() <= tol, (img.getpixel(xy), rgb)
    return check


def exif_applied(img):
    assert img.size == (20, 40), img.size
    pixel_near((10, 3), (255, 0, 0))(img)
    pixel_near((10, 36), (0, 0, 255))(img)


def sixteen_bit_scaled(img):
    values = np.asarray(img.convert("L"))
    assert values.min() <= 2 and values.max() >= 253 and 100 < values.mean() < 155, (values.min(), values.max())


def mask_painted(count):
    def check(mask):
        assert mask.shape == (1, 1, MASK_SIZE[1], MASK_SIZE[0]) and mask.dtype == torch.float32
        assert set(mask.unique().tolist()) == {0.0, 1.0} and int(mask.sum()) == count, int(mask.sum())
    return check


IMAGE_ITEMS = [
    BadInput("truncated PNG", "image", lambda: gradient_png(64)[:300], match="truncated or corrupt", upload=True),
    BadInput("truncated JPEG", "image", lambda: encode(Image.new("RGB", (64, 64), (9, 9, 9)), "JPEG")[:200],
             match="truncated or corrupt|could not be read", upload=True),
    BadInput("PNG with corrupt image data", "image", corrupt_idat_png, match="could not be read", upload=True),
    BadInput("zero-byte file", "image", lambda: b"", match="empty|could not be read", upload=True),
    BadInput("40000x40000 header bomb", "image", header_bomb, match="too large", upload=True),
    BadInput("1x100000000 header bomb", "image", lambda: header_bomb(100_000_000, 1), match="too large",
             upload=True),
    BadInput("8000x6000 valid PNG over the 40 MP limit", "image",
             lambda: encode(Image.new("1", (8000, 6000), 0)), match="too large", upload=True),
    BadInput("random bytes", "image", lambda: np.random.default_rng(0).bytes(4096), match="could not be read",
             upload=True),
    BadInput("text file", "image", lambda: b"hello, this is not an image\n" * 10, match="could not be read",
             upload=True),
    BadInput("SVG document", "image", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
             match="could not be read", upload=True),
    BadInput("EPS (would run Ghostscript)", "image",
             lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", match="could not be read",
             upload=True),
    BadInput("PNG signature only", "image", lambda: b"\x89PNG\r\n\x1a\n", match="could not be read", upload=True),
    BadInput("missing file path", "image", lambda: "/nonexistent/robust-synth/image.png", match="no such file"),
    BadInput("directory path", "image", lambda: "/", match="could not be read"),
    BadInput("/etc/passwd as an image", "image", lambda: Path("/etc/passwd"), match="could not be read"),
    BadInput("None", "image", lambda: None, match="is required"),
    BadInput("an integer", "image", lambda: 42, match="must be a PIL image"),
    BadInput("numpy float with NaN", "image", lambda: np.full((8, 8, 3), np.nan, np.float32), match="NaN"),
    BadInput("numpy float in 0..255", "image", lambda: np.full((8, 8, 3), 200.0), match=r"in \[0, 1\]"),
    BadInput("numpy 5 channels", "image", lambda: np.zeros((8, 8, 5), np.uint8), match="shape"),
    BadInput("numpy zero-size", "image", lambda: np.zeros((0, 8, 3), np.uint8), match="empty"),
    BadInput("numpy negative ints", "image", lambda: np.full((8, 8), -5), match=r"0\.\.255"),
    BadInput("torch 5-d tensor", "image", lambda: torch.zeros(1, 1, 3, 8, 8), match="shape"),
    BadInput("zero-size PIL image", "image", lambda: Image.new("RGB", (0, 5)), match="empty"),
    # converted, not refused
    BadInput("1x1 PNG", "image", lambda: encode(Image.new("RGB", (1, 1), (1, 2, 3))), "ok",
             check=pixel_near((0, 0), (1, 2, 3), (1, 1), tol=0), upload=True),
    BadInput("CMYK JPEG", "image", lambda: encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"), "ok",
             check=pixel_near((8, 8), (255, 0, 0), (16, 16)), upload=True),
    BadInput("16-bit grayscale PNG (I;16)", "image", sixteen_bit_png, "ok", check=sixteen_bit_scaled, upload=True),
    BadInput("I;16 PIL image", "image", lambda: Image.open(io.BytesIO(sixteen_bit_png())), "ok",
             check=sixteen_bit_scaled),
    BadInput("32-bit int I image (16-bit range)", "image", lambda: mode_image("I", 65535), "ok",
             check=pixel_near((0, 0), (255, 255, 255), tol=0)),
    BadInput("F image in [0,1]", "image", lambda: mode_image("F", 0.5), "ok",
             check=pixel_near((0, 0), (128, 128, 128), tol=1)),
    BadInput("F TIFF", "image", lambda: encode(mode_image("F", 0.25), "TIFF"), "ok",
             check=pixel_near((0, 0), (64, 64, 64), tol=1), upload=True),
    BadInput("LA PNG, transparent", "image", lambda: encode(mode_image("LA", (0, 0))), "ok",
             check=pixel_near((3, 3), (255, 255, 255), tol=0), upload=True),
    BadInput("RGBA PNG, half transparent red", "image", lambda: encode(mode_image("RGBA", (255, 0, 0, 128))), "ok",
             check=pixel_near((3, 3), (255, 127, 127), tol=2), upload=True),
    BadInput("P PNG with transparency", "image", transparent_palette_png, "ok",
             check=lambda img: (pixel_near((1, 1), (255, 0, 0))(img), pixel_near((6, 6), (255, 255, 255))(img)),
             upload=True),
    BadInput("animated GIF (first frame red)", "image", animated_gif, "ok", check=pixel_near((8, 8), (255, 0, 0)),
             upload=True),
    BadInput("EXIF-rotated JPEG", "image", exif_rotated_jpeg, "ok", check=exif_applied, upload=True),
    BadInput("1-bit PNG", "image", lambda: encode(mode_image("1", 1)), "ok",
             check=pixel_near((0, 0), (255, 255, 255), tol=0), upload=True),
    BadInput("numpy uint16", "image", lambda: np.full((4, 4, 3), 65535, np.uint16), "ok",
             check=pixel_near((0, 0), (255, 255, 255), tol=0)),
    BadInput("numpy bool", "image", lambda: np.eye(4, dtype=bool), "ok",
             check=pixel_near((0, 0), (255, 255, 255), tol=0)),
    BadInput("torch (1,3,H,W) in [0,1]", "image", lambda: torch.full((1, 3, 6, 5), 0.5), "ok",
             check=pixel_near((0, 0), (128, 128, 128), (5, 6), tol=0)),
    BadInput("Gradio editor value", "image", lambda: editor_value([]), "ok",
             check=pixel_near((0, 0), (128, 128, 128), MASK_SIZE, tol=0)),
]

MASK_ITEMS = [
    BadInput("empty mask", "mask", lambda: Image.new("L", MASK_SIZE, 0), match="empty"),
    BadInput("mask covering everything", "mask", lambda: Image.new("L", MASK_SIZE, 255), match="whole image"),
    BadInput("mask of another aspect ratio", "mask", lambda: half_mask((32, 16)), match="32x16.*32x32"),
    BadInput("editor value with no layers", "mask", lambda: editor_value([]), match="empty"),
    BadInput("editor value with an unpainted layer", "mask",
             lambda: editor_value([Image.new("RGBA", MASK_SIZE, (0, 0, 0, 0))]), match="empty"),
    BadInput("corrupt mask file", "mask", lambda: b"\x89PNG\r\n\x1a\nxx", match="could not be read", upload=True),
    BadInput("no mask", "mask", lambda: None, match="is required"),
    BadInput("mask at 4x the size (same aspect)", "mask", lambda: half_mask((128, 128)), "ok",
             check=mask_painted(16 * 32)),
    BadInput("mask PNG at the image size", "mask", lambda: encode(half_mask()), "ok", check=mask_painted(16 * 32),
             upload=True),
    BadInput("editor value with a painted stroke", "mask", lambda: editor_value([stroke_layer()]), "ok",
             check=mask_painted(64)),
    BadInput("RGBA mask painted in black on transparent", "mask", stroke_layer, "ok", check=mask_painted(64)),
    BadInput("numpy float mask", "mask", lambda: np.asarray(half_mask(), np.float32) / 255, "ok",
             check=mask_painted(16 * 32)),
]

# The page's Settings numbers are text fields, so the app's API reads "60" as 60 steps; the library refuses it.
TEXT_NUMBERS = {("steps", "60")}
PARAM_ITEMS = [BadInput(f"{key}={value!r}", "params", (lambda kw={key: value}: kw), match=key,
                        api_expect="ok" if (key, value) in TEXT_NUMBERS else None)
               for key, value in [
                   ("steps", float("nan")), ("steps", -1), ("steps", 0), ("steps", 1e9), ("steps", 10**9),
                   ("steps", True), ("steps", 2.5), ("steps", "60"), ("eps", float("inf")), ("eps", -1.0),
                   ("eps", float("nan")), ("eps", 0), ("eps", 1e12), ("step_size", 1e9), ("step_size", -0.5),
                   ("n", 0), ("n", 10**6), ("frames", 1), ("frames", 10**6), ("side", 100_000), ("seed", -1),
                   ("seed", 2**64), ("seed", "abc"), ("seed", 1.5)]] + [
    BadInput("reference settings", "params", lambda: {"steps": 60, "eps": 40.0, "step_size": 1.0, "n": 4,
                                                      "seed": 0}, "ok"),
    BadInput("numpy integer steps", "params", lambda: {"steps": np.int64(720), "eps": 21.6}, "ok"),
]

MODEL_ITEMS = [BadInput(f"model {name!r}", "model", (lambda name=name: name), match="unknown model")
               for name in ["imagenet-resnet50-l2-999", "../../etc/passwd", "", "CIFAR10-RESNET-L2-0.5"]]

TARGET_ITEMS = [BadInput(f"target {target!r}", "target", (lambda target=target: target), match="class|target")
                for target in ["not-a-class", 10, -1, "../../etc/passwd", 1e9]]

RESULT_ID_ITEMS = [BadInput(f"result id {rid!r}", "result_id", (lambda rid=rid: rid), match="result")
                   for rid in ["../../etc/passwd", "/etc/passwd", "..", "", "0123456789abcdef01234567/../x",
                               "0123456789ABCDEF01234567", "０１２３４５６７８９ａｂｃｄｅｆ０１２３４５６７",
                               "0123456789abcdef01234567\n", "0123456789abcdef0123456", "f" * 24]]

CORPUS = IMAGE_ITEMS + MASK_ITEMS + PARAM_ITEMS + MODEL_ITEMS + TARGET_ITEMS + RESULT_ID_ITEMS


def items(kind: str, expect: str | None = None) -> list[BadInput]:
    return [item for item in CORPUS if item.kind == kind and (expect is None or item.expect == expect)]
