"""Glue between the Gradio app and the library: model pickers, streamed runs with stop, results and share links."""
import inspect
import json
import logging
import os
import queue
import tempfile
import threading
import time
import uuid
from pathlib import Path

import gradio as gr
import spaces

import robust_synth
from robust_synth import limits, models, results
from robust_synth.image import load_image, load_mask, to_pil
from robust_synth import tasks
from robust_synth.tasks.style_transfer import DEFAULT_STEPS as STYLE_STEPS

PREFERRED_MODELS = ("imagenet-resnet50-l2-3", "cifar10-resnet-l2-0.5")  # best first; the embedded one works offline
EMBEDDED_PAIR = ("cifar10-resnet-l2-0.5", "cifar10-resnet-standard")
EXAMPLE_CLASS = {"cifar10": "horse", "imagenet": "goldfinch"}
IMAGE_PARAMS = ("image", "mask", "image_a", "image_b", "reference", "content_image", "style_image")
PREVIEWS_PER_RUN = 12        # streamed previews per run: enough to watch, few enough not to slow it down
MAX_PREVIEW_IMAGES = 8
PIXEL_STEPS_PER_SECOND = 5e6  # ZeroGPU estimate: about 100 ResNet-50 steps per second on one 224-px image
STARTUP_SECONDS = 20          # loading a ResNet-50 checkpoint onto the GPU on a worker's first call
OUTPUT_DIR = Path(tempfile.gettempdir()) / "robust_synth_outputs"  # Gradio serves files from the temp dir

log = logging.getLogger(__name__)
_stop_events: dict[str, threading.Event] = {}


# ----- models and pickers -----------------------------------------------------------------------------------

def default_model() -> str:
    """The best model usable now: the hub robust ResNet-50 when cached, else the embedded CIFAR-10 one."""
    for name in PREFERRED_MODELS:
        if models.is_available(models.get_spec(name)):
            return name
    return PREFERRED_MODELS[-1]


def model_label(spec) -> str:
    kind = f"robust {spec.robustness['norm']} ε={spec.robustness['eps']:g}" if spec.robust else "standard"
    note = "" if models.is_available(spec) else ", not downloaded"
    return f"{spec.name} ({kind}, {spec.dataset}{note})"


def model_choices() -> list[tuple[str, str]]:
    return [(model_label(spec), spec.name) for spec in models.REGISTRY.values()]


def list_models() -> list[dict]:
    """Every registered model with its dataset, classes, robustness and availability."""
    return [{**models.describe(spec), "classes": models.class_names(spec)} for spec in models.REGISTRY.values()]


def class_choices(model: str) -> list[str]:
    return models.class_names(models.get_spec(model))


def example_class(model: str) -> str:
    return EXAMPLE_CLASS[models.get_spec(model).dataset]


def preload() -> None:
    """Load the embedded robust/standard pair once, on CPU, so the first request does not wait for it."""
    for name in EMBEDDED_PAIR:
        try:
            models.load_model(name)
        except (OSError, ValueError, RuntimeError) as e:
            log.warning("could not preload %s: %s", name, e)


def model_changed(model: str, with_default_class: bool = True):
    """New class choices for a model; warns when its weights still have to be downloaded."""
    spec = models.get_spec(model)
    if not models.is_available(spec):
        gr.Warning(f"{model} is not downloaded yet: the first run fetches it from the Hugging Face Hub, "
                   f"which fails without a network. The embedded cifar10 models always work.")
    return gr.Dropdown(choices=class_choices(model), value=example_class(model) if with_default_class else None)


def suggest_features(model: str, target: str):
    """Dropdown choices for the feature picker: the features most associated with a class."""
    with _clear_errors():
        top = robust_synth.top_features(model, _target(target), k=10)
    choices = [(f"{f['index']} (score {f['score']:.3g})", f["index"]) for f in top]
    return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)


# ----- editor values ------------------------------------------------------------------------------------------

def mask_from_editor(value):
    """The painted strokes of a gr.ImageEditor value as a black/white mask image (white = painted), or None."""
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


# ----- running a task -------------------------------------------------------------------------------------------

