"""The Gradio app through gradio_client: every endpoint, recipes, share links, determinism and bad input."""
import json

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from robust_synth import results
from robust_synth.tasks.generation import CIFAR

from app_server import running_app

EMBEDDED, STANDARD = "cifar10-resnet-l2-0.5", "cifar10-resnet-standard"
CONTRACT = {  # api_name -> required inputs (DESIGN.md, "The app contract")
    "/models": [], "/generate": ["model", "target"], "/inpaint": ["model", "image", "mask"],
    "/super_resolve": ["model", "image"], "/translate": ["model", "image", "target"],
    "/sketch_to_image": ["model", "image", "target"], "/paint_features": ["model", "image", "mask", "feature"],
    "/invert": ["model", "image"], "/interpolate": ["model", "image_a", "image_b"],
    "/visualize_feature": ["model", "feature"], "/style_transfer": ["content_image", "style_image"],
}
OPTIONAL_EVERYWHERE = {"seed", "steps", "eps", "step_size"}
RECIPE_KEYS = {"task", "model", "params", "seed", "weights_sha256", "version", "elapsed_s", "result_id", "share_url"}
FAST = {"steps": 2}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))
    other = Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))
    mask = Image.new("L", (48, 48), 0)
    mask.paste(255, (12, 12, 36, 36))
    paths = {"photo": folder / "photo.png", "other": folder / "other.png", "mask": folder / "mask.png",
             "wide_mask": folder / "wide_mask.png", "corrupt": folder / "corrupt.png"}
    photo.save(paths["photo"])
    other.save(paths["other"])
    mask.save(paths["mask"])
    Image.new("L", (60, 20), 255).save(paths["wide_mask"])
    paths["corrupt"].write_bytes(b"\x89PNG\r\n\x1a\n this is not really an image")
    return {name: str(path) for name, path in paths.items()}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("results")) as url:
        yield Client(url, verbose=False)


def pixels(output) -> np.ndarray:
    """The first image of a gallery output (PNG file) as an array."""
    return np.asarray(Image.open(output[0]["image"]))


def check_result(output, task: str, model: str, size: tuple[int, int], count: int = 1) -> dict:
    """count full-size images of `size` first, then the model-resolution ones the recipe counts (captioned)."""
    gallery, recipe = output[0], output[-1]
    extra = recipe.get("model_resolution", {}).get("count", 0)
    assert len(gallery) == count + extra
    for i, item in enumerate(gallery):
        with Image.open(item["image"]) as img:
            assert img.format == "PNG" and (img.size == size if i < count else max(img.size) == 32)
        assert (item["caption"] or "").startswith("" if not extra else "full size" if i < count else "model resolution")
    assert RECIPE_KEYS <= set(recipe), f"recipe misses {RECIPE_KEYS - set(recipe)}"
    assert recipe["task"] == task and recipe["model"] == model
    assert recipe["share_url"].endswith(f"?result={recipe['result_id']}")
    assert results.recipe_from_png(gallery[0]["image"])["result_id"] == recipe["result_id"]
    return recipe


