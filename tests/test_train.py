"""train.py end to end on a tiny image folder (adversarial and standard, resume, overfitting guard); load_split, tar."""
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
    kwargs = {"batch_size": 12, "epochs": 1, "holdout": 6, **kwargs}
    return train.TrainConfig(data=str(image_folder), out=str(out), name="tiny", arch="cifar_resnet_tiny", **kwargs)


def _load_back(out) -> torch.nn.Module:
    net, _ = build("cifar_resnet_tiny", 3)
    net.load_state_dict(load_file(f"{out}.safetensors"), strict=True)
    return net


@pytest.mark.parametrize("eps", [0.5, 0.0])
def test_training_writes_weights_and_a_card_that_load_back_strictly(image_folder, tmp_path, eps):
    out = tmp_path / "new-folder" / "tiny-l2-0.5"  # a dotted stem must keep its ".5"
    card = train.train(_config(image_folder, out, eps=eps))
    saved = json.loads((tmp_path / "new-folder" / "tiny-l2-0.5.json").read_text())
    assert saved == json.loads(json.dumps(card))
    assert saved["classes"] == ["cat", "dog", "ship"]
    assert saved["robustness"] == ({"norm": "l2", "eps": 0.5} if eps else None)
    assert saved["training"]["epochs"] == 1 and saved["parameters"] > 0
    history = saved["training"]["history"]
    assert [h["epoch"] for h in history] == [1] and history[0]["attack_steps"] == 1
    assert ("robust_acc" in history[0]) == (eps > 0), "the held-out guard check runs for adversarial training only"
    net = _load_back(out).eval()
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 3)
    assert torch.load(f"{out}.ckpt", weights_only=True)["state"]["epoch"] == 1


def test_training_resumes_from_the_checkpoint(image_folder, tmp_path, capsys):
    out = tmp_path / "tiny"
    train.train(_config(image_folder, out, eps=0.0))
    first = load_file(f"{out}.safetensors")
    capsys.readouterr()
    card = train.train(replace(_config(image_folder, out, eps=0.0), epochs=2))
    log = capsys.readouterr().out
    assert "epoch 2:" in log and "epoch 1:" not in log
    assert torch.load(f"{out}.ckpt", weights_only=True)["state"]["epoch"] == 2
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
    assert printed == {k: v for k, v in card["training"].items() if k != "history"}
    assert card["training"]["resume"] is False and card["training"]["eps"] == 0.0
    assert card["training"]["command"].startswith("python -m robust_synth.train")
    _load_back(out)


def test_the_loss_goes_down_on_a_learnable_set(image_folder, tmp_path):
    """Three class-tinted noise classes are separable by colour: a recipe that does not learn (wrong sign, zero lr,
    labels shuffled against images) stays at the 1/3 chance level and a high loss."""
    card = train.train(_config(image_folder, tmp_path / "learn", eps=0.0, epochs=6, batch_size=6, translate=0))
    accuracies = [h["train_acc"] for h in card["training"]["history"]]
    assert accuracies[-1] > 0.8 > accuracies[0] or accuracies[-1] > max(accuracies[0], 0.8)


def test_overfitting_rule_fires_only_on_a_drop_from_the_best():
    assert not train.overfitting([0.4], 0.2)
    assert not train.overfitting([0.4, 0.5, 0.35], 0.2), "a drop of 0.15 from the best is noise, not overfitting"
    assert train.overfitting([0.4, 0.5, 0.25], 0.2)
    assert train.overfitting([0.5, 0.1, 0.45, 0.2], 0.2), "the best so far counts, not the last value"


