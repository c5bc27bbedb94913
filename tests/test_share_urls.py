"""Share links: the host visitors see (Space, reverse proxy, direct), links that outlive the app, the default model."""
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from huggingface_hub import constants as hub_constants
from PIL import Image
from starlette.requests import Request as StarletteRequest

from robust_synth import result_store as results
from robust_synth.app import pickers
from robust_synth.app import result_sharing as app_results

ROOT = Path(__file__).resolve().parent.parent
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def request(**headers: str) -> gr.Request:
    """A gr.Request as Gradio hands it to a handler, over an ASGI request with these headers ("_" for "-")."""
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": raw}
    return gr.Request(request=StarletteRequest(scope))


@pytest.fixture
def no_space(monkeypatch):
    monkeypatch.delenv("SPACE_HOST", raising=False)


@pytest.mark.parametrize("headers, url", [
    ({"host": "127.0.0.1:7860"}, "http://127.0.0.1:7860"),
    ({"host": "10.0.0.5:7860", "x_forwarded_host": "synth.example.org", "x_forwarded_proto": "https"},
     "https://synth.example.org"),
    ({"host": "10.0.0.5:7860", "x_forwarded_host": "synth.example.org:8443"}, "http://synth.example.org:8443"),
    ({}, "http://localhost:7860"),
])
def test_share_links_use_the_host_the_visitor_used(no_space, headers, url):
    """Catches links to the proxy's internal address (host instead of x-forwarded-host), a lost https scheme
    behind a TLS-terminating proxy, and a crash when a request carries no host at all."""
    assert app_results.base_url(request(**headers)) == url


def test_on_a_space_links_use_the_space_host(monkeypatch):
    """On Hugging Face the app sits behind several proxies: SPACE_HOST, not any header, is the public address."""
    monkeypatch.setenv("SPACE_HOST", "owner-robust-synth.hf.space")
    headers = {"host": "10.0.0.5:7860", "x_forwarded_host": "internal.lb", "x_forwarded_proto": "http"}
    assert app_results.base_url(request(**headers)) == "https://owner-robust-synth.hf.space"


def test_a_pickled_request_gives_the_same_link(no_space):
    """On ZeroGPU a handler runs in another process on a pickled gr.Request (headers become a plain object)."""
    live = request(host="10.0.0.5:7860", x_forwarded_host="synth.example.org", x_forwarded_proto="https")
    assert app_results.base_url(pickle.loads(pickle.dumps(live))) == "https://synth.example.org"


def test_behind_chained_proxies_the_first_forwarded_values_are_the_visitors(no_space):
    """Proxies in a chain append to x-forwarded-host/-proto (comma-separated, the visitor's first)."""
    headers = {"host": "10.0.0.5:7860", "x_forwarded_host": "synth.example.org, lb.internal",
               "x_forwarded_proto": "https, http"}
    assert app_results.base_url(request(**headers)) == "https://synth.example.org"


# The first app process: runs the inpaint endpoint's handler as Gradio would, then exits.
FIRST_APP_PROCESS = textwrap.dedent("""
    import json, sys
    import gradio as gr
    from starlette.requests import Request
    from robust_synth import task_registry
    from robust_synth.app.endpoints import endpoint
    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
             "headers": [(b"host", b"old-host:7860")]}
    inpaint = endpoint(task_registry.get("inpaint"))
    outputs = list(inpaint("cifar10-resnet-l2-0.5", sys.argv[1], sys.argv[2], steps=2,
                           request=gr.Request(request=Request(scope)), progress=lambda *a, **k: None))
    gallery, _, recipe = outputs[-1]
    print(json.dumps({"gallery": gallery, "recipe": recipe}))
""")


def test_share_links_reopen_after_the_app_restarts(tmp_path, monkeypatch, no_space):
    """A result saved by one app process reopens in the next one, with its images, inputs and recipe: catches a
    store that keeps results (or an index of them) in memory, and links that only work until a restart."""
    monkeypatch.setenv("ROBUST_SYNTH_RESULTS", str(tmp_path / "results"))
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photo)
    painted = np.zeros((40, 48), np.uint8)
    painted[10:30, 12:36] = 255
    Image.fromarray(painted).save(mask)
    first = subprocess.run([sys.executable, "-c", FIRST_APP_PROCESS, str(photo), str(mask)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert first.returncode == 0, first.stderr
    saved = json.loads(first.stdout.strip().splitlines()[-1])
    share_url = saved["recipe"]["share_url"]
    assert share_url == f"http://old-host:7860/?result={saved['recipe']['result_id']}"

    images, recipe, inputs, compared = app_results.load_result(share_url, request(host="new-host:7860"))
    assert compared == [], "a run without compare has no standard images"
    assert [im.size for im in images] == [(48, 40), (32, 32)], "the full-size edit, then the model's own square"
    np.testing.assert_array_equal(np.asarray(images[0]), np.asarray(Image.open(saved["gallery"][0][0])))
    np.testing.assert_array_equal(np.asarray(inputs["image"]), np.asarray(Image.open(photo)))
    np.testing.assert_array_equal(np.asarray(inputs["mask"].convert("L")), painted)
    assert recipe["share_url"] == share_url.replace("old-host", "new-host")
    same = ("result_id", "share_url")
    assert {k: v for k, v in recipe.items() if k not in same} == {k: v for k, v in saved["recipe"].items()
                                                                 if k not in same}
    files, reopened = app_results.open_result(saved["recipe"]["result_id"], request(host="new-host:7860"))
    assert results.recipe_from_png(files[0][0])["result_id"] == reopened["result_id"] == saved["recipe"]["result_id"]


# ----- the default model -------------------------------------------------------------------------------------

@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty, offline Hugging Face cache and robust_synth cache under tmp_path."""
    hub = tmp_path / "hf" / "hub"
    hub.mkdir(parents=True)
    monkeypatch.setenv("ROBUST_SYNTH_CACHE", str(tmp_path / "rs"))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return hub


def cache_hub_file(hub: Path, file: str) -> None:
    """Lay out a downloaded file as hf_hub_download leaves it: snapshots/<commit>/<file> and refs/main."""
    repo = hub / "models--madrylab--robust-imagenet-models"
    (repo / "snapshots" / COMMIT).mkdir(parents=True, exist_ok=True)
    (repo / "snapshots" / COMMIT / file).write_bytes(b"placeholder: default_model() only checks that it is there")
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)


def test_default_model_is_the_embedded_one_until_a_robust_imagenet_resnet_is_cached(hub_cache):
    """Catches an app that defaults to a model it cannot load offline, one that checks the wrong file (the
    standard eps-0 checkpoint preloaded beside it), one that never switches to the ImageNet model, and one that
    prefers the ResNet-50 (about 2.5x slower per step) when the Space's preloaded ResNet-18 is there."""
    assert pickers.default_model() == "cifar10-resnet-l2-0.5"
    cache_hub_file(hub_cache, "resnet50_l2_eps0.ckpt")
    cache_hub_file(hub_cache, "resnet18_l2_eps0.ckpt")
    assert pickers.default_model() == "cifar10-resnet-l2-0.5"
    cache_hub_file(hub_cache, "resnet50_l2_eps3.ckpt")
    assert pickers.default_model() == "imagenet-resnet50-l2-3"
    cache_hub_file(hub_cache, "resnet18_l2_eps3.ckpt")
    assert pickers.default_model() == "imagenet-resnet18-l2-3"
