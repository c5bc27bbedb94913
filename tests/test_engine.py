"""pgd(): descent, best-iterate bookkeeping, forward/backward counts, frozen parameters, seeding, on_step."""
import pytest
import torch

from robust_synth import Cancelled, PGDConfig, objectives, pgd

TARGETS = torch.tensor([1, 2, 3])


def _recording(objective, record: list):
    """Wrap an objective so each evaluation's per-sample losses are appended to `record`."""
    def fn(out, x):
        loss = objective(out, x)
        record.append(loss.detach().clone())
        return loss
    return objectives.Objective(fn, objective.name, objective.layers)


def _distance_to(target: torch.Tensor):
    """||x - target||² per sample: the normalised-gradient step moves x straight toward target."""
    return objectives.Objective(lambda out, x: (x - target).flatten(1).pow(2).sum(1), "dist2")


def test_class_loss_decreases_on_every_sample(tiny_model, images):
    ce = objectives.class_loss(TARGETS)
    with torch.no_grad():
        before = ce(tiny_model(images), images)
    result = pgd(tiny_model, images, ce, PGDConfig(eps=10.0, step_size=0.5, steps=4, keep_best=False))
    assert (result.loss < before).all(), (before, result.loss)
    assert result.losses[-1] < result.losses[0]
    assert result.steps_run == 4 and not result.cancelled


