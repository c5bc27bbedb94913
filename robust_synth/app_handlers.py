"""Glue between the Gradio app and the library: model pickers, streamed runs with stop, the task endpoints."""
import inspect
import logging
import queue
import threading
import time

import gradio as gr
import spaces

import robust_synth
from robust_synth import app_results, checkpoints, limits, models
from robust_synth.app_errors import clear_errors
from robust_synth import app_values as v
from robust_synth import tasks
from robust_synth.image import to_pil
from robust_synth.tasks.style_transfer import DEFAULT_STEPS as STYLE_STEPS

PREFERRED_MODELS = ("imagenet-resnet50-l2-3", "cifar10-resnet-l2-0.5")  # best first; the embedded one works offline
EMBEDDED_PAIR = ("cifar10-resnet-l2-0.5", "cifar10-resnet-standard")
EXAMPLE_CLASS = {"cifar10": "horse", "imagenet": "goldfinch"}
PREVIEWS_PER_RUN = 12        # streamed previews per run: enough to watch, few enough not to slow it down
PROGRESS_UPDATES_PER_RUN = 100  # progress-bar messages per run: one per step floods the browser on long runs
MAX_PREVIEW_IMAGES = 8
PIXEL_STEPS_PER_SECOND = 5e6  # ZeroGPU estimate: about 100 ResNet-50 steps per second on one 224-px image
STARTUP_SECONDS = 20          # loading a ResNet-50 checkpoint onto the GPU on a worker's first call

log = logging.getLogger(__name__)
_stop_events: dict[tuple[str, str], threading.Event] = {}  # (session, task) -> the running task's stop flag


# ----- models and pickers -----------------------------------------------------------------------------------

def default_model() -> str:
    """The best model usable now: the hub robust ResNet-50 when cached, else the embedded CIFAR-10 one."""
    for name in PREFERRED_MODELS:
        if models.is_available(models.get_spec(name)):
            return name
    return PREFERRED_MODELS[-1]


NORMS = {"l2": "L2", "linf": "L∞"}
AVAILABILITY_ORDER = ("embedded", "cached", "downloadable", "unavailable offline", "missing")  # usable first
SOURCES = {"embedded": "embedded", "hub": "Hugging Face Hub", "torchvision": "torchvision"}


def robustness(spec) -> str:
    return f"robust {NORMS[spec.robustness['norm']]} ε={spec.eps_label}" if spec.robust else "standard"


def _usable_first(spec) -> int:
    return AVAILABILITY_ORDER.index(models.availability(spec))


def model_label(spec) -> str:
    return f"{spec.name} ({robustness(spec)}, {spec.dataset}, {models.availability(spec)})"


def model_choices() -> list[tuple[str, str]]:
    """(label, name) of every model for the pickers, those a run can use first."""
    return [(model_label(spec), spec.name) for spec in sorted(models.REGISTRY.values(), key=_usable_first)]


def list_models() -> list[dict]:
    """Every registered model with its dataset, classes, robustness and availability."""
    return [{**models.describe(spec), "classes": models.class_names(spec)} for spec in models.REGISTRY.values()]


MODEL_COLUMNS = ["name", "dataset", "classes", "robustness", "input size", "availability", "clean top-1", "source",
                 "licence"]


def models_table() -> list[list]:
    """One row per model for the Models tab (columns MODEL_COLUMNS), those a run can use first."""
    def row(spec):
        accuracy = models.clean_accuracy(spec)[0]
        return [spec.name, spec.dataset, spec.num_classes, robustness(spec), f"{spec.input_size} px",
                models.availability(spec), "" if accuracy is None else f"{accuracy:.1%}", SOURCES[spec.source],
                spec.license]
    return [row(spec) for spec in sorted(models.REGISTRY.values(), key=_usable_first)]


def availability_note() -> str:
    """A line for the Models tab when some models cannot run here (offline and not cached), else nothing."""
    unusable = [spec.name for spec in models.REGISTRY.values() if not models.is_usable(spec)]
    if not unusable:
        return ""
    return (f"**Offline:** {len(unusable)} models are neither embedded nor cached and their download hosts do not "
            "answer, so they cannot run here (marked *unavailable offline* in every model picker). "
            f"The app asks again every {checkpoints.REACHABILITY_TTL_S / 60:g} minutes.")


def class_table(model: str) -> list[list]:
    """(index, class name) rows of a model's classes."""
    return [[i, name] for i, name in enumerate(class_choices(model))]


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


def unusable_reason(model: str) -> str | None:
    """Why a run with `model` cannot start now (offline and not cached), or None."""
    spec = models.get_spec(model)
    if models.is_usable(spec):
        return None
    return (f"model {model} is unavailable: its weights are not cached here and their host cannot be reached "
            "(offline?); pick an embedded cifar10 model or one marked cached")


