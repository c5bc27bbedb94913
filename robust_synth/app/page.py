"""The app's page: a tab per registered task, the Models and Results tabs, restoring a shared result on load."""
import gradio as gr

from .. import limits, models, task_registry
from . import pickers as p
from . import queue_gate
from . import result_sharing as r
from .tabs import TaskForm, comparison_view, task_tab, view_updates

INTRO = """# robust-synth
Image synthesis with a single adversarially robust classifier: every tab runs projected gradient descent on the
*input* of one network. Tick **Compare with the standard model** to run the same seed through a non-robust network
and see the difference side by side. Each result is a PNG with its recipe embedded, plus a share link."""
SMALL_RESULT_PX = 128  # results below this (e.g. 32-px CIFAR images) are shown enlarged with visible pixels
# Result images keep their true size as files; in the page, small ones are scaled up nearest-neighbour (a
# blurred 32-px image shows nothing) and none is cropped (object-fit: contain). The robustness slider moves over
# level indices: its number box and end labels would show an index, so only its label (the level's ε) shows.
CSS = """.result-view img { object-fit: contain; }
.result-view .grid-wrap { height: auto; min-height: 0; max-height: none; }
.result-view .thumbnail-item { max-height: 360px; }
.result-view img.pixelated { image-rendering: pixelated; }
.ladder-level .tab-like-container, .ladder-level .min_value, .ladder-level .max_value { display: none; }"""
HEAD = f"""<script>
document.addEventListener("load", (event) => {{
  const img = event.target;
  if (img.tagName === "IMG" && img.closest(".result-view")) {{
    img.classList.toggle("pixelated", Math.max(img.naturalWidth, img.naturalHeight) < {SMALL_RESULT_PX});
  }}
}}, true);
</script>"""
CACHE_SWEEP_S = 600  # how often Gradio removes its cached copies of served files older than SERVED_FILES_MAX_AGE_S
LAUNCH_OPTIONS = {"css": CSS, "head": HEAD}  # Gradio 6 takes page styling at launch(), not in Blocks()


def models_tab() -> tuple[gr.Markdown, gr.Dataframe]:
    """The registered models as a table and a model's searchable classes; returns the note and table that every page
    load refreshes (refresh_models)."""
    with gr.Tab("Models", id="models", alignment="right"):
        gr.Markdown("Every registered model. **embedded**: ships with the app; **cached**: downloaded before; "
                    "**downloadable**: fetched on its first run; **unavailable offline**: not cached and its host "
                    "cannot be reached, so it cannot run here.")
        note = gr.Markdown()
        with gr.Accordion("Model families: papers, licences, clean accuracy", open=False, elem_id="model-families"):
            gr.Markdown(p.family_cards())
        table = gr.Dataframe(headers=p.MODEL_COLUMNS, interactive=False, wrap=True, max_height=800,
                             column_widths=["21%", "8%", "7%", "13%", "7%", "13%", "7%", "12%", "12%"],
                             elem_id="models-table", show_search="filter")
        with gr.Row():
            chosen = gr.Dropdown(list(models.REGISTRY), value=p.EMBEDDED_PAIR[0], label="classes of model",
                                 filterable=True)
        classes = gr.Dataframe(p.class_table(p.EMBEDDED_PAIR[0]), headers=["index", "class"], interactive=False,
                               max_height=400, show_search="search", elem_id="models-classes")
        chosen.change(p.class_table, chosen, classes, api_visibility="private", show_progress="hidden")
        gr.api(p.list_models, api_name="models")
    return note, table


def fill_form(forms: dict, tabs: gr.Tabs, recipe: dict, inputs: dict, saved: r.Saved | None = None) -> dict:
    """Updates that put a recipe's task, settings and inputs (and a saved result's images, if given) back into its
    tab; compare is ticked for a compared run."""
    form = forms.get(recipe.get("task"))
    if form is None:
        raise gr.Error(f"the recipe's task {recipe.get('task')!r} is not one of: {', '.join(forms)}")
    settings = {**r.recipe_settings(recipe), "compare": bool(recipe.get("comparison"))}
    updates = {tabs: gr.Tabs(selected=form.task)}
    for name, component in form.fields.items():
        value = inputs.get(name, settings.get(name))
        if name == "target" and "model" in settings:
            updates[component] = gr.Dropdown(choices=p.class_choices(settings["model"]), value=value)
        elif value is not None:
            updates[component] = value
    if saved is not None:
        updates.update(shown_result(form, saved))
    return updates


