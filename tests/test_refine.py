"""refine (BIGRoC): a few small targeted steps raise the class probability, stay in the ball, keep the image's size."""
import numpy as np
import pytest
import torch

import robust_synth as rs
from robust_synth.tasks.metrics import predict
from robust_synth.tasks.framing import Framing
from robust_synth.tasks.refine import CIFAR


def _photo(h=40, w=48):
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 5, 6, generator=g), size=(h, w), mode="bilinear")[0]
    return (x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def test_refining_toward_a_class_raises_its_probability_within_the_radius(tiny_model):
    """Catches an untargeted or reversed step (probability down) and a change larger than eps."""
    images, recipe = rs.refine(tiny_model, _photo(), target="ship")
    x = images.tensor
    metrics = recipe["metrics"]
    assert metrics["prob_after"] > metrics["prob_before"] and metrics["l2_change"] <= CIFAR.eps + 1e-4
    assert recipe["params"]["eps"] == CIFAR.eps and recipe["params"]["steps"] == CIFAR.steps
    assert recipe["params"]["target"] == "ship" and recipe["params"]["target_source"] == "given"
    assert images[0].size == (48, 40) and x.shape == (1, 3, 40, 48)


def test_the_default_target_is_the_predicted_class(tiny_model):
    """Catches a default target that is a fixed class instead of the model's prediction for the image."""
    _, recipe = rs.refine(tiny_model, _photo(), steps=2)
    framed = Framing(torch.from_numpy(_photo()).permute(2, 0, 1)[None].float() / 255, 32).model_input
    assert recipe["params"]["target_index"] == predict(tiny_model, framed).item()
    assert recipe["params"]["target_source"] == "predicted"
    assert recipe["metrics"]["prob_after"] >= recipe["metrics"]["prob_before"]


def test_an_unknown_target_is_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="unknown class 'unicorn'"):
        rs.refine(tiny_model, _photo(), target="unicorn")
