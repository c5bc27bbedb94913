"""robust-synth Gradio app: one tab and one API endpoint per task, robust-vs-standard comparison, shareable results."""
import inspect
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from robust_synth import app_handlers as h
from robust_synth import limits
from robust_synth.limits import MAX_SEED

EXAMPLES = Path(__file__).resolve().parent / "examples"
EMBEDDED = h.EMBEDDED_PAIR[0]
INTRO = """# robust-synth
Image synthesis with a single adversarially robust classifier: every tab runs projected gradient descent on the
*input* of one network. Tick **Compare with the standard model** to run the same seed through a non-robust network
and see the difference side by side. Each result is a PNG with its recipe embedded, plus a share link."""


@dataclass
class TaskForm:
    """A task tab's components: inputs by handler parameter name, and its outputs."""
    task: str
    fields: dict = field(default_factory=dict)
    outputs: tuple = ()


def photo(name: str) -> str:
    return str(EXAMPLES / "photos" / name)


def example(folder: str, name: str) -> str:
    return str(EXAMPLES / folder / name)


# ----- components shared by the tabs ---------------------------------------------------------------------------

def model_picker(default: str, label: str = "model") -> gr.Dropdown:
    return gr.Dropdown(h.model_choices(), value=default, label=label, filterable=True,
                       info="Robust models give recognisable images; standard ones give noise-like changes.")


def class_picker(model: str, label: str = "target class", value=True) -> gr.Dropdown:
    """A searchable class dropdown; class indices are accepted too."""
    return gr.Dropdown(h.class_choices(model), value=h.example_class(model) if value else None, label=label,
                       filterable=True, allow_custom_value=True)


def image_input(label: str = "image") -> gr.Image:
    return gr.Image(type="filepath", label=label, sources=["upload", "clipboard", "webcam"], height=260)


def settings(lim: limits.Limits) -> dict:
    """seed, steps, eps, step_size (empty = the task's reference setting) and the comparison toggle."""
    with gr.Accordion("Settings", open=False):
        with gr.Row():
            seed = gr.Number(0, label="seed", precision=0, minimum=0, maximum=MAX_SEED)
            steps = gr.Number(None, label="steps", precision=0, minimum=1, maximum=lim.max_steps,
                              info=f"empty = task default; at most {lim.max_steps}")
        with gr.Row():
            eps = gr.Number(None, label="eps", minimum=0, maximum=lim.max_eps,
                            info=f"L2 radius in [0,1] pixels; at most {lim.max_eps:g}")
            step_size = gr.Number(None, label="step_size", minimum=0, maximum=lim.max_step_size,
                                  info=f"at most {lim.max_step_size:g}")
        gr.Markdown(lim.summary())
    compare = gr.Checkbox(False, label="Compare with the standard model (same seed, side by side)")
    return {"seed": seed, "steps": steps, "eps": eps, "step_size": step_size, "compare": compare}


def mask_inputs(image: gr.Image, label: str) -> gr.Image:
    """An editor to paint on the image, feeding a plain mask image (which can also be uploaded)."""
    editor = gr.ImageEditor(type="pil", label=label, sources=[], layers=False, transforms=[], height=300,
                            brush=gr.Brush(colors=["#ffffff"], color_mode="fixed", default_size=24))
    mask = gr.Image(type="filepath", label="mask (white = selected); painted above or uploaded", image_mode="L",
                    format="png", height=160, sources=["upload", "clipboard"])
    image.change(h.editor_with_background, image, editor, api_visibility="private", show_progress="hidden")
    editor.change(h.mask_from_editor, editor, mask, api_visibility="private", show_progress="hidden")
    return mask


def feature_picker(model: gr.Dropdown) -> gr.Number:
    """A feature index, with suggestions from the features most associated with a class."""
    feature = gr.Number(None, label="feature (representation index)", precision=0, minimum=0)
    with gr.Row():
        for_class = class_picker(model.value, "suggest features for class")
        suggest = gr.Button("Suggest", size="sm")
        picks = gr.Dropdown([], label="top features", interactive=True)
    model.input(h.model_changed, model, for_class, api_visibility="private")
    suggest.click(h.suggest_features, [model, for_class], picks, api_visibility="private")
    picks.change(lambda index: index, picks, feature, api_visibility="private", show_progress="hidden")
    return feature


