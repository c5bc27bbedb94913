"""A task's tab built from its declaration: one widget per app input, Settings, Run/Stop wired to its endpoint."""
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from .. import limits, registry
from ..limits import MAX_SEED
from . import pickers as p
from . import results as r
from . import values as v
from .endpoints import AFTER_INPUTS, endpoint
from .running import arm_stop, disarm_stop, stop

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"  # the examples a declaration names live here


@dataclass
class TaskForm:
    """A task tab's components: inputs by endpoint parameter name, and its outputs."""
    task: str
    fields: dict = field(default_factory=dict)
    outputs: tuple = ()


# ----- one widget per input kind -----------------------------------------------------------------------------------

def model_picker(default: str, label: str = "") -> gr.Dropdown:
    return gr.Dropdown(p.model_choices(), value=default, label=label or "model", filterable=True,
                       info="Robust models give recognisable images; standard ones give noise-like changes.")


def class_picker(model: str, label: str = "target class", value=True) -> gr.Dropdown:
    """A searchable class dropdown; class indices are accepted too."""
    return gr.Dropdown(p.class_choices(model), value=p.example_class(model) if value else None, label=label,
                       filterable=True, allow_custom_value=True)


def image_input(label: str = "image") -> gr.Image:
    return gr.Image(type="filepath", label=label, sources=["upload", "clipboard", "webcam"], height=260)


def optional_number(label: str, default: str, info: str | None = None, elem_id: str | None = None) -> gr.Textbox:
    """A number that may be left empty: a text box, since gr.Number cannot stay empty (it shows and sends 0)."""
    return gr.Textbox(None, label=label, placeholder=default, info=info, max_lines=1, elem_id=elem_id)


def mask_input(image: gr.Image, label: str) -> gr.Image:
    """An editor to paint on the image, feeding a plain mask image (which can also be uploaded)."""
    editor = gr.ImageEditor(type="pil", label=label, sources=[], layers=False, transforms=[], height=300,
                            brush=gr.Brush(colors=["#ffffff"], color_mode="fixed", default_size=24))
    mask = gr.Image(type="filepath", label="mask (white = selected); painted above or uploaded", image_mode="L",
                    format="png", height=160, sources=["upload", "clipboard"])
    image.change(v.editor_with_background, image, editor, api_visibility="private", show_progress="hidden")
    editor.change(v.mask_from_editor, editor, mask, api_visibility="private", show_progress="hidden")
    return mask


def sketch_input(label: str) -> gr.Image:
    """A sketch upload, or a drawing pad that fills it."""
    image = image_input(label)
    pad = gr.Sketchpad(type="pil", label="or draw it here", height=300, canvas_size=(400, 400))
    pad.change(v.sketch_from_pad, pad, image, api_visibility="private", show_progress="hidden")
    return image


def feature_picker(model: gr.Dropdown, label: str) -> gr.Textbox:
    """A feature index, with suggestions from the features most associated with a class."""
    feature = optional_number(label, "e.g. 3, or pick one of the suggestions")
    with gr.Row():
        for_class = class_picker(model.value, "suggest features for class")
        suggest = gr.Button("Suggest", size="sm")
        picks = gr.Dropdown([], label="top features", interactive=True)
    model.input(p.model_changed, model, for_class, api_visibility="private")
    suggest.click(p.suggest_features, [model, for_class], picks, api_visibility="private")
    picks.change(lambda index: index, picks, feature, api_visibility="private", show_progress="hidden")
    return feature


def target_picker(model: gr.Dropdown, item: registry.Input) -> gr.Dropdown:
    """The class picker; an optional target starts empty (the task's default: the predicted class)."""
    target = class_picker(model.value, item.label or "target class", value=item.required)
    model.input(lambda m: p.model_changed(m, with_default_class=item.required), model, target,
                api_visibility="private")
    return target


def slider(item: registry.Input) -> gr.Slider:
    lim = limits.current()
    top = getattr(lim, item.maximum) if isinstance(item.maximum, str) else item.maximum
    return gr.Slider(item.minimum, top, value=min(item.default, top), step=1, label=item.label or item.name)


