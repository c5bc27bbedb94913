"""robust-synth Gradio app: one tab and one API endpoint per task, robust-vs-standard comparison, shareable results."""
import inspect
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from robust_synth import app_handlers as h
from robust_synth import app_results as r
from robust_synth import app_values as v
from robust_synth import limits
from robust_synth.limits import MAX_SEED

EXAMPLES = Path(__file__).resolve().parent / "examples"
EMBEDDED = h.EMBEDDED_PAIR[0]
INTRO = """# robust-synth
Image synthesis with a single adversarially robust classifier: every tab runs projected gradient descent on the
*input* of one network. Tick **Compare with the standard model** to run the same seed through a non-robust network
and see the difference side by side. Each result is a PNG with its recipe embedded, plus a share link."""
SMALL_RESULT_PX = 128  # results below this (e.g. 32-px CIFAR images) are shown enlarged with visible pixels
# Result images keep their true size as files; in the page, small ones are scaled up nearest-neighbour (a
# blurred 32-px image shows nothing) and none is cropped (object-fit: contain).
CSS = """.result-view img { object-fit: contain; }
.result-view .grid-wrap { height: auto; min-height: 0; max-height: none; }
.result-view .thumbnail-item { max-height: 360px; }
.result-view img.pixelated { image-rendering: pixelated; }"""
HEAD = f"""<script>
document.addEventListener("load", (event) => {{
  const img = event.target;
  if (img.tagName === "IMG" && img.closest(".result-view")) {{
    img.classList.toggle("pixelated", Math.max(img.naturalWidth, img.naturalHeight) < {SMALL_RESULT_PX});
  }}
}}, true);
</script>"""
LAUNCH_OPTIONS = {"css": CSS, "head": HEAD}  # Gradio 6 takes page styling at launch(), not in Blocks()


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


def optional_number(label: str, default: str, info: str | None = None, elem_id: str | None = None) -> gr.Textbox:
    """A number that may be left empty: a text box, since gr.Number cannot stay empty (it shows and sends 0)."""
    return gr.Textbox(None, label=label, placeholder=default, info=info, max_lines=1, elem_id=elem_id)


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


def mask_inputs(image: gr.Image, label: str) -> gr.Image:
    """An editor to paint on the image, feeding a plain mask image (which can also be uploaded)."""
    editor = gr.ImageEditor(type="pil", label=label, sources=[], layers=False, transforms=[], height=300,
                            brush=gr.Brush(colors=["#ffffff"], color_mode="fixed", default_size=24))
    mask = gr.Image(type="filepath", label="mask (white = selected); painted above or uploaded", image_mode="L",
                    format="png", height=160, sources=["upload", "clipboard"])
    image.change(v.editor_with_background, image, editor, api_visibility="private", show_progress="hidden")
    editor.change(v.mask_from_editor, editor, mask, api_visibility="private", show_progress="hidden")
    return mask


def feature_picker(model: gr.Dropdown) -> gr.Textbox:
    """A feature index, with suggestions from the features most associated with a class."""
    feature = optional_number("feature (representation index)", "e.g. 3, or pick one of the suggestions")
    with gr.Row():
        for_class = class_picker(model.value, "suggest features for class")
        suggest = gr.Button("Suggest", size="sm")
        picks = gr.Dropdown([], label="top features", interactive=True)
    model.input(h.model_changed, model, for_class, api_visibility="private")
    suggest.click(h.suggest_features, [model, for_class], picks, api_visibility="private")
    picks.change(lambda index: index, picks, feature, api_visibility="private", show_progress="hidden")
    return feature


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


