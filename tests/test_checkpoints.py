"""Hub/torchvision weights: real MadryLab format through an offline local Hub cache, torch.hub cache, faults, safety."""
import argparse
import dataclasses
import datetime
import hashlib
import io
import os
import shutil
import urllib.error

import httpx2
import pytest
import torch
import torchvision
from huggingface_hub import constants as hub_constants
from huggingface_hub import file_download

from robust_synth import checkpoints, load_model, madrylab_format, models
from robust_synth.checkpoints import CheckpointFormatError, UnsafeCheckpointError, WeightsUnavailableError

REPO = "madrylab/robust-imagenet-models"
REPO_FOLDER = "models--madrylab--robust-imagenet-models"  # huggingface_hub's cache layout, written out by hand
COMMIT = "0123456789abcdef0123456789abcdef01234567"
IMAGE = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def add_spec(monkeypatch, name, **changes):
    """Register a test-only spec derived from imagenet-resnet50-l2-3, unpinned unless `sha256` is given
    (monkeypatched, so undone after the test)."""
    changes.setdefault("sha256", None)
    spec = dataclasses.replace(models.get_spec("imagenet-resnet50-l2-3"), name=name, **changes)
    monkeypatch.setitem(models.REGISTRY, name, spec)
    return spec


def madry_checkpoint(net, nested=False, **extra_entries):
    """The robustness library's AttackerModel checkpoint: weights, the attacker's copy (same tensors), normalizers."""
    wrap = "model.model." if nested else "model."
    state = {}
    for k, v in net.state_dict().items():
        state[f"module.{wrap}{k}"] = v
        state[f"module.attacker.{wrap}{k}"] = v
    for buffers in ("module.normalizer.", "module.attacker.normalize."):
        state[buffers + "new_mean"] = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        state[buffers + "new_std"] = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    return {"model": state, "epoch": 90, **extra_entries}


def seed_hub_cache(root, file, checkpoint, repo_folder=REPO_FOLDER):
    """Place a checkpoint as hf_hub_download leaves it: blobs/<sha256>, snapshots/<commit>/<file> link, refs/main."""
    repo = root / "hf" / "hub" / repo_folder
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    tmp = repo / "blobs" / "upload.tmp"
    torch.save(checkpoint, tmp)
    blob = repo / "blobs" / hashlib.sha256(tmp.read_bytes()).hexdigest()
    tmp.rename(blob)
    pointer = repo / "snapshots" / COMMIT / file
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return blob


def reference_logits(net, spec):
    mean, std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        return net.eval()((IMAGE - mean) / std)


def model_logits(name):
    with torch.no_grad():
        return load_model(name)(IMAGE).logits


def test_resnet50_madry_checkpoint_loads_offline_then_from_converted_cache(caches, monkeypatch):
    torch.manual_seed(0)
    net = torchvision.models.resnet50()
    spec = add_spec(monkeypatch, "test-resnet50", file="resnet50_l2_eps3.ckpt")  # unpinned: any file is accepted
    assert not models.is_available(spec)
    blob = seed_hub_cache(caches, spec.file, madry_checkpoint(net))
    assert models.is_available(spec)
    expected = reference_logits(net, spec)
    first = load_model(spec.name)
    torch.testing.assert_close(model_logits(spec.name), expected, rtol=1e-4, atol=1e-4)
    converted = (caches / "rs" / "converted" / "madrylab--robust-imagenet-models" / COMMIT /
                 "resnet50_l2_eps3.safetensors")
    assert converted.exists()
    shutil.rmtree(blob.parent.parent)  # Hub cache cleared, .ckpt gone: the second load must use the converted file
    models._cache.clear()
    assert models.is_available(spec)
    torch.testing.assert_close(model_logits(spec.name), expected, rtol=1e-4, atol=1e-4)
    assert load_model(spec.name).weights_sha256 == first.weights_sha256


def test_torchvision_wrapped_checkpoint_nests_one_level_deeper(caches, monkeypatch):
    torch.manual_seed(1)
    net = torchvision.models.resnet18()
    spec = add_spec(monkeypatch, "test-resnet18-wrapped", arch="resnet18", file="resnet18_l2_eps3.ckpt")
    checkpoint = madry_checkpoint(net, nested=True, args=argparse.Namespace(arch="resnet18", eps=3.0))
    seed_hub_cache(caches, spec.file, checkpoint)
    torch.testing.assert_close(model_logits(spec.name), reference_logits(net, spec), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, nested, entry", [("imagenet-resnet50-l2-3", False, "model"),
                                                 ("imagenet-wideresnet50x2-l2-3", False, "state_dict"),
                                                 ("imagenet-vgg16bn-l2-3", True, "model")])
