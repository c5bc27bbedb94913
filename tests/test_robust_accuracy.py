"""evaluate(): clean vs PGD robust accuracy (tiny model; hand-built two-class models), input checks, the card CLI."""
import json
import math

import pytest
import torch
from torch import nn

from robust_synth import PGDConfig, objectives, pgd
from robust_synth import robust_accuracy as ev
from conftest import make_tiny_model
from robust_synth.features import RobustModel

FIELDS = {"clean_acc", "robust_acc", "n", "n_robust", "eps", "norm", "steps", "step_size", "seconds"}


@pytest.fixture
def data(tiny_model):
    """Random images labelled with the tiny model's own predictions, so clean accuracy is 1."""
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return x, tiny_model.classify(x).argmax(1)


class ScoreNet(nn.Module):
    """Two classes, logits (0, score(x)) for a hand-written score: class 1 (the wrong one) wins where score > 0."""

    def __init__(self, score):
        super().__init__()
        self.score = score
        self.scale = nn.Parameter(torch.ones(()))  # evaluate() reads the device off a parameter
        self.logits = nn.Identity()

    def forward(self, x):
        s = self.scale * self.score(x)
        return self.logits(torch.stack([torch.zeros_like(s), s], 1))


def score_model(score) -> RobustModel:
    return RobustModel(ScoreNet(score), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), {"logits": "logits"}, name="score",
                       class_names=("right", "wrong"), input_size=4)


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


def test_autoattack_counts_only_correct_images_and_breaks_a_weak_model(tiny_model, data):
    """Catches an AutoAttack figure that ignores clean mistakes or an attack that never runs."""
    pytest.importorskip("torchattacks")
    x, y = data
    y = y.clone()
    y[::2] = (y[::2] + 1) % 10  # half wrong: those can never count as robust
    result = ev.evaluate(tiny_model, x, y, eps=3.0, steps=3, n_autoattack=16, progress=False)
    assert result["n_autoattack"] == 16 and result["clean_acc"] == 0.5
    assert result["autoattack_acc"] < 0.5, "an L2 radius of 3 must fool a random tiny network somewhere"


def test_autoattack_log_resumes_without_attacking_finished_batches(tiny_model, data, tmp_path, monkeypatch):
    """Catches a log that is written but not read back (the interrupted hours of AutoAttack would be redone)."""
    torchattacks = pytest.importorskip("torchattacks")
    log = tmp_path / "autoattack.jsonl"
    kwargs = dict(eps=3.0, steps=3, n_autoattack=16, batch_size=8, autoattack_log=log, progress=False)
    first = ev.evaluate(tiny_model, *data, **kwargs)
    logged = [json.loads(line) for line in log.read_text().splitlines()][1:]  # after the settings line
    assert sum(len(r["ids"]) for r in logged) == round(first["clean_acc"] * 16)  # every clean-correct image, once

    def refuse(self, *args):
        raise AssertionError("attacked a batch the log already holds")
    monkeypatch.setattr(torchattacks.AutoAttack, "forward", refuse)
    assert ev.evaluate(tiny_model, *data, **kwargs)["autoattack_acc"] == first["autoattack_acc"]


@pytest.mark.parametrize("change", [{"eps": 2.0}, {"seed": 1}, {"norm": "linf"}])
def test_autoattack_log_of_other_settings_is_refused(change, tiny_model, data, tmp_path):
    """Catches a resumed run counting another radius's, seed's or norm's hits as its own."""
    pytest.importorskip("torchattacks")
    log = tmp_path / "autoattack.jsonl"
    kwargs = dict(eps=3.0, steps=3, n=8, n_autoattack=8, batch_size=8, autoattack_log=log, progress=False)
    ev.evaluate(tiny_model, *data, **kwargs)
    with pytest.raises(ValueError, match="give this run a log of its own"):
        ev.evaluate(tiny_model, *data, **{**kwargs, **change})


def test_autoattack_log_of_another_model_is_refused(tiny_model, data, tmp_path):
    pytest.importorskip("torchattacks")
    log = tmp_path / "autoattack.jsonl"
    kwargs = dict(eps=3.0, steps=3, n=8, n_autoattack=8, batch_size=8, autoattack_log=log, progress=False)
    ev.evaluate(tiny_model, *data, **kwargs)
    other = make_tiny_model(seed=1)
    other.name = "another"
    with pytest.raises(ValueError, match="give this run a log of its own"):
        ev.evaluate(other, *data, **kwargs)


def test_autoattack_leaves_the_model_untouched(tiny_model, data):
    """Catches batch-norm statistics updated by an attack that ran (or classified) in train mode."""
    pytest.importorskip("torchattacks")
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    ev.evaluate(tiny_model, *data, eps=0.5, steps=2, n=8, n_autoattack=8, progress=False)
    assert all(torch.equal(v, before[k]) for k, v in tiny_model.state_dict().items())