def result_outputs(task: str) -> tuple:
    gallery = gr.Gallery(label="result (PNG with recipe)", columns=4, format="png", height=320, preview=False,
                         elem_id=f"gallery-{task}")
    comparison = gr.ImageSlider(label="robust | standard", type="pil", max_height=320)
    share = gr.Markdown()
    with gr.Accordion("Recipe", open=False):
        recipe = gr.JSON(label="recipe")
    recipe.change(share_markdown, recipe, share, api_visibility="private", show_progress="hidden")
    return gallery, comparison, recipe


def share_markdown(recipe) -> str:
    if not recipe or not recipe.get("share_url"):
        return ""
    return f"**Share:** [{recipe['share_url']}]({recipe['share_url']}) (reopens this result with its settings)"


def wire(form: TaskForm, handler, run: gr.Button, stop: gr.Button) -> None:
    """Run -> the task's API endpoint (inputs in the handler's parameter order), Stop -> cancel it."""
    names = [p for p in inspect.signature(handler).parameters if p not in ("request", "progress")]
    event = run.click(handler, [form.fields[name] for name in names], list(form.outputs), api_name=form.task,
                      concurrency_limit=limits.current().batch_images, concurrency_id="gpu",  # >1: requests share
                      preprocess=False)  # PGD batches (robust_synth.batching); the library validates inputs
    stop.click(h.stop, None, None, cancels=[event], api_visibility="private", queue=False)


def task_tab(task: str, title: str, blurb: str, handler, build_inputs, examples: list, lim: limits.Limits,
             default: str) -> TaskForm:
    """One tab: task inputs, settings, Run/Stop, results, examples."""
    with gr.Tab(title, id=task):
        gr.Markdown(blurb)
        with gr.Row():
            with gr.Column():
                fields = build_inputs(default)
                fields.update(settings(lim))
                with gr.Row():
                    run = gr.Button("Run", variant="primary", elem_id=f"run-{task}")
                    stop = gr.Button("Stop", variant="stop")
            with gr.Column():
                outputs = result_outputs(task)
        form = TaskForm(task, fields, outputs)
        wire(form, handler, run, stop)
        names = list(dict.fromkeys(name for row in examples for name in row))  # every input some example sets
        gr.Examples([[row.get(name) for name in names] for row in examples], [fields[name] for name in names],
                    label="Examples (embedded CIFAR-10 model, works offline)")
    return form


# ----- the task tabs' inputs ---------------------------------------------------------------------------------------

def with_model(default: str, extra) -> dict:
    model = model_picker(default)
    return {"model": model, **extra(model)}


def with_target(model: gr.Dropdown, **fields) -> dict:
    target = class_picker(model.value)
    model.input(h.model_changed, model, target, api_visibility="private")
    return {**fields, "target": target}


def generate_inputs(default: str) -> dict:
    max_n = limits.current().max_n
    return with_model(default, lambda m: {
        **with_target(m), "n": gr.Slider(1, max_n, value=min(4, max_n), step=1, label="n (images)")})


def inpaint_inputs(default: str) -> dict:
    def extra(model):
        image = image_input()
        mask = mask_inputs(image, "paint the missing region")
        target = class_picker(model.value, "target class (empty = predicted)", value=False)
        model.input(lambda m: h.model_changed(m, with_default_class=False), model, target, api_visibility="private")
        start_fill = gr.Dropdown(["smooth", "mean"], value="smooth", label="start from (mean: as the paper)")
        return {"image": image, "mask": mask, "target": target, "start_fill": start_fill}
    return with_model(default, extra)


def super_resolve_inputs(default: str) -> dict:
    return with_model(default, lambda m: {
        "image": image_input("low-resolution image"),
        "factor": gr.Slider(2, 8, value=4, step=1, label="factor"),
        "method": gr.Dropdown(["bicubic", "nearest"], value="bicubic", label="upsampling method"),
        "consistent": gr.Checkbox(True, label="keep consistent with the low-resolution image (back-projection)")})


def image_target_inputs(label: str):
    def build(default: str) -> dict:
        return with_model(default, lambda m: with_target(m, image=image_input(label)))
    return build


def sketch_inputs(default: str) -> dict:
    def extra(model):
        image = image_input("sketch")
        pad = gr.Sketchpad(type="pil", label="or draw it here", height=300, canvas_size=(400, 400))
        pad.change(h.sketch_from_pad, pad, image, api_visibility="private", show_progress="hidden")
        return with_target(model, image=image)
    return with_model(default, extra)