def test_real_layouts_convert_to_torchvision_keys_exactly(name, nested, entry):
    spec = models.get_spec(name)
    with torch.device("meta"):  # real key layout and shapes at no cost
        net = getattr(torchvision.models, spec.arch)()
    checkpoint = madry_checkpoint(net, nested=nested)
    checkpoint[entry] = checkpoint.pop("model")
    state = checkpoint.get("model") or checkpoint["state_dict"]
    converted = madrylab_format.madry_to_torchvision(checkpoint, spec)
    assert list(converted) == list(net.state_dict())
    wrap = "module.model.model." if nested else "module.model."
    assert all(converted[k].shape == state[wrap + k].shape for k in converted)


def test_key_mismatch_names_the_keys():
    spec = models.get_spec("imagenet-resnet50-l2-3")
    with torch.device("meta"):
        checkpoint = madry_checkpoint(torchvision.models.resnet18())
    with pytest.raises(CheckpointFormatError, match=r"missing keys .*layer1\.0\.conv3\.weight|missing keys .*bn3"):
        madrylab_format.madry_to_torchvision(checkpoint, spec)
    with pytest.raises(CheckpointFormatError, match="'model' or 'state_dict'"):
        madrylab_format.madry_to_torchvision({"epoch": 3}, spec)


def assert_one_clear_sentence(err, *parts):
    message = str(err)
    assert "\n" not in message and err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    for part in parts:
        assert part in message


def test_missing_hub_file_offline_gives_one_clear_error(caches):
    spec = models.get_spec("imagenet-resnet50-l2-3")
    with pytest.raises(WeightsUnavailableError) as info:
        load_model(spec.name)
    assert_one_clear_sentence(info.value, spec.name, spec.file, REPO, "offline")
    assert isinstance(info.value, FileNotFoundError)
    assert spec.name not in {name for name, _ in models._cache}


def go_online(monkeypatch, metadata):
    """Turn offline mode off and answer huggingface_hub's HEAD request with `metadata` (a function), no sockets."""
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(file_download, "get_hf_file_metadata", metadata)


def test_unreachable_hub_gives_one_clear_error(caches, monkeypatch):
    def unreachable(url, **kwargs):
        raise httpx2.ConnectError("[Errno 101] Network is unreachable")
    go_online(monkeypatch, unreachable)
    spec = models.get_spec("imagenet-resnet50-l2-5")
    with pytest.raises(WeightsUnavailableError) as info:
        load_model(spec.name)
    assert_one_clear_sentence(info.value, spec.name, REPO, "could not be reached")