def wire(form: TaskForm, handler, run: gr.Button, stop: gr.Button, history: tuple, before_after) -> None:
    """Run -> Stop enabled -> the task's API endpoint (inputs in the handler's parameter order) -> Stop disabled;
    a finished run joins the session's history and, on image tabs, the input | result slider."""
    names = [p for p in inspect.signature(handler).parameters if p not in ("request", "progress")]
    task = form.task

    def arm(request: gr.Request):
        return h.arm_stop(task, request)

    def disarm(request: gr.Request):
        return h.disarm_stop(task, request)

    def stop_run(request: gr.Request):
        h.stop(task, request)

    armed = run.click(arm, None, stop, queue=False, api_visibility="private", show_progress="hidden")
    event = armed.then(handler, [form.fields[name] for name in names], list(form.outputs), api_name=task,
                       concurrency_limit=limits.current().batch_images, concurrency_id="gpu",  # >1: requests share
                       preprocess=False)  # PGD batches (robust_synth.batching); the library validates inputs
    for ended in (event.success, event.failure):  # Gradio 6.31's page skips .then() listeners after an error
        ended(disarm, None, stop, queue=False, api_visibility="private", show_progress="hidden")
    gallery, comparison, recipe = form.outputs
    state, thumbnails, links = history
    event.success(comparison_view, recipe, comparison, api_visibility="private", show_progress="hidden")
    event.success(r.add_to_history, [state, recipe, gallery], [state, thumbnails, links],
                  api_visibility="private", show_progress="hidden")
    if before_after is not None:
        source = form.fields.get("image") or form.fields.get("content_image") or form.fields["image_a"]
        event.success(show_before_after, [source, gallery], before_after, api_visibility="private",
                      show_progress="hidden")
    stop.click(stop_run, None, None, api_visibility="private", queue=False)
    form.fields["compare"].change(lambda on: gr.ImageSlider(visible=on), form.fields["compare"], comparison,
                                  api_visibility="private", show_progress="hidden")
    form.fields["model"].change(h.run_button, form.fields["model"], run, api_visibility="private",
                                show_progress="hidden")


def task_tab(task: str, title: str, blurb: str, handler, build_inputs, examples: list, lim: limits.Limits,
             default: str, history: tuple) -> TaskForm:
    """One tab: task inputs, settings, Run/Stop, results, examples."""
    with gr.Tab(title, id=task):
        gr.Markdown(blurb)
        with gr.Row():
            with gr.Column():
                fields = build_inputs(default)
                fields.update(settings(task, lim))
                with gr.Row():
                    run = gr.Button("Run", variant="primary", elem_id=f"run-{task}", scale=3)
                    stop = gr.Button("Stop", variant="stop", elem_id=f"stop-{task}", interactive=False, scale=1)
            with gr.Column():
                shows_input = bool({"image", "content_image", "image_a"} & set(fields))
                outputs, before_after = result_outputs(task, shows_input)
        form = TaskForm(task, fields, outputs)
        wire(form, handler, run, stop, history, before_after)
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
        pad.change(v.sketch_from_pad, pad, image, api_visibility="private", show_progress="hidden")
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
            "size": optional_number("size (output long side, px)", "default: 256 for a 32-px network"),
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
    """The registered models as a table (availability checked on every page load) and a model's searchable classes."""
    with gr.Tab("Models", id="models"):
        gr.Markdown("Every registered model. **embedded**: ships with the app; **cached**: downloaded before; "
                    "**downloadable**: fetched on its first run; **unavailable offline**: not cached and its host "
                    "cannot be reached, so it cannot run here.")
        gr.Markdown(h.availability_note)
        gr.Dataframe(h.models_table, headers=h.MODEL_COLUMNS, interactive=False, wrap=True, max_height=800,
                     column_widths=["21%", "8%", "7%", "13%", "7%", "13%", "7%", "12%", "12%"],
                     elem_id="models-table", show_search="filter")
        with gr.Row():
            chosen = gr.Dropdown(list(h.models.REGISTRY), value=h.EMBEDDED_PAIR[0], label="classes of model",
                                 filterable=True)
        classes = gr.Dataframe(h.class_table(h.EMBEDDED_PAIR[0]), headers=["index", "class"], interactive=False,
                               max_height=400, show_search="search", elem_id="models-classes")
        chosen.change(h.class_table, chosen, classes, api_visibility="private", show_progress="hidden")
        gr.api(h.list_models, api_name="models")


def fill_form(forms: dict, tabs: gr.Tabs, recipe: dict, inputs: dict, images=None) -> dict:
    """Updates that put a recipe's task, settings and inputs (and images, if any) back into its tab."""
    form = forms.get(recipe.get("task"))
    if form is None:
        raise gr.Error(f"the recipe's task {recipe.get('task')!r} is not one of: {', '.join(forms)}")
    settings = r.recipe_settings(recipe)
    updates = {tabs: gr.Tabs(selected=form.task)}
    for name, component in form.fields.items():
        value = inputs.get(name, settings.get(name))
        if name == "target" and "model" in settings:
            updates[component] = gr.Dropdown(choices=h.class_choices(settings["model"]), value=value)
        elif value is not None:
            updates[component] = value
    if images is not None:
        gallery, _, recipe_json = form.outputs
        updates.update({gallery: r.result_files(images, recipe), recipe_json: recipe})
    return updates


