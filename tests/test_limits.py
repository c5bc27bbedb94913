"""limits.py: environment overrides, check_run on the corpus's parameters, and unknown model names."""
import numpy as np
import pytest

from bad_inputs import items
from robust_synth import limits
from robust_synth.models import get_spec


def _ids(corpus):
    return [item.name for item in corpus]


@pytest.mark.parametrize("item", items("params", "error"), ids=_ids(items("params", "error")))
def test_bad_parameters_are_refused_with_their_name(item):
    with pytest.raises(ValueError, match=item.match) as info:
        limits.check_run(**item.make())
    assert "got" in str(info.value)


@pytest.mark.parametrize("item", items("params", "ok"), ids=_ids(items("params", "ok")))
def test_reference_parameters_pass(item):
    limits.check_run(**item.make())


@pytest.mark.parametrize("item", items("model"), ids=_ids(items("model")))
def test_unknown_model_names_are_refused(item):
    with pytest.raises(ValueError, match=item.match):
        get_spec(item.make())


def test_defaults_cover_the_reference_settings():
    # representation inversion: eps 1000, up to 10000 steps (Engstrom et al. 2019); inpainting 720 steps
    limits.check_run(steps=10000, eps=1000.0, step_size=1.0, n=16, frames=16, side=1024, seed=2**32 - 1)


def test_environment_tightens_the_limits_at_call_time(monkeypatch):
    limits.check_run(steps=2000)
    monkeypatch.setenv("ROBUST_SYNTH_MAX_STEPS", "100")
    monkeypatch.setenv("ROBUST_SYNTH_MAX_EPS", "50.5")
    current = limits.current()
    assert current.max_steps == 100 and current.max_eps == 50.5
    with pytest.raises(ValueError, match="steps must be an integer between 1 and 100, got 2000"):
        limits.check_run(steps=2000)
    with pytest.raises(ValueError, match="eps must be a number greater than 0 and at most 50.5, got 60"):
        limits.check_run(eps=60)
    limits.check_run(steps=np.int32(100), eps=50.5)
    assert "steps <= 100" in current.summary() and "eps <= 50.5" in current.summary()


@pytest.mark.parametrize("value", ["abc", "-5", "0", "nan", "1.5"])
def test_invalid_environment_values_name_the_variable(monkeypatch, value):
    monkeypatch.setenv("ROBUST_SYNTH_MAX_N", value)
    with pytest.raises(ValueError, match="ROBUST_SYNTH_MAX_N must be a positive integer"):
        limits.current()


def test_float_limits_accept_integers_in_the_environment(monkeypatch):
    monkeypatch.setenv("ROBUST_SYNTH_MAX_SECONDS", "30")
    assert limits.current().max_seconds == 30.0
