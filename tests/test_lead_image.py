"""Which result the app shows first: the model's own image where it saw the picture shrunk to a third or less."""
import pytest
from PIL import Image

import robust_synth as rs
from robust_synth.app import result_sharing as app_results
from robust_synth.tasks.recipe import TaskImages


def _recipe(task: str, input_size, model_side: int = 32, full_size: str = "original + upsampled") -> dict:
    return {"task": task, "model_resolution": {"count": 1, "sizes": [[model_side, model_side]]},
            "layout": {"input_size": list(input_size), "model_side": model_side, "full_size": full_size}}


@pytest.mark.parametrize("task,size,leads", [
    ("translate", (451, 300), True),           # a photo: the 32-px model saw it shrunk 14×
    ("translate", (96, 64), True),             # exactly three times the model's side
    ("translate", (95, 95), False),            # less than three times: the full-size result shows the change
    ("sketch_to_image", (256, 256), True), ("invert", (451, 300), True), ("visualize_feature", (400, 300), True),
    ("inpaint", (451, 300), False),            # edits keep the picture: its full size leads
    ("paint_features", (451, 300), False),
])
def test_model_image_leads_for_content_tasks_on_pictures_three_times_its_side(task, size, leads):
    recipe = _recipe(task, size)
    assert app_results.model_image_leads(recipe) is leads
    assert app_results.shown_first(recipe) == ("model resolution" if leads else "full size")


def test_without_separate_model_images_nothing_is_reordered():
    recipe = {"task": "translate", "layout": {"input_size": [32, 32], "model_side": 32}}
    images = TaskImages([Image.new("RGB", (32, 32))])
    assert not app_results.model_image_leads(recipe)
    assert app_results.shown_images(images, recipe) == list(images)


def test_shown_images_and_captions_follow_the_lead(tmp_path, monkeypatch):
    monkeypatch.setattr(app_results, "OUTPUT_DIR", tmp_path)
    full, own = Image.new("RGB", (451, 300), "red"), Image.new("RGB", (32, 21), "blue")
    images = TaskImages([full], [own])
    for recipe, first in ((_recipe("translate", (451, 300)), own), (_recipe("inpaint", (451, 300)), full)):
        shown = app_results.shown_images(images, recipe)
        assert shown[0] is first and len(shown) == 2
        captions = [caption for _, caption in app_results.result_files(shown, recipe)]
        model_caption = "the model's own image, 32x21, enlarged"
        assert captions == ([model_caption, "full size 451x300"] if first is own else
                            ["full size 451x300", model_caption])


def test_a_real_translation_of_a_photo_leads_with_the_model_image(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(app_results, "OUTPUT_DIR", tmp_path)
    photo = Image.new("RGB", (200, 120), (120, 90, 60))
    images, recipe = rs.translate(tiny_model, photo, "dog", steps=1)
    shown = app_results.shown_images(images, recipe)
    assert app_results.model_image_leads(recipe)
    assert shown[0].size == images.model_resolution[0].size and max(shown[0].size) == 32
    assert shown[1].size == (200, 120)
    _, caption = app_results.result_files(shown, recipe)[0]
    assert caption.startswith("the model's own image")
