"""The ZeroGPU duration a request asks for: steps x pixels x images x the architecture's cost, plus a first load."""
import functools
import inspect

import spaces
import torch

from .. import limits, models, task_registry
from ..input_values import optional_number
from ..architectures import build, get_architecture

PIXEL_STEPS_PER_SECOND = 5e6  # ResNet-50 on the GPU: about 100 steps per second on one 224-px image (assumed)
LOAD_SECONDS = 20   # the first load of a ResNet-50 checkpoint on a worker (read, convert, to the GPU); scaled by size
MIN_SECONDS = 5     # a GPU call's own overhead (inputs and model to the device): an allowance, unmeasured
REFERENCE_ARCH = "resnet50"


@functools.lru_cache(maxsize=None)
def parameter_count(arch: str, num_classes: int = 1000) -> int:
    """The architecture's number of weights (built on the meta device: no memory, no init)."""
    with torch.device("meta"):
        net, _ = build(arch, num_classes)
    return sum(p.numel() for p in net.parameters())


def load_seconds(spec: models.ModelSpec | None) -> float:
    """The one-off load, charged only when this worker has not loaded the model yet; in proportion to its size."""
    if spec is None:
        return LOAD_SECONDS
    if models.is_loaded(spec.name):
        return 0.0
    return LOAD_SECONDS * parameter_count(spec.arch, spec.num_classes) / parameter_count(REFERENCE_ARCH)


def work_seconds(task: str, values: dict, spec: models.ModelSpec | None) -> float:
    """The PGD work: steps x pixels x images at the architecture's cost per pixel-step, the pixels those of each stage
    the task works at (Task.sides_per_run: the model's side, or e.g. style transfer's output size and pyramid)."""
    input_side = spec.input_size if spec else 224
    counts = {name: _known_number(values.get(name), name) for name in ("n", "frames", "factor", "size")}
    declared = task_registry.get(task)
    known = {**values, **counts}
    images = declared.images_per_run(known, input_side)
    pixels = sum(side * side for side in declared.sides_per_run(known, input_side))
    steps = _known_number(values.get("steps"), "steps") or declared.default_steps(input_side)
    cost = get_architecture(spec.arch).cost if spec else 1.0  # the architecture record's cost per pixel-step
    return steps * pixels * images * cost / PIXEL_STEPS_PER_SECOND


def _run_seconds(task: str, values: dict, model: str | None) -> float:
    spec = models.REGISTRY.get(model or "", None)
    seconds = load_seconds(spec) + work_seconds(task, values, spec)
    if values.get("compare") and spec and (standard := models.STANDARD_COUNTERPART.get(spec.name)):
        standard = models.get_spec(standard)
        seconds += load_seconds(standard) + work_seconds(task, values, standard)
    return seconds


def _clamped(seconds: float) -> int:
    return int(min(limits.current().max_seconds, max(MIN_SECONDS, seconds)))


def estimate_seconds(task: str, values: dict) -> int:
    """GPU seconds to ask ZeroGPU for one run (and its comparison), within the time limit.

    `values` are the handler's arguments as the UI or a client sent them (numbers may be text; empty = default).
    """
    return _clamped(_run_seconds(task, values, values.get("model")))


def ladder_seconds(task: str, values: dict) -> int:
    """GPU seconds for the run on every level of the model's ladder that can be had here, within the time limit."""
    try:
        rungs = models.ladder(values.get("model") or "")
    except ValueError:  # an unknown model: the handler reports it
        return _clamped(_run_seconds(task, values, None))
    usable = [level["name"] for level in rungs if models.is_usable(models.get_spec(level["name"]))]
    return _clamped(sum(_run_seconds(task, {**values, "compare": False}, name) for name in usable))


def _known_number(value, name: str):
    """A whole-number field for the estimate: None when empty or unreadable (the handler reports that one)."""
    try:
        return optional_number(value, name, whole=True)
    except ValueError:
        return None


def gpu_handler(handler, seconds):
    """@spaces.GPU with a duration seconds(arguments) from the request's arguments (a no-op off ZeroGPU)."""
    signature = inspect.signature(handler)

    def duration(*args, **kwargs):
        return seconds(signature.bind_partial(*args, **kwargs).arguments)

    return spaces.GPU(duration=duration)(handler)
