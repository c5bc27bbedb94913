"""The Gradio app through gradio_client: every endpoint, recipes, share links, determinism, Stop, previews, errors."""
import dataclasses
import inspect
import json
import logging
import time
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import spaces
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from huggingface_hub import constants as hub_constants
from PIL import Image

import robust_synth
from robust_synth import limits, models, task_registry, result_store as results
from robust_synth.app import endpoints, gpu, pickers, running
from robust_synth.app import result_sharing as app_results
from robust_synth.tasks.generation import CIFAR
from robust_synth.tasks.super_resolution import window_count

from app_server import running_app

EMBEDDED, STANDARD = "cifar10-resnet-l2-0.5", "cifar10-resnet-standard"
HUB_MODEL = "imagenet-resnet50-l2-3"  # not cached on a test machine
CONTRACT = {  # api_name -> required inputs: the endpoints clients rely on (README's client block)
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
    """count full-size images of `size` and the model-resolution ones the recipe counts (captioned), in the order
    its shown_first says."""
    gallery, recipe = output[0], output[-1]
    extra = recipe.get("model_resolution", {}).get("count", 0)
    assert len(gallery) == count + extra
    model_first = recipe.get("shown_first") == "model resolution"
    assert extra or "shown_first" not in recipe
    for i, item in enumerate(gallery):
        is_model = i < extra if model_first else i >= count
        with Image.open(item["image"]) as img:
            assert img.format == "PNG" and (max(img.size) == 32 if is_model else img.size == size)
        caption = item["caption"] or ""
        assert caption.startswith("" if not extra else "the model's own image" if is_model else "full size")
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


def test_the_api_lists_only_the_public_endpoints(client):
    """Catches page-load helpers (a component whose value is a function) showing up in "Use via API"."""
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    tasks = {f"/{task.name}" for task in task_registry.all_tasks()}
    assert set(endpoints) == tasks | {f"{name}_ladder" for name in tasks} | {"/models", "/open_result"}


def test_models_lists_availability(client):
    listing = client.predict(api_name="/models")
    by_name = {m["name"]: m for m in listing}
    assert by_name[EMBEDDED]["available"] and by_name[EMBEDDED]["robustness"] == {"norm": "l2", "eps": 0.5}
    assert len(by_name[EMBEDDED]["classes"]) == 10 and by_name[EMBEDDED]["availability"] == "embedded"
    assert by_name[HUB_MODEL]["availability"] in ("cached", "downloadable", "unavailable offline")


def test_generate_with_only_required_inputs(client):
    out = client.predict(model=EMBEDDED, target="horse", api_name="/generate")
    recipe = check_result(out, "generate", EMBEDDED, (32, 32), count=4)
    assert recipe["params"]["steps"] == CIFAR.steps and recipe["seed"] == 0


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_settings_fields_run_the_task_defaults(client, empty):
    # what the page sends for Settings left empty (never touched: None; cleared: ""); once, it sent 0
    out = client.predict(model=EMBEDDED, target="cat", n=1, seed=empty, steps=empty, eps=empty, step_size=empty,
                         api_name="/generate")
    params = out[-1]["params"]
    assert (out[-1]["seed"], params["steps"], params["eps"], params["step_size"]) == \
        (0, CIFAR.steps, CIFAR.eps, CIFAR.step_size)


def test_typed_settings_are_used_and_recorded(client):
    # the Settings boxes send text: "7" and "20" must reach the task as the numbers 7 and 20
    out = client.predict(model=EMBEDDED, target="cat", n=1, seed="7", steps="20", eps="12.5", step_size="0.25",
                         api_name="/generate")
    recipe = out[-1]
    assert (recipe["seed"], recipe["params"]["steps"], recipe["params"]["eps"], recipe["params"]["step_size"]) == \
        (7, 20, 12.5, 0.25)
    assert recipe["metrics"]["steps_run"] == 20


def test_a_mistyped_setting_names_its_field(client):
    with pytest.raises(AppError, match="steps must be a number or left empty, got 'twenty'"):
        client.predict(model=EMBEDDED, target="cat", n=1, steps="twenty", api_name="/generate")
    with pytest.raises(AppError, match="steps must be an integer between 1 and"):
        client.predict(model=EMBEDDED, target="cat", n=1, steps="0", api_name="/generate")


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
    out = client.predict(model=EMBEDDED, target="cat", n=1, seed=3, api_name="/generate", **FAST)
    from_png = app_results.recipe_from_upload(out[0][0]["image"], "")
    from_text = app_results.recipe_from_upload(None, json.dumps(out[-1]))
    assert from_png == from_text == out[-1]
    settings = app_results.recipe_settings(from_png)
    assert (settings["model"], settings["target"], settings["seed"], settings["steps"], settings["n"]) == \
        (EMBEDDED, "cat", 3, 2, 1)
    with pytest.raises(gr.Error, match="not valid JSON"):
        app_results.recipe_from_upload(None, "{not json")
    with pytest.raises(gr.Error, match="must be a JSON object with a 'task' field"):
        app_results.recipe_from_upload(None, "[1, 2]")


def test_compare_pairs_every_image_with_the_standard_counterpart_same_seed(client):
    """Catches a comparison of the first image only, pairs out of order, a rerun of the robust model or another seed
    on the standard side, and a share link that forgets the standard images."""
    gallery, pairs, recipe = client.predict(model=EMBEDDED, target="ship", n=2, seed=5, compare=True,
                                            api_name="/generate", **FAST)
    assert recipe["comparison"]["model"] == STANDARD and recipe["comparison"]["seed"] == recipe["seed"] == 5
    assert [p["caption"] for p in pairs] == ["robust · 1 of 2", "standard · 1 of 2", "robust · 2 of 2",
                                             "standard · 2 of 2"]
    robust, standard = ([np.asarray(Image.open(p["image"])) for p in side] for side in (pairs[::2], pairs[1::2]))
    assert all(np.array_equal(r, pixels([g])) for r, g in zip(robust, gallery, strict=True))
    alone = client.predict(model=STANDARD, target="ship", n=2, seed=5, api_name="/generate", **FAST)
    assert all(np.array_equal(s, pixels([a])) for s, a in zip(standard, alone[0], strict=True))
    assert not np.array_equal(robust[0], standard[0]) and not np.array_equal(standard[0], standard[1])
    reopened = app_results.load_result(recipe["share_url"])
    assert [np.asarray(im).tolist() for im in reopened.compared] == [s.tolist() for s in standard]


@pytest.mark.parametrize("api_name, inputs, size, count", [
    ("/inpaint", {"image": "photo", "mask": "mask"}, (48, 48), 1),  # edits at the input's size
    ("/super_resolve", {"image": "photo", "factor": 2}, (96, 96), 1),
    ("/translate", {"image": "photo", "target": "dog"}, (48, 48), 1),
    ("/sketch_to_image", {"image": "photo", "target": "ship"}, (48, 48), 1),
    ("/paint_features", {"image": "photo", "mask": "mask", "feature": "3"}, (48, 48), 1),
    ("/invert", {"image": "photo"}, (48, 48), 1),
    ("/interpolate", {"image_a": "photo", "image_b": "other", "frames": 3}, (32, 32), 3),
    ("/visualize_feature", {"feature": 5}, (32, 32), 1),
    ("/style_transfer", {"content_image": "photo", "style_image": "other", "size": "40"}, (40, 40), 1),
])
def test_each_task_endpoint(client, files, api_name, inputs, size, count):
    # steps as the Settings box sends it (text), eps and step_size as an untouched box (None): the task defaults
    args = {k: handle_file(files[v]) if k in ("image", "mask", "image_a", "image_b", "content_image",
                                              "style_image") else v for k, v in inputs.items()}
    model = {} if api_name == "/style_transfer" else {"model": EMBEDDED}  # style: the endpoint's own default
    out = client.predict(**model, **args, steps="2", eps=None, step_size=None, api_name=api_name)
    expected = task_registry.get(api_name[1:]).input("model").default if not model else EMBEDDED  # declared default
    recipe = check_result(out, api_name[1:], expected, size, count)
    assert recipe["params"]["steps"] == 2


@pytest.mark.parametrize("api_name, inputs, message", [
    ("/translate", {"image": "corrupt", "target": "dog"}, "could not be read as an image"),
    ("/translate", {"image": "photo", "target": "unicorn"}, "unknown class 'unicorn'"),
    ("/inpaint", {"image": "photo", "mask": "wide_mask"}, "mask is 60x20 but the image is 48x48"),
    ("/paint_features", {"image": "photo", "mask": "mask", "feature": ""}, "feature is required"),
])
def test_bad_input_gives_a_clear_error_and_the_server_keeps_serving(client, files, api_name, inputs, message):
    args = {k: handle_file(files[v]) if k in ("image", "mask") else v for k, v in inputs.items()}
    with pytest.raises(AppError, match=message):
        client.predict(model=EMBEDDED, **args, api_name=api_name, **FAST)
    assert client.predict(api_name="/models")


def test_a_model_that_cannot_be_had_is_refused_at_once(client, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # offline, and the ResNet-50 is not cached here
    assert pickers.unusable_reason(HUB_MODEL) and "unavailable offline" in dict(
        (name, label) for label, name in pickers.model_choices())[HUB_MODEL]
    assert pickers.run_button(HUB_MODEL).interactive is False and pickers.run_button(EMBEDDED).interactive is True
    with pytest.raises(AppError, match=f"model {HUB_MODEL} is unavailable"):
        client.predict(model=HUB_MODEL, target="goldfinch", n=1, api_name="/generate")


def session_of(client) -> SimpleNamespace:
    """A stand-in for the gr.Request of the client's session (the server runs in this process)."""
    return SimpleNamespace(session_hash=client.session_hash)


def test_stop_returns_the_best_result_so_far(client, files):
    job = client.submit(model=EMBEDDED, image=handle_file(files["photo"]), steps=1200, api_name="/invert")
    deadline = time.monotonic() + 120
    while not job.outputs() and time.monotonic() < deadline:  # wait for the first streamed preview
        time.sleep(0.05)
    assert job.outputs(), "no preview streamed within two minutes"
    running.stop("invert", session_of(client))
    gallery, _, recipe = job.result(timeout=120)
    # catches Stop throwing the run away (Gradio's cancels=) or finishing all 1200 steps anyway
    assert recipe["cancelled"] is True and recipe["stopped_by"] == "stop button"
    assert 0 < recipe["metrics"]["steps_run"] < 1200
    assert results.recipe_from_png(gallery[0]["image"])["result_id"] == recipe["result_id"]
    again = client.predict(model=EMBEDDED, image=handle_file(files["photo"]), api_name="/invert", **FAST)
    assert again[-1]["cancelled"] is False, "the stop flag outlived its run"


def test_stop_in_another_tab_leaves_this_run_alone(client):
    # catches a stop flag per session instead of per (session, tab): Stop on Invert would end this Generate run
    job = client.submit(model=EMBEDDED, target="cat", n=1, steps=300, api_name="/generate")
    while not job.outputs() and not job.done():
        time.sleep(0.05)
    running.stop("invert", session_of(client))
    recipe = job.result(timeout=120)[-1]
    assert recipe["cancelled"] is False and recipe["metrics"]["steps_run"] == 300


def test_previews_stream_before_the_result(client):
    job = client.submit(model=EMBEDDED, target="cat", n=2, steps=48, api_name="/generate")
    job.result(timeout=120)
    outputs = job.outputs()
    previews, final = outputs[:-1], outputs[-1]
    assert len(previews) >= 4, f"only {len(previews)} previews for a 48-step run"
    for gallery, *_ in previews:
        assert len(gallery) == 2 and Image.open(gallery[0]["image"]).size == (32, 32)
    assert final[-1]["params"]["steps"] == 48 and final[-1]["share_url"]
    first, last = pixels(previews[0][0]), pixels(previews[-1][0])
    assert not np.array_equal(first, last), "the previews do not follow the optimisation"


def test_suggest_features_offers_the_top_features_of_a_class():
    update = pickers.suggest_features(EMBEDDED, "cat")
    indices = [index for _, index in update.choices]
    top = robust_synth.top_features(EMBEDDED, "cat", k=10)
    assert indices == [f["index"] for f in top] and update.value == indices[0]
    scores = [f["score"] for f in top]
    assert scores == sorted(scores, reverse=True) and len(set(indices)) == 10
    with pytest.raises(gr.Error, match="unknown class 'unicorn'"):
        pickers.suggest_features(EMBEDDED, "unicorn")


def test_the_session_history_keeps_newest_first_with_share_links(tmp_path):
    history = []
    for i in range(3):
        image = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 8)).save(image)
        recipe = {"task": "generate", "model": EMBEDDED, "share_url": f"http://x/?result={i:024x}",
                  "cancelled": i == 2}
        history, thumbnails, links = app_results.add_to_history(history, recipe, [(str(image), None)])
    assert [e["share_url"][-1] for e in history] == ["2", "1", "0"]
    assert thumbnails[0] == (str(tmp_path / "2.png"), f"generate · {EMBEDDED} (stopped)")
    assert links.splitlines()[0].endswith(f"[http://x/?result={2:024x}](http://x/?result={2:024x})")
    history, _, _ = app_results.add_to_history(history, {"task": "invert"}, [])  # a failed run adds nothing
    assert len(history) == 3


