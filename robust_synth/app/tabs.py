"""A task's tab built from its declaration: its widgets, Run/Stop and Compare across robustness wired to its two
endpoints, its results and examples."""
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from .. import input_kinds, limits, models, task_registry
from . import changes
from . import pickers as p
from . import result_sharing as r
from . import values as v
from .endpoints import AFTER_INPUTS, endpoint, ladder_endpoint, ladder_name
from .running import arm_stop, disarm_stop, stop
from .widgets import settings, widget

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"  # the examples a declaration names live here


CHANGE_TASKS = ("refine",)  # tasks whose change is too small to see: their tab shows it amplified
CHANGE_LABEL = "what changed: result − input, amplified by the factor under each (mid-grey = unchanged)"


@dataclass
class TaskForm:
    """A task tab's components: inputs by endpoint parameter name, its outputs (the endpoint's), and the views the
    page fills after a run: "before_after" (tabs with an input picture) and "change" (CHANGE_TASKS)."""
    task: str
    fields: dict = field(default_factory=dict)
    outputs: tuple = ()
    views: dict = field(default_factory=dict)


# ----- results beside the inputs --------------------------------------------------------------------------------

def _gallery(label: str, elem_id: str, **options) -> gr.Gallery:
    return gr.Gallery(label=label, format="png", preview=False, object_fit="contain", type="filepath",
                      interactive=False, elem_id=elem_id, elem_classes=["result-view"], **options)


def result_outputs(task: str, shows_input: bool) -> tuple[tuple, dict]:
    """The result gallery, the robust | standard pairs, the input | result slider, what changed (CHANGE_TASKS),
    notes on the run, the share link and the recipe: (the endpoint's outputs, the views)."""
    gallery = _gallery("result (PNG with recipe)", f"gallery-{task}", columns=4)
    comparison = _gallery("robust | standard", f"comparison-{task}", columns=2, visible=False)
    views = {}
    if shows_input:
        views["before_after"] = gr.ImageSlider(label="input | result", type="pil", format="png", max_height=360,
                                               visible=False, interactive=False, elem_id=f"before-after-{task}",
                                               elem_classes=["result-view"])
    if task in CHANGE_TASKS:
        views["change"] = _gallery(CHANGE_LABEL, f"change-{task}", columns=2, visible=False)
    notes = gr.Markdown(elem_id=f"notes-{task}")
    share = gr.Markdown(elem_id=f"share-{task}")
    with gr.Accordion("Recipe", open=False, elem_id=f"recipe-{task}-accordion"):
        recipe = gr.JSON(label="recipe", elem_id=f"recipe-{task}")
    hidden = {"api_visibility": "private", "show_progress": "hidden"}
    recipe.change(result_notes, recipe, notes, **hidden)
    recipe.change(share_markdown, recipe, share, **hidden)
    return (gallery, comparison, recipe), views


def share_markdown(recipe) -> str:
    if not recipe or not recipe.get("share_url"):
        return ""
    url = recipe["share_url"]
    return f"**Share:** [{url}]({url}) (reopens this result with its settings)."


def stop_notes(recipe: dict) -> list[str]:
    """A sentence for each run of the result (its own and the compared standard model's) that ended early."""
    runs = [recipe, *([recipe["comparison"]] if recipe.get("comparison") else [])]
    return [f"**Stopped early:** {run['model']} ran {run['metrics'].get('steps_run', '?')} of "
            f"{run['params'].get('steps', '?')} steps before the {run.get('stopped_by') or 'stop'} ended it; the "
            "best result so far is shown." for run in runs if run.get("cancelled")]


def result_notes(recipe) -> str:
    """What the page says about a run besides its images: runs ended early, the probabilities it changed, what the
    app did to the input pictures."""
    if not recipe:
        return ""
    return "\n\n".join(filter(None, [*stop_notes(recipe), changes.probability_note(recipe),
                                      *v.preparation_notes(recipe.get("input_preparation"))]))


