"""Property tests for the perturbation sets: projection, step rules, random starts, input checks."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_synth.constraints import L2Ball, LinfBall, Unconstrained, make_constraint

FAST = settings(max_examples=30, deadline=None, database=None)
seeds = st.integers(0, 2**31 - 1)
l2_eps = st.floats(0.01, 20.0)
linf_eps = st.floats(0.001, 1.0)
step_sizes = st.floats(0.001, 5.0)


def _tensors(seed: int, batch: int = 3):
    """A center in [0,1] and a far-away point (up to ±3 outside [0,1]), both (B, 3, 5, 5)."""
    g = torch.Generator().manual_seed(seed)
    center = torch.rand(batch, 3, 5, 5, generator=g)
    x = center + 3 * torch.randn(batch, 3, 5, 5, generator=g)
    return center, x


def _l2_dist(a, b):
    return (a - b).flatten(1).norm(dim=1)


def _linf_dist(a, b):
    return (a - b).flatten(1).abs().max(dim=1).values


def _assert_inside(x, center, ball):
    assert x.min() >= 0 and x.max() <= 1
    dist = _l2_dist(x, center) if isinstance(ball, L2Ball) else _linf_dist(x, center)
    assert (dist <= ball.eps * (1 + 1e-5) + 1e-6).all(), (dist, ball.eps)


@FAST
@given(eps=l2_eps, seed=seeds)
def test_l2_projection_lands_in_ball_and_unit_box_and_is_idempotent(eps, seed):
    ball, (center, x) = L2Ball(eps, 1.0), _tensors(seed)
    p = ball.project(x, center)
    _assert_inside(p, center, ball)
    torch.testing.assert_close(ball.project(p, center), p, atol=1e-6, rtol=0)


@FAST
@given(eps=linf_eps, seed=seeds)
def test_linf_projection_lands_in_ball_and_unit_box_and_is_idempotent(eps, seed):
    ball, (center, x) = LinfBall(eps, 0.1), _tensors(seed)
    p = ball.project(x, center)
    _assert_inside(p, center, ball)
    torch.testing.assert_close(ball.project(p, center), p, atol=0, rtol=0)


def test_projection_leaves_points_inside_the_set_unchanged():
    center = torch.full((2, 3, 4, 4), 0.5)
    inside = center + 0.01
    torch.testing.assert_close(L2Ball(1.0, 1.0).project(inside, center), inside)
    torch.testing.assert_close(LinfBall(0.05, 1.0).project(inside, center), inside)


@FAST
@given(step=step_sizes, seed=seeds)
def test_l2_step_has_the_requested_length_per_sample_along_minus_the_gradient(step, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 3, 5, 5, generator=g)
    grad = torch.randn(4, 3, 5, 5, generator=g) * torch.tensor([1e-3, 1.0, 10.0, 1e3]).view(4, 1, 1, 1)
    moved = L2Ball(100.0, step).step(x, grad) - x
    torch.testing.assert_close(_l2_dist(moved, 0), torch.full((4,), step), rtol=1e-5, atol=1e-6)
    cosine = torch.nn.functional.cosine_similarity(moved.flatten(1), -grad.flatten(1), dim=1)
    torch.testing.assert_close(cosine, torch.ones(4), rtol=0, atol=1e-5)


@FAST
@given(step=step_sizes, seed=seeds)
def test_linf_step_is_a_sign_step(step, seed):
    g = torch.Generator().manual_seed(seed)
    x, grad = torch.rand(2, 3, 5, 5, generator=g), torch.randn(2, 3, 5, 5, generator=g)
    grad[0, 0, 0, 0] = 0.0
    moved = LinfBall(1.0, step).step(x, grad)
    torch.testing.assert_close(moved, x - step * grad.sign())
    assert moved[0, 0, 0, 0] == x[0, 0, 0, 0]


@FAST
@given(eps=l2_eps, seed=seeds)
def test_l2_random_start_stays_inside_and_follows_the_generator(eps, seed):
    center, _ = _tensors(seed)
    ball = L2Ball(eps, 1.0)
    start = ball.random_start(center, torch.Generator().manual_seed(seed))
    _assert_inside(start, center, ball)
    torch.testing.assert_close(ball.random_start(center, torch.Generator().manual_seed(seed)), start)
    assert not torch.equal(start, center)


@FAST
@given(eps=linf_eps, seed=seeds)
def test_linf_random_start_stays_inside(eps, seed):
    center, _ = _tensors(seed)
    ball = LinfBall(eps, 0.1)
    _assert_inside(ball.random_start(center, torch.Generator().manual_seed(seed)), center, ball)


def test_unconstrained_projection_only_clamps_to_the_unit_box():
    x = torch.tensor([-0.5, 0.0, 0.3, 1.0, 7.0]).view(1, 1, 1, 5)
    projected = Unconstrained().project(x, torch.zeros_like(x))
    torch.testing.assert_close(projected, torch.tensor([0.0, 0.0, 0.3, 1.0, 1.0]).view(1, 1, 1, 5))
    start = Unconstrained().random_start(torch.zeros(2, 3, 4, 4), torch.Generator().manual_seed(0))
    assert start.min() >= 0 and start.max() <= 1 and start.std() > 0.1


def test_unconstrained_step_needs_bind_first():
    with pytest.raises(RuntimeError, match="bind"):
        Unconstrained(optimizer="adam").step(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2))


@pytest.mark.parametrize("cls", [L2Ball, LinfBall])
@pytest.mark.parametrize("eps, step_size", [(0.0, 1.0), (-1.0, 1.0), (math.nan, 1.0), (1.0, 0.0), (1.0, -0.5)])
def test_bad_eps_or_step_size_is_a_value_error(cls, eps, step_size):
    with pytest.raises(ValueError, match="must be a positive number"):
        cls(eps, step_size)


def test_make_constraint_looks_up_by_name_and_rejects_unknown_names():
    assert isinstance(make_constraint("l2", 1.0, 0.1), L2Ball)
    assert isinstance(make_constraint("linf", 0.1, 0.01), LinfBall)
    assert make_constraint("none", 0.0, 0.1, "adam").optimizer_name == "adam"
    with pytest.raises(ValueError, match="constraint must be one of"):
        make_constraint("l3", 1.0, 0.1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_constraint("none", 1.0, 0.1, "sgd")