def test_every_endpoint_is_named_with_the_contract_parameters(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for api_name, required in CONTRACT.items():
        assert api_name in endpoints, f"{api_name} missing"
        params = {p["parameter_name"]: p for p in endpoints[api_name]["parameters"]}
        assert set(required) <= set(params)
        assert [n for n, p in params.items() if not p["parameter_has_default"]] == \
            [n for n in required if n in ("image", "mask", "image_a", "image_b", "feature", "content_image",
                                          "style_image")]
        if api_name != "/models":
            assert OPTIONAL_EVERYWHERE <= set(params)


def test_models_lists_availability(client):
    listing = client.predict(api_name="/models")
    by_name = {m["name"]: m for m in listing}
    assert by_name[EMBEDDED]["available"] and by_name[EMBEDDED]["robustness"] == {"norm": "l2", "eps": 0.5}
    assert len(by_name[EMBEDDED]["classes"]) == 10 and "imagenet-resnet50-l2-3" in by_name


def test_generate_with_only_required_inputs(client):
    out = client.predict(model=EMBEDDED, target="horse", api_name="/generate")
    recipe = check_result(out, "generate", EMBEDDED, (32, 32), count=4)
    assert recipe["params"]["steps"] == CIFAR.steps and recipe["seed"] == 0


def test_same_seed_same_image_and_share_link_reopens_it(client):
    first = client.predict(model=EMBEDDED, target="cat", n=1, seed=7, api_name="/generate", **FAST)
    second = client.predict(model=EMBEDDED, target="cat", n=1, seed=7, api_name="/generate", **FAST)
    other = client.predict(model=EMBEDDED, target="cat", n=1, seed=8, api_name="/generate", **FAST)
    assert np.array_equal(pixels(first[0]), pixels(second[0]))
    assert not np.array_equal(pixels(first[0]), pixels(other[0]))
    gallery, recipe = client.predict(first[-1]["share_url"], api_name="/open_result")
    assert np.array_equal(pixels(gallery), pixels(first[0]))
    assert recipe["result_id"] == first[-1]["result_id"] and recipe["seed"] == 7


def test_rerun_from_a_result_png_or_pasted_recipe(client):
    from robust_synth import app_handlers
    out = client.predict(model=EMBEDDED, target="cat", n=1, seed=3, api_name="/generate", **FAST)
    from_png = app_handlers.recipe_from_upload(out[0][0]["image"], "")
    from_text = app_handlers.recipe_from_upload(None, json.dumps(out[-1]))
    assert from_png == from_text == out[-1]
    settings = app_handlers.recipe_settings(from_png)
    assert (settings["model"], settings["target"], settings["seed"], settings["steps"], settings["n"]) == \
        (EMBEDDED, "cat", 3, 2, 1)
    with pytest.raises(gr.Error, match="not valid JSON"):
        app_handlers.recipe_from_upload(None, "{not json")


def test_compare_runs_the_standard_counterpart(client):
    gallery, pair, recipe = client.predict(model=EMBEDDED, target="ship", n=1, compare=True, api_name="/generate",
                                           **FAST)
    assert recipe["comparison"]["model"] == STANDARD and recipe["comparison"]["seed"] == recipe["seed"]
    robust, standard = (np.asarray(Image.open(p)) for p in pair)
    assert robust.shape == standard.shape == (32, 32, 3)


@pytest.mark.parametrize("api_name, inputs, size, count", [
    ("/inpaint", {"image": "photo", "mask": "mask"}, (48, 48), 1),  # edits at the input's size
    ("/super_resolve", {"image": "photo", "factor": 2}, (96, 96), 1),
    ("/translate", {"image": "photo", "target": "dog"}, (48, 48), 1),
    ("/sketch_to_image", {"image": "photo", "target": "ship"}, (48, 48), 1),
    ("/paint_features", {"image": "photo", "mask": "mask", "feature": 3}, (48, 48), 1),
    ("/invert", {"image": "photo"}, (48, 48), 1),
    ("/interpolate", {"image_a": "photo", "image_b": "other", "frames": 3}, (32, 32), 3),
    ("/visualize_feature", {"feature": 5}, (32, 32), 1),
    ("/style_transfer", {"content_image": "photo", "style_image": "other", "size": 40}, (40, 40), 1),
])
def test_each_task_endpoint(client, files, api_name, inputs, size, count):
    args = {k: handle_file(files[v]) if k in ("image", "mask", "image_a", "image_b", "content_image",
                                              "style_image") else v for k, v in inputs.items()}
    model = {} if api_name == "/style_transfer" else {"model": EMBEDDED}
    out = client.predict(**model, **args, api_name=api_name, **FAST)
    check_result(out, api_name[1:], EMBEDDED, size, count)


@pytest.mark.parametrize("api_name, inputs, message", [
    ("/translate", {"image": "corrupt", "target": "dog"}, "could not be read as an image"),
    ("/translate", {"image": "photo", "target": "unicorn"}, "unknown class 'unicorn'"),
    ("/inpaint", {"image": "photo", "mask": "wide_mask"}, "mask is 60x20 but the image is 48x48"),
])
def test_bad_input_gives_a_clear_error_and_the_server_keeps_serving(client, files, api_name, inputs, message):
    args = {k: handle_file(files[v]) if k in ("image", "mask") else v for k, v in inputs.items()}
    with pytest.raises(Exception, match=message):
        client.predict(model=EMBEDDED, **args, api_name=api_name, **FAST)
    assert client.predict(api_name="/models")


def test_gpu_duration_follows_the_task_default_steps_and_the_comparison():
    from robust_synth import app_handlers as h, tasks
    resnet = {"model": "imagenet-resnet50-l2-3"}
    assert tasks.default_steps("inpaint", 224) == 720 and tasks.default_steps("generate", 32) == CIFAR.steps
    assert h.estimate_seconds("inpaint", resnet) > h.estimate_seconds("generate", resnet)
    assert h.estimate_seconds("inpaint", {**resnet, "compare": True}) > h.estimate_seconds("inpaint", resnet)
    assert h.estimate_seconds("invert", {**resnet, "steps": 10**6}) == h.limits.current().max_seconds