def test_a_robustness_ladder_run_joins_the_history_one_entry_per_level_that_ran(tmp_path):
    """Catches ladder runs missing from the Results tab, and a level's link paired with another level's image."""
    strip = []
    for name in ("standard", "robust"):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{name}.png")
        strip.append((str(tmp_path / f"{name}.png"), "caption"))
    levels = [{"model": STANDARD, "eps_label": "0", "recipe": {"task": "generate", "model": STANDARD,
                                                                 "share_url": f"http://x/?result={0:024x}"}},
              {"model": "offline-level", "eps_label": "1", "error": "offline, not cached"},
              {"model": EMBEDDED, "eps_label": "0.5", "recipe": {"task": "generate", "model": EMBEDDED,
                                                                  "share_url": f"http://x/?result={1:024x}"}}]
    history, thumbnails, links = app_results.add_ladder_to_history([], levels, strip)
    assert [(e["model"], e["image"]) for e in history] == [(EMBEDDED, strip[1][0]), (STANDARD, strip[0][0])]
    assert thumbnails[0][1] == f"generate · {EMBEDDED} (robustness ladder, ε=0.5)"
    assert links.splitlines()[1] == (f"2. generate · {STANDARD} (robustness ladder, ε=0): "
                                     f"[http://x/?result={0:024x}](http://x/?result={0:024x})")


