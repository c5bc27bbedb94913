"""Degenerate pictures, library and app: too small (refused naming the size), transparent (composited on white, said
in the recipe and on the page), over the app's working size (scaled down first, said in the recipe and on the page)."""
import gradio as gr
import numpy as np
import pytest
from PIL import Image

import robust_synth as rs
from robust_synth import task_registry
from robust_synth.app import endpoints
from robust_synth.app.tabs import result_notes
from robust_synth.app.values import prepared_picture
from robust_synth.image import MIN_SIDE

from conftest import make_tiny_model

EMBEDDED = "cifar10-resnet-l2-0.5"
TOO_SMALL = f"at least {MIN_SIDE}x{MIN_SIDE} pixels"


@pytest.fixture(autouse=True)
def results_store(tmp_path, monkeypatch):
    """The app's runs save their results (and share links) under tmp_path, not the user's cache."""
    monkeypatch.setenv("ROBUST_SYNTH_RESULTS", str(tmp_path / "results"))


def _photo(width=48, height=40) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _hidden_red(path) -> str:
    """An RGBA PNG whose top 10 rows are pure red at alpha 0: invisible in any viewer, red if alpha is dropped."""
    pixels = np.concatenate([_photo(), np.full((40, 48, 1), 255, np.uint8)], axis=2)
    pixels[:10] = (255, 0, 0, 0)
    Image.fromarray(pixels, "RGBA").save(path)
    return str(path)


def _run(task: str, **values) -> tuple:
    """The app endpoint of `task` as the page calls it; its last output (gallery, comparison, recipe)."""
    handler = endpoints.endpoint(task_registry.get(task))
    return list(handler(model=EMBEDDED, progress=lambda *a, **k: None, **values))[-1]


@pytest.mark.parametrize("size", [(1, 1), (MIN_SIDE - 1, 40), (48, 1)])
@pytest.mark.parametrize("task, call", [
    ("refine", lambda model, image: rs.refine(model, image, steps=1)),
    ("translate", lambda model, image: rs.translate(model, image, "dog", steps=1)),
    ("invert", lambda model, image: rs.invert(model, image, steps=1)),
    ("interpolate", lambda model, image: rs.interpolate(model, image, _photo(), frames=2, steps=1)),
    ("super_resolve", lambda model, image: rs.super_resolve(model, image, steps=1)),
])
def test_a_picture_under_the_smallest_size_is_refused_naming_it(task, call, size):
    """Catches a 1x1 picture (or a 1-px strip) that used to come back as a 1x1 result shown as a flat square."""
    with pytest.raises(ValueError, match=f"image(_a)? is {size[0]}x{size[1]} pixels, too small.*{TOO_SMALL}"):
        call(make_tiny_model(), np.zeros((size[1], size[0], 3), np.uint8))


def test_the_smallest_size_itself_is_accepted():
    images, _ = rs.refine(make_tiny_model(), _photo(MIN_SIDE, MIN_SIDE), steps=1)
    assert images[0].size == (MIN_SIDE, MIN_SIDE)


def test_the_app_refuses_a_too_small_upload_with_the_same_sentence(tmp_path):
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "dot.png")
    with pytest.raises(gr.Error, match=f"image is 1x1 pixels, too small.*{TOO_SMALL}"):
        _run("refine", image=str(tmp_path / "dot.png"))


def test_transparent_pixels_are_composited_on_white_and_the_recipe_and_page_say_so(tmp_path):
    """Catches alpha dropped (the hidden red comes back) and a composite nobody is told about."""
    picture, done = prepared_picture(_hidden_red(tmp_path / "rgba.png"), "image")
    assert picture.mode == "RGB" and done == {"received": [48, 40], "transparent_pixels": "composited on white"}
    assert np.asarray(picture)[:10].min() == 255  # white, not red
    assert prepared_picture(tmp_path / "rgba.png", "image")[0].tobytes() == picture.tobytes()

    gallery, _, recipe = _run("refine", image=str(tmp_path / "rgba.png"), steps="1")
    assert recipe["input_preparation"] == {"image": done}
    result = np.asarray(Image.open(gallery[0][0]).convert("RGB"), np.int16)
    assert result[:10, :, 1:].mean() > 200, "the hidden red pixels reappeared in the result"
    assert "The image's transparent pixels were composited on white." in result_notes(recipe)


def test_an_opaque_rgba_picture_gets_no_note(tmp_path):
    Image.fromarray(_photo()).convert("RGBA").save(tmp_path / "opaque.png")
    assert prepared_picture(str(tmp_path / "opaque.png"), "image")[1] == {}


def test_a_picture_over_the_working_size_is_scaled_down_first_and_the_page_says_to_what(tmp_path, monkeypatch):
    """Catches a camera photo processed at full size with no note (26 s for 6000x6000 before); the working size is
    the limits' max_side, lowered here so that the test stays small."""
    monkeypatch.setenv("ROBUST_SYNTH_MAX_SIDE", "64")
    Image.fromarray(_photo(200, 100)).save(tmp_path / "wide.png")
    gallery, _, recipe = _run("refine", image=str(tmp_path / "wide.png"), steps="1")
    assert recipe["input_preparation"] == {"image": {"received": [200, 100], "scaled_to": [64, 32],
                                                     "working_size": 64}}
    assert Image.open(gallery[0][0]).size == (64, 32) and recipe["output_size"] == [64, 32]
    assert "The image (200x100) was scaled down to 64x32 first, the app's working size (64 px on the longer side)." \
        in result_notes(recipe)


def test_a_picture_within_the_working_size_is_passed_as_it_is(tmp_path):
    Image.fromarray(_photo()).save(tmp_path / "photo.png")
    picture, done = prepared_picture(str(tmp_path / "photo.png"), "image")
    assert done == {} and np.array_equal(np.asarray(picture), _photo())
