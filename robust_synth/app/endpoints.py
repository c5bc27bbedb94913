"""Two app endpoints per registered task (its run, and its run across robustness levels): its app inputs, then the
settings and compare, named as the library's."""
import inspect

import gradio as gr

from .. import task_registry
from . import values as v
from .admission import measured
from .errors import clear_errors
from .gpu import estimate_seconds, gpu_handler, ladder_seconds
from .ladder import run_ladder
from .running import run_task

AFTER_INPUTS = (*task_registry.SETTINGS, "compare")  # every endpoint's last parameters: the Settings accordion's fields


def signature(task: task_registry.Task) -> inspect.Signature:
    """The endpoint's parameters: required inputs without a default, the rest with the library's default."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(i.name, kind, default=inspect.Parameter.empty if i.required else i.default)
              for i in task.app_inputs]
    params += [inspect.Parameter(name, kind, default=None) for name in task_registry.SETTINGS]
    params += [inspect.Parameter("compare", kind, default=False),
               inspect.Parameter("request", kind, default=None, annotation=gr.Request),
               inspect.Parameter("progress", kind, default=gr.Progress())]
    return inspect.Signature(params)


def library_kwargs(task: task_registry.Task, values: dict) -> tuple[dict, dict]:
    """The endpoint's arguments as the task function's keyword arguments (empty settings: the task's defaults),
    its pictures prepared (values.prepared_pictures), and what was done to them, by input name."""
    with clear_errors():
        kwargs = {i.name: v.library_value(i.kind, i.name, values[i.name]) for i in task.app_inputs}
        kwargs, prepared = v.prepared_pictures({i.name: i.kind for i in task.app_inputs}, kwargs)
        return {**kwargs, **v.run_settings(*(values[name] for name in task_registry.SETTINGS))}, prepared


def ladder_name(task: task_registry.Task) -> str:
    return f"{task.name}_ladder"


def _handler(task: task_registry.Task, name: str, doc: str, run):
    """A handler named `name` with the task's endpoint signature; run(values) yields its outputs."""
    declared = signature(task)

    def handler(*args, **kwargs):
        bound = declared.bind(*args, **kwargs)
        bound.apply_defaults()
        yield from run(bound.arguments)

    handler.__signature__, handler.__name__, handler.__qualname__ = declared, name, name
    handler.__doc__, handler.__annotations__ = doc, {"request": gr.Request}
    return handler


def endpoint(task: task_registry.Task):
    """The streaming handler of `task`'s endpoint (named task.name), wrapped for ZeroGPU and timed for admission."""
    def run(values):
        kwargs, prepared = library_kwargs(task, values)
        yield from run_task(task.fn, kwargs, values["compare"], values["request"], values["progress"],
                            prepared=prepared)
    handler = _handler(task, task.name, task.description, run)
    return measured(task.name, gpu_handler(handler, lambda values: estimate_seconds(task.name, values)))


def ladder_endpoint(task: task_registry.Task):
    """The handler of `<task>_ladder`: the same parameters, run on every level of the model's architecture and
    norm (compare is ignored: the standard level is in the strip); returns (strip, levels)."""
    def run(values):
        yield from run_ladder(task.fn, *library_kwargs(task, values), values["request"], values["progress"])
    doc = f"{task.description} Run on every robustness level of the model's architecture, same seed and settings."
    handler = _handler(task, ladder_name(task), doc, run)
    return measured(ladder_name(task), gpu_handler(handler, lambda values: ladder_seconds(task.name, values)))
