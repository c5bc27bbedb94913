"""MadryLab checkpoints as the robustness library writes them, from an offline Hub cache: pin, copies, normaliser."""
import dataclasses
import os
import re

import pytest
import torch
import torchvision
from safetensors import safe_open

import madry_format
from robust_synth import checkpoints, load_model, models
from robust_synth.checkpoints import (CheckpointFormatError, ChecksumMismatchError, UnsafeCheckpointError,
                                      WeightsUnavailableError)
from test_checkpoints import COMMIT, IMAGE, REPO_FOLDER, assert_one_clear_sentence, model_logits, reference_logits

CONVERTED = ("rs", "converted", "madrylab--robust-imagenet-models", COMMIT)


def seed_file(root, file, source, sha256=None):
    """Put an existing checkpoint where hf_hub_download leaves it (hard link: no copy of 100 MB per test)."""
    repo = root / "hf" / "hub" / REPO_FOLDER
    blob = repo / "blobs" / (sha256 or models.file_sha256(source))
    blob.parent.mkdir(parents=True, exist_ok=True)
    os.link(source, blob)
    pointer = repo / "snapshots" / COMMIT / file
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return blob


def derived_spec(monkeypatch, registered, name=None, **changes):
    """A registered spec under a test name, e.g. pinned to the test's own file (monkeypatched, so undone after)."""
    spec = dataclasses.replace(models.get_spec(registered), name=name or f"test-{registered}", **changes)
    monkeypatch.setitem(models.REGISTRY, spec.name, spec)
    return spec