def paint_features_inputs(default: str) -> dict:
    def extra(model):
        image = image_input()
        return {"image": image, "mask": mask_inputs(image, "paint where the feature should appear"),
                "feature": feature_picker(model)}
    return with_model(default, extra)


def invert_inputs(default: str) -> dict:
    return with_model(default, lambda m: {"image": image_input()})


def interpolate_inputs(default: str) -> dict:
    lim = limits.current()
    return with_model(default, lambda m: {
        "image_a": image_input("image_a"), "image_b": image_input("image_b"),
        "frames": gr.Slider(2, lim.max_frames, value=min(8, lim.max_frames), step=1, label="frames")})


def visualize_feature_inputs(default: str) -> dict:
    return with_model(default, lambda m: {"feature": feature_picker(m),
                                          "image": image_input("start image (optional; default: noise)")})


def style_inputs(default: str) -> dict:
    return {"content_image": image_input("content image"), "style_image": image_input("style image"),
            "model": model_picker(default, "style network"),
            "size": gr.Number(None, label="size (output long side, px; empty = default)", precision=0, minimum=32),
            "preserve_colors": gr.Checkbox(False, label="preserve the content's colours")}


TASKS = [
    ("generate", "Generate", "Class-conditional generation: PGD toward a class from a class-conditional seed.",
     h.generate, generate_inputs,
     [{"model": EMBEDDED, "target": "horse", "n": 4}, {"model": EMBEDDED, "target": "ship", "n": 4}]),
    ("inpaint", "Inpaint", "Fill the white region of the mask so the image is classified as the target class.",
     h.inpaint, inpaint_inputs,
     [{"model": EMBEDDED, "image": photo("chelsea.jpg"), "mask": example("masks", "square.png"), "target": "cat"},
      {"model": EMBEDDED, "image": photo("rocket.jpg"), "mask": example("masks", "stripe.png"), "target": ""}]),
    ("super_resolve", "Super-resolve",
     "Upsample, then PGD toward the predicted class within a small L2 ball, keeping the low-resolution image.",
     h.super_resolve, super_resolve_inputs,
     [{"model": EMBEDDED, "image": photo("chelsea-64.jpg"), "factor": 2},  # output: factor x the input's size
      {"model": EMBEDDED, "image": photo("coffee-64.jpg"), "factor": 4}]),
    ("translate", "Translate", "Image-to-image translation: move a photo toward another class.",
     h.translate, image_target_inputs("source image"),
     [{"model": EMBEDDED, "image": photo("chelsea.jpg"), "target": "dog"},
      {"model": EMBEDDED, "image": photo("rocket.jpg"), "target": "ship"}]),
    ("sketch_to_image", "Sketch to image", "Turn a line drawing into an image of the target class.",
     h.sketch_to_image, sketch_inputs,
     [{"model": EMBEDDED, "image": example("sketches", "horse.png"), "target": "horse"},
      {"model": EMBEDDED, "image": example("sketches", "ship.png"), "target": "ship"},
      {"model": EMBEDDED, "image": example("sketches", "cat.png"), "target": "cat"}]),
    ("paint_features", "Paint features", "Raise one representation feature inside the painted region only.",
     h.paint_features, paint_features_inputs,
     [{"model": EMBEDDED, "image": photo("coffee.jpg"), "mask": example("masks", "square.png"), "feature": 3}]),
    ("invert", "Invert", "Representation inversion: an image from noise with the same representation.",
     h.invert, invert_inputs,
     [{"model": EMBEDDED, "image": photo("chelsea.jpg")}, {"model": EMBEDDED, "image": photo("astronaut.jpg")}]),
    ("interpolate", "Interpolate", "Frames between two images, interpolating their representations.",
     h.interpolate, interpolate_inputs,
     [{"model": EMBEDDED, "image_a": photo("chelsea.jpg"), "image_b": photo("rocket.jpg"), "frames": 6}]),
    ("visualize_feature", "Visualize a feature", "Maximise one representation feature, from noise or an image.",
     h.visualize_feature, visualize_feature_inputs,
     [{"model": EMBEDDED, "feature": 3}, {"model": EMBEDDED, "feature": 10, "image": photo("coffee.jpg")}]),
    ("style_transfer", "Style transfer", "Gatys style transfer with a robust network as the style network.",
     h.style_transfer, style_inputs,
     [{"content_image": photo("chelsea.jpg"), "style_image": example("styles", "mosaic.jpg"), "model": EMBEDDED},
      {"content_image": photo("astronaut.jpg"), "style_image": example("styles", "swirl.jpg"), "model": EMBEDDED}]),
]


