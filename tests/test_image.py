"""image.py: the bad-input corpus (refused or converted), mask rules, and PIL <-> tensor helpers."""
import io
import re
import time

import numpy as np
import pytest
import torch
from PIL import Image

from bad_inputs import MASK_SIZE, header_bomb, items, transparent_palette_png
from robust_synth.image import (MIN_SIDE, fit_square, fit_within, has_transparency, load_image, load_mask, load_picture,
                                resize, resize_mask, to_pil, to_tensor)


def _ids(corpus):
    return [item.name for item in corpus]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns, then we refuse
@pytest.mark.parametrize("item", items("image", "error"), ids=_ids(items("image", "error")))
def test_bad_image_is_refused_with_a_clear_message(item):
    with pytest.raises((ValueError, TypeError)) as info:
        load_image(item.make(), name="image")
    message = str(info.value)
    assert re.search(item.match, message), message
    assert message.startswith("image") and "\n" not in message


@pytest.mark.parametrize("item", items("image", "ok"), ids=_ids(items("image", "ok")))
def test_unusual_image_is_converted_to_rgb(item):
    img = load_image(item.make())
    assert isinstance(img, Image.Image) and img.mode == "RGB"
    item.check(img)


@pytest.mark.parametrize("item", items("mask", "error"), ids=_ids(items("mask", "error")))
def test_bad_mask_is_refused(item):
    with pytest.raises(ValueError, match=item.match):
        load_mask(item.make(), MASK_SIZE)


@pytest.mark.parametrize("item", items("mask", "ok"), ids=_ids(items("mask", "ok")))
def test_mask_is_converted(item):
    item.check(load_mask(item.make(), MASK_SIZE))


def test_header_bomb_is_refused_before_decoding():
    start = time.perf_counter()
    with pytest.raises(ValueError, match="too large"):
        load_image(header_bomb())
    assert time.perf_counter() - start < 0.5


def test_pixel_limit_follows_the_environment(monkeypatch):
    img = Image.new("RGB", (200, 100))
    assert load_image(img).size == (200, 100)
    monkeypatch.setenv("ROBUST_SYNTH_MAX_INPUT_PIXELS", "10000")
    with pytest.raises(ValueError, match="200x100 = 0.02 megapixels, the limit is 0.01"):
        load_image(img)
    with pytest.raises(ValueError, match="too large"):
        load_image(np.zeros((100, 200, 3), np.uint8))


def test_a_task_picture_under_the_smallest_side_is_refused_naming_it():
    """load_image decodes any size (the corpus' 1x1 PNG); a task's picture must be MIN_SIDE on both sides."""
    assert load_picture(Image.new("RGB", (MIN_SIDE, 300))).size == (MIN_SIDE, 300)
    for size in ((1, 1), (MIN_SIDE - 1, 300), (300, 2)):
        with pytest.raises(ValueError, match=rf"^style_image is {size[0]}x{size[1]} pixels, too small to work on: "
                                             rf"give a picture of at least {MIN_SIDE}x{MIN_SIDE} pixels$"):
            load_picture(Image.new("RGB", size), name="style_image")


@pytest.mark.parametrize("make, transparent", [
    (lambda: Image.new("RGBA", (8, 8), (255, 0, 0, 0)), True),
    (lambda: Image.new("RGBA", (8, 8), (255, 0, 0, 255)), False),  # alpha channel, every pixel opaque
    (lambda: Image.new("LA", (8, 8), (10, 128)), True),
    (lambda: Image.open(io.BytesIO(transparent_palette_png())), True),
    (lambda: Image.new("P", (8, 8), 0), False),
    (lambda: Image.new("RGB", (8, 8)), False),
])
def test_transparency_is_found_in_every_mode_that_has_it(make, transparent):
    assert has_transparency(make()) is transparent


def test_fit_within_scales_down_to_the_longer_side_and_leaves_smaller_pictures_alone():
    img = Image.new("RGB", (6000, 4000), (200, 10, 10))
    small = fit_within(img, 1024)
    assert small.size == (1024, 683) and small.getpixel((500, 300)) == (200, 10, 10)
    assert fit_within(small, 1024) is small


