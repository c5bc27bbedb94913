"""Running a task for the app: a worker thread streaming previews and progress, Stop, the standard comparison."""
import contextlib
import queue
import threading
import time
import uuid

import gradio as gr

from .. import limits, models
from ..batching import batching_through, shared_pgd_batcher
from ..engine import Cancelled
from ..image import to_pil
from . import memory, result_sharing
from .errors import clear_errors
from .pickers import unusable_reason

PREVIEWS_PER_RUN = 12        # streamed previews per run: enough to watch, few enough not to slow it down
PROGRESS_UPDATES_PER_RUN = 100  # progress-bar messages per run: one per step floods the browser on long runs
MAX_PREVIEW_IMAGES = 8
WORKER_NAME = "robust-synth-run"  # the worker threads' name: a dropped client's run must not leave one behind

_stop_events: dict[tuple[str, str], threading.Event] = {}  # (session, task) -> the running task's stop flag



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


def _unique(image):
    """The image tagged with an id of its own (a PNG text chunk) so that Gradio caches it under a name of its own.

    Gradio caches the PIL images a handler returns under a hash of their bytes and writes that file in place: two
    clients running the same request and seed would rewrite each other's previews while they are being downloaded
    (the h11 "Too little data for declared Content-Length" tracebacks of a load test).
    """
    image.info["robust-synth-image"] = uuid.uuid4().hex
    return image


def _previews(x) -> list:
    return [_unique(to_pil(image)) for image in x.detach()[:MAX_PREVIEW_IMAGES]]


def _batched():
    """Within it (in this thread), the task's PGD runs share batches with the app's concurrent requests."""
    together = limits.current().concurrent_requests
    return batching_through(shared_pgd_batcher(together)) if together > 1 else contextlib.nullcontext()


def request_deadline() -> float:
    """When a request that starts now must end: its time limit covers all of its runs (compare, every ladder level)."""
    return time.monotonic() + limits.current().max_seconds


def past(deadline: float) -> bool:
    return time.monotonic() > deadline


def _stream(fn, kwargs: dict, stop_event: threading.Event, progress, label: str, deadline: float):
    """Run fn(**kwargs) in a worker thread until `deadline`; yield previews as it goes and return (images, recipe)."""
    updates, stopped_by = queue.SimpleQueue(), []

    def callback(step, total, x):
        if stop_event.is_set() or past(deadline):
            stopped_by.append("stop button" if stop_event.is_set() else "time limit")
            raise Cancelled()
        preview = step % max(1, total // PREVIEWS_PER_RUN) == 0
        if preview or step % max(1, total // PROGRESS_UPDATES_PER_RUN) == 0 or step == total:
            updates.put(("step", step, total, _previews(x) if preview else None))

    def work():
        try:
            with _batched():
                updates.put(("done", fn(**kwargs, callback=callback)))
        except BaseException as error:  # handed to the request thread, which reports it
            updates.put(("error", error))
        finally:
            memory.release_freed()  # the run's tensors are freed: their pages go back to the system

    threading.Thread(target=work, daemon=True, name=WORKER_NAME).start()
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


def run_task(fn, kwargs: dict, compare: bool, request, progress, deadline: float | None = None,
             prepared: dict | None = None):
    """The body of every task handler: stream, optionally compare with the standard model, save, share.

    Yields (result files, comparison files, recipe): with compare, every shown image beside the standard model's
    (result_sharing.comparison_files), else None. Stop (or the time limit, at `deadline`: by default the
    request's, shared by the robust and the standard run) ends the PGD loop early; the task still returns its best
    iterate so far, which is saved and shown like any result, its recipe saying cancelled: true. prepared: what the
    app did to the input pictures (values.prepared_pictures), kept in the recipe as "input_preparation".
    """
    deadline = request_deadline() if deadline is None else deadline
    key = (_session(request), fn.__name__)
    stop_event = _stop_events.setdefault(key, threading.Event())
    try:
        with clear_errors():
            reason = unusable_reason(kwargs["model"])
            if reason:
                raise ValueError(reason)
            images, recipe = yield from _stream(fn, kwargs, stop_event, progress, kwargs["model"], deadline)
            if prepared:
                recipe = {**recipe, "input_preparation": prepared}
            if recipe.get("model_resolution"):
                recipe = {**recipe, "shown_first": result_sharing.shown_first(recipe)}
            compared = None
            counterpart = _counterpart(kwargs["model"]) if compare else None
            if counterpart and not recipe.get("cancelled"):
                standard, standard_recipe = yield from _stream(
                    fn, {**kwargs, "model": counterpart}, stop_event, progress, counterpart, deadline)
                recipe = {**recipe, "comparison": standard_recipe}
                compared = result_sharing.shown_images(standard, standard_recipe)
            images = result_sharing.shown_images(images, recipe)
            recipe = result_sharing.share(images, recipe, kwargs, request, compared)
            files = result_sharing.result_files(images, recipe)
        yield files, None if compared is None else result_sharing.comparison_files(files, compared, recipe), recipe
    finally:
        stop_event.set()  # a closed generator (disconnect) stops its worker too
        if _stop_events.get(key) is stop_event:
            del _stop_events[key]