def _file(payload):
    """An uploaded file's path: the events skip Gradio's preprocessing so the library reports bad images itself."""
    if payload is None or isinstance(payload, str):
        return payload
    if not isinstance(payload, dict) or not payload.get("path"):
        raise gr.Error(f"expected an uploaded image file, got {type(payload).__name__}")
    return payload["path"]


def _whole(value):
    """A whole number from the UI or a client as an int (2.0 -> 2); anything else is left for the library to judge."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _target(target):
    """The class picker's value (a name or an index; the library resolves it); None when left empty."""
    return None if target is None or (isinstance(target, str) and not target.strip()) else target


class _clear_errors:
    """Turn library errors into gr.Error with the library's one-sentence message (logged with the traceback)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None or isinstance(error, (gr.Error, GeneratorExit)):
            return False
        log.warning("request failed", exc_info=(kind, error, tb))
        if isinstance(error, Exception):
            raise gr.Error(str(error) or kind.__name__) from error
        return False


def _session(request) -> str:
    return getattr(request, "session_hash", None) or "api"


def stop(request: gr.Request):
    """Stop button: ask this session's running task to stop after its current step."""
    event = _stop_events.get(_session(request))
    if event is not None:
        event.set()


def _previews(x) -> list:
    return [to_pil(image) for image in x.detach()[:MAX_PREVIEW_IMAGES]]