def history_components() -> tuple:
    """This session's results (state, thumbnails, share links), created before the tabs that add to them."""
    return (gr.State([]),
            gr.Gallery(label="this session's results (newest first)", columns=8, fit_columns=False,
                       object_fit="contain", interactive=False, elem_id="history", elem_classes=["result-view"], render=False),
            gr.Markdown(r.history_links([]), elem_id="history-links", render=False))


def results_tab(forms: dict, tabs: gr.Tabs, history: tuple) -> None:
    every_field = [c for form in forms.values() for c in (*form.fields.values(), *form.outputs)]
    with gr.Tab("Results", id="results"):
        gr.Markdown("This session's results, with their share links; reopen a shared result; or load a result "
                    "PNG / recipe JSON into its tab to re-run it.")
        for component in history[1:]:
            component.render()
        with gr.Row():
            result = gr.Textbox(label="result id or share link", elem_id="opened-id")
            open_button = gr.Button("Open", elem_id="open-result")
        gallery = gr.Gallery(label="result", columns=4, format="png", object_fit="contain", interactive=False,
                             elem_id="opened-result", elem_classes=["result-view"], visible=False)
        recipe = gr.JSON(label="recipe", elem_id="opened-recipe", visible=False)  # both shown once a result opens
        opened = open_button.click(r.open_result, result, [gallery, recipe], api_name="open_result")
        opened.success(lambda: (gr.Gallery(visible=True), gr.JSON(visible=True)), None, [gallery, recipe],
                       api_visibility="private", show_progress="hidden")
        with gr.Row():
            upload = gr.File(label="result PNG", file_types=[".png"], type="filepath", elem_id="result-upload")
            pasted = gr.Code(label="or paste a recipe (JSON)", language="json")
        load = gr.Button("Load into its tab (then press Run)", elem_id="load-recipe")

    def load_recipe(file, text):
        loaded = r.recipe_from_upload(file, text)
        inputs = {}
        if loaded.get("result_id"):
            try:
                _, _, inputs = r.load_result(loaded["result_id"])
            except gr.Error:
                gr.Warning("the recipe's saved inputs were not found here: add the input images yourself")
        return fill_form(forms, tabs, loaded, inputs)

    load.click(load_recipe, [upload, pasted], [tabs, *every_field], api_visibility="private")

    def restore(request: gr.Request):
        """Page load with ?result=<id>: reopen that result in its tab, with its inputs and settings."""
        result_id = (request.query_params.get("result") if request else None) or ""
        if not result_id:
            return {tabs: gr.skip()}  # Gradio wants at least one output in a dict
        images, loaded, inputs = r.load_result(result_id, request)
        return fill_form(forms, tabs, loaded, inputs, images)

    return restore, [tabs, *every_field]


def build_demo() -> gr.Blocks:
    """The whole app; launching is left to the caller (tests, `python app.py`, the Space), with LAUNCH_OPTIONS."""
    lim, default = limits.current(), h.default_model()
    with gr.Blocks(title="robust-synth") as demo:
        gr.Markdown(INTRO)
        history = history_components()
        with gr.Tabs() as tabs:
            forms = {task: task_tab(task, title, blurb, handler, inputs, examples, lim, default, history)
                     for task, title, blurb, handler, inputs, examples in TASKS}
            models_tab()
            restore, restore_outputs = results_tab(forms, tabs, history)
        pickers = [form.fields["model"] for form in forms.values()]
        demo.load(refresh_pickers, None, pickers, api_visibility="private", show_progress="hidden")
        demo.load(restore, None, restore_outputs, api_visibility="private")
    demo.queue(max_size=lim.queue_size, default_concurrency_limit=1)
    return demo


def refresh_pickers() -> list:
    """Every model picker's labels with the availability as of this page load."""
    choices = h.model_choices()
    return [gr.Dropdown(choices=choices)] * len(TASKS)


h.preload()  # the embedded robust/standard pair, once, on CPU (ZeroGPU moves work to the GPU per request)

if __name__ == "__main__":
    build_demo().launch(**LAUNCH_OPTIONS)
