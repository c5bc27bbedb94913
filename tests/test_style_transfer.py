"""Style transfer: Gram formula, loss decrease, layer presets, colour preservation, pyramid, bad inputs, determinism."""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from skimage.color import rgb2yiq

from conftest import make_tiny_model
from robust_synth import Cancelled, objectives, task_registry
from robust_synth.architectures import ARCHITECTURES, build
from robust_synth.networks import vgg_layer_nodes
from robust_synth.features import RobustModel
from robust_synth.models import REGISTRY
from robust_synth.style import preset_for, with_avg_pool
from robust_synth.tasks.style_settings import INPUTS, Colour, Layers, Optimiser, Resolution, StyleSettings, Weights
from robust_synth.tasks.style_transfer import StyleContentNet, build_losses, measure, style_transfer
from robust_synth.image import to_tensor


def _content(width=48, height=40):
    """A smooth bluish gradient with a bright disc: structure for the content term."""
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    img = np.stack([0.2 + 0.3 * xx, 0.3 + 0.3 * yy, 0.7 - 0.2 * xx], axis=2)
    img[(xx - 0.5) ** 2 + (yy - 0.4) ** 2 < 0.04] = 0.9
    return np.clip(img, 0, 1)


def _style(size=40):
    """Red and yellow diagonal stripes: a strongly coloured texture."""
    yy, xx = np.mgrid[0:size, 0:size]
    stripes = ((xx + yy) // 4) % 2
    return np.stack([0.9 * np.ones_like(xx), 0.8 * stripes, 0.1 * stripes], axis=2).astype(np.float64)


class TinyVGG(nn.Module):
    """Five VGG-style blocks (max-pooled) with torchvision's features/classifier layout, a few channels each."""

    def __init__(self):
        super().__init__()
        layers, c_in = [], 3
        for block, (width, convs) in enumerate([(4, 1), (4, 1), (8, 2), (8, 2), (8, 1)]):
            for _ in range(convs):
                layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.ReLU()]
                c_in = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(), nn.Linear(8, 8), nn.ReLU(),
                                        nn.Dropout(), nn.Linear(8, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def _tiny_vgg():
    torch.manual_seed(0)
    net = TinyVGG()
    return RobustModel(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), vgg_layer_nodes(net), name="tiny-vgg",
                       class_names=[str(i) for i in range(10)], input_size=32)


def test_gram_matrix_matches_formula():
    feats = torch.randn(2, 3, 4, 5)
    expected = torch.stack([f.reshape(3, -1) @ f.reshape(3, -1).T for f in feats]) / (3 * 4 * 5)
    torch.testing.assert_close(objectives.gram_matrix(feats), expected)


def test_style_loss_decreases_and_recipe_is_complete(tiny_model):
    content, style = _content(), _style()
    net = StyleContentNet(tiny_model, tiny_model)
    preset = preset_for(tiny_model)
    content_x = to_tensor(content)
    style_obj, content_obj = build_losses(net, content_x, [to_tensor(style)], Weights().resolved(1, preset.style),
                                          Layers(preset.style, preset.content))
    before = measure(net, content_x, style_obj, content_obj)
    images, recipe = style_transfer(content, style, tiny_model, size=48, steps=12)
    assert recipe["metrics"]["style_loss"] < 0.7 * before["style_loss"]
    assert before["content_loss"] == 0 < recipe["metrics"]["content_loss"]
    assert images[0].size == (48, 40)
    json.dumps(recipe)
    assert recipe["task"] == "style_transfer" and recipe["params"]["style_layers"] == list(preset.style)
    assert recipe["params"]["content_layer"] == preset.content == "layer2" and recipe["params"]["steps"] == 12
    assert {"weights_sha256", "version", "elapsed_s", "device", "seed"} <= set(recipe)


@pytest.mark.parametrize("arch", sorted(name for name, arch in ARCHITECTURES.items() if arch.style))
def test_presets_name_layers_of_each_architecture(arch):
    with torch.device("meta"):  # structure only: no memory, no weights
        net, nodes = build(arch, 10)
    modules = dict(net.named_modules())
    preset = ARCHITECTURES[arch].style
    for layer in (*preset.style, preset.content):
        assert layer in nodes and nodes[layer] in modules