def widget(item: registry.Input, fields: dict, default_model: str):
    """The component for one input; masks paint on the tab's image, classes and features follow its model."""
    label = item.label or item.name
    if item.kind == "model":
        return model_picker(default_model, label)
    if item.kind == "class":
        return target_picker(fields["model"], item)
    if item.kind == "image":
        return image_input(label)
    if item.kind == "mask":
        return mask_input(fields["image"], label)
    if item.kind == "sketch":
        return sketch_input(label)
    if item.kind == "int":
        return slider(item)
    if item.kind == "number":
        return optional_number(label, "empty = default")
    if item.kind == "feature":
        return feature_picker(fields["model"], label)
    if item.kind == "bool":
        return gr.Checkbox(item.default, label=label)
    if item.kind == "choice":
        return gr.Dropdown(list(item.choices), value=item.default, label=label)
    return gr.Textbox(item.default, label=label)


def settings(task: str, lim: limits.Limits) -> dict:
    """seed, steps, eps, step_size (empty = the task's reference setting) and the comparison toggle."""
    with gr.Accordion("Settings", open=False, elem_id=f"settings-{task}"):
        with gr.Row():
            seed = optional_number("seed", "0", f"whole number, 0 to {MAX_SEED}; empty = 0", f"{task}-seed")
            steps = optional_number("steps", "task default", f"empty = task default; at most {lim.max_steps}",
                                    f"{task}-steps")
        with gr.Row():
            eps = optional_number("eps", "task default", f"L2 radius in [0,1] pixels; at most {lim.max_eps:g}",
                                  f"{task}-eps")
            step_size = optional_number("step_size", "task default", f"at most {lim.max_step_size:g}",
                                        f"{task}-step_size")
        gr.Markdown(lim.summary())
    compare = gr.Checkbox(False, label="Compare with the standard model (same seed, side by side)",
                          elem_id=f"compare-{task}")
    return {"seed": seed, "steps": steps, "eps": eps, "step_size": step_size, "compare": compare}


# ----- results beside the inputs --------------------------------------------------------------------------------

def result_outputs(task: str, shows_input: bool) -> tuple:
    """The result gallery, the robust | standard slider, the input | result slider, the share link and recipe."""
    gallery = gr.Gallery(label="result (PNG with recipe)", columns=4, format="png", preview=False,
                         object_fit="contain", type="filepath", interactive=False, elem_id=f"gallery-{task}",
                         elem_classes=["result-view"])
    comparison = gr.ImageSlider(label="robust | standard", type="pil", format="png", max_height=360, visible=False,
                                interactive=False, elem_id=f"comparison-{task}", elem_classes=["result-view"])
    before_after = gr.ImageSlider(label="input | result", type="pil", format="png", max_height=360, visible=False,
                                  interactive=False, elem_id=f"before-after-{task}",
                                  elem_classes=["result-view"]) if shows_input else None
    share = gr.Markdown(elem_id=f"share-{task}")
    with gr.Accordion("Recipe", open=False, elem_id=f"recipe-{task}-accordion"):
        recipe = gr.JSON(label="recipe", elem_id=f"recipe-{task}")
    recipe.change(share_markdown, recipe, share, api_visibility="private", show_progress="hidden")
    return (gallery, comparison, recipe), before_after


def share_markdown(recipe) -> str:
    if not recipe or not recipe.get("share_url"):
        return ""
    url = recipe["share_url"]
    stopped = " Stopped early: the best result so far." if recipe.get("cancelled") else ""
    return f"**Share:** [{url}]({url}) (reopens this result with its settings).{stopped}"


def comparison_view(recipe) -> gr.ImageSlider:
    """The robust | standard slider after a run: each side named by its model, shown only if the run compared."""
    standard = (recipe or {}).get("comparison")
    if not standard:
        return gr.ImageSlider(label="robust | standard", visible=False)
    return gr.ImageSlider(label=f"robust: {recipe['model']}  |  standard: {standard['model']}", visible=True)


def show_before_after(image, gallery):
    pair = v.input_beside_result(image, gallery[0][0] if gallery else None)
    return gr.ImageSlider(value=pair, visible=pair is not None)


