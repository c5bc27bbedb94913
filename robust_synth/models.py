"""Loading models by name: load_model(), availability, model cards, the ladder; the catalogue itself is catalog.py."""
from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

import torch

from . import checkpoint_formats, zoo  # noqa: F401 (importing it registers every model family)
from .architectures import build
from .catalog import REGISTRY, STANDARD_COUNTERPART, ModelSpec  # noqa: F401 (re-exported: robust_synth.REGISTRY)
from .features import RobustModel
from .hashes import file_sha256
from .resources import weights_dir

WEIGHTS_DIR = weights_dir()
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

_cache: dict[tuple[str, str], RobustModel] = {}
_lock = threading.Lock()


def get_spec(name: str) -> ModelSpec:
    return REGISTRY.lookup(name)


def class_names(spec: ModelSpec) -> list[str]:
    if spec.dataset == "cifar10":
        return list(CIFAR10_CLASSES)
    import torchvision  # ships the ImageNet-1k class names with its weight metadata; no download
    return list(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def embedded_path(spec: ModelSpec) -> Path:
    return WEIGHTS_DIR / f"{spec.file}.safetensors"


def is_available(spec: ModelSpec) -> bool:
    """True if the weights can be loaded without a network (embedded, or already cached)."""
    if spec.source == "embedded":
        return embedded_path(spec).exists()
    from . import checkpoints
    return checkpoints.is_cached(spec)


def availability(spec: ModelSpec) -> str:
    """How the weights can be had now: "embedded", "cached", "downloadable", "unavailable offline" (or "missing")."""
    if spec.source == "embedded":
        return "embedded" if embedded_path(spec).exists() else "missing"
    from . import checkpoints
    return checkpoints.availability(spec)


def is_usable(spec: ModelSpec) -> bool:
    """True if a run can get the weights: on disk, or from a host that answers."""
    return availability(spec) not in ("unavailable offline", "missing")


def _state_dict(spec: ModelSpec) -> tuple[dict[str, torch.Tensor], Path]:
    if spec.source == "embedded":
        path = embedded_path(spec)
        if not path.exists():
            raise FileNotFoundError(f"embedded weights for {spec.name} are missing: {path}")
        return checkpoint_formats.state_dict_from(path, spec), path
    from . import checkpoints
    return checkpoints.load_state_dict(spec)


def run_device() -> str:
    """Where tasks run a model given by name: the GPU when there is one."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def is_loaded(name: str, device: str | torch.device | None = None) -> bool:
    """True if load_model(name, device) would return a cached model (device None: the tasks' device)."""
    return (name, str(torch.device(device or run_device()))) in _cache


def load_model(name: str | RobustModel, device: str | torch.device = "cpu") -> RobustModel:
    """Load a registered model by name (cached per device); a RobustModel passes through."""
    if isinstance(name, RobustModel):
        return name
    spec = get_spec(name)
    key = (spec.name, str(torch.device(device)))
    with _lock:
        if key not in _cache:
            whole = checkpoint_formats.get_format(spec.format).load_model
            model, path = whole(spec, device, class_names(spec)) if whole else _built(spec, device)
            model.spec = spec
            model.weights_sha256 = file_sha256(path)
            _cache[key] = model
        return _cache[key]


def _built(spec: ModelSpec, device) -> tuple[RobustModel, Path]:
    """The architecture's network with the spec's weights, converted by its checkpoint format."""
    state, path = _state_dict(spec)  # first: a missing or refused file fails before any network is built
    with torch.device("meta"):  # no random init (seconds for a Wide-ResNet-50-4): the weights replace it all
        net, nodes = build(spec.arch, spec.num_classes)
    net.load_state_dict(state, strict=True, assign=True)
    return RobustModel(net, spec.mean, spec.std, nodes, name=spec.name, class_names=class_names(spec),
                       input_size=spec.input_size).to(device), path


def _card(spec: ModelSpec) -> dict:
    """The embedded model's card (read once per version of the file: the Models table asks for it per row and load)."""
    path = WEIGHTS_DIR / f"{spec.file}.json"
    return _read_card(path, path.stat().st_mtime_ns) if spec.source == "embedded" and path.exists() else {}


@functools.lru_cache(maxsize=32)
def _read_card(path: Path, mtime_ns: int) -> dict:
    return json.loads(path.read_text())


def clean_accuracy(spec: ModelSpec) -> tuple[float | None, str | None]:
    """Clean top-1 (fraction) and where it comes from: the registry's published figure, the embedded model's card
    (measured by robust_synth.robust_accuracy), or torchvision's weights metadata; (None, None) where none is known."""
    if spec.clean_accuracy is not None:
        return spec.clean_accuracy, spec.accuracy_source
    metrics = _card(spec).get("metrics") or {}
    if "clean_acc" in metrics:
        measured = f"robust_synth.robust_accuracy on {metrics.get('n', '?')} test images (its model card)"
        return metrics["clean_acc"], measured
    if spec.source == "torchvision":
        import torchvision
        top1 = torchvision.models.get_weight(spec.file).meta["_metrics"]["ImageNet-1K"]["acc@1"]
        return round(top1 / 100, 5), "torchvision's weights metadata"
    return None, None


def card_line(spec: ModelSpec) -> str:
    """One line for the Models table: family, source paper, licence, clean accuracy and its source."""
    accuracy, source = clean_accuracy(spec)
    measured = f"; clean top-1 {accuracy:.2%} ({source})" if accuracy is not None else ""
    return f"{spec.family.title}: {spec.citation}; licence {spec.license}{measured}"


def describe(spec: ModelSpec) -> dict:
    """A JSON-able summary for the /models endpoint and model pickers."""
    accuracy, source = clean_accuracy(spec)
    return {"name": spec.name, "dataset": spec.dataset, "arch": spec.arch, "source": spec.source,
            "num_classes": spec.num_classes, "input_size": spec.input_size, "text_targets": spec.text_targets,
            "robustness": spec.robustness if spec.robust else None, "eps_label": spec.eps_label,
            "standard_counterpart": STANDARD_COUNTERPART.get(spec.name), "available": is_available(spec),
            "availability": availability(spec), "metrics": _card(spec).get("metrics"), "license": spec.license,
            "citation": spec.citation,
            "family": spec.family.title, "autoattack_accuracy": spec.autoattack_accuracy, "clean_accuracy": accuracy,
            "accuracy_source": source, "sha256": spec.sha256,
            "card": card_line(spec)}


def ladder(name: str, norm: str | None = None) -> list[dict]:
    """Every registered robustness level of `name`'s family under one norm (default: the model's own, else L2),
    standard training first, ordered by eps: name, norm, eps, eps_label, available, clean accuracy and its source."""
    spec = get_spec(name)
    norm = norm or (spec.robustness or {}).get("norm") or "l2"
    if norm not in ("l2", "linf"):
        raise ValueError(f"norm must be 'l2' or 'linf', got {norm!r}")
    rungs = [s for s in REGISTRY.values() if s.family == spec.family and (not s.robust or s.robustness["norm"] == norm)]
    return sorted((_level(s) for s in rungs), key=lambda level: level["eps"])


def _level(spec: ModelSpec) -> dict:
    accuracy, source = clean_accuracy(spec)
    return {"name": spec.name, "norm": spec.robustness["norm"] if spec.robust else None,
            "eps": spec.robustness["eps"] if spec.robust else 0.0, "eps_label": spec.eps_label,
            "available": is_available(spec), "clean_accuracy": accuracy, "accuracy_source": source}
