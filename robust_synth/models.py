"""Model registry: ModelSpec for every named model, load_model(), weights checksums."""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from .architectures import build
from .features import RobustModel

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
HUB_REPO = "madrylab/robust-imagenet-models"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MADRY_CITATION = "Engstrom et al., Robustness (Python Library), 2019; Salman et al., Do Adversarially Robust ImageNet Models Transfer Better?, NeurIPS 2020"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    arch: str                       # architecture name understood by architectures.build
    dataset: str                    # "cifar10" | "imagenet"
    source: str                     # "embedded" | "hub" | "torchvision"
    file: str                       # embedded: stem in weights/; hub: filename in the repo; torchvision: weights enum
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    input_size: int = 224
    robustness: dict | None = None  # {"norm": "l2", "eps": 3.0}; None for standard training
    repo: str = HUB_REPO
    revision: str = "main"
    license: str = "MIT"
    citation: str = MADRY_CITATION
    extra: dict = field(default_factory=dict)

    @property
    def robust(self) -> bool:
        return bool(self.robustness and self.robustness.get("eps", 0) > 0)

    @property
    def num_classes(self) -> int:
        return 10 if self.dataset == "cifar10" else 1000


def _madry(arch: str, label: str, norm: str, eps: float, file: str) -> ModelSpec:
    eps_name = f"{eps:g}"
    return ModelSpec(f"imagenet-{label}-{norm}-{eps_name}", arch, "imagenet", "hub", file,
                     robustness={"norm": norm, "eps": eps})


REGISTRY: dict[str, ModelSpec] = {s.name: s for s in [
    *[_madry("resnet50", "resnet50", "l2", e, f"resnet50_l2_eps{e:g}.ckpt") for e in (0, 0.25, 0.5, 1, 3, 5)],
    _madry("resnet50", "resnet50", "linf", 4, "resnet50_linf_eps4.0.ckpt"),
    _madry("vgg16_bn", "vgg16bn", "l2", 3, "vgg16_bn_l2_eps3.ckpt"),
    _madry("vgg16_bn", "vgg16bn", "l2", 0, "vgg16_bn_l2_eps0.ckpt"),
    _madry("wide_resnet50_2", "wideresnet50x2", "l2", 3, "wide_resnet50_2_l2_eps3.ckpt"),
    ModelSpec("imagenet-vgg19-standard", "vgg19", "imagenet", "torchvision", "VGG19_Weights.IMAGENET1K_V1",
              license="BSD-3-Clause (torchvision)", citation="Simonyan & Zisserman, 2015"),
    ModelSpec("imagenet-resnet50-standard", "resnet50", "imagenet", "torchvision", "ResNet50_Weights.IMAGENET1K_V1",
              license="BSD-3-Clause (torchvision)", citation="He et al., 2016"),
    ModelSpec("cifar10-resnet-l2-0.5", "cifar_resnet", "cifar10", "embedded", "cifar10-resnet-l2-0.5",
              mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616), input_size=32,
              robustness={"norm": "l2", "eps": 0.5}, license="MIT", citation="robust-synth (this project)"),
    ModelSpec("cifar10-resnet-standard", "cifar_resnet", "cifar10", "embedded", "cifar10-resnet-standard",
              mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616), input_size=32,
              license="MIT", citation="robust-synth (this project)"),
]}

# The matching non-robust control for each robust model (same pipeline where one exists).
STANDARD_COUNTERPART = {
    **{n: "imagenet-resnet50-l2-0" for n in REGISTRY if n.startswith("imagenet-resnet50-l") and n != "imagenet-resnet50-l2-0"},
    "imagenet-vgg16bn-l2-3": "imagenet-vgg16bn-l2-0",
    "imagenet-wideresnet50x2-l2-3": "imagenet-resnet50-standard",
    "cifar10-resnet-l2-0.5": "cifar10-resnet-standard",
}

_cache: dict[tuple[str, str], RobustModel] = {}
_lock = threading.Lock()


def get_spec(name: str) -> ModelSpec:
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(REGISTRY)}")
    return REGISTRY[name]


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


def _state_dict(spec: ModelSpec) -> tuple[dict[str, torch.Tensor], Path]:
    if spec.source == "embedded":
        path = embedded_path(spec)
        if not path.exists():
            raise FileNotFoundError(f"embedded weights for {spec.name} are missing: {path}")
        return load_file(str(path)), path
    from . import checkpoints
    return checkpoints.load_state_dict(spec)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_model(name: str | RobustModel, device: str | torch.device = "cpu") -> RobustModel:
    """Load a registered model by name (cached per device); a RobustModel passes through."""
    if isinstance(name, RobustModel):
        return name
    spec = get_spec(name)
    key = (spec.name, str(torch.device(device)))
    with _lock:
        if key not in _cache:
            net, nodes = build(spec.arch, spec.num_classes)
            state, path = _state_dict(spec)
            net.load_state_dict(state, strict=True)
            model = RobustModel(net, spec.mean, spec.std, nodes, name=spec.name, class_names=class_names(spec),
                                input_size=spec.input_size).to(device)
            model.spec = spec
            model.weights_sha256 = file_sha256(path)
            _cache[key] = model
        return _cache[key]


def describe(spec: ModelSpec) -> dict:
    """A JSON-able summary for the /models endpoint and model pickers."""
    card = {}
    if spec.source == "embedded" and (WEIGHTS_DIR / f"{spec.file}.json").exists():
        card = json.loads((WEIGHTS_DIR / f"{spec.file}.json").read_text())
    return {"name": spec.name, "dataset": spec.dataset, "arch": spec.arch, "source": spec.source,
            "num_classes": spec.num_classes, "input_size": spec.input_size,
            "robustness": spec.robustness if spec.robust else None,
            "standard_counterpart": STANDARD_COUNTERPART.get(spec.name), "available": is_available(spec),
            "metrics": card.get("metrics"), "license": spec.license, "citation": spec.citation}