# ----- models and results tabs, page-load restore ------------------------------------------------------------------

def models_tab() -> None:
    with gr.Tab("Models", id="models"):
        gr.Markdown("Registered models: dataset, classes, robustness, and whether the weights are available.")
        listing = gr.JSON(label="models")
        gr.Button("List models").click(h.list_models, None, listing, api_name="models")


def fill_form(forms: dict, tabs: gr.Tabs, recipe: dict, inputs: dict, images=None) -> dict:
    """Updates that put a recipe's task, settings and inputs (and images, if any) back into its tab."""
    form = forms.get(recipe.get("task"))
    if form is None:
        raise gr.Error(f"the recipe's task {recipe.get('task')!r} is not one of: {', '.join(forms)}")
    settings = h.recipe_settings(recipe)
    updates = {tabs: gr.Tabs(selected=form.task)}
    for name, component in form.fields.items():
        value = inputs.get(name, settings.get(name))
        if name == "target" and "model" in settings:
            updates[component] = gr.Dropdown(choices=h.class_choices(settings["model"]), value=value)
        elif value is not None:
            updates[component] = value
    if images is not None:
        gallery, _, recipe_json = form.outputs
        updates.update({gallery: h.result_files(images, recipe), recipe_json: recipe})
    return updates


def results_tab(forms: dict, tabs: gr.Tabs) -> None:
    every_field = [c for form in forms.values() for c in (*form.fields.values(), *form.outputs)]
    with gr.Tab("Results", id="results"):
        gr.Markdown("Reopen a shared result, or load a result PNG / recipe JSON into its tab to re-run it.")
        with gr.Row():
            result = gr.Textbox(label="result id or share link")
            open_button = gr.Button("Open")
        gallery = gr.Gallery(label="result", columns=4, format="png", height=260)
        recipe = gr.JSON(label="recipe")
        open_button.click(h.open_result, result, [gallery, recipe], api_name="open_result")
        with gr.Row():
            upload = gr.File(label="result PNG", file_types=[".png"], type="filepath")
            pasted = gr.Code(label="or paste a recipe (JSON)", language="json")
        load = gr.Button("Load into its tab (then press Run)")

    def load_recipe(file, text):
        loaded = h.recipe_from_upload(file, text)
        inputs = {}
        if loaded.get("result_id"):
            try:
                _, _, inputs = h.load_result(loaded["result_id"])
            except gr.Error:
                gr.Warning("the recipe's saved inputs were not found here: add the input images yourself")
        return fill_form(forms, tabs, loaded, inputs)

    load.click(load_recipe, [upload, pasted], [tabs, *every_field], api_visibility="private")

    def restore(request: gr.Request):
        """Page load with ?result=<id>: reopen that result in its tab, with its inputs and settings."""
        result_id = (request.query_params.get("result") if request else None) or ""
        if not result_id:
            return {tabs: gr.skip()}  # Gradio wants at least one output in a dict
        images, loaded, inputs = h.load_result(result_id, request)
        return fill_form(forms, tabs, loaded, inputs, images)

    return restore, [tabs, *every_field]


def build_demo() -> gr.Blocks:
    """The whole app; launching is left to the caller (tests, `python app.py`, the Space)."""
    lim, default = limits.current(), h.default_model()
    with gr.Blocks(title="robust-synth") as demo:
        gr.Markdown(INTRO)
        with gr.Tabs() as tabs:
            forms = {task: task_tab(task, title, blurb, handler, inputs, examples, lim, default)
                     for task, title, blurb, handler, inputs, examples in TASKS}
            models_tab()
            restore, restore_outputs = results_tab(forms, tabs)
        demo.load(restore, None, restore_outputs, api_visibility="private")
    demo.queue(max_size=lim.queue_size, default_concurrency_limit=1)
    return demo


h.preload()  # the embedded robust/standard pair, once, on CPU (ZeroGPU moves work to the GPU per request)

if __name__ == "__main__":
    build_demo().launch()
