"""Many visitors: admission by expected wait, a dropped client's run cancelled, share links after a restart."""
import threading
import time

import gradio as gr
import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from robust_synth import limits
from robust_synth.app import queue_gate, running
from robust_synth.app.admission import Admission

from app_server import running_app

EMBEDDED = "cifar10-resnet-l2-0.5"
LONG_STEPS = 10000  # about 90 s of PGD on 2 CPU cores, far longer than the test waits for the run to end


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("results")) as url:
        yield url


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == running.WORKER_NAME]


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_request_whose_wait_is_over_the_limit_is_refused_saying_how_long(server, monkeypatch):
    # Catches a gate that is not installed, one that refuses by count, and a refusal that loses its message on the
    # way to gradio_client (Gradio's own "Queue is full" says nothing of the wait).
    clock = type("Clock", (), {"now": 0.0, "__call__": lambda self: self.now})()
    policy = Admission(clock)
    monkeypatch.setattr(queue_gate, "ADMISSION", policy)
    monkeypatch.setenv("ROBUST_SYNTH_MAX_SECONDS", "60")
    workers = limits.current().concurrent_requests
    token = policy.started("generate")
    clock.now += 100.0
    policy.finished(token)  # generate measured at 100 s
    busy = [policy.started("generate") for _ in range(workers)]  # every worker just started one
    client = Client(server, verbose=False)
    with pytest.raises(AppError, match=r"the app is busy: .* the wait would be about 1 min 40 s, over its limit "
                                       r"of 1 min 0 s"):
        client.predict(model=EMBEDDED, target="cat", steps=1, api_name="/generate")
    assert client.predict(api_name="/models")  # the page's own events and /models are never refused
    clock.now += 50.0  # halfway through: 50 s left, under the limit
    output = client.predict(model=EMBEDDED, target="cat", steps=1, api_name="/generate")
    assert output[-1]["task"] == "generate"
    for token in busy:
        policy.finished(token)


def join_generate(url: str, steps: int) -> tuple[httpx.Client, httpx.Response]:
    """Start /generate through Gradio's REST API and open its event stream; returns (client, open stream)."""
    info = Client(url, verbose=False).view_api(return_format="dict", print_info=False)
    params = info["named_endpoints"]["/generate"]["parameters"]
    values = {"model": EMBEDDED, "target": "cat", "steps": steps, "seed": 0}
    data = [values.get(p["parameter_name"], p.get("parameter_default")) for p in params]
    http = httpx.Client(base_url=url, timeout=60)
    event_id = http.post("gradio_api/call/generate", json={"data": data}).json()["event_id"]
    stream = http.send(http.build_request("GET", f"gradio_api/call/generate/{event_id}"), stream=True)
    return http, stream


def test_a_dropped_client_cancels_its_run_and_frees_its_slot(server, monkeypatch, capfd):
    # Catches a run that goes on in its worker thread after its client went away (the slot looks free to Gradio
    # while the CPU is still busy with it) and a traceback logged for the drop.
    monkeypatch.setattr(running, "PREVIEWS_PER_RUN", 500)  # a preview every 20 steps: the drop is noticed at once
    before = len(worker_threads())
    http, stream = join_generate(server, LONG_STEPS)
    lines = stream.iter_lines()
    assert any(line.startswith("event: generating") for line in lines)  # a preview arrived: the run is going
    assert len(worker_threads()) == before + 1
    started = time.monotonic()
    stream.close()
    http.close()
    assert wait_for(lambda: len(worker_threads()) == before, timeout_s=30), "the dropped run is still going"
    assert time.monotonic() - started < 30  # the whole run would take about 90 s
    time.sleep(1)  # anything the drop logs is written by now
    assert "Traceback" not in capfd.readouterr().err
    client = Client(server, verbose=False)
    assert client.predict(model=EMBEDDED, target="cat", steps=1, api_name="/generate")[-1]["task"] == "generate"


def test_share_links_made_before_a_restart_reopen_after_it(tmp_path):
    # Catches results kept in the process (memory, Gradio's temp cache) instead of the results store.
    with running_app(tmp_path) as url:
        made = Client(url, verbose=False).predict(model=EMBEDDED, target="dog", seed=3, steps=2, api_name="/generate")
    with running_app(tmp_path) as url:  # a new server on another port, the same results folder
        images, recipe = Client(url, verbose=False).predict(made[-1]["share_url"], api_name="/open_result")
    assert recipe["result_id"] == made[-1]["result_id"] and recipe["params"] == made[-1]["params"]
    before, after = (np.asarray(Image.open(item["image"])) for item in (made[0][0], images[0]))
    assert recipe["share_url"].startswith(url.rstrip("/"))  # the link names the server that reopened it
    assert np.array_equal(before, after)  # the PNGs differ only in the recipe's share link


def test_previews_of_identical_runs_are_cached_under_different_files():
    # Two clients running the same request and seed make identical previews; Gradio caches PIL images under a hash
    # of their bytes and writes in place, so without a tag of their own one client's download is truncated by the
    # other's write (h11 "Too little data for declared Content-Length").
    x = torch.rand(1, 3, 8, 8)
    gallery = gr.Gallery(format="png")
    first, second = (gallery.postprocess(running._previews(x)).root[0].image.path for _ in range(2))
    assert first != second


def test_served_result_files_older_than_their_age_are_pruned(tmp_path, monkeypatch):
    """Catches the served-files folder growing with every result of a busy app (a leak on disk): old files go,
    new ones stay, and Gradio is asked to sweep its own cached copies after the same age."""
    import os
    import time

    from robust_synth.app import page
    from robust_synth.app import result_sharing as app_results
    monkeypatch.setattr(app_results, "OUTPUT_DIR", tmp_path)
    old, new = tmp_path / "old_0.png", tmp_path / "new_0.png"
    for path in (old, new):
        path.write_bytes(b"png")
    aged = time.time() - app_results.SERVED_FILES_MAX_AGE_S - 60
    os.utime(old, (aged, aged))
    assert app_results.prune_served_files(force=True) == 1
    assert not old.exists() and new.exists()
    assert page.build_demo().delete_cache == (page.CACHE_SWEEP_S, app_results.SERVED_FILES_MAX_AGE_S)
