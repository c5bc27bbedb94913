"""Write the app's example images to examples/: scikit-image photos plus masks, sketches and textures drawn here.

Every tab's first example is small (SMALL px, the object filling the frame): the embedded CIFAR-10 models see 32 px,
so they can act on it near their own scale; the 224-px ones are the second examples, for the ImageNet models.
original_of() gives the picture a small example was shrunk from (benchmarks/examples.py scores against it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from skimage.feature import canny

SIZE = 224  # the ImageNet models' input size; the CIFAR models downsample
OUT = Path(__file__).resolve().parent.parent / "examples"


def center_square(img: Image.Image, size: int = SIZE) -> Image.Image:
    """Crop the largest centred square and resize it to size x size."""
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return img.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)


SMALL = 64  # the first examples' side: twice the embedded models' 32 px
MOTORCYCLE_BOX = (110, 0, 610, 500)  # the square of skimage's stereo_motorcycle (left view) the bike fills
EYE_HOLE = (16, 22, 23, 29)  # an 8x8 hole over the left eye of chelsea-64


def photo(name: str) -> Image.Image:
    data = getattr(skimage.data, name)()
    return Image.fromarray(data[0] if isinstance(data, tuple) else data).convert("RGB")  # a stereo pair: left


def original_of(path) -> Image.Image:
    """The picture a small photo example was shrunk from (2x its side, Pillow bicubic): the reference of the
    examples benchmark's super-resolution score."""
    name = Path(path).stem.removesuffix(f"-{SMALL}")
    if name == "motorcycle":
        return photo("stereo_motorcycle").crop(MOTORCYCLE_BOX).resize((2 * SMALL, 2 * SMALL), Image.LANCZOS)
    return center_square(center_square(photo(name)), 2 * SMALL)


def photos() -> dict[str, Image.Image]:
    images = {name: center_square(photo(name)) for name in ("chelsea", "astronaut", "coffee", "rocket")}
    images.update({f"{name}-{SMALL}": original_of(name).resize((SMALL, SMALL), Image.BICUBIC)
                   for name in ("chelsea", "coffee", "motorcycle")})
    return images


def square_mask(side: int, box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def masks() -> dict[str, Image.Image]:
    """White = missing pixels, as the inpainting and feature-painting tabs expect."""
    return {"square": square_mask(SIZE, (SIZE // 4, SIZE // 4, 3 * SIZE // 4, 3 * SIZE // 4)),
            "stripe": square_mask(SIZE, (0, SIZE // 3, SIZE, 2 * SIZE // 3)),
            f"square-{SMALL}": square_mask(SMALL, (SMALL // 4, SMALL // 4, 3 * SMALL // 4 - 1, 3 * SMALL // 4 - 1)),
            f"eye-{SMALL}": square_mask(SMALL, EYE_HOLE)}



def edges_to_sketch(gray: np.ndarray, sigma: float) -> Image.Image:
    """Black strokes on white from Canny edges, thickened so they read as pen lines."""
    edges = Image.fromarray((~canny(gray, sigma=sigma)).astype(np.uint8) * 255)
    return center_square(edges.filter(ImageFilter.MinFilter(3)).convert("RGB"))


def ship_drawing() -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(img)
    draw.polygon([(30, 140), (194, 140), (170, 175), (55, 175)], outline="black", width=4)
    draw.line([(112, 140), (112, 40)], fill="black", width=4)
    draw.polygon([(116, 45), (116, 132), (175, 132)], outline="black", width=4)
    for y in (190, 205):
        draw.arc((10, y - 10, 110, y + 10), 0, 180, fill="black", width=3)
        draw.arc((110, y - 10, 214, y + 10), 0, 180, fill="black", width=3)
    return img


def small_outline(silhouette: np.ndarray, side: int = SMALL, width: int = 2) -> Image.Image:
    """A filled silhouette's outline, `width` px wide, on a white side x side square (the shape fit with a margin)."""
    shape = Image.fromarray(silhouette.astype(np.uint8) * 255)
    shape.thumbnail((side - 4, side - 4), Image.LANCZOS)
    canvas = Image.new("L", (side, side), 0)
    canvas.paste(shape, ((side - shape.width) // 2, (side - shape.height) // 2))
    inside = canvas.point(lambda v: 255 if v > 127 else 0)
    ring = ImageChops.subtract(inside.filter(ImageFilter.MaxFilter(2 * width + 1)), inside)
    return ImageChops.invert(ring).convert("RGB")


def sketches() -> dict[str, Image.Image]:
    horse = skimage.data.horse()  # True = background; the silhouette's outline is the sketch
    cat = skimage.data.chelsea().mean(axis=2) / 255
    return {"horse": edges_to_sketch(horse.astype(float), 1.0), "cat": edges_to_sketch(cat, 3.0),
            "ship": ship_drawing(), f"horse-{SMALL}": small_outline(~horse)}


def swirl_texture() -> Image.Image:
    y, x = np.mgrid[-1:1:SIZE * 1j, -1:1:SIZE * 1j]
    angle, radius = np.arctan2(y, x), np.hypot(x, y)
    phase = 6 * angle + 18 * radius
    rgb = np.stack([np.sin(phase), np.sin(phase + 2.1), np.sin(phase + 4.2)], axis=-1)
    return Image.fromarray(((rgb * 0.5 + 0.5) * 255).astype(np.uint8))


def mosaic_texture(seed: int = 0) -> Image.Image:
    """Voronoi cells with random colours and dark borders, like stained glass."""
    rng = np.random.default_rng(seed)
    centres, colours = rng.uniform(0, SIZE, (60, 2)), rng.integers(40, 255, (60, 3))
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    dist = np.hypot(x[..., None] - centres[:, 0], y[..., None] - centres[:, 1])
    nearest = np.sort(dist, axis=-1)
    rgb = colours[dist.argmin(axis=-1)]
    rgb[(nearest[..., 1] - nearest[..., 0]) < 2.5] = 20
    return Image.fromarray(rgb.astype(np.uint8))


def brick_texture() -> Image.Image:
    gray = skimage.data.brick().astype(float) / 255
    rgb = np.stack([0.55 + 0.45 * gray, 0.25 + 0.4 * gray, 0.2 + 0.3 * gray], axis=-1)
    return center_square(Image.fromarray((rgb * 255).astype(np.uint8)))


def styles() -> dict[str, Image.Image]:
    return {"swirl": swirl_texture(), "mosaic": mosaic_texture(), "brick": brick_texture()}


def main() -> None:
    groups = {"photos": (photos(), "jpg"), "masks": (masks(), "png"),
              "sketches": (sketches(), "png"), "styles": (styles(), "jpg")}
    for folder, (images, ext) in groups.items():
        (OUT / folder).mkdir(parents=True, exist_ok=True)
        for name, img in images.items():
            path = OUT / folder / f"{name}.{ext}"
            img.save(path, quality=90) if ext == "jpg" else img.save(path, optimize=True)
            print(path.relative_to(OUT.parent), img.size)


if __name__ == "__main__":
    main()
