"""train.py end to end on a tiny image folder (adversarial and standard, resume), and load_split on a tar of it."""
import json
import tarfile
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from robust_synth import train
from robust_synth.architectures import build
from robust_synth.datasets import load_split


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_SYNTH_CACHE", str(tmp_path / "cache"))


def _config(image_folder, out, **kwargs):
    return train.TrainConfig(data=str(image_folder), out=str(out), name="tiny", arch="cifar_resnet_tiny",
                             batch_size=12, epochs=1, **kwargs)


def _load_back(out) -> torch.nn.Module:
    net, _ = build("cifar_resnet_tiny", 3)
    net.load_state_dict(load_file(f"{out}.safetensors"), strict=True)
    return net


@pytest.mark.parametrize("eps", [0.5, 0.0])
def test_training_writes_weights_and_a_card_that_load_back_strictly(image_folder, tmp_path, eps):
    out = tmp_path / "new-folder" / "tiny-l2-0.5"  # a dotted stem must keep its ".5"
    card = train.train(_config(image_folder, out, eps=eps, attack_steps=2))
    saved = json.loads((tmp_path / "new-folder" / "tiny-l2-0.5.json").read_text())
    assert saved == json.loads(json.dumps(card))
    assert saved["classes"] == ["cat", "dog", "ship"]
    assert saved["robustness"] == ({"norm": "l2", "eps": 0.5} if eps else None)
    assert saved["training"]["epochs"] == 1 and saved["parameters"] > 0
    net = _load_back(out).eval()
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 3)
    assert torch.load(f"{out}.ckpt", weights_only=True)["epoch"] == 1


def test_training_resumes_from_the_checkpoint(image_folder, tmp_path, capsys):
    out = tmp_path / "tiny"
    train.train(_config(image_folder, out, eps=0.0))
    first = load_file(f"{out}.safetensors")
    capsys.readouterr()
    card = train.train(replace(_config(image_folder, out, eps=0.0), epochs=2))
    log = capsys.readouterr().out
    assert "epoch 2:" in log and "epoch 1:" not in log
    assert torch.load(f"{out}.ckpt", weights_only=True)["epoch"] == 2
    assert card["training"]["epochs"] == 2
    second = load_file(f"{out}.safetensors")
    assert any(not torch.equal(first[k], second[k]) for k in first)


def test_cli_trains_a_standard_model(image_folder, tmp_path, capsys):
    out = tmp_path / "cli"
    train.main(["--data", str(image_folder), "--out", str(out), "--arch", "cifar_resnet_tiny", "--eps", "0",
                "--epochs", "1", "--batch-size", "12", "--resume", "false"])
    log = capsys.readouterr().out
    printed = json.loads(log[log.index("\n{") + 1:])
    card = json.loads((tmp_path / "cli.json").read_text())
    assert printed == card["training"]
    assert card["training"]["resume"] is False and card["training"]["eps"] == 0.0
    assert card["training"]["command"].startswith("python -m robust_synth.train")
    _load_back(out)


def test_load_split_reads_a_tar_gz_like_the_folder(image_folder, tmp_path):
    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(image_folder, arcname="images")
    x_dir, y_dir, classes_dir = load_split(str(image_folder), "test")
    x_tar, y_tar, classes_tar = load_split(str(archive), "test")
    assert x_dir.dtype == torch.uint8 and x_dir.shape == (12, 3, 32, 32)
    assert classes_tar == classes_dir == ["cat", "dog", "ship"]
    assert torch.equal(x_tar, x_dir) and torch.equal(y_tar, y_dir)
    assert y_tar.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert len(list((tmp_path / "cache" / "datasets").glob("*.pt"))) == 2


def test_load_split_errors_are_clear(image_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset not found"):
        load_split(str(tmp_path / "missing"), "test")
    with pytest.raises(ValueError, match="no images found under a 'val/<class>/' folder"):
        load_split(str(image_folder), "val")