def band(x):
    """Along the unit direction w = (1, ..., 1)/sqrt(D), s = w·(x - 0.5): the wrong class wins only for 0.3 < s < 1.3.

    From s = 0 the first step (2.5·eps/steps = 1.25, cut to eps = 1) lands at s = 1, inside the band; there the
    gradient points back, and the second step lands at s = -0.25, outside it again.
    """
    s = (x - 0.5).flatten(1).sum(1) / math.sqrt(x[0].numel())
    return 4 * (1 - ((s - 0.8) / 0.5) ** 2)


def test_a_sample_fooled_at_any_iterate_counts_as_broken():
    """Catches a last-iterate-only count: half the samples are fooled at the middle iterate only (robust 1.0 then).

    The other half start at s = -2: one step to s = -1, where the ball (radius 1) holds them, never in the band.
    """
    model = score_model(band)
    x = torch.full((8, 3, 4, 4), 0.5)
    x[4:] -= 2 / math.sqrt(48)
    y = torch.zeros(8, dtype=torch.long)
    attack = PGDConfig(eps=1.0, step_size=2.5 / 2, steps=2, keep_best=False, autocast=False)
    iterates = []
    last = pgd(model, x, -objectives.class_loss(y), attack, on_step=lambda step, xi, loss: iterates.append(xi)).x
    fooled = [model.classify(xi).argmax(1).bool() for xi in iterates]
    assert fooled[0][:4].all() and not fooled[0][4:].any(), "the first step lands in the band for the first half"
    assert (model.classify(last).argmax(1) == y).all(), "and the last iterate is classified right again"
    result = ev.evaluate(model, x, y, eps=1.0, steps=2, progress=False)
    assert result["clean_acc"] == 1.0 and result["robust_acc"] == 0.5


def test_uint8_and_float_images_agree_and_subsets_are_recorded(tiny_model, data):
    x, y = data
    as_uint8 = (x * 255).round().to(torch.uint8)
    a = ev.evaluate(tiny_model, as_uint8, y, eps=0.5, n=12, n_robust=5, steps=2, progress=False)
    b = ev.evaluate(tiny_model, as_uint8.float() / 255, y, eps=0.5, n=12, n_robust=5, steps=2, progress=False)
    assert (a["n"], a["n_robust"]) == (12, 5)
    assert a["clean_acc"] == b["clean_acc"] and a["robust_acc"] == b["robust_acc"]


def dead_relu(x):
    """Wrong class where the first pixel exceeds 0.5 + 1e-3; at or below 0.5 the ReLU is dead and the gradient zero.

    From images of 0.5 only a random start can find the wrong class: it does for about half of them (those whose
    first pixel it moves up), so the robust accuracy is a sample of the random start, not a fixed 1.0.
    """
    return 1000 * torch.relu(x[:, 0, 0, 0] - 0.5) - 1


def test_linf_with_random_start_is_seeded():
    """Catches an unseeded random start (the same seed gives other figures), a seed not passed on (every seed gives
    the same figure) and a random start left out (robust accuracy 1.0: the gradient alone never leaves 0.5)."""
    model = score_model(dead_relu)
    x, y = torch.full((512, 3, 2, 2), 0.5), torch.zeros(512, dtype=torch.long)

    def robust_acc(seed, random_start=True):
        result = ev.evaluate(model, x, y, eps=8 / 255, norm="linf", steps=2, random_start=random_start, seed=seed,
                             progress=False)
        assert result["norm"] == "linf" and result["random_start"] is random_start
        return result["robust_acc"]
    assert robust_acc(0, random_start=False) == 1.0
    by_seed = [robust_acc(seed) for seed in range(4)]
    assert all(0.4 < acc < 0.6 for acc in by_seed) and len(set(by_seed)) > 1, by_seed
    assert [robust_acc(seed) for seed in range(4)] == by_seed


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
    assert printed["command"] == "python -m robust_synth.robust_accuracy " + " ".join(argv)
    assert {"date", "device", "seconds", "weights_sha256", "data"} <= set(printed)


def test_update_card_only_for_embedded_models(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ev, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="only embedded models"):
        ev.update_card("imagenet-resnet50-l2-3", {"clean_acc": 1.0})
    with pytest.raises(SystemExit) as exit_info:  # argparse's usage error, before any model or data is loaded
        ev.main(["--model", "imagenet-resnet50-l2-3", "--data", "x", "--eps", "3", "--update-card"])
    assert exit_info.value.code == 2
    assert "--update-card needs an embedded model; imagenet-resnet50-l2-3 has no card" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
