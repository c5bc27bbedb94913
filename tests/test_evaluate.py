"""evaluate(): clean vs PGD robust accuracy on a tiny model, input checks, and the CLI's model-card update."""
import json

import pytest
import torch

from robust_synth import PGDConfig, evaluate as ev, objectives, pgd

FIELDS = {"clean_acc", "robust_acc", "n", "n_robust", "eps", "norm", "steps", "step_size", "seconds"}


@pytest.fixture
def data(tiny_model):
    """Random images labelled with the tiny model's own predictions, so clean accuracy is 1."""
    tiny_model.net.fc.bias.zero_()  # at random init the bias, not the input, decides every prediction
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return x, tiny_model.classify(x).argmax(1)


def test_robust_accuracy_is_at_most_clean_accuracy_and_falls_with_eps(tiny_model, data):
    small = ev.evaluate(tiny_model, *data, eps=0.01, steps=3, progress=False)
    large = ev.evaluate(tiny_model, *data, eps=3.0, steps=3, progress=False)
    assert FIELDS <= set(large)
    assert small["clean_acc"] == large["clean_acc"] == 1.0
    assert large["robust_acc"] <= small["robust_acc"] <= small["clean_acc"]
    assert large["robust_acc"] < 1.0, "an L2 radius of 3 must fool a random tiny network somewhere"
    assert large["step_size"] == pytest.approx(2.5 * 3.0 / 3) and large["n"] == large["n_robust"] == 16


def test_eps_zero_gives_robust_equal_to_clean(tiny_model, data):
    x, y = data
    y = y.clone()
    y[::2] = (y[::2] + 1) % 10
    result = ev.evaluate(tiny_model, x, y, eps=0.0, progress=False)
    assert result["clean_acc"] == result["robust_acc"] == 0.5


def test_a_sample_fooled_at_any_iterate_counts_as_broken(tiny_model, data):
    x, y = data
    attack = PGDConfig(eps=1.0, step_size=2.5 / 4, steps=4, keep_best=False, autocast=False)
    last = pgd(tiny_model, x, -objectives.class_loss(y), attack).x
    last_iterate_acc = (tiny_model.classify(last).argmax(1) == y).float().mean().item()
    result = ev.evaluate(tiny_model, x, y, eps=1.0, steps=4, progress=False)
    assert result["robust_acc"] <= last_iterate_acc


def test_uint8_and_float_images_agree_and_subsets_are_recorded(tiny_model, data):
    x, y = data
    as_uint8 = (x * 255).round().to(torch.uint8)
    a = ev.evaluate(tiny_model, as_uint8, y, eps=0.5, n=12, n_robust=5, steps=2, progress=False)
    b = ev.evaluate(tiny_model, as_uint8.float() / 255, y, eps=0.5, n=12, n_robust=5, steps=2, progress=False)
    assert (a["n"], a["n_robust"]) == (12, 5)
    assert a["clean_acc"] == b["clean_acc"] and a["robust_acc"] == b["robust_acc"]


def test_linf_with_random_start_is_seeded(tiny_model, data):
    runs = [ev.evaluate(tiny_model, *data, eps=8 / 255, norm="linf", steps=2, random_start=True, seed=3,
                        progress=False) for _ in range(2)]
    assert runs[0]["robust_acc"] == runs[1]["robust_acc"] and runs[0]["norm"] == "linf"


def test_training_mode_is_restored(tiny_model, data):
    tiny_model.train()
    ev.evaluate(tiny_model, *data, eps=0.1, steps=1, progress=False)
    assert tiny_model.training


@pytest.mark.parametrize("kwargs, error, message", [
    ({"labels": torch.zeros(3, dtype=torch.long)}, ValueError, "labels must be a"),
    ({"images": torch.zeros(16, 32, 32)}, ValueError, "images must be a"),
    ({"images": torch.zeros(16, 3, 32, 32, dtype=torch.int32)}, TypeError, "uint8"),
    ({"norm": "l1"}, ValueError, "norm 'l2' or 'linf'"),
    ({"eps": -1.0}, ValueError, "eps >= 0"),
    ({"n_robust": 0}, ValueError, "n, n_robust >= 1"),
])
def test_bad_input_is_a_clear_error(tiny_model, data, kwargs, error, message):
    args = {"images": data[0], "labels": data[1], "eps": 0.5, **kwargs}
    with pytest.raises(error, match=message):
        ev.evaluate(tiny_model, progress=False, **args)


def test_cli_prints_metrics_and_updates_the_model_card(tiny_model, image_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROBUST_SYNTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ev, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(ev, "load_model", lambda name, device: tiny_model)
    (tmp_path / "cifar10-resnet-l2-0.5.json").write_text(json.dumps({"name": "cifar10-resnet-l2-0.5", "epochs": 6}))
    argv = ["--model", "cifar10-resnet-l2-0.5", "--data", str(image_folder), "--eps", "0.5", "--n", "9",
            "--n-robust", "4", "--steps", "2", "--update-card"]
    ev.main(argv)
    printed = json.loads(capsys.readouterr().out)
    card = json.loads((tmp_path / "cifar10-resnet-l2-0.5.json").read_text())
    assert card["epochs"] == 6 and card["metrics"] == printed
    assert printed["n"] == 9 and printed["n_robust"] == 4 and printed["steps"] == 2
    assert printed["command"] == "python -m robust_synth.evaluate " + " ".join(argv)
    assert {"date", "device", "seconds", "weights_sha256", "data"} <= set(printed)


def test_update_card_only_for_embedded_models(tmp_path, monkeypatch):
    monkeypatch.setattr(ev, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="only embedded models"):
        ev.update_card("imagenet-resnet50-l2-3", {"clean_acc": 1.0})
    with pytest.raises(SystemExit):
        ev.main(["--model", "imagenet-resnet50-l2-3", "--data", "x", "--eps", "3", "--update-card"])
