"""What the app's inputs send, as the library's arguments: settings, editor layers, prepared pictures."""
import gradio as gr
from PIL import Image, ImageOps

from .. import input_kinds, limits
from ..image import (BACKGROUND_NAME, fit_within, has_transparency, load_image, load_mask, load_picture,
                     open_image, to_pil)
from ..input_values import optional_number


def run_settings(seed, steps, eps, step_size) -> dict:
    """The Settings accordion's fields as library arguments: empty seed -> 0, other empty fields -> the default."""
    seed = optional_number(seed, "seed", whole=True)
    return {"seed": 0 if seed is None else seed, "steps": optional_number(steps, "steps", whole=True),
            "eps": optional_number(eps, "eps"), "step_size": optional_number(step_size, "step_size")}


def library_value(kind: str, name: str, value):
    """One endpoint argument as the library's argument, by its input kind's app_value (input_kinds.py)."""
    return input_kinds.get(kind).app_value(name, value)


def prepared_picture(value, name: str) -> tuple[Image.Image, dict]:
    """An uploaded picture as the library gets it, and what the app did to it ({} if nothing).

    Refused under the smallest size a task works on (image.MIN_SIDE); transparent pixels composited on
    BACKGROUND_NAME (white); over the app's working size (the limits' max_side, the largest side it outputs) scaled
    down to it first, so that a camera photo is not processed at full size.
    """
    original = open_image(value, name=name)
    img = load_picture(original, name=name)
    done = {"received": list(img.size)}
    if has_transparency(original):
        done["transparent_pixels"] = f"composited on {BACKGROUND_NAME}"
    side = limits.current().max_side
    if max(img.size) > side:
        img = fit_within(img, side)
        done.update(scaled_to=list(img.size), working_size=side)
    return img, (done if len(done) > 1 else {})


def prepared_pictures(kinds: dict, kwargs: dict) -> tuple[dict, dict]:
    """kwargs with each given picture (kinds: name -> input kind) prepared; what was done, by input name."""
    kwargs, done = dict(kwargs), {}
    for name, kind in kinds.items():
        if input_kinds.get(kind).picture and kwargs.get(name) is not None:  # masks follow their image's size
            kwargs[name], done[name] = prepared_picture(kwargs[name], name)
    return kwargs, {name: record for name, record in done.items() if record}


def preparation_notes(done: dict) -> list[str]:
    """What the app did to the pictures, one sentence each, for the page."""
    notes = []
    for name, record in (done or {}).items():
        width, height = record["received"]
        if "transparent_pixels" in record:
            notes.append(f"The {name}'s transparent pixels were {record['transparent_pixels']}.")
        if "scaled_to" in record:
            notes.append(f"The {name} ({width}x{height}) was scaled down to {'x'.join(map(str, record['scaled_to']))}"
                         f" first, the app's working size ({record['working_size']} px on the longer side).")
    return notes


# ----- editor values --------------------------------------------------------------------------------------------

def mask_from_editor(value):
    """The painted strokes of a gr.ImageEditor value as a black/white mask image (white = painted), or gr.skip()."""
    if not value or not any(layer is not None for layer in value.get("layers") or []):
        return gr.skip()  # nothing painted: keep a mask that was uploaded or restored
    size = (value.get("background") or next(layer for layer in value["layers"] if layer is not None)).size
    try:
        return to_pil(load_mask(value, size))
    except ValueError:
        return gr.skip()  # strokes erased or covering everything: keep the current mask


def editor_with_background(image):
    """A gr.ImageEditor value showing `image` (a file path) to paint a mask on."""
    return None if image is None else {"background": image, "layers": [], "composite": image}


def sketch_from_pad(value):
    """The drawing of a gr.Sketchpad value (its composite); an empty pad leaves the sketch as it is."""
    return gr.skip() if not value or value.get("composite") is None else value["composite"]


# ----- input beside output --------------------------------------------------------------------------------------

def input_beside_result(image, result):
    """(input, result: a file or image) at the result's size for the before/after slider.

    Edits come back at the input's size (shown as they are); super-resolution's result is a whole multiple of
    its input, which is then enlarged with nearest-neighbour so its pixels show; a result of another shape
    (interpolation frames at the model's size) gets the input cropped to its aspect.
    """
    if image is None or result is None:
        return None
    out, before = load_image(result, name="result"), load_image(image)
    (width, height), (out_width, out_height) = before.size, out.size
    if before.size == out.size:
        return before, out
    if out_width % width == 0 and out_width // width == out_height / height:
        return before.resize(out.size, Image.Resampling.NEAREST), out
    return ImageOps.fit(before, out.size, Image.Resampling.BICUBIC), out