def test_keep_best_returns_each_samples_lowest_loss_iterate(tiny_model):
    # Step length 1 toward a target at distance 2/3 overshoots and comes back (best iterate: the first step);
    # at distance 5 every step helps (best iterate: the last one).
    target = torch.full((2, 3, 16, 16), 0.5)
    direction = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)).sign() / (3 * 256) ** 0.5
    x0 = target + direction * torch.tensor([2 / 3, 5.0]).view(2, 1, 1, 1)
    record = []
    result = pgd(tiny_model, x0, _recording(_distance_to(target), record), PGDConfig(eps=100.0, step_size=1.0, steps=2))
    losses = torch.stack(record)  # (steps + 1, B): every evaluated iterate
    assert losses.shape == (3, 2)
    assert losses[-1, 0] > losses[:, 0].min(), "the construction must make the last iterate worse for sample 0"
    torch.testing.assert_close(result.loss, losses.min(0).values)
    torch.testing.assert_close(result.x[0], target[0] - 0.5 * (x0[0] - target[0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(result.x[1], target[1] + (x0[1] - target[1]) * 3 / 5, atol=1e-5, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(_distance_to(target)(None, result.x), result.loss)


def test_keep_best_false_returns_the_last_iterate(tiny_model):
    target = torch.full((1, 3, 16, 16), 0.5)
    x0 = target + 2 / 3 / (3 * 256) ** 0.5
    result = pgd(tiny_model, x0, _distance_to(target), PGDConfig(eps=100.0, step_size=1.0, steps=2, keep_best=False))
    torch.testing.assert_close(result.x, x0, atol=1e-5, rtol=0)  # overshoot and back


def test_one_forward_per_step_plus_one_scoring_forward_and_one_backward_per_step(tiny_model, images):
    calls = {"forward": 0, "backward": 0}
    tiny_model.net.stem.register_forward_hook(lambda *_: calls.__setitem__("forward", calls["forward"] + 1))
    tiny_model.net.stem.register_full_backward_hook(lambda *_: calls.__setitem__("backward", calls["backward"] + 1))
    pgd(tiny_model, images, objectives.class_loss(TARGETS), PGDConfig(eps=1.0, step_size=0.1, steps=3))
    assert calls == {"forward": 4, "backward": 3}


def test_parameters_stay_frozen_without_grads(tiny_model, images):
    pgd(tiny_model, images, objectives.class_loss(TARGETS), PGDConfig(eps=1.0, step_size=0.1, steps=2))
    params = list(tiny_model.parameters())
    assert params and all(p.grad is None and not p.requires_grad for p in params)


@pytest.mark.parametrize("constraint, eps", [("l2", 2.0), ("linf", 8 / 255)])
def test_same_generator_seed_gives_identical_results_with_random_start(tiny_model, images, constraint, eps):
    cfg = PGDConfig(constraint=constraint, eps=eps, step_size=eps / 4, steps=2, random_start=True)
    ce = objectives.class_loss(TARGETS)
    runs = [pgd(tiny_model, images, ce, cfg, generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    assert torch.equal(runs[0].x, runs[1].x) and torch.equal(runs[0].loss, runs[1].loss)
    assert not torch.equal(runs[0].x, runs[2].x)


def test_result_stays_in_the_ball_around_center(tiny_model, images):
    center = torch.full_like(images, 0.5)
    result = pgd(tiny_model, images, objectives.class_loss(TARGETS), PGDConfig(eps=1.5, step_size=1.0, steps=3),
                 center=center)
    assert ((result.x - center).flatten(1).norm(dim=1) <= 1.5 + 1e-5).all()
    assert result.x.min() >= 0 and result.x.max() <= 1


def test_on_step_gets_each_step_and_cancel_stops_early(tiny_model, images):
    seen = []

    def on_step(step, x, loss):
        seen.append((step, tuple(x.shape), tuple(loss.shape)))
        if step == 2:
            raise Cancelled

    result = pgd(tiny_model, images, objectives.class_loss(TARGETS), PGDConfig(eps=1.0, step_size=0.1, steps=5),
                 on_step=on_step)
    assert seen == [(1, (3, 3, 32, 32), (3,)), (2, (3, 3, 32, 32), (3,))]
    assert result.cancelled and result.steps_run == 2 and len(result.losses) == 2
    assert result.x.shape == images.shape and result.loss.shape == (3,)


def test_zero_steps_returns_the_start_and_its_loss(tiny_model, images):
    ce = objectives.class_loss(TARGETS)
    result = pgd(tiny_model, images, ce, PGDConfig(steps=0))
    assert torch.equal(result.x, images) and result.steps_run == 0 and result.losses == []
    with torch.no_grad():
        torch.testing.assert_close(result.loss, ce(tiny_model(images), images))


def test_objective_with_wrong_shape_is_a_clear_value_error(tiny_model, images):
    scalar = objectives.Objective(lambda out, x: out.logits.sum(), "summed")
    with pytest.raises(ValueError, match=r"one loss per sample, shape \(3,\)"):
        pgd(tiny_model, images, scalar, PGDConfig(steps=1))


def test_non_batched_start_is_a_value_error(tiny_model, images):
    with pytest.raises(ValueError, match="x0 must be a"):
        pgd(tiny_model, images[0], objectives.class_loss(TARGETS[:1]), PGDConfig(steps=1))


@pytest.mark.parametrize("optimizer, lr", [("lbfgs", 1.0), ("adam", 0.05)])
def test_unconstrained_optimisers_decrease_the_loss(tiny_model, images, optimizer, lr):
    ce = objectives.class_loss(TARGETS)
    with torch.no_grad():
        before = ce(tiny_model(images), images)
    cfg = PGDConfig(constraint="none", step_size=lr, steps=4, optimizer=optimizer, keep_best=False)
    result = pgd(tiny_model, images, ce, cfg)
    assert (result.loss < before).all(), (before, result.loss)
    assert result.x.min() >= 0 and result.x.max() <= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": -1}, "steps must be a non-negative integer"),
    ({"steps": 2.5}, "steps must be a non-negative integer"),
    ({"constraint": "l3"}, "constraint must be one of"),
    ({"eps": 0.0}, "eps must be a positive number"),
    ({"step_size": -1.0}, "step_size must be a positive number"),
    ({"constraint": "none", "optimizer": "sgd"}, "optimizer must be one of"),
    ({"grad_blur": -1.0}, "grad_blur must be between 0 and 8"),
    ({"grad_blur": 100.0}, "grad_blur must be between 0 and 8"),
])
def test_pgd_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PGDConfig(**kwargs)


@pytest.mark.parametrize("side", [32, 3])
def test_grad_blur_steps_along_the_smooth_part_of_the_gradient(side):
    """Toward a target that differs from x by a smooth ramp plus a pixel checkerboard of the same norm, a plain step
    follows both; with a 1-px Gaussian low-pass of the gradient it follows the ramp (even on a 3-px image)."""
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    ramp = (rows + cols).float().expand(1, 3, side, side)
    ramp = ramp - ramp.mean()
    checker = ((rows + cols) % 2 * 2 - 1).float().expand(1, 3, side, side)
    x = torch.full((1, 3, side, side), 0.5)
    target = x + 0.1 * (ramp / ramp.norm() + checker / checker.norm())
    shares = {}
    for blur in (0.0, 1.0):
        cfg = PGDConfig(eps=1.0, step_size=0.01, steps=1, grad_blur=blur)
        step = pgd(lambda x, layers=(): None, x, _distance_to(target), cfg).x - x
        shares[blur] = float((step * checker).sum() / (step.norm() * checker.norm()))
    assert shares[0.0] > 0.6 and abs(shares[1.0]) < 0.2, shares
