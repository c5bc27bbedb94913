"""The ZeroGPU duration a request asks for: steps x pixels x model-size images, from the task's declaration."""
import inspect

import spaces

from .. import limits, models, registry
from . import values as v

PIXEL_STEPS_PER_SECOND = 5e6  # ZeroGPU estimate: about 100 ResNet-50 steps per second on one 224-px image
STARTUP_SECONDS = 20          # loading a ResNet-50 checkpoint onto the GPU on a worker's first call



def estimate_seconds(task: str, values: dict) -> int:
    """GPU seconds to ask ZeroGPU for: steps x pixels x images (x2 with the comparison), within the time limit.

    `values` are the handler's arguments as the UI or a client sent them (numbers may be text; empty = default).
    """
    spec = models.REGISTRY.get(values.get("model") or "", None)
    input_side = spec.input_size if spec else 224
    side = _known_number(values.get("size"), "size") or input_side
    counts = {name: _known_number(values.get(name), name) for name in ("n", "frames", "factor")}
    declared = registry.get(task)
    images = declared.images_per_run({**values, **counts}, input_side)
    steps = _known_number(values.get("steps"), "steps") or declared.default_steps(input_side)
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
