"""Batcher and pgd_batch: batched results equal results alone, grouping by key, errors, cancel, threads."""
import threading

import pytest
import torch

import robust_synth as rs
from robust_synth import Cancelled, PGDConfig, batching, objectives, pgd
from robust_synth.batching import Batcher, PGDRequest, pgd_batch, pgd_batcher

CFG = PGDConfig(eps=2.0, step_size=0.5, steps=3, random_start=True)
TOL = dict(atol=1e-4, rtol=0)  # convolution algorithms may differ with the batch size: rounding only


def _requests():
    """Three requests of different sizes, objectives and seeds (one with an inpainting-style mask term)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 32, 32, generator=g)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:16, 8:16] = 1
    masked = objectives.class_loss(torch.tensor([5])) + 10 * objectives.masked_mse(x[3:4], mask)
    return [PGDRequest(x[0:2], objectives.class_loss(torch.tensor([1, 2])), seed=11),
            PGDRequest(x[2:3], -objectives.feature(3, "layer2"), seed=12),
            PGDRequest(x[3:4], masked, seed=13)]


def _alone(model, request, cfg=CFG):
    return pgd(model, request.x0, request.objective, cfg, generator=torch.Generator().manual_seed(request.seed))


def test_batched_results_equal_results_alone_for_the_same_seeds(tiny_model):
    requests = _requests()
    batched = pgd_batch(tiny_model, requests, CFG)
    for request, got in zip(requests, batched):
        want = _alone(tiny_model, request)
        torch.testing.assert_close(got.x, want.x, **TOL)
        torch.testing.assert_close(got.loss, want.loss, **TOL)
        assert got.losses == pytest.approx(want.losses, abs=1e-4)
        assert got.steps_run == 3 and not got.cancelled


def test_different_seeds_give_different_random_starts(tiny_model):
    request = _requests()[0]
    a, b = pgd_batch(tiny_model, [request, PGDRequest(request.x0, request.objective, seed=99)], CFG)
    assert not torch.allclose(a.x, b.x)


def test_concurrent_threads_share_one_batch_and_get_their_own_results(tiny_model):
    requests = _requests()
    batcher = pgd_batcher(max_batch=sum(r.x0.shape[0] for r in requests), max_wait_s=10.0)
    results, barrier = [None] * len(requests), threading.Barrier(len(requests))

    def submit(i):
        barrier.wait()
        results[i] = batcher.submit((tiny_model, CFG), requests[i])
    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert batcher.batches_run == 1  # the group closed as soon as it was full, long before max_wait_s
    for request, got in zip(requests, results):
        torch.testing.assert_close(got.x, _alone(tiny_model, request).x, **TOL)


def _echo_batcher(calls: list, **kwargs) -> Batcher:
    def run_batch(key, items):
        calls.append((key, list(items)))
        return [(key, item) for item in items]
    return Batcher(run_batch, **kwargs)


def _submit_concurrently(batcher, jobs):
    results, barrier = {}, threading.Barrier(len(jobs))

    def submit(key, item):
        barrier.wait()
        try:
            results[item] = batcher.submit(key, item)
        except Exception as error:  # noqa: BLE001 - the test inspects it
            results[item] = error
    threads = [threading.Thread(target=submit, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_items_with_different_keys_never_share_a_batch():
    calls = []
    results = _submit_concurrently(_echo_batcher(calls, max_batch=2, max_wait_s=2.0),
                                   [("a", 1), ("b", 2), ("a", 3), ("b", 4)])
    assert results == {1: ("a", 1), 2: ("b", 2), 3: ("a", 3), 4: ("b", 4)}
    assert sorted((key, sorted(items)) for key, items in calls) == [("a", [1, 3]), ("b", [2, 4])]


def test_max_batch_splits_groups_and_a_lone_item_runs_after_max_wait():
    calls = []
    batcher = _echo_batcher(calls, max_batch=2, max_wait_s=0.5)
    results = _submit_concurrently(batcher, [("k", i) for i in range(5)])
    assert results == {i: ("k", i) for i in range(5)}
    assert sorted(len(items) for _, items in calls) == [1, 2, 2]
    assert batcher.submit("k", 9) == ("k", 9)  # alone: runs once max_wait_s has passed


def test_an_error_in_run_batch_reaches_every_caller_of_the_group():
    def run_batch(key, items):
        raise ValueError("bad batch")
    results = _submit_concurrently(Batcher(run_batch, max_batch=3, max_wait_s=2.0), [("k", i) for i in range(3)])
    assert all(isinstance(r, ValueError) and str(r) == "bad batch" for r in results.values())


def test_a_cancelled_request_stops_its_on_step_calls_and_the_run_stops_when_all_cancel(tiny_model):
    seen = {"a": [], "b": []}

    def cancel_at(name, step_to_cancel):
        def on_step(step, x, loss):
            seen[name].append((step, x.shape[0], loss.shape[0]))
            if step == step_to_cancel:
                raise Cancelled
        return on_step
    a, b = _requests()[:2]
    cfg = PGDConfig(eps=2.0, step_size=0.5, steps=5)
    ra, rb = pgd_batch(tiny_model, [PGDRequest(a.x0, a.objective, on_step=cancel_at("a", 1)),
                                    PGDRequest(b.x0, b.objective, on_step=cancel_at("b", 3))], cfg)
    assert seen == {"a": [(1, 2, 2)], "b": [(1, 1, 1), (2, 1, 1), (3, 1, 1)]}
    assert ra.cancelled and rb.cancelled and ra.steps_run == rb.steps_run == 3
    assert len(ra.losses) == 3


def test_lbfgs_requests_are_refused_because_lbfgs_couples_samples(tiny_model):
    with pytest.raises(ValueError, match="L-BFGS"):
        pgd_batch(tiny_model, _requests(), PGDConfig(constraint="none", steps=2, optimizer="lbfgs"))


@pytest.mark.parametrize("kwargs, match", [({"max_batch": 0}, "max_batch must be a positive integer, got 0"),
                                           ({"max_batch": 2.5}, "max_batch must be a positive integer, got 2.5"),
                                           ({"max_wait_s": -1}, "max_wait_s must be a non-negative number")])
def test_bad_batcher_settings_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Batcher(lambda key, items: items, **kwargs)


def test_requests_with_different_image_shapes_are_rejected(tiny_model):
    a = _requests()[0]
    with pytest.raises(ValueError, match="one shape"):
        pgd_batch(tiny_model, [a, PGDRequest(torch.rand(1, 3, 16, 16), a.objective)], CFG)


def test_tasks_share_a_batch_when_batching_is_on_and_match_their_solo_results(tiny_model, monkeypatch):
    solo = [rs.generate(tiny_model, target, n=2, seed=seed, steps=3)[0].tensor
            for target, seed in (("cat", 1), ("dog", 2))]
    monkeypatch.setenv("ROBUST_SYNTH_BATCH_IMAGES", "4")
    monkeypatch.setattr(batching, "SHARED_WAIT_S", 10.0)  # the group closes when full (4 images), not on time
    batcher = batching.shared_pgd_batcher(4)
    before, results = batcher.batches_run, {}

    def run(target, seed):
        results[target] = rs.generate(tiny_model, target, n=2, seed=seed, steps=3)
    threads = [threading.Thread(target=run, args=job) for job in (("cat", 1), ("dog", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert batcher.batches_run == before + 1
    for target, expected in zip(("cat", "dog"), solo):
        images, recipe = results[target]
        torch.testing.assert_close(images.tensor, expected, **TOL)
        assert recipe["params"]["target"] == [target] and recipe["metrics"]["steps_run"] == 3
