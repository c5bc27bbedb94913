"""The app's results: PNG files with their recipe, share links, reopening and re-running, the session's history."""
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import NamedTuple

import gradio as gr

from .. import input_kinds, result_store, task_registry
from ..atomic import atomic_write_bytes
from ..image import load_image
from .errors import clear_errors

OUTPUT_DIR = Path(tempfile.gettempdir()) / "robust_synth_outputs"  # Gradio serves files from the temp dir
HISTORY_SIZE = 50  # results a session's history keeps (newest first)
# Files served to the page live this long: OUTPUT_DIR's (pruned here) and Gradio's cached copies (Blocks'
# delete_cache, page.py). Share links do not depend on them: they reopen from the results store.
SERVED_FILES_MAX_AGE_S = 2 * 3600
PRUNE_EVERY_S = 60
_pruned_at = [float("-inf")]  # monotonic time of the last prune


def base_url(request) -> str:
    """The address visitors use: the Space's host on Hugging Face, else the request's host."""
    if os.environ.get("SPACE_HOST"):
        return f"https://{os.environ['SPACE_HOST']}"
    headers = getattr(request, "headers", None) or {}

    def first(name: str) -> str:  # proxies in a chain append theirs: "visitor, proxy1, ..."
        return (headers.get(name) or "").split(",")[0].strip()

    host = first("x-forwarded-host") or first("host") or "localhost:7860"
    return f"{first('x-forwarded-proto') or 'http'}://{host}"


def _inputs(task: str, kwargs: dict) -> dict:
    """The run's input images by parameter name (the task's image, mask and sketch inputs that were given)."""
    names = [item.name for item in task_registry.get(task).inputs if input_kinds.get(item.kind).upload]
    return {name: load_image(kwargs[name], name=name) for name in names if kwargs.get(name) is not None}


def share(images, recipe: dict, kwargs: dict, request, compared: list | None = None) -> dict:
    """Save the result with its inputs (and the standard model's images of a compared run); the recipe gains
    result_id and share_url (unchanged if saving is off)."""
    inputs = _inputs(recipe["task"], kwargs)
    result_id = result_store.ResultStore().save(images, recipe, inputs=inputs, compared=compared)
    if result_id is None:
        return recipe
    return _linked(recipe, result_id, request)


def _linked(recipe: dict, result_id: str, request) -> dict:
    """The recipe with the result's id and share link."""
    return {**recipe, "result_id": result_id, "share_url": f"{base_url(request)}/?result={result_id}"}


# Tasks that change what a picture shows: where the model saw the picture shrunk to a third of its side or less, the
# full-size composite is mostly the original (the change, upsampled, is faint), so the model's own image leads.
CONTENT_TASKS = ("translate", "sketch_to_image", "invert", "visualize_feature")
LEAD_SHRINK = 3  # the model's own image leads when its side is at most 1/LEAD_SHRINK of the picture's longer side


def model_image_leads(recipe: dict) -> bool:
    """Whether the gallery shows the model's own image(s) before the full-size ones (the rule above)."""
    layout = recipe.get("layout") or {}
    if recipe.get("task") not in CONTENT_TASKS or not recipe.get("model_resolution") or "input_size" not in layout:
        return False
    return layout["model_side"] * LEAD_SHRINK <= max(layout["input_size"])


def shown_first(recipe: dict) -> str:
    """What the gallery shows first, as the recipe records it: "model resolution" or "full size"."""
    return "model resolution" if model_image_leads(recipe) else "full size"


def shown_images(images, recipe: dict) -> list:
    """The results in the gallery's order: full size, then the model-resolution ones where the task made them
    separately; the other way round where the model's own image leads (model_image_leads)."""
    if not recipe.get("model_resolution"):
        return list(images)
    if model_image_leads(recipe):
        return [*images.model_resolution, *images]
    return [*images, *images.model_resolution]


def result_files(images, recipe: dict) -> list[tuple[str, str | None]]:
    """The images as (PNG file with the recipe embedded, caption), for the gallery and for API clients.

    Where the recipe counts model-resolution images, each image is captioned with what it is, in shown_images' order.
    """
    stem = recipe.get("result_id") or uuid.uuid4().hex
    model_count = recipe.get("model_resolution", {}).get("count", 0)
    leads = model_image_leads(recipe)
    files = []
    for i, image in enumerate(images):
        caption = None
        if model_count:
            is_model = i < model_count if leads else i >= len(images) - model_count
            size = f"{image.width}x{image.height}"  # short: the gallery cuts captions at its tile's width
            caption = f"the model's own image, {size}, enlarged" if is_model else f"full size {size}"
        files.append((_served(f"{stem}_{i}", image, recipe), caption))
    return files


