"""Evaluating a bulk run: Fréchet distance against its closed forms, judge accuracy, FID only with cached weights."""
import numpy as np
import pytest

from robust_synth.bulk.__main__ import main
from robust_synth.bulk.folder_metrics import choose_classifier, evaluate, fid_status, frechet_distance


def test_frechet_distance_matches_the_gaussian_closed_forms():
    """Catches a missing trace term, a sqrt of the wrong product, or complex parts leaking into the result."""
    g = np.random.default_rng(0)
    a = g.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, a + [3, 0, 4]) == pytest.approx(25, rel=1e-6)  # same covariance: ||mu_a - mu_b||^2
    scaled = a * [1, 2, 3]  # diagonal covariances: sum over axes of (sigma_a - sigma_b)^2 -> 0 + 1 + 4
    assert frechet_distance(a, scaled) == pytest.approx(5, rel=0.05)
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(a[:1], a)


def test_the_default_judge_is_never_the_generator():
    assert choose_classifier("cifar10-resnet-l2-0.5") == "cifar10-resnet-standard"
    assert choose_classifier("cifar10-resnet-standard") == "cifar10-resnet-l2-0.5"
    assert choose_classifier("imagenet-resnet50-l2-3") == "imagenet-resnet50-standard"


def test_fid_is_skipped_with_a_clear_reason_when_inception_weights_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reason = fid_status()
    assert "weights-inception-2015-12-05-6726825d.pth" in reason and str(tmp_path) in reason


def test_evaluate_prints_judge_accuracy_and_frechet_distance(tmp_path, image_folder, capsys, monkeypatch):
    """Catches an evaluation that reads the wrong images or labels, or ignores the reference's class folders."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    out = tmp_path / "run"
    assert main(["generate", "--model", "cifar10-resnet-l2-0.5", "--per-class", "3", "--classes", "cat", "ship",
                 "--steps", "2", "--no-progress", "--format", "tar", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--reference", str(image_folder / "test")]) == 0
    printed = capsys.readouterr().out
    assert "judged by cifar10-resnet-standard" in printed and "FID skipped" in printed
    result = evaluate(out, image_folder / "test")
    assert result["images"] == 6 and result["reference_images"] == 12 and result["feature_dim"] > 1
    assert 0 <= result["accuracy"] <= 1 and result["reference_accuracy"] is not None
    assert result["frechet_distance"] > 0 and result["fid"] is None
    same = evaluate(out, image_folder / "test", classifier="cifar10-resnet-standard")
    assert same["frechet_distance"] == pytest.approx(result["frechet_distance"])
    assert main(["evaluate", str(tmp_path), "--reference", str(image_folder)]) == 2
    assert "no manifest.jsonl" in capsys.readouterr().err
