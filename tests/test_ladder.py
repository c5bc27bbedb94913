"""The robustness ladder (controls <-> model dropdown, <task>_ladder endpoints), the GPU estimate, Space defaults."""
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client
from PIL import Image

from robust_synth import models, task_registry
from robust_synth.app import endpoints, gpu, ladder, pickers, running
from robust_synth.architectures import ARCHITECTURES, build

from app_server import running_app

EMBEDDED, STANDARD = "cifar10-resnet-l2-0.5", "cifar10-resnet-standard"
CIFAR = "robust-synth CIFAR-10 ResNet"


# ----- ladder controls <-> model dropdown ---------------------------------------------------------------------------

def test_every_model_has_one_place_on_its_ladder():
    """Catches an off-by-one between slider index and level, or a model shown under the wrong norm or family."""
    families = ladder.families()
    for name in models.REGISTRY:
        family, norm, index = ladder.position(name)
        assert ladder.model_at(family, norm, index) == name
        assert family in families and norm in ladder.norms(family)


def test_ladder_controls_pick_the_model_and_the_model_sets_the_controls():
    # the slider's index is a level of the chosen architecture and norm, clamped to the levels that exist
    assert ladder.level_picked(CIFAR, "l2", 0) == STANDARD
    assert ladder.level_picked(CIFAR, "l2", 1) == EMBEDDED
    assert ladder.level_picked(CIFAR, "l2", 7) == EMBEDDED
    assert ladder.level_picked("MadryLab ResNet-50", "linf", 4) == "imagenet-resnet50-linf-4"
    # changing architecture keeps norm and ε where the family has them, else its most robust (or standard) level
    assert ladder.family_picked("MadryLab ResNet-18", "imagenet-resnet50-l2-3") == "imagenet-resnet18-l2-3"
    assert ladder.family_picked("MadryLab ResNet-18", "imagenet-resnet50-linf-8") == "imagenet-resnet18-linf-8"
    assert ladder.family_picked("MadryLab Wide-ResNet-50-4", "imagenet-resnet50-linf-8") == \
        "imagenet-wideresnet50x4-l2-5"  # no L∞ levels: its most robust L2 one
    assert ladder.family_picked(CIFAR, "imagenet-resnet50-l2-3") == EMBEDDED
    assert ladder.family_picked(CIFAR, "imagenet-resnet50-l2-0") == STANDARD
    assert ladder.family_picked("MadryLab VGG16-bn", "imagenet-resnet50-linf-4") == "imagenet-vgg16bn-l2-3"
    assert ladder.norm_picked("MadryLab ResNet-50", "linf", "imagenet-resnet50-l2-0") == "imagenet-resnet50-l2-0"
    # the dropdown's change shows the model on the controls: architecture, its norms, the level with its ε
    architecture, norm, level = ladder.controls("imagenet-resnet50-linf-4")
    assert architecture.value == "MadryLab ResNet-50" and norm.value == "linf"
    assert norm.choices == [("L2", "l2"), ("L∞", "linf")]
    assert (level.value, level.maximum) == (4, 5) and level.label == "robustness: ε=4/255 (L∞) · clean 63.9%"
    _, norm, level = ladder.controls(EMBEDDED)
    assert norm.choices == [("L2", "l2")] and (level.value, level.maximum) == (1, 1)
    assert level.label == "robustness: ε=0.5 (L2) · clean 81.8%"


def test_a_family_with_one_level_gets_a_fixed_slider():
    """Gradio refuses a slider whose minimum equals its maximum: one level shows a slider that cannot move."""
    settings = ladder.slider_settings("torchvision VGG-19", "l2", 0)
    assert settings["interactive"] is False and settings["maximum"] > settings["minimum"]
    gr.Slider(**settings)


