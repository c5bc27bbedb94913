"""Robust CLIP models from open_clip's Hub layout, offline: the load, free-text targets in every class-taking task, the
recipe, CLI, app picker, gradio_client and share link, on a tiny random-weight model (tests/clip_hub.py)."""
import json
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from gradio_client import Client
from PIL import Image

import clip_hub
import robust_synth as rs
from app_server import running_app
from robust_synth import checkpoints, models
from robust_synth.__main__ import main
from robust_synth.app import gpu, pickers
from robust_synth.app import result_sharing as app_results
from robust_synth.bulk.__main__ import main as bulk_main
from robust_synth.clip_network import NEUTRAL_PROMPTS, ClipModel
from robust_synth.result_store import recipe_from_png
from robust_synth.tasks.feature_painting import top_features

ROBUST, STANDARD = clip_hub.ROBUST.name, clip_hub.STANDARD.name
PROMPT = "a red fox in snow"
ROOT = Path(__file__).resolve().parent.parent
PHOTO, SKETCH, MASK = "examples/photos/chelsea-64.jpg", "examples/sketches/horse-64.png", "examples/masks/eye-64.png"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        yield clip_hub.install(tmp_path_factory.mktemp("clip"), patch)
        clip_hub.uninstall()


def test_the_hub_repo_classifies_prompts_exactly_as_open_clip_loads_it(hub):
    """Catches weights not loaded (random init), a wrong normalisation, head or logit scale, and competing classes
    other than the run's prompts and the neutral set."""
    model = models.load_model(ROBUST)
    assert isinstance(model, ClipModel) and model.num_classes == 1000 and model.class_names[1] == "goldfish"
    view = model.for_prompts([PROMPT, "a lighthouse"])
    assert view.class_names == [PROMPT, "a lighthouse", *NEUTRAL_PROMPTS]
    reference, _, _ = open_clip.create_model_and_transforms(f"hf-hub:{clip_hub.ROBUST.repo}")
    tokenizer = open_clip.get_tokenizer(f"hf-hub:{clip_hub.ROBUST.repo}")
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    mean, std = (torch.tensor(v).view(1, 3, 1, 1)
                 for v in (open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD))
    with torch.no_grad():
        image = F.normalize(reference.eval().encode_image((x - mean) / std), dim=-1)
        text = F.normalize(reference.encode_text(tokenizer(view.class_names)), dim=-1)
        expected = reference.logit_scale.exp() * image @ text.T
        assert torch.allclose(view(x).logits, expected, atol=1e-4)
    assert model.for_prompts([PROMPT, "a lighthouse"]) is view  # embedded once, kept for the next run
    assert not torch.equal(models.load_model(STANDARD)(x).logits, model(x).logits)


def test_the_family_compares_against_its_epsilon_0_level_and_declares_the_real_models(hub):
    assert models.STANDARD_COUNTERPART[ROBUST] == STANDARD
    assert [level["name"] for level in models.ladder(ROBUST)] == [STANDARD, ROBUST]
    real = {name: models.get_spec(name) for name in ("clip-vit-l-14-openai", "clip-vit-l-14-fare-linf-4",
                                                     "clip-vit-l-14-tecoa-linf-4")}
    assert {s.repo for s in real.values()} == {"timm/vit_large_patch14_clip_224.openai", "chs20/fare4-clip",
                                               "chs20/tecoa4-clip"}
    assert all(s.text_targets and s.format == "open_clip" and s.input_size == 224 for s in real.values())
    assert models.STANDARD_COUNTERPART["clip-vit-l-14-tecoa-linf-4"] == "clip-vit-l-14-openai"
    assert models.describe(real["clip-vit-l-14-fare-linf-4"])["text_targets"]  # what /models tells API users
    assert not models.describe(models.get_spec("cifar10-resnet-l2-0.5"))["text_targets"]


def test_zerogpu_estimate_for_vit_l_14_at_224_px():
    """The ViT-L/14's cost record (19.8 ResNet-50s per pixel-step) and its 428 M weights reach the GPU estimate."""
    fare, resnet = models.get_spec("clip-vit-l-14-fare-linf-4"), models.get_spec("imagenet-resnet50-l2-3")
    values = {"n": 2}
    assert gpu.work_seconds("generate", values, fare) == pytest.approx(19.8 * gpu.work_seconds("generate", values,
                                                                                              resnet))
    assert 4.2e8 < gpu.parameter_count(fare.arch) < 4.4e8
    assert gpu.load_seconds(fare) > 15 * gpu.load_seconds(resnet)


CLASS_TASKS = [
    (rs.generate, {"target": PROMPT, "n": 2}),
    (rs.translate, {"image": PHOTO, "target": PROMPT}),
    (rs.sketch_to_image, {"image": SKETCH, "target": "a brown horse on green grass"}),
    (rs.refine, {"image": PHOTO, "target": "a photo of a cat"}),
    (rs.inpaint, {"image": PHOTO, "mask": MASK, "target": "a cat's green eye"}),
]


@pytest.mark.parametrize("task, inputs", CLASS_TASKS, ids=lambda v: getattr(v, "__name__", ""))
def test_a_prompt_reaches_every_class_task_and_its_recipe_replays_it(hub, task, inputs):
    """Catches a task that ignores the prompt (loss not lowered), records a class name instead of the text, or whose
    recipe does not give the same image back."""
    images, recipe = task(ROBUST, steps=4, seed=2, **inputs)
    assert recipe["metrics"]["loss_end"] < recipe["metrics"]["loss_start"]
    recorded = recipe["params"]["target"]
    assert (recorded[0] if isinstance(recorded, list) else recorded) == inputs["target"]
    settings = app_results.recipe_settings(json.loads(json.dumps(recipe)))
    again, _ = task(settings["model"], steps=settings["steps"], seed=settings["seed"],
                    **{**inputs, "target": settings["target"]})
    assert torch.equal(again.tensor, images.tensor)


