"""What a tab starts with and what its page says: the style tab's own network, every first example at the embedded
models' scale, and runs ended early named on the page."""
from PIL import Image

from robust_synth import models, task_registry
from robust_synth.app import pickers
from robust_synth.app.tabs import EXAMPLES, example_rows, result_notes

EMBEDDED = "cifar10-resnet-l2-0.5"
FILE_KINDS = ("image", "mask", "sketch")


def test_the_style_tab_starts_with_the_robust_vgg_its_benchmark_ranks_first():
    style = task_registry.get("style_transfer")
    assert style.input("model").default == "cifar10-vgg-l2-0.5"
    assert pickers.tab_model(style.input("model").default, EMBEDDED) == "cifar10-vgg-l2-0.5"
    rows, names = example_rows(style, EMBEDDED)
    assert {row[names.index("model")] for row in rows} == {"cifar10-vgg-l2-0.5"}
    assert models.STANDARD_COUNTERPART["cifar10-vgg-l2-0.5"] == "cifar10-vgg-standard"  # what Compare runs


def test_other_tabs_and_other_datasets_keep_the_apps_default():
    assert pickers.tab_model(None, EMBEDDED) == EMBEDDED
    assert pickers.tab_model("cifar10-vgg-l2-0.5", "imagenet-resnet18-l2-3") == "imagenet-resnet18-l2-3"
    assert pickers.tab_model("no-such-model", EMBEDDED) == EMBEDDED


def test_every_first_example_is_at_the_embedded_models_scale_and_a_large_one_follows():
    """Issue 26: a first example the 32-px models handle near their own resolution (at most 128 px: the pictures'
    side, or style transfer's output size), a 224-px photo among the rest for the ImageNet models (not for
    super-resolution, whose inputs are small by design: 4x a 224-px photo is 896 px)."""
    for task in task_registry.all_tasks():
        sides = []
        for row in task.examples:
            files = [row[i.name] for i in task.inputs if i.kind in FILE_KINDS and row.get(i.name)]
            sides.append(row.get("size") or max([max(Image.open(EXAMPLES / f).size) for f in files], default=0))
        if sides and sides[0]:
            assert sides[0] <= 128, (task.name, sides)
            assert task.name == "super_resolve" or max(sides) >= 224, (task.name, sides)


def _recipe(model: str, cancelled: bool, stopped_by: str | None = None) -> dict:
    run = {"model": model, "cancelled": cancelled, "metrics": {"steps_run": 98}, "params": {"steps": 100}}
    return {**run, "stopped_by": stopped_by} if stopped_by else run


def test_a_compared_run_cut_by_the_time_limit_says_so_on_the_page():
    recipe = {**_recipe("cifar10-vgg-l2-0.5", False), "comparison": _recipe("cifar10-vgg-standard", True, "time limit")}
    notes = result_notes(recipe)
    assert "cifar10-vgg-standard ran 98 of 100 steps before the time limit ended it" in notes
    assert "cifar10-vgg-l2-0.5 ran" not in notes


def test_a_finished_run_gets_no_stop_note():
    assert "Stopped early" not in result_notes({**_recipe("m", False), "comparison": _recipe("s", False)})