def test_every_registered_model_has_a_preset():
    assert all(ARCHITECTURES[spec.arch].style for spec in REGISTRY.values())


def test_avg_pool_copy_shares_weights_and_leaves_the_model_alone():
    model = _tiny_vgg()
    x = torch.rand(1, 3, 32, 32)
    before = model(x, layers=["relu5_1"])["relu5_1"]
    copy = with_avg_pool(model)
    assert not any(isinstance(m, nn.MaxPool2d) for m in copy.net.features)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.net.features) == 5
    assert copy.net.features[0].weight is model.net.features[0].weight
    assert with_avg_pool(model) is copy and with_avg_pool(make_tiny_model()).net.layer1 is not None
    torch.testing.assert_close(model(x, layers=["relu5_1"])["relu5_1"], before)
    images, recipe = style_transfer(_content(), _style(), model, size=48, steps=2)
    assert recipe["params"]["style_layers"] == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert recipe["params"]["content_layer"] == "relu4_2"
    with pytest.raises(ValueError, match="at least 32 px"):  # five pools need 32 px
        style_transfer(_content(), _style(), model, size=32, steps=1)


def _chrominance(img):
    return rgb2yiq(np.asarray(img, dtype=np.float64) / 255)[..., 1:]


def test_preserve_colors_keeps_the_content_chrominance(tiny_model):
    content, style = _content(), _style()
    adam = {"size": 48, "steps": 5, "optimizer": "adam", "step_size": 0.05}
    kept, _ = style_transfer(content, style, tiny_model, preserve_colors=True, **adam)
    free, _ = style_transfer(content, style, tiny_model, **adam)
    target = _chrominance(np.round(content * 255).astype(np.uint8))
    assert np.abs(_chrominance(kept[0]) - target).mean() < 0.01
    assert np.abs(_chrominance(free[0]) - target).mean() > 0.02


def test_match_histogram_and_blended_styles_run(tiny_model):
    images, recipe = style_transfer(_content(), [_style(), _style(32)[::-1]], tiny_model, size=32, steps=2,
                                    style_weights=[3, 1], match_histogram=True, optimizer="adam")
    assert recipe["params"]["style_weights"] == [0.75, 0.25] and images[0].size == (32, 27)
    recorded = {name: recipe["params"][name] for name in INPUTS}  # every setting, under its input's name
    again, replayed = style_transfer(_content(), [_style(), _style(32)[::-1]], tiny_model, steps=2, **recorded)
    assert {name: replayed["params"][name] for name in INPUTS} == recorded
    assert np.array_equal(np.asarray(again[0]), np.asarray(images[0]))


def test_the_groups_hold_the_defaults_and_map_every_hyper_parameter():
    """Catches a default written twice that drifts, or a declared input the grouping adapter leaves out."""
    task = task_registry.get("style_transfer")
    networks_and_pictures = {"content_image", "style_image", "model", "content_model"}
    assert set(INPUTS) == {i.name for i in task.inputs} - networks_and_pictures
    assert StyleSettings().as_inputs() == {name: task.input(name).default for name in INPUTS}
    settings = StyleSettings.from_inputs(style_weight=2, preserve_colors=True, pyramid=[32, 64], init="noise")
    assert settings.weights.style == 2.0 and settings.colour.preserve_colors and settings.optimiser.init == "noise"
    assert settings.resolution == Resolution(pyramid=(32, 64)) and settings.layers == Layers()
    with pytest.raises(TypeError, match="unknown style-transfer settings"):
        StyleSettings.from_inputs(colour=True)


