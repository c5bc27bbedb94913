"""The task registry drives the library, the CLI, the app's endpoints and the GPU estimate: no other edit per task."""
import inspect
from pathlib import Path

import pytest

import robust_synth as rs
from robust_synth import task_registry
from robust_synth.__main__ import build_parser
from robust_synth.app import gpu
from robust_synth.app.endpoints import AFTER_INPUTS, signature
from robust_synth.presets import Preset

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TASKS = [task.name for task in task_registry.all_tasks()]
CLI_VALUES = {"model": "m", "class": "cat", "image": "a.png", "mask": "b.png", "sketch": "c.png", "int": "2",
              "number": "40", "feature": "1", "bool": "true", "text": "1"}


def cli_args(task: task_registry.Task) -> list[str]:
    """The task's command line with only its required options, each with a value of its kind."""
    args = [task.name, "--out", "o"]
    for item in task.inputs:
        if item.required or item.name == "model":
            value = item.choices[0] if item.kind == "choice" else CLI_VALUES[item.kind]
            args += ["--" + item.name.replace("_", "-"), value]
    return args


def example_inputs(task: task_registry.Task) -> dict:
    """The declaration's first example, its image inputs as files under examples/."""
    kinds = {i.name: i.kind for i in task.inputs}
    return {name: str(EXAMPLES / value) if kinds[name] in ("image", "mask", "sketch") and value else value
            for name, value in task.examples[0].items()}


@pytest.mark.parametrize("name", TASKS)
def test_every_task_is_a_library_function_a_cli_command_and_an_endpoint(name):
    """Catches a task missing from one surface, or an endpoint whose parameter names differ from the library's."""
    task = task_registry.get(name)
    assert getattr(rs, name) is task.fn and name in rs.__all__
    args = vars(build_parser().parse_args(cli_args(task)))
    assert args["task"] == name and set(task_registry.SETTINGS) <= set(args)
    assert {i.name for i in task.inputs} - {"model"} <= set(args)
    params = list(signature(task).parameters)
    assert params == [i.name for i in task.app_inputs] + list(AFTER_INPUTS) + ["request", "progress"]
    assert set(params) - {"compare", "request", "progress"} <= set(inspect.signature(task.fn).parameters)
    assert task.examples, "a task without an example has nothing to show in its tab"


@pytest.mark.parametrize("name", TASKS)
def test_declared_presets_are_what_each_task_runs_on_its_example(name, tiny_model):
    """Catches presets declared for the GPU estimate that differ from what the task runs, and broken examples."""
    def stop_at_once(step, total, x):
        raise rs.Cancelled()
    task = task_registry.get(name)
    inputs = {"model": tiny_model, **example_inputs(task)}
    if name == "style_transfer":
        inputs["size"] = 48  # the tiny model at a small side: the test stays fast
    _, recipe = task.fn(**inputs, callback=stop_at_once)
    assert recipe["task"] == name and recipe["cancelled"]
    assert recipe["params"]["steps"] == task.default_steps(32)


@pytest.mark.parametrize("name", TASKS)
def test_the_gpu_estimate_covers_every_task(name):
    seconds = gpu.estimate_seconds(name, {"model": "cifar10-resnet-l2-0.5", **task_registry.get(name).examples[0]})
    assert gpu.MIN_SECONDS <= seconds <= rs.limits.current().max_seconds


def test_a_declaration_that_does_not_match_its_function_is_refused():
    def mismatched(model, image, seed=0, steps=None, eps=None, step_size=None, callback=None):
        """A task whose declaration forgets `image`."""
    with pytest.raises(ValueError, match="do not match"):
        task_registry.register(task_registry.Task("mismatched", mismatched, "M", "m.",
                                                  (task_registry.Input("model", "model"),),
                                                  (Preset(1.0, 0.1, 5), None)))
    assert "mismatched" not in task_registry.TASKS


def throwaway(model, image, strength: int = 2, seed=0, steps=None, eps=None, step_size=None, callback=None):
    """A throwaway task for the registry test."""


@pytest.fixture
def throwaway_task():
    task = task_registry.register(task_registry.Task(
        "throwaway", throwaway, "Throwaway", "A task added at run time.",
        (task_registry.Input("model", "model"), task_registry.Input("image", "image"),
         task_registry.Input("strength", "int", "strength", minimum=1, maximum=5)),
        (Preset(1.0, 0.1, 7), None), examples=({"image": "photos/chelsea.jpg"},)))
    yield task
    task_registry.unregister("throwaway")


def test_a_task_added_at_run_time_appears_in_the_cli_and_a_freshly_built_app(throwaway_task):
    """Catches any surface that keeps its own task list instead of reading the registry."""
    args = build_parser().parse_args(["throwaway", "--model", "m", "--out", "o", "--image", "a", "--strength", "3"])
    assert args.task == "throwaway" and args.strength == 3
    import app
    demo = app.build_demo()
    endpoint = demo.get_api_info()["named_endpoints"]["/throwaway"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["model", "image", "strength", *AFTER_INPUTS]
    tabs = [block for block in demo.config["components"] if block.get("type") == "tabitem"]
    assert "Throwaway" in [tab["props"].get("label") for tab in tabs]
    assert gpu.estimate_seconds("throwaway", {"model": "imagenet-resnet50-l2-3"}) == \
        int(gpu.LOAD_SECONDS + 7 * 224 * 224 / gpu.PIXEL_STEPS_PER_SECOND)  # ResNet-50 (cost 1), not loaded


def test_the_readme_task_table_is_the_registry_s():
    """Catches a task added without rerunning scripts/task_table.py (the README would not list it)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("task_table", Path(__file__).resolve().parent.parent / "scripts" /
                                                  "task_table.py")
    task_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(task_table)
    text = task_table.README.read_text()
    assert task_table.with_table(text) == text, "README.md's task table is stale: run scripts/task_table.py"
