"""The model catalogue: ModelFamily and ModelSpec records and the table of every named model (robust_synth.REGISTRY)."""
from __future__ import annotations

from dataclasses import dataclass

from .architectures import get_architecture
from .checkpoint_formats import get_format
from .named_table import NamedTable

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelFamily:
    """One architecture and training pipeline from one publisher: its robustness levels form a ladder, and the
    Models tab, the ladder and the pickers group models by it."""
    title: str                     # as the app shows it: "MadryLab ResNet-50"
    publisher: str                 # who trained and published the weights
    paper: str                     # the citation for every model of the family
    license: str                   # the weights' licence
    repo: str = ""                 # Hub repo (source "hub") or the publisher's download page
    accuracy_source: str | None = None  # where the published accuracies of its ModelSpecs come from
    accuracy_metric: str = "clean top-1"  # what its clean_accuracy figures are, as the Models tab names them
    robust_metric: str = "AutoAttack"     # what its autoattack_accuracy figures are, as the Models tab names them


@dataclass(frozen=True)
class ModelSpec:
    name: str
    arch: str                       # a registered architecture (architectures.ARCHITECTURES)
    dataset: str                    # "cifar10" | "imagenet"
    source: str                     # where the file lives: "embedded" | "hub" | "torchvision" | "url"
    file: str                       # embedded: stem in weights/; hub: file in the repo; torchvision: weights enum;
    #                                 url: the download address
    format: str                     # how the file is read and converted (checkpoint_formats.FORMATS)
    family: ModelFamily
    mean: tuple = IMAGENET_MEAN     # the normalisation RobustModel applies before the network
    std: tuple = IMAGENET_STD
    robustness: dict | None = None  # {"norm": "l2", "eps": 3.0}, eps in [0,1] pixel units; None for standard training
    repo: str = ""                  # hub: the repo (default: the family's)
    revision: str = "main"
    sha256: str | None = None       # pinned sha256 of the downloaded file, checked once before conversion
    clean_accuracy: float | None = None   # published clean top-1 (fraction); embedded models read their card
    autoattack_accuracy: float | None = None  # published AutoAttack accuracy at `robustness` (fraction)

    def __post_init__(self):
        if not self.repo:
            object.__setattr__(self, "repo", self.family.repo)

    @property
    def input_size(self) -> int:
        return get_architecture(self.arch).input_size

    @property
    def license(self) -> str:
        return self.family.license

    @property
    def citation(self) -> str:
        return self.family.paper

    @property
    def accuracy_source(self) -> str | None:
        return self.family.accuracy_source if self.clean_accuracy is not None else None

    @property
    def text_targets(self) -> bool:
        """A CLIP model (its checkpoint format says so): its targets are free-text prompts, not class names."""
        return get_format(self.format).text_targets

    @property
    def robust(self) -> bool:
        return bool(self.robustness and self.robustness.get("eps", 0) > 0)

    @property
    def eps_label(self) -> str:
        """eps as papers and file names give it: "3" (L2), "4/255" (L∞), "0" (standard training)."""
        if not self.robust:
            return "0"
        eps = self.robustness["eps"]
        return f"{eps * 255:g}/255" if self.robustness["norm"] == "linf" else f"{eps:g}"

    @property
    def num_classes(self) -> int:
        return 10 if self.dataset == "cifar10" else 1000


REGISTRY: NamedTable[ModelSpec] = NamedTable("model")
# The matching non-robust control for each robust model: its family's eps-0 run (same architecture and pipeline).
STANDARD_COUNTERPART: dict[str, str] = {}


def register_models(*specs: ModelSpec) -> None:
    """Add models to the catalogue (a name taken by another spec is refused) and update the standard counterparts."""
    for spec in specs:
        get_architecture(spec.arch)  # an unknown architecture fails here, not at the first load
        REGISTRY.register(spec)
    STANDARD_COUNTERPART.clear()
    STANDARD_COUNTERPART.update({s.name: sibling for s in REGISTRY.values()
                                 if s.robust and (sibling := standard_sibling(s))})


def standard_sibling(spec: ModelSpec) -> str | None:
    return next((s.name for s in REGISTRY.values() if s.family == spec.family and not s.robust), None)


def families() -> dict[ModelFamily, list[ModelSpec]]:
    """Every family with its models, in registration order."""
    grouped: dict[ModelFamily, list[ModelSpec]] = {}
    for spec in REGISTRY.values():
        grouped.setdefault(spec.family, []).append(spec)
    return grouped