def _stream(fn, kwargs: dict, stop_event: threading.Event, progress, label: str):
    """Run fn(**kwargs) in a worker thread; yield previews as it goes and return its (images, recipe)."""
    updates, deadline = queue.SimpleQueue(), time.monotonic() + limits.current().max_seconds
    stopped_by = []

    def callback(step, total, x):
        if stop_event.is_set() or time.monotonic() > deadline:
            stopped_by.append("stop button" if stop_event.is_set() else "time limit")
            raise robust_synth.Cancelled()
        every = max(1, total // PREVIEWS_PER_RUN)
        updates.put(("step", step, total, _previews(x) if step % every == 0 else None))

    def work():
        try:
            updates.put(("done", fn(**kwargs, callback=callback)))
        except BaseException as error:  # handed to the request thread, which reports it
            updates.put(("error", error))

    threading.Thread(target=work, daemon=True).start()
    while True:
        kind, *payload = updates.get()
        if kind == "error":
            raise payload[0]
        if kind == "done":
            images, recipe = payload[0]
            return images, ({**recipe, "stopped_by": stopped_by[0]} if stopped_by else recipe)
        step, total, preview = payload
        progress((step, total), desc=f"{label}: step {step}/{total}", unit="steps")
        if preview:
            yield preview, gr.skip(), gr.skip()


def _counterpart(model: str) -> str | None:
    counterpart = models.STANDARD_COUNTERPART.get(model)
    if counterpart is None:
        gr.Warning(f"{model} has no standard counterpart to compare with; showing its result only.")
    return counterpart


def _run(fn, kwargs: dict, compare: bool, request, progress):
    """The body of every task handler: stream, optionally compare with the standard model, save, share."""
    session = _session(request)
    stop_event = _stop_events[session] = threading.Event()
    try:
        with _clear_errors():
            images, recipe = yield from _stream(fn, kwargs, stop_event, progress, kwargs["model"])
            pair = None
            counterpart = _counterpart(kwargs["model"]) if compare else None
            if counterpart and not recipe.get("cancelled"):
                standard, standard_recipe = yield from _stream(
                    fn, {**kwargs, "model": counterpart}, stop_event, progress, counterpart)
                recipe = {**recipe, "comparison": standard_recipe}
                pair = (images[0], standard[0])
            images = shown_images(images, recipe)
            recipe = _share(images, recipe, kwargs, request)
        yield result_files(images, recipe), pair, recipe
    finally:
        stop_event.set()  # a closed generator (Stop, disconnect) stops its worker too
        if _stop_events.get(session) is stop_event:
            del _stop_events[session]


# ----- results and share links -------------------------------------------------------------------------------------

def base_url(request) -> str:
    """The address visitors use: the Space's host on Hugging Face, else the request's host."""
    if os.environ.get("SPACE_HOST"):
        return f"https://{os.environ['SPACE_HOST']}"
    headers = getattr(request, "headers", None) or {}
    host = headers.get("x-forwarded-host") or headers.get("host") or "localhost:7860"
    return f"{headers.get('x-forwarded-proto', 'http')}://{host}"


def _inputs(kwargs: dict) -> dict:
    return {name: load_image(kwargs[name], name=name) for name in IMAGE_PARAMS if kwargs.get(name) is not None}


def _share(images, recipe: dict, kwargs: dict, request) -> dict:
    result_id = results.ResultStore().save(images, recipe, inputs=_inputs(kwargs))
    if result_id is None:
        return recipe
    return {**recipe, "result_id": result_id, "share_url": f"{base_url(request)}/?result={result_id}"}


def shown_images(images, recipe: dict) -> list:
    """The full-size results first, then the model-resolution ones where the task made them separately."""
    return [*images, *images.model_resolution] if recipe.get("model_resolution") else list(images)


def result_files(images, recipe: dict) -> list[tuple[str, str | None]]:
    """The images as (PNG file with the recipe embedded, caption), for the gallery and for API clients.

    Where the recipe counts model-resolution images (the last ones), each image is captioned with what it is.
    """
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    stem = recipe.get("result_id") or uuid.uuid4().hex
    full_count = len(images) - recipe.get("model_resolution", {}).get("count", 0)
    files = []
    for i, image in enumerate(images):
        path = OUTPUT_DIR / f"{stem}_{i}.png"
        path.write_bytes(results.png_with_recipe(image, recipe))
        caption = None if full_count == len(images) else \
            f"{'full size' if i < full_count else 'model resolution'} {image.width}x{image.height}"
        files.append((str(path), caption))
    return files


def result_id_from(text: str) -> str:
    """A result id from an id or a share link (?result=<id>)."""
    text = (text or "").strip()
    return text.split("result=", 1)[1].split("&", 1)[0] if "result=" in text else text


def load_result(result: str, request=None):
    """(images, recipe, inputs) of a saved result, its recipe carrying the share link again."""
    with _clear_errors():
        result_id = result_id_from(result)
        images, recipe, inputs = results.ResultStore().load(result_id)
    return images, {**recipe, "result_id": result_id, "share_url": f"{base_url(request)}/?result={result_id}"}, inputs


def open_result(result: str, request: gr.Request = None):
    """Reopen a saved result by its id or share link: its images and recipe."""
    images, recipe, _ = load_result(result, request)
    return result_files(images, recipe), recipe


def recipe_from_upload(file, text: str) -> dict:
    """A recipe from a result PNG (its embedded text chunk) or from pasted JSON."""
    with _clear_errors():
        if file:
            return results.recipe_from_png(file)
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


# ----- ZeroGPU --------------------------------------------------------------------------------------------------

def estimate_seconds(task: str, values: dict) -> int:
    """GPU seconds to ask ZeroGPU for: steps x pixels x images (x2 with the comparison), within the time limit."""
    spec = models.REGISTRY.get(values.get("model") or "", None)
    input_side = spec.input_size if spec else 224
    side = int(values.get("size") or input_side)
    images = tasks.model_images(task, values, input_side)
    steps = values.get("steps") or (STYLE_STEPS["lbfgs"] if task == "style_transfer" else
                                     tasks.default_steps(task, input_side))
    work = steps * side * side * images * (2 if values.get("compare") else 1)
    return int(min(limits.current().max_seconds, STARTUP_SECONDS + work / PIXEL_STEPS_PER_SECOND))


def gpu_handler(handler):
    """@spaces.GPU with a duration computed from the request's arguments (a no-op off ZeroGPU)."""
    signature = inspect.signature(handler)

    def duration(*args, **kwargs):
        values = signature.bind_partial(*args, **kwargs).arguments
        return estimate_seconds(handler.__name__, values)

    return spaces.GPU(duration=duration)(handler)


# ----- one handler per endpoint: parameter names are the API's ----------------------------------------------------

def _settings(seed, steps, eps, step_size) -> dict:
    return {"seed": 0 if seed is None or seed == "" else _whole(seed), "steps": _whole(steps), "eps": eps,
            "step_size": step_size}


def _feature(feature):
    if feature is None or feature == "":
        raise gr.Error("feature is required: give a representation feature index (the picker suggests some)")
    return _whole(feature)


@gpu_handler
def generate(model, target, n=4, seed=0, steps=None, eps=None, step_size=None, compare=False,
             request: gr.Request = None, progress=gr.Progress()):
    """Class-conditional generation: n images of class `target` (name or index)."""
    kwargs = dict(model=model, target=_target(target), n=_whole(n), **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.generate, kwargs, compare, request, progress)


@gpu_handler
def inpaint(model, image, mask, target=None, start_fill="smooth", seed=0, steps=None, eps=None, step_size=None,
            compare=False, request: gr.Request = None, progress=gr.Progress()):
    """Inpainting: fill the white region of `mask` (default class: the predicted one)."""
    kwargs = dict(model=model, image=_file(image), mask=_file(mask), target=_target(target), start_fill=start_fill,
                  **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.inpaint, kwargs, compare, request, progress)


@gpu_handler
def super_resolve(model, image, factor=4, method="bicubic", consistent=True, seed=0, steps=None, eps=None,
                  step_size=None, compare=False, request: gr.Request = None, progress=gr.Progress()):
    """Super-resolution by `factor`: upsample, then PGD toward the predicted class (kept consistent with the input)."""
    kwargs = dict(model=model, image=_file(image), factor=_whole(factor), method=method, consistent=consistent,
                  **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.super_resolve, kwargs, compare, request, progress)


@gpu_handler
def translate(model, image, target, seed=0, steps=None, eps=None, step_size=None, compare=False,
              request: gr.Request = None, progress=gr.Progress()):
    """Image-to-image translation of `image` toward class `target`."""
    kwargs = dict(model=model, image=_file(image), target=_target(target), **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.translate, kwargs, compare, request, progress)


@gpu_handler
def sketch_to_image(model, image, target, seed=0, steps=None, eps=None, step_size=None, compare=False,
                    request: gr.Request = None, progress=gr.Progress()):
    """Sketch-to-image: turn a drawing into class `target`."""
    kwargs = dict(model=model, image=_file(image), target=_target(target), **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.sketch_to_image, kwargs, compare, request, progress)


@gpu_handler
def paint_features(model, image, mask, feature, seed=0, steps=None, eps=None, step_size=None, compare=False,
                   request: gr.Request = None, progress=gr.Progress()):
    """Feature painting: raise representation feature `feature` inside the white region of `mask`."""
    kwargs = dict(model=model, image=_file(image), mask=_file(mask), feature=_feature(feature),
                  **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.paint_features, kwargs, compare, request, progress)


@gpu_handler
def invert(model, image, seed=0, steps=None, eps=None, step_size=None, compare=False,
           request: gr.Request = None, progress=gr.Progress()):
    """Representation inversion: an image from noise whose representation matches `image`'s."""
    kwargs = dict(model=model, image=_file(image), **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.invert, kwargs, compare, request, progress)


@gpu_handler
def interpolate(model, image_a, image_b, frames=8, seed=0, steps=None, eps=None, step_size=None, compare=False,
                request: gr.Request = None, progress=gr.Progress()):
    """Interpolation: `frames` images between image_a and image_b through the representation."""
    kwargs = dict(model=model, image_a=_file(image_a), image_b=_file(image_b), frames=_whole(frames),
                  **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.interpolate, kwargs, compare, request, progress)


@gpu_handler
def visualize_feature(model, feature, image=None, seed=0, steps=None, eps=None, step_size=None, compare=False,
                      request: gr.Request = None, progress=gr.Progress()):
    """Feature visualisation: maximise representation feature `feature`, from noise or from `image`."""
    kwargs = dict(model=model, feature=_feature(feature), image=_file(image), **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.visualize_feature, kwargs, compare, request, progress)


@gpu_handler
def style_transfer(content_image, style_image, model=EMBEDDED_PAIR[0], size=None, preserve_colors=False,
                   seed=0, steps=None, eps=None, step_size=None, compare=False,
                   request: gr.Request = None, progress=gr.Progress()):
    """Style transfer (Gatys) with `model` as the style network."""
    kwargs = dict(content_image=_file(content_image), style_image=_file(style_image), model=model,
                  size=_whole(size) or None, preserve_colors=bool(preserve_colors),
                  **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.style_transfer, kwargs, compare, request, progress)
