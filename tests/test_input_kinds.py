"""The input-kind table: a kind registered at run time reaches the registry's check, the CLI parser, the app's widget
and its endpoint's conversion with no other edit; every built-in kind names a widget the app has."""
import argparse

import gradio as gr
import pytest

from robust_synth import input_kinds, task_registry
from robust_synth.__main__ import build_parser
from robust_synth.app import endpoints, widgets
from robust_synth.presets import Preset


def hex_colour(text: str) -> str:
    """'FF8800' or '#ff8800' -> '#ff8800' (the throwaway kind's parser)."""
    digits = text.strip().lstrip("#").lower()
    if len(digits) != 6 or any(c not in "0123456789abcdef" for c in digits):
        raise argparse.ArgumentTypeError(f"expected a colour as six hex digits, got {text!r}")
    return "#" + digits


def tinted(model, image, tint, seed=0, steps=None, eps=None, step_size=None, callback=None):
    """A throwaway task taking a colour."""


def tinted_task() -> task_registry.Task:
    return task_registry.Task("tinted", tinted, "Tinted", "A task with an input kind added at run time.",
                              (task_registry.Input("model", "model"), task_registry.Input("image", "image"),
                               task_registry.Input("tint", "colour", "tint")), (Preset(1.0, 0.1, 5), None))


@pytest.fixture
def colour_task():
    input_kinds.register_kind(input_kinds.InputKind(
        "colour", cli_type=lambda item: hex_colour, app_value=lambda name, value: hex_colour(value),
        widget=lambda item, earlier, default: gr.ColorPicker("#ff0000", label=item.label)))
    task = task_registry.register(tinted_task())
    yield task
    task_registry.unregister("tinted")
    input_kinds.unregister_kind("colour")


def test_a_task_with_an_unregistered_kind_is_refused():
    with pytest.raises(ValueError, match="unknown kind for \\['tint'\\]"):
        task_registry.register(tinted_task())
    assert "tinted" not in task_registry.TASKS


def test_a_kind_registered_at_run_time_reaches_the_cli_the_app_widget_and_the_endpoint(colour_task):
    """Catches a surface that keeps its own switch over kinds instead of reading the table."""
    args = build_parser().parse_args(["tinted", "--model", "m", "--out", "o", "--image", "a", "--tint", "FF8800"])
    assert args.tint == "#ff8800"  # the kind's CLI type parsed it
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tinted", "--model", "m", "--out", "o", "--image", "a", "--tint", "orange"])
    import app
    demo = app.build_demo()
    pickers = [block for block in demo.config["components"] if block.get("type") == "colorpicker"]
    assert [block["props"].get("label") for block in pickers] == ["tint"]
    kwargs, _ = endpoints.library_kwargs(colour_task, {"model": "m", "image": None, "tint": "ABCDEF", "seed": None,
                                                       "steps": None, "eps": None, "step_size": None})
    assert kwargs["tint"] == "#abcdef"  # the kind's app_value converted what the widget sent


def test_every_built_in_kind_names_a_widget_builder_of_the_app():
    named = {kind.widget for kind in input_kinds.KINDS.values() if not callable(kind.widget)}
    assert named <= set(widgets.BUILDERS)


def test_a_mask_finds_the_tab_s_picture_by_kind_not_by_name():
    photo = task_registry.Input("photo", "image")
    mask = task_registry.Input("holes", "mask", "holes")
    with gr.Blocks():
        picture = widgets.widget(photo, [], "cifar10-resnet-l2-0.5")
        assert isinstance(widgets.widget(mask, [(photo, picture)], "cifar10-resnet-l2-0.5"), gr.Image)
        with pytest.raises(ValueError, match="needs a picture input declared before it"):
            widgets.widget(mask, [], "cifar10-resnet-l2-0.5")
