"""Model availability (embedded / cached / downloadable / unavailable offline) and the fast unreachable-Hub check.

A local socket stands in for the Hub: one that accepts connections and never answers (a black-holed network),
one that answers every request with 404 (a reachable Hub).
"""
import contextlib
import http.server
import logging
import socket
import threading

import pytest
import torchvision
from huggingface_hub import constants as hub_constants

from robust_synth import checkpoints, load_model, models
from robust_synth.checkpoints import WeightsUnavailableError

from test_checkpoints import add_spec, madry_checkpoint, model_logits, reference_logits, seed_hub_cache

HUB_SPEC = "imagenet-resnet50-l2-3"


@contextlib.contextmanager
def silent_server():
    """A TCP server that accepts connections and never answers; yields (address, accepted connection count)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted, held = [], []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return
            accepted.append(1)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()
        for connection in held:
            connection.close()


class NotFound(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def answering_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def online(tmp_path, monkeypatch):
    """Empty caches, offline mode off, a short probe timeout, nothing remembered; hub(address) points the Hub there."""
    hub = tmp_path / "hf" / "hub"
    hub.mkdir(parents=True)
    for var, value in {"HF_HOME": tmp_path / "hf", "HF_HUB_CACHE": hub, "TORCH_HOME": tmp_path / "torch",
                       "ROBUST_SYNTH_CACHE": tmp_path / "rs"}.items():
        monkeypatch.setenv(var, str(value))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(models, "_cache", {})
    monkeypatch.setattr(checkpoints, "_reachable", {})
    monkeypatch.setattr(checkpoints, "PROBE_TIMEOUT_S", 0.5)

    def hub(address):
        monkeypatch.setattr(hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            f"http://{address}/{{repo_id}}/resolve/{{revision}}/{{filename}}")
    return hub


def test_an_unreachable_hub_fails_in_one_probe_not_after_retries(online):
    # catches calling hf_hub_download straight away: it retries a silent Hub 5 times with back-off (about 24 s)
    with silent_server() as (address, accepted):
        online(address)
        with pytest.raises(WeightsUnavailableError, match=f"{HUB_SPEC}.*could not be reached"):
            load_model(HUB_SPEC)
        assert len(accepted) == 1, f"{len(accepted)} connections: the Hub was asked again after it did not answer"


def test_unreachable_is_remembered_and_said_once(online, monkeypatch, caplog):
    spec = models.get_spec(HUB_SPEC)
    with silent_server() as (address, accepted), caplog.at_level(logging.WARNING, "robust_synth.checkpoints"):
        online(address)
        assert models.availability(spec) == "unavailable offline" and not models.is_usable(spec)
        assert [models.availability(s) for s in (spec, models.get_spec("imagenet-resnet50-l2-0"))] == \
            ["unavailable offline"] * 2
        assert len(accepted) == 1, "every question asked the network again instead of remembering the answer"
        monkeypatch.setattr(checkpoints, "REACHABILITY_TTL_S", 0.0)  # the answer has expired: ask again
        assert not checkpoints.reachable(spec) and len(accepted) == 2
    said = [r.getMessage() for r in caplog.records if "could not be reached" in r.getMessage()]
    assert len(said) == 1 and "127.0.0.1" in said[0], f"said {len(said)} times: {said}"


def test_an_answering_hub_means_downloadable(online):
    # any HTTP answer (here 404) shows the Hub is reachable: the download itself reports a missing file
    with answering_server() as address:
        online(address)
        spec = models.get_spec(HUB_SPEC)
        assert models.availability(spec) == "downloadable" and models.is_usable(spec)


def test_offline_mode_needs_no_probe(online, monkeypatch):
    with silent_server() as (address, accepted):
        online(address)
        monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
        assert models.availability(models.get_spec(HUB_SPEC)) == "unavailable offline" and not accepted


def test_embedded_and_cached_models_need_no_network(online, monkeypatch, tmp_path):
    with silent_server() as (address, accepted):
        online(address)
        assert models.availability(models.get_spec("cifar10-resnet-l2-0.5")) == "embedded"
        net = torchvision.models.resnet18()
        spec = add_spec(monkeypatch, "test-resnet18", arch="resnet18", file="resnet18_l2_eps3.ckpt")
        seed_hub_cache(tmp_path, spec.file, madry_checkpoint(net))
        assert models.availability(spec) == "cached" and not accepted
        # the Hub is silent: the cached file loads after one short probe (no 10-s metadata wait, no retries)
        logits = model_logits(spec.name)
    assert len(accepted) == 1
    assert (logits - reference_logits(net, spec)).abs().max() < 1e-3
