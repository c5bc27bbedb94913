"""The app's model pickers and Models tab: availability-ordered choices, classes, feature suggestions, preload."""
import logging

import gradio as gr

from .. import catalog, checkpoints, models
from ..tasks import top_features
from ..input_values import target as target_value
from .errors import clear_errors

# Fastest first: on CPU a ResNet-18 PGD step takes about 0.4 of a ResNet-50's at 224 px
# (benchmarks/arch_cost.py) and it has under half the weights to load; the embedded model works offline.
PREFERRED_MODELS = ("imagenet-resnet18-l2-3", "imagenet-resnet50-l2-3", "cifar10-resnet-l2-0.5")
EMBEDDED_PAIR = ("cifar10-resnet-l2-0.5", "cifar10-resnet-standard")
EXAMPLE_CLASS = {"cifar10": "horse", "imagenet": "goldfinch"}
# A CLIP model's class picker is a text box: any prompt is a class; these are offered as examples.
EXAMPLE_PROMPTS = ("a lighthouse at dusk", "a red fox in snow", "a bowl of ramen", "a watercolor painting of a castle")
PROMPT_LABEL = "target text (a CLIP model: type any prompt)"

log = logging.getLogger(__name__)


def default_model() -> str:
    """The fastest robust model usable now: the hub robust ResNet-18 (the Space preloads it), else ResNet-50, when
    cached; else the embedded CIFAR-10 one."""
    for name in PREFERRED_MODELS:
        if models.is_available(models.get_spec(name)):
            return name
    return PREFERRED_MODELS[-1]


def tab_model(task_default: str | None, app_default: str) -> str:
    """The model a tab starts with and runs its examples on: the task's own default network (style transfer's: the
    robust VGG that benchmarks/style.py ranks first) where it is usable and of the app default's dataset, else the
    app's default."""
    if not task_default or task_default == app_default or task_default not in models.REGISTRY:
        return app_default
    spec = models.get_spec(task_default)
    usable = models.is_available(spec) and spec.dataset == models.get_spec(app_default).dataset
    return task_default if usable else app_default


NORMS = {"l2": "L2", "linf": "L∞"}
AVAILABILITY_ORDER = ("embedded", "cached", "downloadable", "unavailable offline", "missing")  # usable first
SOURCES = {"embedded": "embedded", "hub": "Hugging Face Hub", "torchvision": "torchvision", "url": "publisher's URL"}


def robustness(spec) -> str:
    return f"robust {NORMS[spec.robustness['norm']]} ε={spec.eps_label}" if spec.robust else "standard"


def _usable_first(spec) -> int:
    return AVAILABILITY_ORDER.index(models.availability(spec))


def model_label(spec) -> str:
    return f"{spec.name} ({robustness(spec)}, {spec.dataset}, {models.availability(spec)})"


def model_choices() -> list[tuple[str, str]]:
    """(label, name) of every model for the pickers, those a run can use first."""
    return [(model_label(spec), spec.name) for spec in sorted(models.REGISTRY.values(), key=_usable_first)]


def list_models() -> list[dict]:
    """Every registered model with its dataset, classes, robustness and availability."""
    return [{**models.describe(spec), "classes": models.class_names(spec)} for spec in models.REGISTRY.values()]


MODEL_COLUMNS = ["name", "dataset", "classes", "robustness", "input size", "availability", "clean top-1", "source",
                 "licence"]


def models_table() -> list[list]:
    """One row per model for the Models tab (columns MODEL_COLUMNS), those a run can use first."""
    def row(spec):
        accuracy = models.clean_accuracy(spec)[0]
        return [spec.name, spec.dataset, spec.num_classes, robustness(spec), f"{spec.input_size} px",
                models.availability(spec), "" if accuracy is None else f"{accuracy:.1%}", SOURCES[spec.source],
                spec.license]
    return [row(spec) for spec in sorted(models.REGISTRY.values(), key=_usable_first)]


def family_cards() -> str:
    """One card line per model family for the Models tab: its paper, licence, and each level's clean top-1 where
    it is known (MadryLab's published table; the embedded models' own measurements, robust accuracy included)."""
    return "\n".join(_family_card(family, specs) for family, specs in catalog.families().items())


def _family_card(family, specs: list) -> str:
    specs = sorted(specs, key=lambda s: (s.robust and s.robustness["norm"] == "linf",
                                         s.robustness["eps"] if s.robust else 0))
    sources = "; ".join(sorted({source for source in (models.clean_accuracy(s)[1] for s in specs) if source}))
    labels = [_level_label(spec) for spec in specs]
    shared = {label for label in labels if labels.count(label) > 1}  # two models at one level: name them
    levels = "; ".join(_level_numbers(spec, label in shared) for spec, label in zip(specs, labels))
    return (f"- **{family.title}** (`{specs[0].arch}`, {family.publisher}): {family.paper}; licence {family.license}. "
            f"{family.accuracy_metric[0].upper()}{family.accuracy_metric[1:]}, {sources}: {levels}.")