def test_switching_models_keeps_a_target_the_new_model_also_has():
    """The class pickers follow the dropdown's .change (the ladder sets it too); a restored target must survive."""
    assert pickers.model_changed(STANDARD, "ship").value == "ship"
    assert pickers.model_changed(STANDARD, "no such class").value == "horse"
    assert pickers.model_changed(STANDARD, None, with_default_class=False).value is None


# ----- the ladder endpoints ---------------------------------------------------------------------------------------

def test_every_task_has_a_ladder_endpoint_with_its_parameters():
    """Catches a task whose ladder endpoint is missing or takes other parameters than its own endpoint."""
    import app
    named = app.build_demo().get_api_info()["named_endpoints"]
    for task in task_registry.all_tasks():
        own, levels = named[f"/{task.name}"], named[f"/{task.name}_ladder"]
        assert [p["parameter_name"] for p in levels["parameters"]] == [p["parameter_name"] for p in own["parameters"]]
        assert len(levels["returns"]) == 2


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("results")) as url:
        yield Client(url, verbose=False)


def first_pixels(gallery) -> np.ndarray:
    return np.asarray(Image.open(gallery[0]["image"]))


def test_ladder_endpoint_runs_every_embedded_level_with_the_same_seed(client):
    """One image per level, standard first, captioned with ε and clean accuracy, each the image the task's own
    endpoint gives for that model and seed: catches a ladder that reseeds per level, drops the settings, or
    mislabels a level."""
    settings = {"target": "cat", "n": 2, "seed": 11, "steps": 3}
    strip, levels = client.predict(model=EMBEDDED, **settings, api_name="/generate_ladder")
    assert [level["model"] for level in levels] == [STANDARD, EMBEDDED]
    assert [item["caption"] for item in strip] == ["ε=0 (standard) · clean 88.5%", "ε=0.5 (L2) · clean 81.8%"]
    for item, level in zip(strip, levels, strict=True):
        assert level["recipe"]["seed"] == 11 and level["recipe"]["params"]["steps"] == 3 and "error" not in level
        alone = client.predict(model=level["model"], **settings, api_name="/generate")
        assert np.array_equal(np.asarray(Image.open(item["image"])), first_pixels(alone[0]))
    assert not np.array_equal(np.asarray(Image.open(strip[0]["image"])), np.asarray(Image.open(strip[1]["image"])))
    again, _ = client.predict(model=STANDARD, **settings, api_name="/generate_ladder")  # from the other end
    assert [np.asarray(Image.open(i["image"])).tolist() for i in again] == \
        [np.asarray(Image.open(i["image"])).tolist() for i in strip]


def run_ladder_handler(name: str, **values):
    handler = endpoints.ladder_endpoint(task_registry.get(name))
    return list(handler(**values))[-1]


def test_a_level_that_cannot_be_had_is_skipped_and_named(monkeypatch):
    """Catches a ladder that fails whole, or silently shows fewer images, when one level is offline."""
    real = pickers.unusable_reason
    monkeypatch.setattr(pickers, "unusable_reason",
                        lambda model: "offline, not cached" if model == STANDARD else real(model))
    warnings = []
    monkeypatch.setattr(gr, "Warning", warnings.append)
    strip, levels = run_ladder_handler("generate", model=EMBEDDED, target="cat", n=1, steps=2)
    assert [caption for _, caption in strip] == ["ε=0.5 (L2) · clean 81.8%"]
    assert levels[0]["model"] == STANDARD and levels[0]["error"] == "offline, not cached"
    assert "recipe" in levels[1] and warnings and STANDARD in warnings[0]


def test_the_time_limit_ends_the_ladder_and_leaves_the_rest_unrun(monkeypatch):
    """Catches a ladder that gives each level the whole time limit again (on ZeroGPU its one GPU call would be
    killed): the first level stops at the limit with its best so far, the next is listed as not run."""
    monkeypatch.setenv("ROBUST_SYNTH_MAX_SECONDS", "0.001")
    monkeypatch.setattr(gr, "Warning", lambda message: None)
    strip, levels = run_ladder_handler("generate", model=EMBEDDED, target="cat", n=1, steps=50)
    assert len(strip) == 1 and levels[0]["recipe"]["cancelled"] is True
    assert levels[1] == {**levels[1], "model": EMBEDDED, "error": "not run: time limit"} and "recipe" not in levels[1]