# ----- the tab ------------------------------------------------------------------------------------------------------

def wire(form: TaskForm, task: registry.Task, run: gr.Button, stop_button: gr.Button, history: tuple,
         before_after) -> None:
    """Run -> Stop enabled -> the task's API endpoint (inputs in the endpoint's parameter order) -> Stop disabled;
    a finished run joins the session's history and, on image tabs, the input | result slider."""
    name = task.name
    names = [i.name for i in task.app_inputs] + list(AFTER_INPUTS)

    def arm(request: gr.Request):
        return arm_stop(name, request)

    def disarm(request: gr.Request):
        return disarm_stop(name, request)

    def stop_run(request: gr.Request):
        stop(name, request)

    armed = run.click(arm, None, stop_button, queue=False, api_visibility="private", show_progress="hidden")
    event = armed.then(endpoint(task), [form.fields[n] for n in names], list(form.outputs), api_name=name,
                       concurrency_limit=limits.current().batch_images, concurrency_id="gpu",  # >1: requests share
                       preprocess=False)  # PGD batches (robust_synth.batching); the library validates inputs
    for ended in (event.success, event.failure):  # Gradio 6.31's page skips .then() listeners after an error
        ended(disarm, None, stop_button, queue=False, api_visibility="private", show_progress="hidden")
    gallery, comparison, recipe = form.outputs
    state, thumbnails, links = history
    event.success(comparison_view, recipe, comparison, api_visibility="private", show_progress="hidden")
    event.success(r.add_to_history, [state, recipe, gallery], [state, thumbnails, links],
                  api_visibility="private", show_progress="hidden")
    if before_after is not None:
        source = form.fields[first_image(task).name]
        event.success(show_before_after, [source, gallery], before_after, api_visibility="private",
                      show_progress="hidden")
    stop_button.click(stop_run, None, None, api_visibility="private", queue=False)
    form.fields["compare"].change(lambda on: gr.ImageSlider(visible=on), form.fields["compare"], comparison,
                                  api_visibility="private", show_progress="hidden")
    form.fields["model"].change(p.run_button, form.fields["model"], run, api_visibility="private",
                                show_progress="hidden")


def first_image(task: registry.Task) -> registry.Input | None:
    """The input the input | result slider shows beside the result (None: the task takes no image)."""
    return next((i for i in task.app_inputs if i.kind in ("image", "sketch")), None)


def example_rows(task: registry.Task, model: str) -> tuple[list, list[str]]:
    """The declaration's examples as gr.Examples rows (image paths under examples/, the embedded model)."""
    rows = [{"model": model, **row} if "model" not in row else row for row in task.examples]
    names = list(dict.fromkeys(name for row in rows for name in row))  # every input some example sets
    kinds = {i.name: i.kind for i in task.inputs}

    def value(name, row):
        given = row.get(name)
        return str(EXAMPLES / given) if given and kinds.get(name) in v.IMAGE_KINDS else given
    return [[value(name, row) for name in names] for row in rows], names


def task_tab(task: registry.Task, lim: limits.Limits, default: str, example_model: str, history: tuple) -> TaskForm:
    """One tab: the task's inputs, settings, Run/Stop, results, examples."""
    with gr.Tab(task.title, id=task.name):
        gr.Markdown(task.description)
        with gr.Row():
            with gr.Column():
                fields = {}
                for item in task.app_inputs:
                    fields[item.name] = widget(item, fields, default)
                fields.update(settings(task.name, lim))
                with gr.Row():
                    run = gr.Button("Run", variant="primary", elem_id=f"run-{task.name}", scale=3)
                    stop_button = gr.Button("Stop", variant="stop", elem_id=f"stop-{task.name}", interactive=False,
                                            scale=1)
            with gr.Column():
                outputs, before_after = result_outputs(task.name, first_image(task) is not None)
        form = TaskForm(task.name, fields, outputs)
        wire(form, task, run, stop_button, history, before_after)
        if task.examples:
            rows, names = example_rows(task, example_model)
            gr.Examples(rows, [fields[name] for name in names],
                        label="Examples (embedded CIFAR-10 model, works offline)")
    return form
