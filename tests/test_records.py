"""The records: an architecture, a checkpoint format and a family registered at run time reach every surface."""
import pytest
import torch
import torch.nn as nn

from robust_synth import catalog, checkpoints, models, style
from robust_synth.app import gpu, pickers
from robust_synth.architectures import ARCHITECTURES, Architecture, LayerPreset, register_architecture
from robust_synth.catalog import ModelFamily, ModelSpec, register_models
from robust_synth.checkpoint_formats import FORMATS, CheckpointFormat, register_format


def throwaway_net(num_classes):
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, num_classes))
    return net, {"early": "1", "late": "3", "rep": "5", "logits": "6"}


ARCH = Architecture("throwaway_net", throwaway_net, cost=3.5, input_size=16,
                    style=LayerPreset(("early", "late"), "late"))
FAMILY = ModelFamily("Throwaway Lab tiny net", "Throwaway Lab", "Nobody et al., 2099", "CC0-1.0",
                     "https://example.invalid/models", "Throwaway Lab's own table")
# The format: a dict {"weights": [(key, tensor), ...]}, keys prefixed "net:" (nothing the built-in readers take)
FORMAT = CheckpointFormat("throwaway-pairs", lambda path, spec: torch.load(path, weights_only=True),
                          lambda held, spec: {k.removeprefix("net:"): v for k, v in held["weights"]})
PIXELS = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}  # the network reads [0,1] pixels as they are


@pytest.fixture
def registered(tmp_path, monkeypatch):
    """The three records registered as a declaration file would, the weights in torch.hub's cache; undone after."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    register_architecture(ARCH)
    register_format(FORMAT)
    robust = ModelSpec("throwaway-l2-1", ARCH.name, "cifar10", "url", "https://example.invalid/models/l2_1.pt",
                       FORMAT.name, FAMILY, robustness={"norm": "l2", "eps": 1.0}, clean_accuracy=0.5,
                       autoattack_accuracy=0.25, **PIXELS)
    standard = ModelSpec("throwaway-standard", ARCH.name, "cifar10", "url", "https://example.invalid/models/l2_0.pt",
                         FORMAT.name, FAMILY, clean_accuracy=0.75, **PIXELS)
    register_models(robust, standard)
    torch.manual_seed(0)
    source = throwaway_net(10)[0].eval()
    for spec in (robust, standard):
        path = checkpoints.url_file(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"weights": [(f"net:{k}", v) for k, v in source.state_dict().items()]}, path)
    yield source, robust, standard
    for name in (robust.name, standard.name):
        models.REGISTRY.pop(name)
        for key in [key for key in models._cache if key[0] == name]:
            models._cache.pop(key)
    ARCHITECTURES.pop(ARCH.name)
    FORMATS.pop(FORMAT.name)
    register_models()  # recompute the standard counterparts without them


def test_a_runtime_architecture_format_and_family_reach_every_surface(registered):
    source, robust, standard = registered
    model = models.load_model(robust.name)  # the builder and the format's reader and converter
    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(model(x).logits, source(x), rtol=1e-5, atol=1e-5)
    assert model.input_size == 16 and robust.input_size == 16  # the record's input size
    assert style.preset_for(model) == ARCH.style  # the style presets
    assert models.STANDARD_COUNTERPART[robust.name] == standard.name  # the comparison and the ladder
    assert [level["name"] for level in models.ladder(robust.name)] == [standard.name, robust.name]
    values = {"n": "1", "steps": "10"}
    assert gpu.work_seconds("generate", values, robust) == pytest.approx(
        ARCH.cost * gpu.work_seconds("generate", values, None) * 16 * 16 / (224 * 224))  # the GPU estimate
    card = next(line for line in pickers.family_cards().splitlines() if FAMILY.title in line)  # the Models tab
    assert "Nobody et al., 2099" in card and "licence CC0-1.0" in card and "AutoAttack 25.00%" in card
    assert [robust.name, "cifar10", 10] == pickers.models_table()[[r[0] for r in pickers.models_table()].index(
        robust.name)][:3]
    assert robust.license == "CC0-1.0" and robust.citation == FAMILY.paper and robust.repo == FAMILY.repo


def test_a_name_is_registered_once():
    """Catches a second record silently replacing the first under the same name."""
    with pytest.raises(ValueError, match="already registered"):
        register_architecture(Architecture("resnet50", throwaway_net, cost=1.0))
    with pytest.raises(ValueError, match="already registered"):
        register_format(CheckpointFormat("madrylab", FORMAT.read, FORMAT.convert))
    taken = models.get_spec("cifar10-resnet-standard")
    with pytest.raises(ValueError, match="already registered"):
        register_models(ModelSpec(taken.name, "resnet18", "imagenet", "hub", "x.ckpt", "madrylab", taken.family))


def test_every_model_entry_names_records_that_exist():
    """Catches a model whose architecture or format is not in the tables (it would fail only at its first load)."""
    for spec in models.REGISTRY.values():
        assert spec.arch in ARCHITECTURES and spec.format in FORMATS, spec.name
        assert spec.family in catalog.families() and spec.family.paper and spec.family.license