def comparison_view(recipe, pairs, **value) -> gr.Gallery:
    """The robust | standard pairs after a run: the sides named by their models, a pair a row (two from three pairs
    on), shown only if the run compared (value=...: the pairs too, for a reopened result)."""
    standard = (recipe or {}).get("comparison")
    if not standard:
        return gr.Gallery(label="robust | standard", visible=False, **value)
    return gr.Gallery(label=f"robust: {recipe['model']}  |  standard: {standard['model']}  (each image's pair)",
                      columns=4 if len(pairs or []) >= 6 else 2, visible=True, **value)


def change_view(image, result, standard, recipe) -> gr.Gallery:
    """The input against the result (and the standard model's, if compared), amplified alike."""
    shown = [result, standard] if standard is not None else [result]
    labels = [label for label, _ in changes.sides(recipe or {}, named=False)]
    found = changes.differences(image, dict(zip(labels, shown))) if result is not None else []
    return gr.Gallery(value=found or None, visible=bool(found), label=CHANGE_LABEL)


def view_updates(form: TaskForm, recipe: dict, inputs: dict, result, standard) -> dict:
    """Updates of the form's views (input | result, what changed) for a result (its first image, and the standard
    model's first if compared), from its saved inputs: the pictures as the task got them (composited, scaled down).
    A view whose input is not known is hidden."""
    image = (inputs or {}).get(first_image(task_registry.get(form.task)).name) if form.views else None
    updates = {}
    if "before_after" in form.views:
        pair = v.input_beside_result(image, result)
        updates[form.views["before_after"]] = gr.ImageSlider(value=pair, visible=pair is not None)
    if "change" in form.views:
        updates[form.views["change"]] = change_view(image, result, standard, recipe)
    return updates


# ----- the tab ------------------------------------------------------------------------------------------------------

def wire(form: TaskForm, task: task_registry.Task, buttons: tuple, strip: tuple, history: tuple) -> None:
    """Run -> Stop enabled -> the task's API endpoint (inputs in the endpoint's parameter order) -> Stop disabled;
    a finished run joins the session's history and fills the views (input | result, what changed). Compare across
    robustness runs the same way through `<task>_ladder` into the strip, its levels joining the history."""
    name = task.name
    run, compare_levels, stop_button = buttons
    inputs = [form.fields[n] for n in [i.name for i in task.app_inputs] + list(AFTER_INPUTS)]

    def arm(request: gr.Request):
        return arm_stop(name, request)

    def arm_ladder(model, request: gr.Request):
        levels = len(models.ladder(model)) if model in models.REGISTRY else 2
        return arm_stop(name, request), gr.Gallery(value=None, visible=True, columns=levels)

    def disarm(request: gr.Request):
        return disarm_stop(name, request)

    def stop_run(request: gr.Request):
        stop(name, request)

    def started(armed, handler, outputs, api_name):
        """The endpoint once Stop is armed, Stop disarmed when it ends. concurrency_limit > 1: requests share PGD
        batches (robust_synth.batching); preprocess=False: the library validates the inputs; success and failure
        both disarm, since Gradio 6.31's page skips .then() listeners after an error."""
        event = armed.then(handler, inputs, outputs, api_name=api_name, preprocess=False,
                           concurrency_limit=limits.current().concurrent_requests, concurrency_id="gpu")
        for ended in (event.success, event.failure):
            ended(disarm, None, stop_button, **private)
        return event

    private = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
    hidden = {"api_visibility": "private", "show_progress": "hidden"}
    event = started(run.click(arm, None, stop_button, **private), endpoint(task), list(form.outputs), name)
    ladder = started(compare_levels.click(arm_ladder, form.fields["model"], [stop_button, strip[0]], **private),
                     ladder_endpoint(task), list(strip), ladder_name(task))
    gallery, comparison, recipe = form.outputs
    state, thumbnails, links = history
    event.success(comparison_view, [recipe, comparison], comparison, **hidden)
    event.success(r.add_to_history, [state, recipe, gallery], [state, thumbnails, links], **hidden)
    ladder.success(r.add_ladder_to_history, [state, strip[1], strip[0]], [state, thumbnails, links], **hidden)
    if form.views:
        def show_views(recipe_value, files, pairs):
            first = files[0][0] if files else None
            return view_updates(form, recipe_value, r.saved_inputs(recipe_value), first, pairs[1][0] if pairs else None)
        event.success(show_views, [recipe, gallery, comparison], list(form.views.values()), **hidden)
    stop_button.click(stop_run, None, None, api_visibility="private", queue=False)
    form.fields["compare"].change(lambda on: gr.Gallery(visible=on), form.fields["compare"], comparison, **hidden)
    form.fields["model"].change(lambda model: (p.run_button(model),) * 2, form.fields["model"], [run, compare_levels],
                                api_visibility="private", show_progress="hidden")