def _level_label(spec) -> str:
    return f"{NORMS[spec.robustness['norm']]} ε={spec.eps_label}" if spec.robust else "standard"


def _level_numbers(spec, named: bool = False) -> str:
    accuracy = models.clean_accuracy(spec)[0]
    level = f"{_level_label(spec)} ({spec.name})" if named else _level_label(spec)
    text = f"{level} {'not published' if accuracy is None else f'{accuracy:.2%}'}"
    if spec.autoattack_accuracy is not None:
        text += f" ({spec.family.robust_metric} {spec.autoattack_accuracy:.2%}, published)"
    metrics = models.describe(spec)["metrics"] if spec.source == "embedded" else None
    if metrics and "robust_acc" in metrics:
        text += (f" (PGD-{metrics['steps']} {NORMS[metrics['norm']]} ε={metrics['eps']:g}: "
                 f"{metrics['robust_acc']:.1%} of {metrics['n_robust']} images")
        text += f", AutoAttack {metrics['autoattack_acc']:.1%} of {metrics['n_autoattack']})" \
            if "autoattack_acc" in metrics else ")"
    return text


def availability_note() -> str:
    """A line for the Models tab when some models cannot run here (offline and not cached), else nothing."""
    unusable = [spec.name for spec in models.REGISTRY.values() if not models.is_usable(spec)]
    if not unusable:
        return ""
    return (f"**Offline:** {len(unusable)} models are neither embedded nor cached and their download hosts do not "
            "answer, so they cannot run here (marked *unavailable offline* in every model picker). "
            f"The app asks again every {checkpoints.REACHABILITY_TTL_S / 60:g} minutes.")


def class_table(model: str) -> list[list]:
    """(index, class name) rows of a model's classes (a CLIP model: the ImageNet names its class-free runs use; its
    targets are any text)."""
    return [[i, name] for i, name in enumerate(models.class_names(models.get_spec(model)))]


def class_choices(model: str) -> list[str]:
    """The class picker's choices: the model's classes, or example prompts for a CLIP model (any text is taken)."""
    spec = models.get_spec(model)
    return list(EXAMPLE_PROMPTS) if spec.text_targets else models.class_names(spec)


def example_class(model: str) -> str:
    spec = models.get_spec(model)
    return EXAMPLE_PROMPTS[0] if spec.text_targets else EXAMPLE_CLASS[spec.dataset]


def target_label(model: str, label: str) -> str:
    """The class picker's label for a model: PROMPT_LABEL for a CLIP model, else the task's own."""
    return PROMPT_LABEL if models.get_spec(model).text_targets else label


def preload() -> None:
    """Load the embedded robust/standard pair once, on CPU, so the first request does not wait for it."""
    for name in EMBEDDED_PAIR:
        try:
            models.load_model(name)
        except (OSError, ValueError, RuntimeError) as e:
            log.warning("could not preload %s: %s", name, e)


def unusable_reason(model: str) -> str | None:
    """Why a run with `model` cannot start now (offline and not cached), or None."""
    spec = models.get_spec(model)
    if models.is_usable(spec):
        return None
    return (f"model {model} is unavailable: its weights are not cached here and their host cannot be reached "
            "(offline?); pick an embedded cifar10 model or one marked cached")


def model_changed(model: str, target=None, with_default_class: bool = True, label: str = "target class"):
    """New class choices (a CLIP model: example prompts, the box taking any text) and label for a model, keeping a
    target it also has; says when its weights cannot be had or still have to be downloaded."""
    spec = models.get_spec(model)
    reason = unusable_reason(model)
    if reason:
        gr.Warning(reason)
    elif models.availability(spec) == "downloadable":
        gr.Info(f"{model} is downloaded on its first run, which then takes longer")
    names = class_choices(model)
    kept = target if target in names or (isinstance(target, int) and 0 <= target < len(names)) else None
    if spec.text_targets and isinstance(target, str) and target.strip():
        kept = target  # any text is a CLIP model's class
    return gr.Dropdown(choices=names, value=kept if kept is not None else
                       example_class(model) if with_default_class else None, label=target_label(model, label),
                       allow_custom_value=True)


def run_button(model: str):
    """The Run button, enabled only for a model a run can use."""
    return gr.Button(interactive=unusable_reason(model) is None)


def suggest_features(model: str, target: str):
    """Dropdown choices for the feature picker: the features most associated with a class."""
    with clear_errors():
        top = top_features(model, target_value(target), k=10)
    choices = [(f"{f['index']} (score {f['score']:.3g})", f["index"]) for f in top]
    return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)