def gradio_args(handler, **values) -> list:
    """The handler's arguments in the positional order Gradio calls it with."""
    defaults = {"seed": None, "steps": None, "eps": None, "step_size": None, "compare": False}
    names = [n for n in inspect.signature(handler).parameters if n not in ("request", "progress")]
    return [values.get(n, defaults.get(n)) for n in names]


def test_gpu_duration_is_what_spaces_gpu_calls_with_the_request(monkeypatch, tmp_path):
    given = []  # the duration callables handed to spaces.GPU, which ZeroGPU calls with the request's arguments
    monkeypatch.setattr(spaces, "GPU", lambda duration: given.append(duration) or (lambda handler: handler))
    handler = endpoint("inpaint")
    inpaint = given[-1]
    # inpainting runs 720 steps at 224 px by default: a 20 s first load + 720 * 224^2 / 5e6 s = 27.2 s (ResNet-50:
    # cost 1); the comparison loads its standard ResNet-50 too and runs the same steps again
    assert task_registry.get("inpaint").default_steps(224) == 720
    assert inpaint(*gradio_args(handler, model=HUB_MODEL, image="p.png", mask="m.png")) == 27
    assert inpaint(*gradio_args(handler, model=HUB_MODEL, image="p.png", mask="m.png", compare=True)) == 54
    assert inpaint(*gradio_args(handler, model=HUB_MODEL, image="p.png", mask="m.png", steps="100")) == 21
    assert inpaint(*gradio_args(handler, model=HUB_MODEL, image="p.png", mask="m.png", steps="10e9")) == \
        limits.current().max_seconds
    handler = endpoint("generate")
    generate = given[-1]
    # four 224-px images, 60 steps: 20 + 60 * 224^2 * 4 / 5e6 = 22.4 s; the loaded 32-px model needs only the floor
    assert generate(*gradio_args(handler, model=HUB_MODEL, target="goldfinch", n=4)) == 22
    monkeypatch.setattr(models, "is_loaded", lambda name, device=None: name == EMBEDDED)
    assert generate(*gradio_args(handler, model=EMBEDDED, target="cat", n=4)) == gpu.MIN_SECONDS
    handler = endpoint("super_resolve")
    super_resolve = given[-1]
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.new("RGB", (56, 56)).save(small)
    Image.new("RGB", (224, 168)).save(large)
    # catches an estimate that counts one image: at factor 4 a 56-px window fills the 224-px model once, and a
    # 224x168 upload (as the page sends it, preprocess=False) needs at least 4x3 such windows
    windows = window_count(str(large), 4, 224)
    seconds_per_window = task_registry.get("super_resolve").default_steps(224) * 224 ** 2 / 5e6
    assert windows >= 12
    assert super_resolve(*gradio_args(handler, model=HUB_MODEL, image={"path": str(small)}, factor=4.0)) \
        == int(20 + seconds_per_window)
    assert super_resolve(*gradio_args(handler, model=HUB_MODEL, image={"path": str(large)}, factor=4.0)) \
        == int(min(limits.current().max_seconds, 20 + windows * seconds_per_window))