def shown_result(form: TaskForm, saved: r.Saved) -> dict:
    """Updates that show a saved result in its tab as its run did: images, pairs, what changed, recipe."""
    gallery, comparison, recipe_json = form.outputs
    files = r.result_files(saved.images, saved.recipe)
    pairs = r.comparison_files(files, saved.compared, saved.recipe) if saved.compared else None
    updates = {gallery: files, recipe_json: saved.recipe,
               comparison: comparison_view(saved.recipe, pairs, value=pairs)}
    updates.update(view_updates(form, saved.recipe, saved.inputs, saved.images[0], (saved.compared or [None])[0]))
    return updates


def history_components() -> tuple:
    """This session's results (state, thumbnails, share links), created before the tabs that add to them."""
    return (gr.State([]),
            gr.Gallery(label="this session's results (newest first)", columns=8, fit_columns=False,
                       object_fit="contain", interactive=False, elem_id="history", elem_classes=["result-view"],
                       render=False),
            gr.Markdown(r.history_links([]), elem_id="history-links", render=False))


def results_tab(forms: dict, tabs: gr.Tabs, history: tuple) -> None:
    every_field = [c for form in forms.values() for c in (*form.fields.values(), *form.outputs, *form.views.values())]
    with gr.Tab("Results", id="results", alignment="right"):
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
                inputs = r.load_result(loaded["result_id"]).inputs
            except gr.Error:
                gr.Warning("the recipe's saved inputs were not found here: add the input images yourself")
        return fill_form(forms, tabs, loaded, inputs)

    load.click(load_recipe, [upload, pasted], [tabs, *every_field], api_visibility="private")

    def restore(request: gr.Request):
        """Page load with ?result=<id>: reopen that result in its tab, with its inputs and settings."""
        result_id = (request.query_params.get("result") if request else None) or ""
        if not result_id:
            return {tabs: gr.skip()}  # Gradio wants at least one output in a dict
        saved = r.load_result(result_id, request)
        return fill_form(forms, tabs, saved.recipe, saved.inputs, saved)

    return restore, [tabs, *every_field]


def build_demo() -> gr.Blocks:
    """The whole app; launching is left to the caller (tests, `python app.py`, the Space), with LAUNCH_OPTIONS."""
    lim, default = limits.current(), p.default_model()
    with gr.Blocks(title="robust-synth", delete_cache=(CACHE_SWEEP_S, r.SERVED_FILES_MAX_AGE_S)) as demo:
        gr.Markdown(INTRO)
        history = history_components()
        with gr.Tabs(overflow_behavior="wrap") as tabs:  # every tab stays visible, however many tasks
            forms = {task.name: task_tab(task, lim, default, p.EMBEDDED_PAIR[0], history)
                     for task in task_registry.all_tasks()}
            note, table = models_tab()
            restore, restore_outputs = results_tab(forms, tabs, history)
        pickers = [form.fields["model"] for form in forms.values()]
        demo.load(refresh_models(len(pickers)), None, [*pickers, note, table], api_visibility="private",
                  show_progress="hidden")
        demo.load(restore, None, restore_outputs, api_visibility="private")
    demo.queue(max_size=lim.queue_size, default_concurrency_limit=1)  # max_size is only a memory backstop:
    queue_gate.install(demo)  # task requests are refused by expected wait (admission.py) long before it
    return demo


def refresh_models(pickers: int):
    """The page-load handler: `pickers` model pickers' labels, the Models tab's note and table, all with the
    availability as of this load (private: not an API endpoint, unlike a component whose value is a function)."""
    def refresh() -> list:
        choices = gr.Dropdown(choices=p.model_choices())
        return [choices] * pickers + [p.availability_note(), p.models_table()]
    return refresh