def model_changed(model: str, with_default_class: bool = True):
    """New class choices for a model; says when its weights cannot be had or still have to be downloaded."""
    spec = models.get_spec(model)
    reason = unusable_reason(model)
    if reason:
        gr.Warning(reason)
    elif models.availability(spec) == "downloadable":
        gr.Info(f"{model} is downloaded on its first run, which then takes longer")
    return gr.Dropdown(choices=class_choices(model), value=example_class(model) if with_default_class else None)


def run_button(model: str):
    """The Run button, enabled only for a model a run can use."""
    return gr.Button(interactive=unusable_reason(model) is None)


def suggest_features(model: str, target: str):
    """Dropdown choices for the feature picker: the features most associated with a class."""
    with clear_errors():
        top = robust_synth.top_features(model, v.target(target), k=10)
    choices = [(f"{f['index']} (score {f['score']:.3g})", f["index"]) for f in top]
    return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)


# ----- running a task -------------------------------------------------------------------------------------------

def _session(request) -> str:
    return getattr(request, "session_hash", None) or "api"


def arm_stop(task: str, request: gr.Request):
    """Run pressed: a fresh stop flag for this session's `task`, and the Stop button enabled."""
    _stop_events[(_session(request), task)] = threading.Event()
    return gr.Button(interactive=True)


def disarm_stop(task: str, request: gr.Request):
    """The run ended (done, failed or stopped): Stop disabled again."""
    _stop_events.pop((_session(request), task), None)
    return gr.Button(interactive=False)


