"""One app endpoint per registered task: its app inputs, then the settings and compare, named as the library's."""
import inspect

import gradio as gr

from .. import registry
from . import values as v
from .admission import measured
from .errors import clear_errors
from .gpu import gpu_handler
from .running import run_task

AFTER_INPUTS = (*registry.SETTINGS, "compare")  # every endpoint's last parameters: the Settings accordion's fields


def signature(task: registry.Task) -> inspect.Signature:
    """The endpoint's parameters: required inputs without a default, the rest with the library's default."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(i.name, kind, default=inspect.Parameter.empty if i.required else i.default)
              for i in task.app_inputs]
    params += [inspect.Parameter(name, kind, default=None) for name in registry.SETTINGS]
    params += [inspect.Parameter("compare", kind, default=False),
               inspect.Parameter("request", kind, default=None, annotation=gr.Request),
               inspect.Parameter("progress", kind, default=gr.Progress())]
    return inspect.Signature(params)


def library_kwargs(task: registry.Task, values: dict) -> dict:
    """The endpoint's arguments as the task function's keyword arguments (empty settings: the task's defaults)."""
    with clear_errors():
        kwargs = {i.name: v.library_value(i.kind, i.name, values[i.name]) for i in task.app_inputs}
        return {**kwargs, **v.run_settings(*(values[name] for name in registry.SETTINGS))}


def endpoint(task: registry.Task):
    """The streaming handler of `task`'s endpoint (named task.name), wrapped for ZeroGPU and timed for admission."""
    declared = signature(task)

    def handler(*args, **kwargs):
        bound = declared.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        yield from run_task(task.fn, library_kwargs(task, values), values["compare"], values["request"],
                            values["progress"])

    handler.__signature__, handler.__name__, handler.__qualname__ = declared, task.name, task.name
    handler.__doc__, handler.__annotations__ = task.description, {"request": gr.Request}
    return measured(task.name, gpu_handler(handler))