@pytest.fixture(scope="module")
def resnet18_files(tmp_path_factory):
    """One random ResNet-18 written as robustness writes it, zip and legacy format (built once: 94 MB each)."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    folder = tmp_path_factory.mktemp("resnet18")
    info = madry_format.sd_info(net)
    files = {}
    for legacy in (False, True):
        files[legacy] = folder / f"legacy-{legacy}.ckpt"
        madry_format.save(info, files[legacy], legacy=legacy)
    return net, files


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_resnet18_as_robustness_writes_it_loads_and_matches_the_source(caches, monkeypatch, resnet18_files, legacy):
    net, files = resnet18_files
    spec = derived_spec(monkeypatch, "imagenet-resnet18-l2-3", sha256=models.file_sha256(files[legacy]))
    blob = seed_file(caches, spec.file, files[legacy], spec.sha256)
    hashed = []
    real_hash = checkpoints.file_sha256
    monkeypatch.setattr(checkpoints, "file_sha256", lambda path: hashed.append(path) or real_hash(path))
    expected = reference_logits(net, spec)
    torch.testing.assert_close(model_logits(spec.name), expected, rtol=1e-4, atol=1e-4)
    converted = caches.joinpath(*CONVERTED, "resnet18_l2_eps3.safetensors")
    with safe_open(str(converted), "pt") as f:
        assert f.metadata()["pin"] == "verified" and f.metadata()["sha256"] == spec.sha256
    os.remove(blob)  # the .ckpt is gone: a second load must come from the converted file, without hashing anything
    models._cache.clear()
    torch.testing.assert_close(model_logits(spec.name), expected, rtol=1e-4, atol=1e-4)
    assert len(hashed) == 1  # catches a pin check repeated at every load


def test_vgg16bn_nests_one_level_deeper_and_loads_from_a_legacy_dill_file(caches, monkeypatch, tmp_path):
    torch.manual_seed(1)
    net = torchvision.models.vgg16_bn()
    source = tmp_path / "vgg16_bn.ckpt"  # 553 MB: the one big file of the suite (no momentum buffers)
    madry_format.save(madry_format.sd_info(net, wrapped=True, adv=False, momentum_buffers=False), source, legacy=True)
    spec = derived_spec(monkeypatch, "imagenet-vgg16bn-l2-3", sha256=models.file_sha256(source))
    seed_file(caches, spec.file, source, spec.sha256)
    torch.testing.assert_close(model_logits(spec.name), reference_logits(net, spec), rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def tiny_net():
    """The real format around a 20k-parameter network: cheap files for the refusals."""
    from robust_synth.architectures import build
    torch.manual_seed(2)
    return build("cifar_resnet_tiny", 1000)[0]


def tiny_spec(monkeypatch, **changes):
    return derived_spec(monkeypatch, "imagenet-resnet18-l2-3", arch="cifar_resnet_tiny", sha256=None, **changes)


def test_a_file_that_differs_from_the_registered_pin_is_refused(caches, tiny_net, tmp_path):
    spec = models.get_spec("imagenet-resnet18-l2-3")
    assert spec.sha256 == "b4315784a1a10257b05906aee94d6884678f7b77412d10100d7c05daa959eab0"
    source = tmp_path / "impostor.ckpt"
    madry_format.save(madry_format.sd_info(tiny_net), source)
    blob = seed_file(caches, spec.file, source)
    with pytest.raises(ChecksumMismatchError) as info:
        load_model(spec.name)
    assert_one_clear_sentence(info.value, spec.file, spec.name, spec.sha256, blob.name, str(blob))
    assert not caches.joinpath(*CONVERTED).exists() and not models._cache


def save_and_load(caches, monkeypatch, tmp_path, info):
    spec = tiny_spec(monkeypatch)
    madry_format.save(info, tmp_path / "tiny.ckpt")
    seed_file(caches, spec.file, tmp_path / "tiny.ckpt")
    return spec, lambda: load_model(spec.name)


def test_an_attacker_copy_that_differs_from_the_weights_is_refused(caches, monkeypatch, tmp_path, tiny_net):
    info = madry_format.sd_info(tiny_net)
    key = "module.attacker.model.fc.weight"  # the tiny net's head has no bias
    info["model"][key] = info["model"][key] + 1e-3
    spec, load = save_and_load(caches, monkeypatch, tmp_path, info)
    with pytest.raises(CheckpointFormatError) as error:
        load()
    assert_one_clear_sentence(error.value, spec.file, "attacker", "fc.weight")
    assert not caches.joinpath(*CONVERTED).exists()


def test_a_checkpoint_without_the_attacker_copy_is_refused(caches, monkeypatch, tmp_path, tiny_net):
    info = madry_format.sd_info(tiny_net)
    info["model"] = {k: v for k, v in info["model"].items() if not k.startswith("module.attacker.model.")}
    spec, load = save_and_load(caches, monkeypatch, tmp_path, info)
    with pytest.raises(CheckpointFormatError, match="attacker"):
        load()


@pytest.mark.parametrize("mean, std", [((0.5, 0.5, 0.5), madry_format.IMAGENET_STD),
                                       (madry_format.IMAGENET_MEAN, (1.0, 1.0, 1.0))], ids=["mean", "std"])
def test_a_normaliser_other_than_imagenets_is_refused(caches, monkeypatch, tmp_path, tiny_net, mean, std):
    spec, load = save_and_load(caches, monkeypatch, tmp_path, madry_format.sd_info(tiny_net, mean=mean, std=std))
    with pytest.raises(CheckpointFormatError) as error:
        load()
    assert_one_clear_sentence(error.value, spec.file, "normalises", str(spec.mean))


def test_a_checkpoint_without_a_normaliser_is_refused(caches, monkeypatch, tmp_path, tiny_net):
    info = madry_format.sd_info(tiny_net)
    info["model"] = {k: v for k, v in info["model"].items() if not k.startswith("module.normalizer.")}
    spec, load = save_and_load(caches, monkeypatch, tmp_path, info)
    with pytest.raises(CheckpointFormatError, match=re.escape("normalises its input with {'new_mean': None")):
        load()


def test_dill_only_objects_unpickle_only_through_the_pin(caches, monkeypatch, tmp_path, tiny_net):
    """Old LambdaLR schedules keep their lambda, which only dill can pickle: weights_only cannot read such a file."""
    info = madry_format.sd_info(tiny_net)
    info["schedule"] = {"lr_lambdas": [lambda epoch: 0.1 ** (epoch // 30)], "last_epoch": 89}
    madry_format.save(info, tmp_path / "tiny.ckpt")
    unpinned = tiny_spec(monkeypatch)
    blob = seed_file(caches, unpinned.file, tmp_path / "tiny.ckpt")
    with pytest.raises(UnsafeCheckpointError, match="dill"):
        load_model(unpinned.name)
    pinned = derived_spec(monkeypatch, "imagenet-resnet18-l2-3", name="test-pinned", arch="cifar_resnet_tiny",
                          sha256=blob.name)
    with torch.no_grad():
        expected = tiny_net.eval()((IMAGE - torch.tensor(pinned.mean).view(1, 3, 1, 1))
                                    / torch.tensor(pinned.std).view(1, 3, 1, 1))
    torch.testing.assert_close(model_logits(pinned.name), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["imagenet-resnet18-l2-3", "imagenet-wideresnet50x4-l2-1", "imagenet-resnet50-linf-8",
                                  "imagenet-densenet-l2-3", "imagenet-mobilenet-l2-0", "imagenet-shufflenet-l2-3"])
def test_every_family_fails_offline_with_one_sentence(caches, name):
    spec = models.get_spec(name)
    with pytest.raises(WeightsUnavailableError) as info:
        load_model(name)
    assert_one_clear_sentence(info.value, name, spec.file, "offline")