def test_path_and_bytes_give_the_same_image(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(arr).save(path)
    np.testing.assert_array_equal(np.asarray(load_image(path)), arr)
    np.testing.assert_array_equal(np.asarray(load_image(str(path))), arr)
    np.testing.assert_array_equal(np.asarray(load_image(path.read_bytes())), arr)


def test_editor_mask_is_the_union_of_layers_and_ignores_background():
    first = Image.new("RGBA", MASK_SIZE, (0, 0, 0, 0))
    first.paste((255, 0, 0, 255), (0, 0, 4, 4))
    second = Image.new("RGBA", MASK_SIZE, (0, 0, 0, 0))
    second.paste((0, 0, 255, 30), (2, 2, 6, 6))
    white = Image.new("RGB", MASK_SIZE, (255, 255, 255))
    mask = load_mask({"background": white, "layers": [first, second], "composite": white}, MASK_SIZE)
    expected = np.zeros((32, 32), bool)
    expected[0:4, 0:4] = expected[2:6, 2:6] = True
    np.testing.assert_array_equal(mask[0, 0].numpy().astype(bool), expected)


def test_mask_resized_to_a_non_square_image_keeps_its_region():
    mask = Image.new("L", (64, 32), 0)
    mask.paste(255, (0, 0, 32, 32))
    out = load_mask(mask, (32, 16))
    assert out.shape == (1, 1, 16, 32)
    assert out[0, 0, :, :16].all() and not out[0, 0, :, 16:].any()


def test_mask_size_must_be_a_pair_of_positive_integers():
    with pytest.raises(ValueError, match="width, height"):
        load_mask(Image.new("L", (4, 4)), (4,))


def test_fit_square_crops_the_centre():
    img = Image.new("RGB", (30, 10), (255, 0, 0))
    img.paste((0, 255, 0), (10, 0, 20, 10))
    out = fit_square(img, 5)
    assert out.size == (5, 5) and out.getpixel((2, 2)) == (0, 255, 0)
    with pytest.raises(ValueError, match="positive integer"):
        fit_square(img, 0)


def test_tensor_round_trip_is_exact():
    arr = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    x = to_tensor(Image.fromarray(arr))
    assert x.shape == (1, 3, 9, 7) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(np.asarray(to_pil(x)), arr)
    np.testing.assert_array_equal(np.asarray(to_pil(x[0])), arr)


def test_to_tensor_resizes_and_to_pil_clamps():
    assert to_tensor(Image.new("RGB", (50, 40)), size=32).shape == (1, 3, 32, 32)
    out = to_pil(torch.tensor([-1.0, 0.5, 2.0]).view(3, 1, 1))
    assert out.getpixel((0, 0)) == (0, 128, 255)
    with pytest.raises(ValueError, match="shape"):
        to_pil(torch.zeros(2, 3, 4, 4))


def test_resize_shrinks_like_pillow_and_leaves_the_same_size_alone():
    """Catches shrinking without antialiasing (aliasing; far from Pillow's result) and resampling a same-size image."""
    arr = np.random.default_rng(2).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    x = to_tensor(Image.fromarray(arr))
    assert resize(x, (60, 90)) is x
    pillow = to_tensor(Image.fromarray(arr).resize((30, 20), Image.Resampling.BICUBIC))
    assert (resize(x, (20, 30)).clamp(0, 1) - pillow).abs().mean() < 2 / 255
    assert resize(x, (120, 180)).shape == (1, 3, 120, 180)


def test_resize_mask_never_loses_a_hole():
    mask = torch.zeros(1, 1, 100, 100)
    mask[..., 57, 13] = 1
    small = resize_mask(mask, (10, 10))
    assert small.sum() == 1 and small[0, 0, 5, 1] == 1
    assert resize_mask(small, (20, 20)).sum() == 4