def robustness_strip(task: str) -> tuple:
    """The strip Compare across robustness fills (one captioned image per level) and the levels as JSON."""
    strip = gr.Gallery(label="across robustness (same seed and settings; ε and clean top-1 under each)",
                       columns=2, format="png", preview=False, object_fit="contain", interactive=False,
                       visible=False, elem_id=f"ladder-{task}", elem_classes=["result-view"])
    with gr.Accordion("Levels (JSON)", open=False, elem_id=f"ladder-{task}-accordion"):
        levels = gr.JSON(label="levels", elem_id=f"ladder-{task}-levels")
    return strip, levels


def first_image(task: task_registry.Task) -> task_registry.Input | None:
    """The input the input | result slider shows beside the result (None: the task takes no image)."""
    return next((i for i in task.app_inputs if input_kinds.get(i.kind).picture), None)


def example_rows(task: task_registry.Task, model: str) -> tuple[list, list[str]]:
    """The declaration's examples as gr.Examples rows (image paths under examples/; the embedded model, or the task's
    own default network where it has one)."""
    model = p.tab_model(task.input("model").default, model)
    rows = [{"model": model, **row} if "model" not in row else row for row in task.examples]
    names = list(dict.fromkeys(name for row in rows for name in row))  # every input some example sets
    kinds = {i.name: i.kind for i in task.inputs}

    def value(name, row):
        given = row.get(name)
        return str(EXAMPLES / given) if given and name in kinds and input_kinds.get(kinds[name]).upload else given
    return [[value(name, row) for name in names] for row in rows], names


def task_tab(task: task_registry.Task, lim: limits.Limits, default: str, example_model: str,
             history: tuple) -> TaskForm:
    """One tab: the task's inputs, settings, Run/Stop, results, examples."""
    with gr.Tab(task.title, id=task.name):
        gr.Markdown(task.description)
        with gr.Row():
            with gr.Column():
                fields, earlier = {}, []
                for item in task.app_inputs:
                    fields[item.name] = widget(item, earlier, default)
                    earlier.append((item, fields[item.name]))
                fields.update(settings(task.name, lim))
                with gr.Row():
                    run = gr.Button("Run", variant="primary", elem_id=f"run-{task.name}", scale=3)
                    stop_button = gr.Button("Stop", variant="stop", elem_id=f"stop-{task.name}", interactive=False,
                                            scale=1)
                compare_levels = gr.Button("Compare across robustness", elem_id=f"ladder-run-{task.name}")
            with gr.Column():
                outputs, views = result_outputs(task.name, first_image(task) is not None)
        strip = robustness_strip(task.name)
        form = TaskForm(task.name, fields, outputs, views)
        wire(form, task, (run, compare_levels, stop_button), strip, history)
        if task.examples:
            rows, names = example_rows(task, example_model)
            gr.Examples(rows, [fields[name] for name in names],
                        label="Examples (embedded CIFAR-10 model, works offline)")
    return form