def stop(task: str, request: gr.Request):
    """Stop button: the run of `task` in this session stops after its current step and returns its best so far."""
    event = _stop_events.get((_session(request), task))
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
        preview = step % max(1, total // PREVIEWS_PER_RUN) == 0
        if preview or step % max(1, total // PROGRESS_UPDATES_PER_RUN) == 0 or step == total:
            updates.put(("step", step, total, _previews(x) if preview else None))

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
    elif reason := unusable_reason(counterpart):
        gr.Warning(f"{reason}; showing the robust result only.")
        return None
    return counterpart


def _run(fn, kwargs: dict, compare: bool, request, progress):
    """The body of every task handler: stream, optionally compare with the standard model, save, share.

    Stop (or the time limit) ends the PGD loop early; the task still returns its best iterate so far, which is
    saved and shown like any result, its recipe saying cancelled: true.
    """
    key = (_session(request), fn.__name__)
    stop_event = _stop_events.setdefault(key, threading.Event())
    try:
        with clear_errors():
            reason = unusable_reason(kwargs["model"])
            if reason:
                raise ValueError(reason)
            images, recipe = yield from _stream(fn, kwargs, stop_event, progress, kwargs["model"])
            pair = None
            counterpart = _counterpart(kwargs["model"]) if compare else None
            if counterpart and not recipe.get("cancelled"):
                standard, standard_recipe = yield from _stream(
                    fn, {**kwargs, "model": counterpart}, stop_event, progress, counterpart)
                recipe = {**recipe, "comparison": standard_recipe}
                pair = (images[0], standard[0])
            images = app_results.shown_images(images, recipe)
            recipe = app_results.share(images, recipe, kwargs, request)
        yield app_results.result_files(images, recipe), pair, recipe
    finally:
        stop_event.set()  # a closed generator (disconnect) stops its worker too
        if _stop_events.get(key) is stop_event:
            del _stop_events[key]


# ----- ZeroGPU --------------------------------------------------------------------------------------------------

def estimate_seconds(task: str, values: dict) -> int:
    """GPU seconds to ask ZeroGPU for: steps x pixels x images (x2 with the comparison), within the time limit.

    `values` are the handler's arguments as the UI or a client sent them (numbers may be text; empty = default).
    """
    spec = models.REGISTRY.get(values.get("model") or "", None)
    input_side = spec.input_size if spec else 224
    side = _known_number(values.get("size"), "size") or input_side
    counts = {name: _known_number(values.get(name), name) for name in ("n", "frames", "factor")}
    images = tasks.model_images(task, {**values, **counts}, input_side)
    steps = _known_number(values.get("steps"), "steps") or (
        STYLE_STEPS["lbfgs"] if task == "style_transfer" else tasks.default_steps(task, input_side))
    work = steps * side * side * images * (2 if values.get("compare") else 1)
    return int(min(limits.current().max_seconds, STARTUP_SECONDS + work / PIXEL_STEPS_PER_SECOND))


def _known_number(value, name: str):
    """A whole-number field for the estimate: None when empty or unreadable (the handler reports that one)."""
    try:
        return v.optional_number(value, name, whole=True)
    except ValueError:
        return None


def gpu_handler(handler):
    """@spaces.GPU with a duration computed from the request's arguments (a no-op off ZeroGPU)."""
    signature = inspect.signature(handler)

    def duration(*args, **kwargs):
        values = signature.bind_partial(*args, **kwargs).arguments
        return estimate_seconds(handler.__name__, values)

    return spaces.GPU(duration=duration)(handler)


# ----- one handler per endpoint: parameter names are the API's ----------------------------------------------------

def _settings(seed, steps, eps, step_size) -> dict:
    with clear_errors():
        return v.run_settings(seed, steps, eps, step_size)


def _checked(convert, *args):
    with clear_errors():
        return convert(*args)


@gpu_handler
def generate(model, target, n=4, seed=None, steps=None, eps=None, step_size=None, compare=False,
             request: gr.Request = None, progress=gr.Progress()):
    """Class-conditional generation: n images of class `target` (name or index)."""
    kwargs = dict(model=model, target=v.target(target), n=v.whole(n), **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.generate, kwargs, compare, request, progress)


@gpu_handler
def inpaint(model, image, mask, target=None, start_fill="smooth", seed=None, steps=None, eps=None, step_size=None,
            compare=False, request: gr.Request = None, progress=gr.Progress()):
    """Inpainting: fill the white region of `mask` (default class: the predicted one)."""
    kwargs = dict(model=model, image=_checked(v.uploaded_file, image), mask=_checked(v.uploaded_file, mask),
                  target=v.target(target), start_fill=start_fill, **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.inpaint, kwargs, compare, request, progress)


@gpu_handler
def super_resolve(model, image, factor=4, method="bicubic", consistent=True, seed=None, steps=None, eps=None,
                  step_size=None, compare=False, request: gr.Request = None, progress=gr.Progress()):
    """Super-resolution by `factor`: upsample, then PGD toward the predicted class (kept consistent with the input)."""
    kwargs = dict(model=model, image=_checked(v.uploaded_file, image), factor=v.whole(factor), method=method,
                  consistent=consistent, **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.super_resolve, kwargs, compare, request, progress)


@gpu_handler
def translate(model, image, target, seed=None, steps=None, eps=None, step_size=None, compare=False,
              request: gr.Request = None, progress=gr.Progress()):
    """Image-to-image translation of `image` toward class `target`."""
    kwargs = dict(model=model, image=_checked(v.uploaded_file, image), target=v.target(target),
                  **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.translate, kwargs, compare, request, progress)


@gpu_handler
def sketch_to_image(model, image, target, seed=None, steps=None, eps=None, step_size=None, compare=False,
                    request: gr.Request = None, progress=gr.Progress()):
    """Sketch-to-image: turn a drawing into class `target`."""
    kwargs = dict(model=model, image=_checked(v.uploaded_file, image), target=v.target(target),
                  **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.sketch_to_image, kwargs, compare, request, progress)


@gpu_handler
def paint_features(model, image, mask, feature, seed=None, steps=None, eps=None, step_size=None, compare=False,
                   request: gr.Request = None, progress=gr.Progress()):
    """Feature painting: raise representation feature `feature` inside the white region of `mask`."""
    kwargs = dict(model=model, image=_checked(v.uploaded_file, image), mask=_checked(v.uploaded_file, mask),
                  feature=_checked(v.required_feature, feature), **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.paint_features, kwargs, compare, request, progress)


@gpu_handler
def invert(model, image, seed=None, steps=None, eps=None, step_size=None, compare=False,
           request: gr.Request = None, progress=gr.Progress()):
    """Representation inversion: an image from noise whose representation matches `image`'s."""
    kwargs = dict(model=model, image=_checked(v.uploaded_file, image), **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.invert, kwargs, compare, request, progress)


@gpu_handler
def interpolate(model, image_a, image_b, frames=8, seed=None, steps=None, eps=None, step_size=None, compare=False,
                request: gr.Request = None, progress=gr.Progress()):
    """Interpolation: `frames` images between image_a and image_b through the representation."""
    kwargs = dict(model=model, image_a=_checked(v.uploaded_file, image_a), image_b=_checked(v.uploaded_file, image_b),
                  frames=v.whole(frames), **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.interpolate, kwargs, compare, request, progress)


@gpu_handler
def visualize_feature(model, feature, image=None, seed=None, steps=None, eps=None, step_size=None, compare=False,
                      request: gr.Request = None, progress=gr.Progress()):
    """Feature visualisation: maximise representation feature `feature`, from noise or from `image`."""
    kwargs = dict(model=model, feature=_checked(v.required_feature, feature), image=_checked(v.uploaded_file, image),
                  **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.visualize_feature, kwargs, compare, request, progress)


@gpu_handler
def style_transfer(content_image, style_image, model=EMBEDDED_PAIR[0], size=None, preserve_colors=False,
                   seed=None, steps=None, eps=None, step_size=None, compare=False,
                   request: gr.Request = None, progress=gr.Progress()):
    """Style transfer (Gatys) with `model` as the style network; size: the output's long side (empty = default)."""
    kwargs = dict(content_image=_checked(v.uploaded_file, content_image),
                  style_image=_checked(v.uploaded_file, style_image), model=model,
                  size=_checked(v.optional_number, size, "size", True), preserve_colors=bool(preserve_colors),
                  **_settings(seed, steps, eps, step_size))
    yield from _run(robust_synth.style_transfer, kwargs, compare, request, progress)
