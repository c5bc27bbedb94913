"""The robustness ladder: a model picked as architecture + norm + ε level, and one run through every level."""
import gradio as gr

from .. import models
from . import pickers as p
from .errors import clear_errors
from .running import past, request_deadline, run_task

NORM_LABELS = {"l2": "L2", "linf": "L∞"}


# ----- architecture + norm + level <-> registered model -------------------------------------------------------------

def families() -> list[str]:
    """Every model family (one architecture and training pipeline), those with a usable model first."""
    return list(dict.fromkeys(models.get_spec(name).family.title for _, name in p.model_choices()))


def _member(family: str) -> str:
    name = next((s.name for s in models.REGISTRY.values() if s.family.title == family), None)
    if name is None:
        raise ValueError(f"unknown architecture {family!r}; available: {', '.join(families())}")
    return name


def norms(family: str) -> list[str]:
    """The norms the family was trained under ("l2" alone where it has only standard training)."""
    trained = {s.robustness["norm"] for s in models.REGISTRY.values() if s.family.title == family and s.robust}
    return [norm for norm in NORM_LABELS if norm in trained] or ["l2"]


def levels(family: str, norm: str) -> list[dict]:
    """The family's levels under `norm` (the family's first norm if it has no such levels), standard first."""
    return models.ladder(_member(family), norm if norm in norms(family) else norms(family)[0])


def position(model: str) -> tuple[str, str, int]:
    """(family, norm, level index) of a registered model: where the ladder controls show it."""
    spec = models.get_spec(model)
    norm = spec.robustness["norm"] if spec.robust else norms(spec.family.title)[0]
    return spec.family.title, norm, [level["name"] for level in levels(spec.family.title, norm)].index(model)


def model_at(family: str, norm: str, index) -> str:
    """The model at a level index (clamped to the levels that exist)."""
    rungs = levels(family, norm)
    return rungs[min(max(int(index or 0), 0), len(rungs) - 1)]["name"]


def nearest(family: str, norm: str, eps: float) -> str:
    """The family's model under `norm` with the same ε, else its most robust (robust `eps`) or standard one."""
    rungs = levels(family, norm)
    same = [level["name"] for level in rungs if level["eps"] == eps]
    return same[0] if same else rungs[-1 if eps > 0 else 0]["name"]


def _eps(model: str) -> float:
    spec = models.get_spec(model)
    return spec.robustness["eps"] if spec.robust else 0.0


def family_picked(family: str, model: str) -> str:
    """Architecture chosen: the same norm and ε where that family has them (else its most robust level)."""
    return nearest(family, position(model)[1], _eps(model))


def norm_picked(family: str, norm: str, model: str) -> str:
    return nearest(family, norm, _eps(model))


def level_picked(family: str, norm: str, index) -> str:
    return model_at(family, norm, index)


# ----- the controls' values ------------------------------------------------------------------------------------------

def caption(level: dict) -> str:
    """A level as the strip captions it: ε (norm) and clean top-1 where known."""
    norm = NORM_LABELS[level["norm"]] if level["norm"] else "standard"
    accuracy = f" · clean {level['clean_accuracy']:.1%}" if level["clean_accuracy"] is not None else ""
    return f"ε={level['eps_label']} ({norm}){accuracy}"


def norm_choices(family: str) -> list[tuple[str, str]]:
    return [(NORM_LABELS[norm], norm) for norm in norms(family)]


def slider_settings(family: str, norm: str, index: int) -> dict:
    """gr.Slider arguments over the level indices, the chosen level's ε and accuracy in its label and info."""
    rungs = levels(family, norm)
    level = rungs[index]
    return {"minimum": 0, "maximum": max(1, len(rungs) - 1), "value": index, "step": 1,
            "interactive": len(rungs) > 1, "label": f"robustness: {caption(level)}",
            "info": "levels: ε = " + ", ".join(rung["eps_label"] for rung in rungs)}


def controls(model: str) -> tuple:
    """Updates that show `model` on the ladder controls (architecture, norm, level)."""
    family, norm, index = position(model)
    return (gr.Dropdown(choices=families(), value=family), gr.Radio(choices=norm_choices(family), value=norm),
            gr.Slider(**slider_settings(family, norm, index)))


# ----- compare across robustness -------------------------------------------------------------------------------------

def _entry(level: dict) -> dict:
    return {"model": level["name"], "norm": level["norm"], "eps": level["eps"], "eps_label": level["eps_label"],
            "clean_accuracy": level["clean_accuracy"], "accuracy_source": level["accuracy_source"]}


def _run_level(fn, kwargs: dict, prepared: dict, level: dict, strip: list, report: list, request, progress,
               deadline: float):
    """One level through the task's app run: yields (strip with its preview, levels), returns (file, recipe)."""
    for files, _, recipe in run_task(fn, {**kwargs, "model": level["name"]}, False, request, progress, deadline,
                                     prepared):
        if isinstance(recipe, dict) and "task" in recipe:
            return files[0][0], recipe
        yield [*strip, (files[0], f"running {caption(level)}")], report
    raise RuntimeError(f"the run on {level['name']} ended without a result")


def run_ladder(fn, kwargs: dict, prepared: dict, request, progress):
    """Every level of the model's architecture and norm with the same seed and settings: yields (strip, levels).

    The strip holds each level's first image captioned with its ε and clean accuracy; levels lists every level
    (model, norm, eps, clean accuracy, and its recipe or why it did not run); prepared: what the app did to the
    pictures (values.prepared_pictures), recorded in each level's recipe. Levels whose weights cannot be had
    here are skipped and named. The request's time limit covers the whole ladder: the level running when it comes
    stops with its best so far, and after it (or Stop) the levels not started are not run.
    """
    strip, report, ended = [], [], None
    deadline = request_deadline()
    with clear_errors():
        rungs = models.ladder(kwargs["model"])
    for level in rungs:
        entry = _entry(level)
        report.append(entry)
        if ended or past(deadline):
            ended = ended or "time limit"
            entry["error"] = f"not run: {ended}"
        elif reason := p.unusable_reason(level["name"]):
            entry["error"] = reason
        else:
            try:
                image, entry["recipe"] = yield from _run_level(fn, kwargs, prepared, level, strip, report, request,
                                                               progress, deadline)
            except gr.Error as error:
                entry["error"] = error.message
                continue
            strip.append((image, caption(level)))
            yield strip, report
            if entry["recipe"].get("cancelled"):
                ended = entry["recipe"].get("stopped_by") or "stopped"
    skipped = [entry["model"] for entry in report if "error" in entry]
    if not strip:
        failures = [entry["error"] for entry in report if "error" in entry]
        raise gr.Error(f"no level of {kwargs['model']}'s architecture ran: {failures[0]}", print_exception=False)
    if skipped:
        gr.Warning(f"not in the strip: {', '.join(skipped)} (see the levels list for why)")
    yield strip, report
