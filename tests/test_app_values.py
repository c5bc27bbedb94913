"""What the app's inputs send, converted for the library: empty optional numbers, editor layers, the input pair."""
import gradio as gr
import numpy as np
import pytest
from PIL import Image

from robust_synth import input_values as iv
from robust_synth.app import values as v

EMPTY = [None, "", "   "]  # never touched / cleared / spaces: all mean "not given"


@pytest.mark.parametrize("empty", EMPTY)
def test_empty_settings_mean_the_task_defaults_and_seed_zero(empty):
    # catches the 6.31 gr.Number behaviour this replaced: an empty field arriving as 0 (steps=0 is refused)
    assert v.run_settings(empty, empty, empty, empty) == {"seed": 0, "steps": None, "eps": None, "step_size": None}


@pytest.mark.parametrize("field, typed, expected", [
    ("seed", "7", 7), ("seed", 7.0, 7), ("seed", " 12 ", 12),
    ("steps", "20", 20), ("steps", 20, 20), ("steps", "20.0", 20),
    ("eps", "0.5", 0.5), ("eps", 3, 3.0), ("step_size", "1e-2", 0.01),
])
def test_typed_settings_become_numbers(field, typed, expected):
    given = {"seed": None, "steps": None, "eps": None, "step_size": None, field: typed}
    value = v.run_settings(**given)[field]
    assert value == expected and type(value) is type(expected)


def test_a_fractional_whole_number_is_left_for_the_library_to_refuse():
    # the library's message names the range ("steps must be an integer between 1 and ..."): keep 2.5 for it
    assert v.run_settings(None, "2.5", None, None)["steps"] == 2.5


@pytest.mark.parametrize("field", ["seed", "steps", "eps", "step_size"])
@pytest.mark.parametrize("typed", ["abc", "1,5", True, [3]])
def test_a_non_number_names_its_field(field, typed):
    given = {"seed": None, "steps": None, "eps": None, "step_size": None, field: typed}
    with pytest.raises(ValueError, match=rf"^{field} must be a number or left empty"):
        v.run_settings(**given)


@pytest.mark.parametrize("empty", EMPTY)
def test_style_transfer_size_empty_means_default(empty):
    assert iv.optional_number(empty, "size", whole=True) is None
    assert iv.optional_number("384", "size", whole=True) == 384


@pytest.mark.parametrize("empty", EMPTY)
def test_feature_is_required_and_says_how_to_get_one(empty):
    with pytest.raises(ValueError, match="feature is required.*Suggest"):
        iv.required_feature(empty)
    assert iv.required_feature("3") == 3 and iv.required_feature(3.0) == 3


def test_target_and_uploaded_file():
    assert iv.target("") is None and iv.target("  ") is None and iv.target("cat") == "cat" and iv.target(3) == 3
    assert iv.uploaded_file({"path": "/tmp/x.png", "meta": {}}) == "/tmp/x.png" and iv.uploaded_file(None) is None
    with pytest.raises(ValueError, match="expected an uploaded image file, got list"):
        iv.uploaded_file([1, 2])


# ----- editor values -------------------------------------------------------------------------------------------

def editor_value(strokes: list[tuple[int, int, int, int]] | None, size=(40, 30)):
    """A gr.ImageEditor value as the app receives it (type="pil"): background, one RGBA layer, composite."""
    background = Image.new("RGB", size, (90, 120, 150))
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    for box in strokes or []:
        layer.paste((255, 255, 255, 255), box)
    return {"background": background, "layers": [layer] if strokes is not None else [], "composite": background}


def test_painted_strokes_become_a_white_mask_of_the_image_size():
    mask = v.mask_from_editor(editor_value([(5, 5, 15, 12)]))
    pixels = np.asarray(mask.convert("L"))
    assert mask.size == (40, 30)
    assert pixels[5:12, 5:15].min() == 255 and pixels[:5].max() == 0 and pixels[:, 15:].max() == 0


@pytest.mark.parametrize("value", [None, editor_value(None), editor_value([])])
def test_nothing_painted_keeps_the_uploaded_mask(value):
    # catches replacing an uploaded or restored mask with an empty one as soon as the editor is touched
    assert isinstance(v.mask_from_editor(value), type(gr.skip()))


def test_strokes_covering_everything_keep_the_current_mask():
    assert isinstance(v.mask_from_editor(editor_value([(0, 0, 40, 30)])), type(gr.skip()))


def test_editor_shows_the_image_to_paint_on():
    assert v.editor_with_background("/tmp/photo.png") == {"background": "/tmp/photo.png", "layers": [],
                                                          "composite": "/tmp/photo.png"}
    assert v.editor_with_background(None) is None


def test_sketchpad_drawing_becomes_the_sketch():
    drawing = Image.new("RGB", (20, 20), "white")
    assert v.sketch_from_pad({"background": None, "layers": [], "composite": drawing}) is drawing
    assert isinstance(v.sketch_from_pad(None), type(gr.skip()))
    assert isinstance(v.sketch_from_pad({"composite": None}), type(gr.skip()))


# ----- input beside result --------------------------------------------------------------------------------------

def test_input_beside_result_matches_the_result_size(tmp_path):
    """The slider's input is the user's image as it is beside an edit, its own pixels enlarged beside a
    super-resolution; catches a bicubic blur of the low-res input, or a crop/rescale of a same-size edit."""
    photo, result = tmp_path / "photo.png", tmp_path / "result.png"
    pixels = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo)

    Image.new("RGB", (60, 40), "red").save(result)  # an edit at the input's size
    before, after = v.input_beside_result(str(photo), str(result))
    assert before.size == after.size == (60, 40)
    np.testing.assert_array_equal(np.asarray(before), pixels)

    Image.new("RGB", (240, 160), "red").save(result)  # super-resolution by 4
    before, _ = v.input_beside_result(str(photo), str(result))
    blocks = np.asarray(before).reshape(40, 4, 60, 4, 3)
    assert (blocks == blocks[:, :1, :, :1]).all(), "each input pixel as a 4x4 block"
    np.testing.assert_array_equal(blocks[:, 0, :, 0], pixels)

    Image.new("RGB", (32, 32), "red").save(result)  # interpolation frames at the model's size
    before, after = v.input_beside_result(str(photo), str(result))
    assert before.size == after.size == (32, 32)
    assert v.input_beside_result(None, str(result)) is None