def test_cut_off_download_leaves_no_file_that_a_later_load_uses(caches, monkeypatch):
    torch.manual_seed(5)
    net = torchvision.models.resnet18()
    spec = add_spec(monkeypatch, "test-resnet18", arch="resnet18", file="resnet18_l2_eps3.ckpt")
    payload = io.BytesIO()
    torch.save(madry_checkpoint(net), payload)
    data = payload.getvalue()
    go_online(monkeypatch, lambda url, **kwargs: file_download.HfFileMetadata(
        commit_hash=COMMIT, etag=hashlib.sha256(data).hexdigest(), location=url, size=len(data), xet_file_data=None))

    def cut_off(url, temp_file, **kwargs):
        temp_file.write(data[: len(data) // 2])
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete message body")

    monkeypatch.setattr(file_download, "http_get", cut_off)
    with pytest.raises(WeightsUnavailableError) as info:
        load_model(spec.name)
    assert_one_clear_sentence(info.value, spec.name, "broke off")
    repo = caches / "hf" / "hub" / REPO_FOLDER
    assert not list((repo / "blobs").iterdir()) and not (repo / "snapshots" / COMMIT / spec.file).exists()
    assert not models.is_available(spec)
    monkeypatch.setattr(file_download, "http_get", lambda url, temp_file, **kwargs: temp_file.write(data))
    torch.testing.assert_close(model_logits(spec.name), reference_logits(net, spec), rtol=1e-4, atol=1e-4)


def test_interrupted_conversion_leaves_no_cache_file(caches, monkeypatch):
    torch.manual_seed(2)
    net = torchvision.models.resnet18()
    spec = add_spec(monkeypatch, "test-resnet18", arch="resnet18", file="resnet18_l2_eps3.ckpt")
    seed_hub_cache(caches, spec.file, madry_checkpoint(net))

    def save_then_fail(state, path, metadata=None):
        open(path, "wb").write(b"partial")
        raise KeyboardInterrupt

    real_save = checkpoints.save_file
    monkeypatch.setattr(checkpoints, "save_file", save_then_fail)
    with pytest.raises(KeyboardInterrupt):
        load_model(spec.name)
    converted_dir = caches / "rs" / "converted" / "madrylab--robust-imagenet-models" / COMMIT
    assert list(converted_dir.iterdir()) == []
    monkeypatch.setattr(checkpoints, "save_file", real_save)
    torch.testing.assert_close(model_logits(spec.name), reference_logits(net, spec), rtol=1e-4, atol=1e-4)


class RunsCode:
    """Unpickling this object would call os.makedirs(path): stands in for any code a malicious pickle runs."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.makedirs, (self.path,)


def test_unsafe_pickle_is_refused_and_runs_nothing(caches, monkeypatch):
    spec = add_spec(monkeypatch, "test-resnet18", arch="resnet18", file="resnet18_l2_eps3.ckpt")
    marker = caches / "code-ran"
    seed_hub_cache(caches, spec.file, {"model": {}, "epoch": 1, "payload": RunsCode(marker)})
    with pytest.raises(UnsafeCheckpointError, match="makedirs") as info:
        load_model(spec.name)
    assert_one_clear_sentence(info.value, spec.file, "sha256")
    assert not marker.exists()


def test_pinned_checksum_allows_full_unpickling_only_from_the_pinned_repo(caches, monkeypatch):
    torch.manual_seed(3)
    net = torchvision.models.resnet18()
    checkpoint = madry_checkpoint(net, saved_on=datetime.date(2020, 7, 1))  # not allowed by weights_only
    blob = seed_hub_cache(caches, "resnet18_l2_eps3.ckpt", checkpoint)
    pin = blob.name
    seed_hub_cache(caches, "resnet18_l2_eps3.ckpt", checkpoint, repo_folder="models--someone--copy")
    copy = add_spec(monkeypatch, "test-copy", arch="resnet18", file="resnet18_l2_eps3.ckpt", repo="someone/copy",
                    sha256=pin)
    with pytest.raises(UnsafeCheckpointError, match="datetime"):
        load_model(copy.name)
    unpinned = add_spec(monkeypatch, "test-unpinned", arch="resnet18", file="resnet18_l2_eps3.ckpt")
    with pytest.raises(UnsafeCheckpointError):
        load_model(unpinned.name)
    pinned = add_spec(monkeypatch, "test-pinned", arch="resnet18", file="resnet18_l2_eps3.ckpt", sha256=pin)
    torch.testing.assert_close(model_logits(pinned.name), reference_logits(net, pinned), rtol=1e-4, atol=1e-4)


def torchvision_spec(monkeypatch):
    return add_spec(monkeypatch, "test-resnet18-standard", arch="resnet18", source="torchvision", format="torchvision",
                    file="ResNet18_Weights.IMAGENET1K_V1")


def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_torchvision_weights_load_from_a_preseeded_torch_hub_cache(caches, monkeypatch):
    no_network(monkeypatch)
    torch.manual_seed(4)
    net = torchvision.models.resnet18()
    spec = torchvision_spec(monkeypatch)
    assert not models.is_available(spec)
    target = caches / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"  # the name torchvision uses
    target.parent.mkdir(parents=True)
    torch.save(net.state_dict(), target)
    assert models.is_available(spec)
    torch.testing.assert_close(model_logits(spec.name), reference_logits(net, spec), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("hub_offline, reason", [(True, "offline"), (False, "no network")])
def test_missing_torchvision_file_gives_one_clear_error(caches, monkeypatch, hub_offline, reason):
    no_network(monkeypatch)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", hub_offline)
    spec = torchvision_spec(monkeypatch)
    with pytest.raises(WeightsUnavailableError) as info:
        load_model(spec.name)
    assert_one_clear_sentence(info.value, spec.name, "resnet18-f37072fd.pth", "download.pytorch.org", reason)
    assert not (caches / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth").exists()


def test_damaged_cached_checkpoint_says_which_file_to_delete(caches, monkeypatch):
    spec = add_spec(monkeypatch, "test-resnet18", arch="resnet18", file="resnet18_l2_eps3.ckpt")
    blob = seed_hub_cache(caches, spec.file, madry_checkpoint(torchvision.models.resnet18()))
    blob.write_bytes(blob.read_bytes()[:5000])
    with pytest.raises(CheckpointFormatError, match="delete") as info:
        load_model(spec.name)
    assert str(blob) in str(info.value)