def _served(name: str, image, recipe: dict) -> str:
    """image as OUTPUT_DIR/<name>.png with `recipe` embedded: a file the page can show and download."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    prune_served_files()
    path = OUTPUT_DIR / f"{name}.png"
    # atomically: Gradio hashes and copies the file into its cache; two requests saving the same result (the same
    # id) would otherwise hand it a file half rewritten by the other
    atomic_write_bytes(path, result_store.png_with_recipe(image, recipe))
    return str(path)


def comparison_files(files: list, compared: list, recipe: dict) -> list[tuple[str, str]]:
    """Every result file (result_files) followed by the standard model's image of the same place, captioned: the
    pairs the comparison gallery shows, robust left, standard right."""
    stem = recipe.get("result_id") or uuid.uuid4().hex
    pairs = []
    for i, ((path, caption), image) in enumerate(zip(files, compared)):
        what = caption or f"{i + 1} of {len(files)}"
        standard = _served(f"{stem}_standard_{i}", image, recipe.get("comparison") or recipe)
        pairs += [(path, f"robust · {what}"), (standard, f"standard · {what}")]
    return pairs


def prune_served_files(max_age_s: float = SERVED_FILES_MAX_AGE_S, force: bool = False) -> int:
    """Remove OUTPUT_DIR's files older than max_age_s (at most once every PRUNE_EVERY_S unless forced), so the
    folder does not grow with every result a busy app serves; how many were removed."""
    now = time.monotonic()
    if not force and now - _pruned_at[0] < PRUNE_EVERY_S:
        return 0
    _pruned_at[0], oldest, removed = now, time.time() - max_age_s, 0
    for path in OUTPUT_DIR.glob("*.png"):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another request pruned it first
            pass
    return removed



def result_id_from(text: str) -> str:
    """A result id from an id or a share link (?result=<id>)."""
    text = (text or "").strip()
    return text.split("result=", 1)[1].split("&", 1)[0] if "result=" in text else text


class Saved(NamedTuple):
    """A saved result: its images, recipe (with its share link), input images by name and, for a compared run,
    the standard model's images (else [])."""
    images: list
    recipe: dict
    inputs: dict
    compared: list


def load_result(result: str, request=None) -> Saved:
    """A saved result by its id or share link, its recipe carrying the share link again."""
    with clear_errors():
        result_id = result_id_from(result)
        store = result_store.ResultStore()
        images, recipe, inputs = store.load(result_id)
        compared = store.load_compared(result_id)
    return Saved(images, _linked(recipe, result_id, request), inputs, compared)


def saved_inputs(recipe: dict) -> dict:
    """The input pictures of a just saved result by name, as the task got them; {} if it was not saved."""
    if not (recipe and recipe.get("result_id")):
        return {}
    return result_store.ResultStore().load_inputs(recipe["result_id"])  # {} if removed to make room meanwhile


def open_result(result: str, request: gr.Request = None):
    """Reopen a saved result by its id or share link: its images and recipe."""
    saved = load_result(result, request)
    return result_files(saved.images, saved.recipe), saved.recipe


def recipe_from_upload(file, text: str) -> dict:
    """A recipe from a result PNG (its embedded text chunk) or from pasted JSON."""
    with clear_errors():
        if file:
            return result_store.recipe_from_png(file)
        if not (text or "").strip():
            raise ValueError("give a result PNG or paste a recipe JSON")
        try:
            recipe = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"the recipe is not valid JSON: {e.msg} at line {e.lineno}") from None
        if not isinstance(recipe, dict) or "task" not in recipe:
            raise ValueError("the recipe must be a JSON object with a 'task' field")
        return recipe


def recipe_settings(recipe: dict) -> dict:
    """The parameter values a recipe records, flattened: its params plus model and seed."""
    settings = {**recipe.get("params", {})}
    for key in ("model", "seed"):
        if key in recipe:
            settings.setdefault(key, recipe[key])
    if isinstance(settings.get("target"), list) and len(settings["target"]) == 1:
        settings["target"] = settings["target"][0]  # the tasks record targets as a list of class names
    return settings


# ----- the session's history ------------------------------------------------------------------------------------

def _joined(history: list, recipe: dict, gallery, note: str = "") -> list:
    """history with the run of `recipe` (its first image from `gallery`) first, if it has a share link."""
    files = [item[0] if isinstance(item, (list, tuple)) else item for item in gallery or []]
    if not (recipe and recipe.get("share_url") and files):
        return history
    entry = {"image": files[0], "task": recipe.get("task"), "model": recipe.get("model"),
             "share_url": recipe["share_url"], "cancelled": bool(recipe.get("cancelled")), "note": note}
    return [entry, *[e for e in history if e["share_url"] != entry["share_url"]]][:HISTORY_SIZE]


def add_to_history(history: list, recipe: dict, gallery) -> tuple[list, list, str]:
    """A finished run joins this session's history: (history, thumbnails with captions, share links)."""
    history = _joined(history, recipe, gallery)
    return history, history_gallery(history), history_links(history)


def add_ladder_to_history(history: list, levels: list, strip) -> tuple[list, list, str]:
    """A finished Compare across robustness joins the history, one entry per level that ran (the strip holds their
    images in the same order), the most robust first."""
    ran = [level for level in levels or [] if "recipe" in level]
    for level, item in zip(ran, strip or []):
        history = _joined(history, level["recipe"], [item], f"robustness ladder, ε={level['eps_label']}")
    return history, history_gallery(history), history_links(history)


def _title(entry: dict) -> str:
    note = f" ({entry['note']})" if entry.get("note") else ""
    return f"{entry['task']} · {entry['model']}{note}{' (stopped)' if entry['cancelled'] else ''}"


def history_gallery(history: list) -> list[tuple[str, str]]:
    return [(e["image"], _title(e)) for e in history]


def history_links(history: list) -> str:
    if not history:
        return "No results in this session yet."
    return "\n".join(f"{i}. {_title(e)}: [{e['share_url']}]({e['share_url']})" for i, e in enumerate(history, 1))