def test_the_guard_restores_the_best_weights_and_strengthens_the_attack(image_folder, tmp_path, monkeypatch, capsys):
    """A crafted run whose held-out PGD accuracy collapses in epoch 2: the guard must put epoch 1's weights back and
    switch to 2-step attacks; without the guard the saved model would be epoch 2's and attacks would stay 1-step."""
    checks = iter([0.6, 0.05, 0.55])
    snapshots = []

    def fake_check(model, x_hold, y_hold, cfg):
        snapshots.append({k: v.clone() for k, v in model.net.state_dict().items()})
        return {"clean_acc": 0.9, "robust_acc": next(checks)}

    monkeypatch.setattr(train, "_guard_check", fake_check)
    steps_seen = []
    real_attack_config = train.attack_config
    monkeypatch.setattr(train, "attack_config",
                        lambda cfg, steps: steps_seen.append(steps) or real_attack_config(cfg, steps))
    out = tmp_path / "guard"
    card = train.train(_config(image_folder, out, eps=0.5, epochs=2))
    assert card["training"]["history"][1]["guard"] == "fired: restored epoch 1"
    assert "catastrophic overfitting" in capsys.readouterr().out
    saved = torch.load(f"{out}.ckpt", weights_only=True)
    assert saved["state"]["attack_steps"] == 2 and saved["state"]["best"]["epoch"] == 1
    assert all(torch.equal(saved["net"][k], snapshots[0][k]) for k in snapshots[0]), "epoch 1's weights are back"
    assert any(not torch.equal(snapshots[1][k], snapshots[0][k]) for k in snapshots[0])
    card = train.train(_config(image_folder, out, eps=0.5, epochs=3))  # resumes with the guard's state
    assert steps_seen == [1, 1, 2] and [h["attack_steps"] for h in card["training"]["history"]] == [1, 1, 2]
    assert "guard" not in card["training"]["history"][2]


def test_an_interrupted_run_resumes_at_the_saved_epoch_with_its_guard_state(image_folder, tmp_path, capsys):
    out = tmp_path / "resume-adv"
    train.train(_config(image_folder, out, eps=0.5, epochs=1))
    capsys.readouterr()
    card = train.train(_config(image_folder, out, eps=0.5, epochs=2))
    assert "epoch 2:" in capsys.readouterr().out
    assert [h["epoch"] for h in card["training"]["history"]] == [1, 2]


def test_augment_shifts_each_image_on_its_own_and_keeps_the_range():
    x = torch.arange(4 * 3 * 8 * 8, dtype=torch.float32).view(4, 3, 8, 8).remainder(256).to(torch.uint8)
    x = x.repeat(8, 1, 1, 1)
    out = train.augment(x, torch.Generator().manual_seed(0), translate=2)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    distinct = {tuple(out[i].flatten()[:20].tolist()) for i in range(0, 32, 4)}
    assert len(distinct) > 2, \
        "the same image repeated must get different shifts or flips (one per image, not per batch)"


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


def test_a_whitening_stem_decorrelates_patches_and_stays_fixed_while_training(image_folder, tmp_path):
    """airbench's stem: on the patches it was fitted to, its first half of filters gives unit-variance, uncorrelated
    outputs (the second half is their negative), and training moves only its bias."""
    net, _ = build("cifar_resnet", 10)
    images = torch.randn(64, 3, 1, 1) + 0.3 * torch.randn(64, 3, 16, 16)  # colour-correlated, strongly non-white
    train.whiten_stem(net.stem, images)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(images, net.stem.weight[:12]).permute(0, 2, 3, 1).reshape(-1, 12).double()
    assert torch.allclose(out.T @ out / len(out), torch.eye(12, dtype=torch.float64), atol=0.02)
    assert torch.equal(net.stem.weight[12:], -net.stem.weight[:12])
    with pytest.raises(ValueError, match="needs 24 filters, this one has 8"):
        train.whiten_stem(torch.nn.Conv2d(3, 8, 2), images)

    card = train.train(_config(image_folder, tmp_path / "white", eps=0.0, whiten=True))
    assert card["training"]["whiten"] is True
    trained = load_file(f"{tmp_path / 'white'}.safetensors")
    fitted, _ = build("cifar_resnet_tiny", 3)
    x, _, _ = load_split(str(image_folder), "train")
    mean, std = torch.tensor(train.CIFAR_MEAN).view(1, 3, 1, 1), torch.tensor(train.CIFAR_STD).view(1, 3, 1, 1)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(1))  # the training order (seed 0 + 1)
    train.whiten_stem(fitted.stem, (x[order].float() / 255 - mean) / std)
    assert torch.allclose(trained["stem.weight"], fitted.stem.weight, atol=1e-6)
    assert not torch.allclose(trained["stem.bias"], fitted.stem.bias)
