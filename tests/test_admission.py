"""Admission by expected wait (robust_synth/app/admission.py), on a fake clock: no sleeping, no server."""
import inspect

import pytest

from robust_synth.app import admission
from robust_synth.app.admission import Admission, QueueTooLong


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


def run(policy: Admission, clock: FakeClock, kind: str, seconds: float, completed: bool = True) -> None:
    token = policy.started(kind)
    clock.now += seconds
    policy.finished(token, completed=completed)


def test_seconds_per_request_are_measured_per_kind_on_the_clock(clock):
    # Catches timing with the wall clock instead of the injected one, or one mean for every kind.
    policy = Admission(clock)
    run(policy, clock, "generate", 2.0)
    run(policy, clock, "generate", 4.0)
    run(policy, clock, "style_transfer", 30.0)
    assert policy.seconds("generate") == pytest.approx(3.0)
    assert policy.seconds("style_transfer") == pytest.approx(30.0)


def test_failed_stopped_or_dropped_runs_are_not_measured(clock):
    # Catches a quick failure (bad input, a dropped client) dragging the estimate down.
    policy = Admission(clock)
    run(policy, clock, "generate", 10.0)
    run(policy, clock, "generate", 0.01, completed=False)
    assert policy.seconds("generate") == pytest.approx(10.0)
    assert policy.running() == 0


def test_a_kind_not_measured_yet_counts_as_the_measured_ones_or_the_prior(clock):
    policy = Admission(clock)
    assert policy.seconds("inpaint") == admission.PRIOR_SECONDS
    run(policy, clock, "generate", 2.0)
    run(policy, clock, "style_transfer", 6.0)
    assert policy.seconds("inpaint") == pytest.approx(4.0)


def test_before_any_run_of_a_kind_finishes_its_runs_so_far_bound_its_seconds(clock):
    """Catches requests that arrive while the first runs are going judged on the 1 s prior alone, however long
    those runs have already taken."""
    policy = Admission(clock)
    for _ in range(8):
        policy.started("inpaint")
    clock.now += 20.0
    assert policy.seconds("inpaint") == pytest.approx(20.0)
    assert policy.seconds("generate") == admission.PRIOR_SECONDS  # other kinds are not bounded by them
    with pytest.raises(QueueTooLong):  # 60 queued x >= 20 s / 8 workers = 150 s > 120 s
        policy.admit(["inpaint"] * 60, workers=8, limit_s=120)
    policy.admit(["inpaint"] * 40, workers=8, limit_s=120)  # 100 s: admitted


def test_only_the_last_runs_count(clock):
    policy = Admission(clock)
    run(policy, clock, "generate", 100.0)
    for _ in range(admission.RUNS_REMEMBERED):
        run(policy, clock, "generate", 1.0)
    assert policy.seconds("generate") == pytest.approx(1.0)


def test_expected_wait_is_the_queue_ahead_times_seconds_per_request_over_the_workers(clock):
    # Catches a count-based queue (wait ignored) and a wait that ignores the kinds queued ahead.
    policy = Admission(clock)
    run(policy, clock, "generate", 2.0)
    run(policy, clock, "style_transfer", 10.0)
    assert policy.expected_wait(["generate"] * 6, workers=2) == pytest.approx(6 * 2.0 / 2)
    assert policy.expected_wait(["generate", "style_transfer"] * 3, workers=2) == pytest.approx(3 * 12.0 / 2)


def test_no_wait_while_a_worker_is_free(clock):
    policy = Admission(clock)
    run(policy, clock, "generate", 50.0)
    policy.started("generate")
    assert policy.expected_wait(["generate"], workers=3) == 0.0
    assert policy.expected_wait(["generate"] * 2, workers=3) == pytest.approx(150.0 / 3)


def test_running_requests_count_what_is_left_of_them_as_the_clock_moves(clock):
    policy = Admission(clock)
    run(policy, clock, "generate", 10.0)
    policy.started("generate")
    assert policy.expected_wait([], workers=1) == pytest.approx(10.0)
    clock.now += 4.0
    assert policy.expected_wait([], workers=1) == pytest.approx(6.0)
    clock.now += 20.0  # overran its mean: counts as about to finish, never negative
    assert policy.expected_wait([], workers=1) == 0.0


def test_refused_exactly_when_the_expected_wait_is_over_the_limit_and_told_how_long(clock):
    # Catches refusing at the limit (not over it), refusing by count, and a refusal that does not give the wait.
    policy = Admission(clock)
    run(policy, clock, "generate", 3.0)
    policy.admit(["generate"] * 80, workers=2, limit_s=120.0)  # 80 x 3 s / 2 = 120 s: at the limit, admitted
    policy.admit(["generate"] * 1000, workers=100, limit_s=120.0)  # a long queue, but a short wait: admitted
    with pytest.raises(QueueTooLong) as refused:
        policy.admit(["generate"] * 81, workers=2, limit_s=120.0)  # 121.5 s
    assert refused.value.wait_s == pytest.approx(121.5)
    assert "about 2 min 2 s" in str(refused.value) and "2 min 0 s" in str(refused.value)
    assert "81 request(s) ahead" in str(refused.value)


def test_the_wait_shrinks_as_measured_runs_get_faster(clock):
    policy = Admission(clock)
    run(policy, clock, "generate", 10.0)
    with pytest.raises(QueueTooLong):
        policy.admit(["generate"] * 20, workers=1, limit_s=120.0)
    for _ in range(admission.RUNS_REMEMBERED):
        run(policy, clock, "generate", 1.0)
    policy.admit(["generate"] * 20, workers=1, limit_s=120.0)


def test_measured_wraps_a_streaming_handler_and_times_only_completed_runs(clock, monkeypatch):
    policy = Admission(clock)
    monkeypatch.setattr(admission, "ADMISSION", policy)

    def handler(model, steps=3, request=None):
        for step in range(steps):
            clock.now += 1.0
            yield step
        if model == "bad":
            raise ValueError("bad model")

    wrapped = admission.measured("generate", handler)
    assert list(wrapped("m", steps=2)) == [0, 1]
    assert policy.seconds("generate") == pytest.approx(2.0) and policy.running() == 0
    with pytest.raises(ValueError):
        list(wrapped("bad", steps=5))
    dropped = wrapped("m", steps=50)
    next(dropped)
    assert policy.running() == 1
    dropped.close()  # what Gradio does to the run of a client that went away
    assert policy.running() == 0 and policy.seconds("generate") == pytest.approx(2.0)
    assert list(inspect.signature(wrapped).parameters) == ["model", "steps", "request"]  # Gradio reads it