class TickingClock:
    """time for running.py: one second passes each time it is read (at each PGD step's deadline check)."""

    def __init__(self):
        self.now = 0

    def monotonic(self):
        self.now += 1
        return self.now


def test_the_time_limit_covers_the_whole_ladder_not_each_level(monkeypatch):
    """Catches a level that starts inside the limit and then gets the whole limit again: 8 steps per level under a
    12 s limit, one second per step, so the second level stops after 3-5 steps with its best so far."""
    monkeypatch.setattr(running, "time", TickingClock())
    monkeypatch.setenv("ROBUST_SYNTH_MAX_SECONDS", "12")
    monkeypatch.setattr(gr, "Warning", lambda message: None)
    strip, levels = run_ladder_handler("generate", model=EMBEDDED, target="cat", n=1, steps=8)
    first, second = (level["recipe"] for level in levels)
    assert first["cancelled"] is False and first["metrics"]["steps_run"] == 8
    assert second["cancelled"] is True and second["stopped_by"] == "time limit"
    assert second["metrics"]["steps_run"] <= 5 and len(strip) == 2


def test_the_time_limit_covers_the_robust_and_the_standard_run_together(monkeypatch):
    """The same for Compare with the standard model: one limit per request, not one per model."""
    monkeypatch.setattr(running, "time", TickingClock())
    monkeypatch.setenv("ROBUST_SYNTH_MAX_SECONDS", "12")
    handler = endpoints.endpoint(task_registry.get("generate"))
    *_, (_, _, recipe) = handler(model=EMBEDDED, target="cat", n=1, steps=8, compare=True)
    assert recipe["cancelled"] is False and recipe["metrics"]["steps_run"] == 8
    standard = recipe["comparison"]
    assert standard["cancelled"] is True and standard["metrics"]["steps_run"] <= 5


def test_a_ladder_where_no_level_can_run_says_why(monkeypatch):
    monkeypatch.setattr(pickers, "unusable_reason", lambda model: f"{model} is offline")
    with pytest.raises(gr.Error, match="no level of cifar10-resnet-l2-0.5's architecture ran: "
                                       "cifar10-resnet-standard is offline"):
        run_ladder_handler("generate", model=EMBEDDED, target="cat", n=1, steps=2)


# ----- the ZeroGPU estimate -----------------------------------------------------------------------------------------

def test_every_architecture_record_has_a_cost_relative_to_resnet50():
    """Catches a cost of zero (a free estimate) or a reference other than ResNet-50 (every cost is relative to it)."""
    assert ARCHITECTURES[gpu.REFERENCE_ARCH].cost == 1.0 and gpu.REFERENCE_ARCH == "resnet50"
    assert all(arch.cost > 0 for arch in ARCHITECTURES.values())