def test_feature_suggestions_for_a_prompt_use_its_text_embedding(hub):
    model = models.load_model(ROBUST)
    picked = top_features(ROBUST, PROMPT, k=3)
    weight = model.for_prompts([PROMPT]).net.head.weight
    scores = weight[0] - weight.mean(0)
    assert [p["index"] for p in picked] == scores.topk(3).indices.tolist()


@pytest.mark.parametrize("target, message", [(3, "text prompt"), ("  ", "text prompt"), (["ok", 5], "text prompt"),
                                             ("x" * 301, "at most 300 characters")])
def test_a_clip_target_that_is_not_a_prompt_is_refused(hub, target, message):
    with pytest.raises(ValueError, match=message):
        rs.generate(ROBUST, target, n=1, steps=1)


def test_the_cli_takes_prompts(hub, tmp_path, capsys):
    rc = main(["generate", "--model", ROBUST, "--target", PROMPT, "a lighthouse at dusk", "--n", "1", "--steps", "2",
               "--out", str(tmp_path)])
    assert rc == 0, capsys.readouterr().err
    recipe = recipe_from_png(tmp_path / "generate-01.png")
    assert recipe["params"]["target"] == [PROMPT, "a lighthouse at dusk"] and recipe["model"] == ROBUST


def test_the_class_picker_becomes_a_prompt_box_for_a_clip_model_and_back(hub):
    picker = pickers.model_changed(ROBUST, "horse")
    assert picker.label == pickers.PROMPT_LABEL and picker.value == "horse"  # any text is a CLIP class
    assert [c[0] for c in picker.choices] == list(pickers.EXAMPLE_PROMPTS)
    assert pickers.class_table(ROBUST)[1] == [1, "goldfish"]  # the Models tab: the label set of class-free runs
    back = pickers.model_changed("cifar10-resnet-l2-0.5", PROMPT, label="target class (empty = predicted)")
    assert back.label == "target class (empty = predicted)" and back.value == "horse"


def test_gradio_client_prompt_compare_and_share_link(hub, tmp_path):
    """A prompt through the named endpoint, with Compare against the ε 0 model, reopened from its share link."""
    with running_app(tmp_path / "results") as url:
        client = Client(url, verbose=False)
        gallery, pairs, recipe = client.predict(model=ROBUST, target=PROMPT, n=1, steps="2", seed=4, compare=True,
                                                api_name="/generate")
        assert recipe["params"]["target"] == [PROMPT] and recipe["comparison"]["model"] == STANDARD
        with Image.open(gallery[0]["image"]) as img:
            assert img.size == (64, 64)
        reopened_gallery, reopened = client.predict(recipe["share_url"], api_name="/open_result")
        assert reopened["params"]["target"] == [PROMPT] and reopened["result_id"] == recipe["result_id"]
        assert np.array_equal(np.asarray(Image.open(reopened_gallery[0]["image"])),
                              np.asarray(Image.open(gallery[0]["image"])))


def test_bulk_generation_takes_prompts_as_its_classes(hub, tmp_path, capsys):
    """Catches a bulk run that reads a prompt as an ImageNet class (or refuses it), names its folder or manifest
    entry after ImageNet's class of the same index, or runs a CLIP model over 1000 classes when no prompt is given."""
    prompts = [PROMPT, "a lighthouse at dusk"]
    out = tmp_path / "out"
    rc = bulk_main(["generate", "--model", ROBUST, "--per-class", "2", "--classes", *prompts, "--steps", "2",
                    "--no-progress", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [e["class_name"] for e in entries] == [PROMPT, PROMPT, "a lighthouse at dusk", "a lighthouse at dusk"]
    assert [e["key"].split("/")[0] for e in entries[::2]] == ["0-a_red_fox_in_snow", "1-a_lighthouse_at_dusk"]
    assert recipe_from_png(out / entries[2]["file"])["params"]["target"] == ["a lighthouse at dusk"]
    assert bulk_main(["generate", "--model", ROBUST, "--per-class", "1", "--no-progress",
                      "--out", str(tmp_path / "none")]) == 2
    assert "generates from text" in capsys.readouterr().err


def test_the_prompt_benchmark_runs_on_a_family_and_a_third_judge(hub, tmp_path, monkeypatch):
    """The benchmark cannot run here on real weights; this keeps it from rotting, and checks that it refuses a judge
    that made one of the images."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import clip_prompts
    out = tmp_path / "rows.json"
    clip_prompts.main(["--model", ROBUST, "--judge", clip_hub.JUDGE.name, "--prompt", PROMPT, "a lighthouse",
                       "--n", "1", "--steps", "2", "--json", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["prompt"] for r in rows] == [PROMPT, "a lighthouse"]
    assert all(0 < r[side] < 1 for r in rows for side in ("robust", "standard"))
    with pytest.raises(SystemExit, match="judge that is neither"):
        clip_prompts.main(["--model", ROBUST, "--judge", STANDARD, "--n", "1", "--steps", "1"])


def test_a_cached_clip_loads_without_asking_the_hub(hub, monkeypatch):
    """Catches a load that probes the Hub (a 3-s wait without a network) when the repo's files are already cached."""
    monkeypatch.setattr(models, "_cache", {})
    monkeypatch.setattr(checkpoints, "reachable", lambda *a, **k: pytest.fail("probed the Hub for a cached model"))
    assert models.load_model(ROBUST).name == ROBUST
