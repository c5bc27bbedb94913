"""Every synthesis task for a few PGD steps on the tiny model: outputs, recipes, determinism, descent, bad input."""
import json

import numpy as np
import pytest
import torch

import robust_synth as rs
from robust_synth.tasks.common import choose_preset, Preset
from robust_synth.tasks.inpainting import fill_smooth, fill_with_mean
from robust_synth.tasks.super_resolution import START_ROUNDS, back_project, downsample, upsample

STEPS = 3
RECIPE_KEYS = {"task", "model", "params", "seed", "weights_sha256", "version", "elapsed_s", "metrics", "device",
               "cancelled"}


def _photo(seed=0, h=40, w=48):
    """A smooth random colour image (H, W, 3) uint8, a bit larger than the model input (tests the crop)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, 5, 6, generator=g)
    x = torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0]
    return (x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def _mask(h=40, w=48):
    m = np.zeros((h, w), dtype=bool)
    m[12:26, 16:32] = True
    return m


# task name -> (function, required inputs, expected number of images)
CASES = {
    "generate": (rs.generate, lambda: {"target": ["cat", 1], "n": 2}, 4),
    "inpaint": (rs.inpaint, lambda: {"image": _photo(), "mask": _mask()}, 1),
    "super_resolve": (rs.super_resolve, lambda: {"image": _photo()[:8, :8], "reference": _photo()[:32, :32]}, 1),
    "translate": (rs.translate, lambda: {"image": _photo(), "target": "dog"}, 1),
    "sketch_to_image": (rs.sketch_to_image, lambda: {"image": _photo(), "target": 7}, 1),
    "paint_features": (rs.paint_features, lambda: {"image": _photo(), "mask": _mask(), "feature": 3}, 1),
    "invert": (rs.invert, lambda: {"image": _photo()}, 1),
    "interpolate": (rs.interpolate, lambda: {"image_a": _photo(0), "image_b": _photo(1), "frames": 3}, 3),
    "visualize_feature": (rs.visualize_feature, lambda: {"feature": 2}, 1),
}


def _run(name, model, **kwargs):
    fn, inputs, _ = CASES[name]
    return fn(model, **{**inputs(), "steps": STEPS, **kwargs})


@pytest.mark.parametrize("name", CASES)
def test_default_steps_table_matches_what_each_task_runs(name, tiny_model):
    def stop_at_once(step, total, x):
        raise rs.Cancelled()
    fn, inputs, _ = CASES[name]
    _, recipe = fn(tiny_model, **inputs(), callback=stop_at_once)
    assert recipe["cancelled"] and recipe["params"]["steps"] == rs.tasks.default_steps(name, 32)


@pytest.mark.parametrize("name", CASES)
def test_task_outputs_recipe_and_descent(name, tiny_model):
    images, recipe, x = _run(name, tiny_model, return_tensors=True)
    count = CASES[name][2]
    assert len(images) == count and all(im.size == (32, 32) and im.mode == "RGB" for im in images)
    assert x.shape == (count, 3, 32, 32) and torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1
    assert RECIPE_KEYS <= set(recipe) and recipe["task"] == name and recipe["model"] == "tiny"
    assert recipe["params"]["steps"] == STEPS and recipe["params"]["eps"] > 0 and recipe["seed"] == 0
    assert recipe["metrics"]["steps_run"] == STEPS and recipe["cancelled"] is False
    assert json.loads(json.dumps(recipe)) == recipe
    assert recipe["metrics"]["loss_end"] < recipe["metrics"]["loss_start"]


@pytest.mark.parametrize("name", ["generate", "invert", "inpaint"])
def test_same_seed_same_images(name, tiny_model):
    a = _run(name, tiny_model, seed=7, return_tensors=True)[2]
    b = _run(name, tiny_model, seed=7, return_tensors=True)[2]
    assert torch.equal(a, b)


def test_different_seeds_differ(tiny_model):
    a = _run("generate", tiny_model, seed=1, return_tensors=True)[2]
    b = _run("generate", tiny_model, seed=2, return_tensors=True)[2]
    assert not torch.equal(a, b)


def test_generate_groups_by_class_and_names_targets(tiny_model):
    _, recipe = rs.generate(tiny_model, ["Cat", "3", 9], n=1, steps=1)
    assert recipe["params"]["target"] == ["cat", "cat", "truck"] and recipe["params"]["target_index"] == [3, 3, 9]


def test_callback_sees_every_step_and_cancel_returns_best_so_far(tiny_model):
    seen = []
    _run("translate", tiny_model, callback=lambda step, total, x: seen.append((step, total, tuple(x.shape))))
    assert seen == [(s, STEPS, (1, 3, 32, 32)) for s in range(1, STEPS + 1)]

    def stop(step, total, x):
        raise rs.Cancelled()
    images, recipe = _run("generate", tiny_model, callback=stop)
    assert recipe["cancelled"] is True and recipe["metrics"]["steps_run"] == 1 and len(images) == 4


def test_defaults_follow_the_paper_and_scale_with_side():
    paper = Preset(40.0, 1.0, 60)
    assert choose_preset(224, paper)[0] == paper
    assert choose_preset(32, paper, Preset(30.0, 0.5, 60))[0] == Preset(30.0, 0.5, 60)
    scaled = choose_preset(32, paper)[0]
    assert scaled.eps == pytest.approx(40 * 32 / 224) and scaled.steps == 60


def test_default_settings_land_in_the_recipe(tiny_model):
    _, recipe = rs.translate(tiny_model, _photo(), "dog", steps=1)
    assert recipe["params"]["eps"] == pytest.approx(80 * 32 / 224) and "scaled" in recipe["params"]["defaults"]


def test_inpaint_prefills_hole_with_known_mean():
    x = torch.rand(1, 3, 8, 8)
    m = torch.zeros(1, 1, 8, 8)
    m[..., 2:4, 2:4] = 1
    filled = fill_with_mean(x, m)
    known_mean = x[0, :, m[0, 0] == 0].mean(1)
    assert torch.allclose(filled[0, :, 2, 3], known_mean) and torch.equal(filled[0, :, 0, 0], x[0, :, 0, 0])


def test_super_resolve_reports_psnr_against_reference(tiny_model):
    """Checked against scikit-image's PSNR of the returned image and of a bicubic upsampling, each against the
    reference: catches a PSNR against the wrong image (the input, the start), on a 0-255 scale, or off by a factor."""
    from PIL import Image
    from skimage.metrics import peak_signal_noise_ratio
    reference = _photo(3, 32, 32)
    low = np.array(Image.fromarray(reference).resize((8, 8), Image.Resampling.BICUBIC))
    _, recipe, x = rs.super_resolve(tiny_model, low, factor=4, reference=reference, steps=STEPS, return_tensors=True)
    metrics, truth = recipe["metrics"], reference.astype(np.float64) / 255
    ours = peak_signal_noise_ratio(truth, x[0].permute(1, 2, 0).double().numpy(), data_range=1.0)
    bicubic = upsample(torch.from_numpy(low).permute(2, 0, 1)[None].float() / 255, 32, "bicubic")
    assert metrics["psnr_ours"] == pytest.approx(ours, abs=1e-3)
    assert metrics["psnr_bicubic"] == pytest.approx(
        peak_signal_noise_ratio(truth, bicubic[0].permute(1, 2, 0).double().numpy(), data_range=1.0), abs=1e-3)
    assert 15 < metrics["psnr_bicubic"] < 60 and metrics["psnr_ours"] != metrics["psnr_bicubic"]
    assert recipe["params"]["low_res_side"] == 8


@pytest.mark.parametrize("side", [32, 224])
def test_smooth_fill_recovers_a_linear_ramp_and_keeps_known_pixels(side):
    ramp = torch.linspace(0.1, 0.9, side)
    x = (ramp[None, :] * 0.5 + ramp[:, None] * 0.5).expand(1, 3, side, side).clone()
    m = torch.zeros(1, 1, side, side)
    m[..., side // 4:side * 3 // 4, side // 3:side * 2 // 3] = 1
    hole = m[0, 0].bool()
    smooth, mean = fill_smooth(x, m), fill_with_mean(x, m)
    assert torch.equal(smooth[..., ~hole], x[..., ~hole])
    assert (smooth - x)[..., hole].abs().max() < 0.03 < (mean - x)[..., hole].abs().max()


def test_inpaint_rejects_unknown_start_fill(tiny_model):
    with pytest.raises(ValueError, match="start_fill must be one of"):
        rs.inpaint(tiny_model, _photo(), _mask(), start_fill="telea", steps=1)


def test_back_projection_restores_the_low_resolution_image():
    smooth = torch.nn.functional.interpolate(torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0)),
                                             size=32, mode="bilinear", align_corners=False)
    low = downsample(smooth, 8)
    x = upsample(low, 32, "nearest")
    before = (downsample(x, 8) - low).abs().max()
    after = (downsample(back_project(x, low, START_ROUNDS), 8) - low).abs().max()
    assert after < 0.05 * before


@pytest.mark.parametrize("consistent", [True, False])
def test_super_resolve_consistency_keeps_the_input(consistent, tiny_model):
    low_img = _photo()[:8, :8]
    _, recipe, x = _run("super_resolve", tiny_model, consistent=consistent, eps=3.0, step_size=1.0, return_tensors=True)
    low = torch.from_numpy(low_img).permute(2, 0, 1)[None].float() / 255
    error = (downsample(x, 8) - low).abs().max()
    assert recipe["params"]["consistent"] is consistent and "psnr_start" in recipe["metrics"]
    assert (error < 0.02) if consistent else (error > 0.02)


def test_super_resolve_rejects_non_boolean_consistent(tiny_model):
    with pytest.raises(ValueError, match="consistent must be true or false"):
        rs.super_resolve(tiny_model, _photo(), consistent="yes", steps=1)


@pytest.mark.parametrize("factor", [1, 9, 2.5, True, "4"])
def test_super_resolve_rejects_bad_factor(factor, tiny_model):
    with pytest.raises(ValueError, match="factor must be an integer between 2 and 8"):
        rs.super_resolve(tiny_model, _photo(), factor=factor, steps=1)


def test_super_resolve_rejects_bad_method(tiny_model):
    with pytest.raises(ValueError, match="method must be one of"):
        rs.super_resolve(tiny_model, _photo(), method="lanczos", steps=1)


@pytest.mark.parametrize("mask, match", [
    (np.zeros((40, 48), dtype=bool), "empty"),
    (np.ones((40, 48), dtype=bool), "whole image"),
    (np.ones((10, 40), dtype=bool), "aspect ratio|same size|is 40x10"),
])
def test_masks_are_validated(mask, match, tiny_model):
    for fn, extra in ((rs.inpaint, {}), (rs.paint_features, {"feature": 0})):
        with pytest.raises(ValueError, match=match):
            fn(tiny_model, _photo(), mask, steps=1, **extra)


def test_tiny_hole_that_vanishes_at_model_size_is_rejected(tiny_model):
    mask = np.zeros((400, 480), dtype=bool)
    mask[200, 240] = True
    with pytest.raises(ValueError, match="empty at the model's 32x32"):
        rs.inpaint(tiny_model, np.zeros((400, 480, 3), np.uint8), mask, steps=1)


@pytest.mark.parametrize("target, match", [("kat", "did you mean 'cat'"), (10, "out of range"),
                                           ("zebra", "unknown class 'zebra'"), ([], "at least one class"),
                                           (2.0, "class name or index")])
def test_unknown_class_is_a_clear_error(target, match, tiny_model):
    with pytest.raises(ValueError, match=match):
        rs.generate(tiny_model, target, steps=1)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        rs.generate("nope", "cat", steps=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "steps must be an integer between 1 and 10000, got 0"),
    ({"steps": 10**6}, "steps must be an integer between 1 and 10000, got 1000000"),
    ({"eps": -1.0}, "eps must be a number greater than 0 and at most 1000, got -1.0"),
    ({"eps": float("nan")}, "eps must be a number greater than 0 and at most 1000, got nan"),
    ({"step_size": 1e9}, "step_size must be a number greater than 0 and at most 100, got 1000000000.0"),
    ({"seed": -1}, "seed must be an integer between 0 and 4294967295, got -1"),
    ({"seed": None}, "seed must be an integer between 0 and .*, got None"),
    ({"n": 0}, "n must be an integer between 1 and 16, got 0"),
    ({"n": 8}, "n × classes = 8 × 3 = 24 images is over the limit of 16 per request"),
])
def test_absurd_parameters_are_rejected(kwargs, match, tiny_model):
    with pytest.raises(ValueError, match=match):
        rs.generate(tiny_model, ["cat", "dog", "ship"], **{"steps": 1, **kwargs})


@pytest.mark.parametrize("feature", [-1, 16, 2.0, "3"])
def test_feature_index_is_validated(feature, tiny_model):
    with pytest.raises(ValueError, match="feature must be an integer index of R\\(x\\) between 0 and 15"):
        rs.visualize_feature(tiny_model, feature, steps=1)


def test_interpolation_frames_are_validated(tiny_model):
    with pytest.raises(ValueError, match="frames"):
        rs.interpolate(tiny_model, _photo(0), _photo(1), frames=1, steps=1)


def test_interpolation_endpoints_are_the_inputs(tiny_model):
    a, b = _photo(0, 32, 32), _photo(1, 32, 32)
    x = rs.interpolate(tiny_model, a, b, frames=3, steps=2, return_tensors=True)[2]
    assert (x[0] * 255 - torch.from_numpy(a).permute(2, 0, 1)).abs().max() < 1
    assert (x[-1] * 255 - torch.from_numpy(b).permute(2, 0, 1)).abs().max() < 1


def test_top_features_rank_class_weight_contrast(tiny_model):
    top = rs.top_features(tiny_model, "cat", k=4)
    weight = tiny_model.net.fc.weight.detach()
    contrast = weight[3] - weight.mean(0)
    assert [t["index"] for t in top] == contrast.topk(4).indices.tolist()
    assert [t["score"] for t in top] == sorted((t["score"] for t in top), reverse=True)
    with pytest.raises(ValueError, match="k must be an integer between 1 and 16"):
        rs.top_features(tiny_model, "cat", k=0)


def test_paint_features_raises_the_feature_inside_the_mask_only(tiny_model):
    photo = _photo(0, 32, 32)
    mask = _mask(32, 32)
    _, recipe, x = rs.paint_features(tiny_model, photo, mask, feature=3, steps=5, return_tensors=True)
    assert recipe["metrics"]["feature_after"] > recipe["metrics"]["feature_before"]
    outside = torch.from_numpy(~mask)
    source = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    assert torch.allclose(x[0][:, outside], source[:, outside], atol=1e-6)
    assert not torch.allclose(x[0][:, ~outside], source[:, ~outside], atol=1e-3)


def test_out_of_memory_gives_a_clear_error_and_the_next_request_works(tiny_model, monkeypatch):
    import robust_synth.tasks.common as common
    real_pgd = common.pgd

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(common, "pgd", exhausted)
    with pytest.raises(RuntimeError, match="out of memory for 2 image"):
        rs.generate(tiny_model, "cat", n=2, steps=2)
    monkeypatch.setattr(common, "pgd", real_pgd)
    images, recipe = rs.generate(tiny_model, "cat", n=2, steps=2)
    assert len(images) == 2 and recipe["metrics"]["steps_run"] == 2