@pytest.mark.parametrize("make, message", [
    (lambda: Weights(tv=-1), "tv_weight must be a finite non-negative"),
    (lambda: Weights(content=float("nan")), "content_weight must be a finite"),
    (lambda: Weights(style=0), "style_weight must be positive"),
    (lambda: Weights(blend=[1, -1]), "style_weights must be finite"),
    (lambda: Weights(per_layer={"a": 0}), "layer_weights must be finite"),
    (lambda: Layers(style=[]), "non-empty list"),
    (lambda: Layers(content=3), "content_layer must be a layer name"),
    (lambda: Colour(preserve_colors="no"), "preserve_colors must be true or false"),
    (lambda: Resolution(style_scale=0), "style_scale"),
    (lambda: Optimiser(init="zeros"), "init must be"),
])
def test_each_group_checks_its_own_values(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_pyramid_gives_the_requested_size_and_counts_steps(tiny_model):
    seen = []
    images, recipe = style_transfer(_content(80, 60), _style(), tiny_model, pyramid=[32, 64], steps=2,
                                    callback=lambda step, total, x: seen.append((step, total, tuple(x.shape))))
    assert images[0].size == (64, 48) and recipe["params"]["pyramid"] == [32, 64]
    assert [s[:2] for s in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert seen[0][2] == (1, 3, 24, 32) and seen[-1][2] == (1, 3, 48, 64)


def test_cancel_returns_the_best_so_far(tiny_model):
    def stop(step, total, x):
        if step == 2:
            raise Cancelled
    images, recipe = style_transfer(_content(), _style(), tiny_model, size=32, steps=5, pyramid=[20, 32],
                                    callback=stop)
    assert recipe["cancelled"] and recipe["output_size"] == [20, 17] and images[0].size == (20, 17)


def test_same_seed_same_image(tiny_model):
    def run(seed):
        return np.asarray(style_transfer(_content(), _style(), tiny_model, size=32, steps=3, init="noise",
                                         seed=seed)[0][0])

    assert np.array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


@pytest.mark.parametrize("kwargs, message", [
    ({"content_image": np.zeros((8, 8, 3))}, "at least 16 px"),
    ({"style_image": []}, "empty list"),
    ({"style_image": [_style(), _style()], "style_weights": [0, 0]}, "positive sum"),
    ({"style_image": [_style(), _style()], "style_weights": [1]}, "one weight per item"),
    ({"size": 5000}, "side must be"),
    ({"size": 64, "style_scale": 40}, "style_scale"),
    ({"style_layers": ["relu9_9"]}, "unknown style_layers"),
    ({"style_layers": []}, "non-empty list"),
    ({"layer_weights": {"relu1_1": 1.0}}, "not style layers"),
    ({"seed": None}, "seed must be"),
    ({"optimizer": "sgd"}, "optimizer must be"),
    ({"pyramid": [64, 32], "size": 32}, "must increase"),
    ({"style_weight": 0}, "style_weight must be positive"),
])
def test_bad_inputs_give_clear_errors(tiny_model, kwargs, message):
    args = {"content_image": _content(), "style_image": _style(), "size": 32, "steps": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        style_transfer(model=tiny_model, **args)


def test_separate_content_network(tiny_model):
    other = make_tiny_model(seed=1)
    other.name = "tiny-b"
    _, recipe = style_transfer(_content(), _style(), tiny_model, content_model=other, size=32, steps=2)
    assert recipe["model"] == "tiny" and recipe["params"]["content_model"] == "tiny-b"
    assert recipe["params"]["content_weights_sha256"] == other.weights_sha256
    json.dumps(recipe)


def test_cli_parses_lists_and_numbers():
    from robust_synth.__main__ import build_parser
    args = build_parser().parse_args(["style_transfer", "--model", "m", "--out", "o", "--content-image", "c.png",
                                      "--style-image", "a.png", "b.png", "--style-weights", "2", "1",
                                      "--pyramid", "256", "512", "--preserve-colors", "true"])
    assert args.style_image == ["a.png", "b.png"] and args.style_weights == [2.0, 1.0]
    assert args.pyramid == [256, 512] and args.preserve_colors is True and args.size is None


def test_the_gpu_estimate_scales_with_the_pixels_style_transfer_processes():
    """Catches the ZeroGPU estimate charging a 32-px model's side for a run that works at 256 px or more."""
    from robust_synth.app import gpu
    from robust_synth.architectures import get_architecture
    from robust_synth.models import get_spec
    spec = get_spec("cifar10-resnet-l2-0.5")
    default = gpu.work_seconds("style_transfer", {"size": ""}, spec)  # max(32, 256) px, 100 L-BFGS steps
    assert default == pytest.approx(100 * 256 ** 2 * get_architecture(spec.arch).cost / gpu.PIXEL_STEPS_PER_SECOND)
    assert gpu.work_seconds("style_transfer", {"size": "512"}, spec) == pytest.approx(4 * default)
    assert gpu.work_seconds("style_transfer", {"size": "1024"}, spec) == pytest.approx(20 * default)  # 512 + 1024
