"""Speed paths give the eager float32 result: bf16 autocast, channels_last weights, CUDA graphs; no syncs, no grads."""
import pytest
import torch

from robust_synth import PGDConfig, engine, objectives, pgd

from conftest import make_tiny_model

CFG = PGDConfig(eps=2.0, step_size=0.5, steps=3)
TARGETS = torch.tensor([1, 2, 3])
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")


def _run(model, images, cfg=CFG, objective=None, **kwargs):
    return pgd(model, images, objective or objectives.class_loss(TARGETS.to(images.device)), cfg, **kwargs)


def _dtype_recorder(seen: list):
    """Class loss that records the dtype of the logits it is given (bf16 proves autocast was on)."""
    ce = objectives.class_loss(TARGETS)

    def fn(out, x):
        seen.append(out.logits.dtype)
        return ce(out, x)
    return objectives.Objective(fn, "ce")


def _assert_close_to_float32(fast, exact, x0):
    """bf16 keeps ~3 digits: same losses to 1e-2 + 1 %, and each image moved the same way (cosine > 0.9)."""
    torch.testing.assert_close(fast.loss, exact.loss, atol=1e-2, rtol=1e-2)
    moved_fast, moved_exact = (fast.x - x0).flatten(1), (exact.x - x0).flatten(1)
    assert (torch.cosine_similarity(moved_fast, moved_exact, dim=1) > 0.9).all()
    assert fast.x.dtype == torch.float32  # the image itself is accumulated in float32


def test_bf16_autocast_result_is_close_to_float32(tiny_model, images, monkeypatch):
    exact = _run(tiny_model, images)
    monkeypatch.setattr(engine, "AUTOCAST_DEVICE_TYPES", ("cuda", "cpu"))
    seen = []
    fast = _run(tiny_model, images, objective=_dtype_recorder(seen))
    assert set(seen) == {torch.bfloat16}
    _assert_close_to_float32(fast, exact, images)
    seen.clear()
    _run(tiny_model, images, PGDConfig(eps=2.0, step_size=0.5, steps=1, autocast=False), _dtype_recorder(seen))
    assert set(seen) == {torch.float32}  # cfg.autocast=False turns it off


def test_channels_last_weights_give_the_contiguous_result(images):
    model = make_tiny_model()
    assert model.net.stem.weight.is_contiguous(memory_format=torch.channels_last)  # frozen models are NHWC
    contiguous = make_tiny_model()
    contiguous.net.to(memory_format=torch.contiguous_format)
    assert contiguous.net.stem.weight.is_contiguous()
    fast, exact = _run(model, images), _run(contiguous, images)
    torch.testing.assert_close(fast.x, exact.x, atol=1e-5, rtol=0)
    torch.testing.assert_close(fast.loss, exact.loss, atol=1e-5, rtol=1e-5)
    lbfgs = PGDConfig(constraint="none", step_size=0.1, steps=2, optimizer="lbfgs")  # L-BFGS needs a flat gradient
    torch.testing.assert_close(_run(model, images, lbfgs).x, _run(contiguous, images, lbfgs).x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cfg", [CFG, PGDConfig(constraint="linf", eps=0.1, step_size=0.02, steps=3),
                                 PGDConfig(constraint="none", step_size=0.01, steps=2, optimizer="adam")])
def test_no_parameter_gradients_are_allocated(tiny_model, images, cfg):
    _run(tiny_model, images, cfg)
    assert all(p.grad is None and not p.requires_grad for p in tiny_model.parameters())


def test_cuda_graph_flag_is_ignored_on_cpu(tiny_model, images):
    eager = _run(tiny_model, images)
    flagged = _run(tiny_model, images, PGDConfig(eps=2.0, step_size=0.5, steps=3, cuda_graph=True))
    assert torch.equal(eager.x, flagged.x) and eager.losses == flagged.losses


@needs_cuda
@pytest.mark.parametrize("autocast", [False, True])
def test_cuda_graph_path_equals_eager_path(images, autocast):
    model = make_tiny_model().cuda()
    x = images.cuda()
    calls = []
    eager = _run(model, x, PGDConfig(eps=2.0, step_size=0.5, steps=4, autocast=autocast))
    graphed = _run(model, x, PGDConfig(eps=2.0, step_size=0.5, steps=4, autocast=autocast, cuda_graph=True),
                   on_step=lambda step, xi, loss: calls.append((step, xi.clone(), loss.clone())))
    tol = 1e-2 if autocast else 1e-4  # same kernels either way; the margin covers cuDNN rounding only
    torch.testing.assert_close(graphed.x, eager.x, atol=tol, rtol=0)
    torch.testing.assert_close(graphed.loss, eager.loss, atol=tol, rtol=0)
    assert [c[0] for c in calls] == [1, 2, 3, 4]
    assert not torch.equal(calls[0][1], calls[-1][1])  # on_step sees each step's iterate, not the static buffer


@needs_cuda
def test_cuda_bf16_result_is_close_to_float32(images):
    model, x = make_tiny_model().cuda(), images.cuda()
    exact = _run(model, x, PGDConfig(eps=2.0, step_size=0.5, steps=3, autocast=False))
    fast = _run(model, x)
    assert model.net.stem.weight.is_contiguous(memory_format=torch.channels_last)
    _assert_close_to_float32(fast, exact, x)


@needs_cuda
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_no_host_device_sync_inside_the_loop_on_cuda(images, cuda_graph):
    model, x = make_tiny_model().cuda(), images.cuda()
    cfg = PGDConfig(eps=2.0, step_size=0.5, steps=4, cuda_graph=cuda_graph)

    def strict_after_first_step(step, xi, loss):  # steps 2..4 run with syncs turned into errors
        torch.cuda.set_sync_debug_mode("error" if step < cfg.steps else "default")
    try:
        _run(model, x, cfg, on_step=strict_after_first_step)
    finally:
        torch.cuda.set_sync_debug_mode("default")
