"""Step rules: the Adam direction and cosine schedule keep the constraint, early exit keeps the best iterate, the
cached low-pass equals torchvision's per-call blur."""
import math

import pytest
import torch
from torchvision.transforms.functional import gaussian_blur

from robust_synth import PGDConfig, objectives, pgd
from robust_synth.step_rules import AdamDirection, LowPass, low_pass, step_scale

TARGETS = torch.tensor([1, 2, 3])


@pytest.mark.parametrize("constraint,eps", [("l2", 0.7), ("linf", 0.03)])
@pytest.mark.parametrize("rule,schedule", [("adam", "constant"), ("adam", "cosine"), ("normalized", "cosine")])
def test_new_step_rules_keep_every_iterate_in_the_ball(tiny_model, images, constraint, eps, rule, schedule):
    seen = []
    cfg = PGDConfig(constraint=constraint, eps=eps, step_size=eps / 2, steps=6, step_rule=rule, schedule=schedule)
    result = pgd(tiny_model, images, objectives.class_loss(TARGETS), cfg,
                 on_step=lambda step, x, loss: seen.append(x.clone()))
    for x in seen + [result.x]:
        delta = (x - images).flatten(1)
        size = delta.norm(dim=1) if constraint == "l2" else delta.abs().max(1).values
        assert (size <= eps + 1e-5).all(), size
        assert x.min() >= 0 and x.max() <= 1
    assert result.losses[-1] < result.losses[0]


def test_adam_rule_reaches_a_lower_representation_error_in_the_same_steps(tiny_model, images):
    # The reason the inversion presets use it: per-pixel scaling and momentum on an ill-conditioned matching loss.
    with torch.no_grad():
        target = tiny_model(images, layers=[objectives.REP])[objectives.REP].flatten(1)
    start = (torch.randn(images.shape, generator=torch.Generator().manual_seed(1)) / 20 + 0.5).clamp(0, 1)
    match = objectives.representation_match(target)
    plain = pgd(tiny_model, start, match, PGDConfig(eps=100.0, step_size=0.3, steps=30))
    adam = pgd(tiny_model, start, match, PGDConfig(eps=100.0, step_size=0.6, steps=30, step_rule="adam",
                                                  schedule="cosine"))
    assert adam.loss.mean() < plain.loss.mean(), (adam.loss, plain.loss)


def test_cosine_schedule_shrinks_each_step_as_the_formula_says(tiny_model):
    steps, target = 5, torch.full((1, 3, 16, 16), 0.5)
    x0 = target + 0.4  # far from the target: every normalised step has full length
    seen = []
    pgd(tiny_model, x0, objectives.Objective(lambda out, x: (x - target).flatten(1).pow(2).sum(1), "dist2"),
        PGDConfig(eps=100.0, step_size=1.0, steps=steps, schedule="cosine"),
        on_step=lambda step, x, loss: seen.append(x.clone()))
    lengths = [(b - a).norm().item() for a, b in zip([x0] + seen[:-1], seen)]
    expected = [0.5 * (1 + math.cos(math.pi * t / steps)) for t in range(steps)]
    assert lengths == pytest.approx(expected, rel=1e-4)
    assert [step_scale("cosine", t, steps) for t in range(steps)] == pytest.approx(expected)


def test_adam_direction_is_the_bias_corrected_moment_ratio():
    g1, g2 = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 1.0])
    adam = AdamDirection()
    torch.testing.assert_close(adam(g1), g1.sign(), rtol=1e-5, atol=1e-6)  # first step: m̂/√v̂ = g/|g|
    m = (0.9 * 0.1 * g1 + 0.1 * g2) / (1 - 0.9 ** 2)
    v = (0.999 * 0.001 * g1 ** 2 + 0.001 * g2 ** 2) / (1 - 0.999 ** 2)
    torch.testing.assert_close(adam(g2), m / v.sqrt(), rtol=1e-5, atol=1e-6)


def test_early_exit_stops_on_a_plateau_and_returns_the_best_iterate(tiny_model):
    # Steps of 1 toward a target at distance 0.5 overshoot and bounce: the loss stops improving after step 1.
    target = torch.full((2, 3, 16, 16), 0.5)
    x0 = target + torch.tensor([0.5, 0.5]).view(2, 1, 1, 1) / (3 * 256) ** 0.5
    record = []

    def dist2(out, x):
        loss = (x - target).flatten(1).pow(2).sum(1)
        record.append(loss.detach().clone())
        return loss
    result = pgd(tiny_model, x0, objectives.Objective(dist2, "dist2"),
                 PGDConfig(eps=100.0, step_size=1.0, steps=50, patience=3))
    assert result.steps_run < 50
    torch.testing.assert_close(result.loss, torch.stack(record).min(0).values)
    with torch.no_grad():
        torch.testing.assert_close((result.x - target).flatten(1).pow(2).sum(1), result.loss)


def test_early_exit_runs_on_while_the_loss_keeps_falling(tiny_model, images):
    cfg = PGDConfig(eps=100.0, step_size=0.05, steps=12, patience=3)
    target = torch.full_like(images, 0.5)
    result = pgd(tiny_model, images, objectives.Objective(lambda out, x: (x - target).flatten(1).pow(2).sum(1), "d"),
                 cfg)
    assert result.steps_run == 12


@pytest.mark.parametrize("sigma,side", [(1.0, 32), (0.5, 17), (2.5, 8), (8.0, 5)])
def test_cached_low_pass_equals_torchvisions_per_call_blur(sigma, side):
    x = torch.randn(2, 3, side, side + 3, generator=torch.Generator().manual_seed(0))
    size = min(2 * math.ceil(3 * sigma) + 1, 2 * side - 1)
    expected = gaussian_blur(x, [size, size], [sigma, sigma])
    blur = LowPass(sigma, side, side + 3)
    torch.testing.assert_close(blur(x), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(blur(x * 2), expected * 2, rtol=1e-5, atol=1e-6)  # built once, used again
    torch.testing.assert_close(low_pass(x, sigma), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs,message", [({"step_rule": "sgd"}, "step_rule"), ({"schedule": "linear"}, "schedule"),
                                            ({"patience": -1}, "patience"), ({"patience": 1.5}, "patience"),
                                            ({"constraint": "none", "step_rule": "adam"}, "need a constraint"),
                                            ({"constraint": "none", "schedule": "cosine"}, "need a constraint")])
def test_config_rejects_unknown_rules(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PGDConfig(**kwargs)