def test_the_estimate_is_per_architecture_and_charges_the_load_once(monkeypatch):
    loaded = set()
    monkeypatch.setattr(models, "is_loaded", lambda name, device=None: name in loaded)
    values = {"target": "goldfinch", "n": 4, "steps": "1000"}
    work = 1000 * 224 * 224 * 4 / gpu.PIXEL_STEPS_PER_SECOND  # ResNet-50 seconds for these settings
    resnet50, resnet18 = "imagenet-resnet50-l2-3", "imagenet-resnet18-l2-3"
    # not loaded yet: the load (in proportion to the weights: ResNet-18 has 11.7 M, ResNet-50 25.6 M) plus the work
    ratio = gpu.parameter_count("resnet18") / gpu.parameter_count("resnet50")
    assert 0.4 < ratio < 0.5
    assert gpu.estimate_seconds("generate", {**values, "model": resnet50}) == int(gpu.LOAD_SECONDS + work)
    assert gpu.estimate_seconds("generate", {**values, "model": resnet18}) == \
        int(gpu.LOAD_SECONDS * ratio + work * ARCHITECTURES["resnet18"].cost)
    loaded.update({resnet50, resnet18})  # loaded on this worker: the work alone
    assert gpu.estimate_seconds("generate", {**values, "model": resnet50}) == int(work)
    assert gpu.estimate_seconds("generate", {**values, "model": resnet18}) == int(work * ARCHITECTURES["resnet18"].cost)
    # the comparison loads its standard model (ResNet-50 ε=0, not loaded) and runs the same work again
    assert gpu.estimate_seconds("generate", {**values, "model": resnet50, "compare": True}) == \
        int(work + gpu.LOAD_SECONDS + work)
    # a loaded 32-px model needs almost nothing: the floor
    loaded.add(EMBEDDED)
    assert gpu.estimate_seconds("generate", {"model": EMBEDDED, "target": "cat", "n": 4}) == gpu.MIN_SECONDS


def test_the_ladder_estimate_adds_every_level_that_can_run(monkeypatch):
    monkeypatch.setattr(models, "is_loaded", lambda name, device=None: False)
    values = {"target": "cat", "n": 4, "steps": "1000"}
    each = [gpu._run_seconds("generate", values, name) for name in (STANDARD, EMBEDDED)]
    assert gpu.ladder_seconds("generate", {**values, "model": EMBEDDED}) == int(sum(each))
    monkeypatch.setattr(models, "is_usable", lambda spec: spec.name != STANDARD)
    assert gpu.ladder_seconds("generate", {**values, "model": EMBEDDED}) == int(max(gpu.MIN_SECONDS, each[1]))


def test_is_loaded_is_the_load_cache():
    """Catches an "is loaded" check that looks somewhere else than load_model's cache (or on another device)."""
    models.load_model(EMBEDDED)
    assert models.is_loaded(EMBEDDED, "cpu") and not models.is_loaded(EMBEDDED, "meta")
    assert not models.is_loaded("imagenet-resnet18-l2-3", "cpu")
    assert gpu.parameter_count("cifar_resnet", 10) == sum(p.numel() for p in build("cifar_resnet", 10)[0].parameters())


# ----- Space defaults and the Models tab --------------------------------------------------------------------------

def front_matter() -> dict:
    import yaml
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    return yaml.safe_load(text.split("---")[1])


def test_the_space_preloads_the_default_model_s_whole_ladder():
    """Catches a front matter that preloads other files than the default pick and its levels (the default would
    then be downloaded on a visitor's first run, or fall back to the embedded model)."""
    [entry] = front_matter()["preload_from_hub"]
    repo, files = entry.split(" ")
    default = pickers.PREFERRED_MODELS[0]
    assert repo == models.get_spec(default).repo
    assert files.split(",") == [models.get_spec(level["name"]).file for level in models.ladder(default)]


def test_the_models_tab_has_a_card_line_per_family():
    """Catches a family left out, a card without its paper or licence, or numbers other than the sources'."""
    lines = pickers.family_cards().splitlines()
    families = {spec.family.title for spec in models.REGISTRY.values()}
    assert len(lines) == len(families) and all(any(f"**{f}**" in line for line in lines) for f in families)
    resnet50 = next(line for line in lines if "**MadryLab ResNet-50**" in line)
    assert "Salman et al." in resnet50 and "licence MIT" in resnet50 and "MadryLab's table" in resnet50
    assert "L2 ε=3 62.83%" in resnet50 and "L∞ ε=4/255 63.86%" in resnet50
    embedded = next(line for line in lines if f"**{CIFAR}**" in line)
    card = models.describe(models.get_spec(EMBEDDED))["metrics"]
    assert f"L2 ε=0.5 {card['clean_acc']:.2%}" in embedded and f"AutoAttack {card['autoattack_acc']:.1%}" in embedded
