"""The app component of each input kind (the builders the input-kind table names), and the Settings accordion."""
import gradio as gr

from .. import input_kinds, limits, task_registry
from ..limits import MAX_SEED
from . import ladder
from . import pickers as p
from . import values as v


def model_picker(default: str, label: str = "") -> gr.Dropdown:
    """The model dropdown (the endpoint's parameter) under the robustness ladder: architecture, norm, ε level.

    The ladder's .input events (the visitor's) set the dropdown; the dropdown's .change sets the ladder controls,
    which does not fire their .input again, so neither loops.
    """
    family, norm, index = ladder.position(default)
    with gr.Group():
        with gr.Row():
            architecture = gr.Dropdown(ladder.families(), value=family, label="architecture", scale=2,
                                       elem_classes=["ladder-architecture"])
            norms = gr.Radio(ladder.norm_choices(family), value=norm, label="norm", scale=1,
                             elem_classes=["ladder-norm"])
        level = gr.Slider(**ladder.slider_settings(family, norm, index), elem_classes=["ladder-level"])
        model = gr.Dropdown(p.model_choices(), value=default, label=label or "model", filterable=True,
                            info="Robust models give recognisable images; standard ones give noise-like changes.")
    hidden = {"api_visibility": "private", "show_progress": "hidden"}
    architecture.input(ladder.family_picked, [architecture, model], model, **hidden)
    norms.input(ladder.norm_picked, [architecture, norms, model], model, **hidden)
    level.input(ladder.level_picked, [architecture, norms, level], model, trigger_mode="always_last", **hidden)
    model.change(ladder.controls, model, [architecture, norms, level], **hidden)
    return model


def class_picker(model: str, label: str = "target class", value=True) -> gr.Dropdown:
    """A searchable class dropdown; class indices are accepted too. For a CLIP model it is a text box for any prompt
    (with example prompts to pick from): pickers.model_changed switches it as the model changes."""
    return gr.Dropdown(p.class_choices(model), value=p.example_class(model) if value else None,
                       label=p.target_label(model, label), filterable=True, allow_custom_value=True)


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
    model.change(lambda m, t: p.model_changed(m, t, label="suggest features for class"), [model, for_class],
                 for_class, api_visibility="private")
    suggest.click(p.suggest_features, [model, for_class], picks, api_visibility="private")
    picks.change(lambda index: index, picks, feature, api_visibility="private", show_progress="hidden")
    return feature


def target_picker(model: gr.Dropdown, item: task_registry.Input) -> gr.Dropdown:
    """The class picker; an optional target starts empty (the task's default: the predicted class)."""
    label = item.label or "target class"
    target = class_picker(model.value, label, value=item.required)
    model.change(lambda m, t: p.model_changed(m, t, with_default_class=item.required, label=label), [model, target],
                 target, api_visibility="private")  # .change: the ladder controls set the model too
    return target


def slider(item: task_registry.Input) -> gr.Slider:
    lim = limits.current()
    top = getattr(lim, item.maximum) if isinstance(item.maximum, str) else item.maximum
    return gr.Slider(item.minimum, top, value=min(item.default, top), step=1, label=item.label or item.name)


def attached(earlier: list, role: str, item: task_registry.Input):
    """The component a widget attaches to: the tab's model picker (role "model") or its first picture (role
    "picture"), found by input kind among the widgets built before it (not by parameter name)."""
    wanted = (lambda kind: kind.name == "model") if role == "model" else (lambda kind: kind.picture)
    found = next((component for other, component in earlier if wanted(input_kinds.get(other.kind))), None)
    if found is None:
        raise ValueError(f"input {item.name!r} ({item.kind}) needs a {role} input declared before it")
    return found


def _label(item: task_registry.Input) -> str:
    return item.label or item.name


# The builders an input kind names (input_kinds.InputKind.widget): (item, earlier, default_model) -> component.
BUILDERS = {
    "model": lambda item, earlier, default: model_picker(p.tab_model(item.default, default), _label(item)),
    "class": lambda item, earlier, default: target_picker(attached(earlier, "model", item), item),
    "image": lambda item, earlier, default: image_input(_label(item)),
    "mask": lambda item, earlier, default: mask_input(attached(earlier, "picture", item), _label(item)),
    "sketch": lambda item, earlier, default: sketch_input(_label(item)),
    "slider": lambda item, earlier, default: slider(item),
    "optional_number": lambda item, earlier, default: optional_number(_label(item), "empty = default"),
    "feature": lambda item, earlier, default: feature_picker(attached(earlier, "model", item), _label(item)),
    "checkbox": lambda item, earlier, default: gr.Checkbox(item.default, label=_label(item)),
    "dropdown": lambda item, earlier, default: gr.Dropdown(list(item.choices), value=item.default, label=_label(item)),
    "textbox": lambda item, earlier, default: gr.Textbox(item.default, label=_label(item)),
}


def widget(item: task_registry.Input, earlier: list, default_model: str):
    """The component for one input, as its kind's entry in the input-kind table says; earlier: the tab's
    [(Input, component)] built before it (a mask paints on the tab's picture, classes and features follow its model)."""
    build = input_kinds.get(item.kind).widget
    return (build if callable(build) else BUILDERS[build])(item, earlier, default_model)


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