def endpoint(name: str):
    """The app's handler of task `name`, built from the registry as the app builds it."""
    return endpoints.endpoint(task_registry.get(name))


def run_handler(handler, *args):
    """Drain a handler's generator as Gradio would; the last output."""
    return list(handler(*args))[-1]


def test_a_user_error_logs_one_line_and_a_fault_its_traceback(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, "robust_synth.app"):
        with pytest.raises(gr.Error, match="steps must be an integer between 1 and") as refused:
            handler = endpoint("generate")
            run_handler(handler, *gradio_args(handler, model=EMBEDDED, target="cat", n=1, steps="0"))
    assert refused.value.print_exception is False, "Gradio would print a traceback for a user's mistake"
    [record] = caplog.records
    assert record.getMessage().startswith("request refused: steps must be") and record.exc_info is None
    caplog.clear()

    def broken(**kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    broken.__name__ = "generate"
    monkeypatch.setitem(task_registry.TASKS, "generate", dataclasses.replace(task_registry.get("generate"), fn=broken))
    with caplog.at_level(logging.WARNING, "robust_synth.app"):
        with pytest.raises(gr.Error, match="illegal memory access"):
            handler = endpoint("generate")
            run_handler(handler, *gradio_args(handler, model=EMBEDDED, target="cat", n=1))
    [record] = caplog.records
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError, "a real fault lost its traceback"


def test_models_table_lists_every_model_usable_first():
    rows = pickers.models_table()
    by_name = {row[0]: row for row in rows}
    assert set(by_name) == set(models.REGISTRY) and all(len(row) == len(pickers.MODEL_COLUMNS) for row in rows)
    assert by_name[EMBEDDED][1:6] == ["cifar10", 10, "robust L2 ε=0.5", "32 px", "embedded"]
    assert by_name[STANDARD][3] == "standard" and by_name[HUB_MODEL][2] == 1000
    assert by_name["imagenet-resnet50-linf-4"][3] == "robust L∞ ε=4/255"
    # catches the 69 ImageNet entries burying the two models that work offline at the bottom of the list
    usable = [models.is_usable(models.get_spec(row[0])) for row in rows]
    assert usable == sorted(usable, reverse=True)
    assert [name for _, name in pickers.model_choices()][:len(rows)] == [row[0] for row in rows]
    assert pickers.class_table(EMBEDDED)[3] == [3, "cat"] and len(pickers.class_table(HUB_MODEL)) == 1000
