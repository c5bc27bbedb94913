"""RobustBench's ImageNet models from files in the published formats, offline: logits against the source networks."""
import pytest
import timm
import torch
import torch.nn as nn

from robust_synth import checkpoints, load_model, models
from robust_synth.app import gpu, pickers
from robust_synth.checkpoints import CheckpointFormatError, WeightsUnavailableError
from robust_synth.style import preset_for
from robust_synth.zoo.robustbench import conv_stem

IMAGE = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
NAMES = ("imagenet-convnext-t-convstem-linf-4", "imagenet-convnext-b-convstem-linf-4", "imagenet-xcit-s12-linf-4")


class SourceLayerNorm(nn.Module):
    """convstem_models.LayerNorm, channels_first, as RobustBench writes it (mean and variance over channels)."""

    def __init__(self, width, eps=1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.randn(width)), nn.Parameter(torch.randn(width)), eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * (x - u) / torch.sqrt(s + self.eps) + self.bias[:, None, None]


class SourceStem(nn.Module):
    """ConvBlock1 (ConvNeXt-T: 48, 96) / ConvBlock3 (ConvNeXt-B: 64, 96, 128; the last conv stride 1)."""

    def __init__(self, widths, strides):
        super().__init__()
        layers, c_in = [], 3
        for width, stride in zip(widths, strides):
            layers += [nn.Conv2d(c_in, width, 3, stride, 1), SourceLayerNorm(width), nn.GELU()]
            c_in = width
        self.stem = nn.Sequential(*layers)

    def forward(self, x):
        return self.stem(x)


def source_network(name):
    """The network as RobustBench's get_convstem_models / timm's registered XCiT build it (random weights)."""
    torch.manual_seed(1)
    if name == NAMES[2]:
        return timm.create_model("xcit_small_12_p16_224", pretrained=False).eval()
    variant, widths, strides = (("convnext_tiny", (48, 96), (2, 2)) if name == NAMES[0]
                                else ("convnext_base", (64, 96, 128), (2, 2, 1)))
    net = timm.create_model(variant, pretrained=False)
    net.stem = SourceStem(widths, strides)
    return net.eval()


def official_xcit(state):
    """The XCiT release as its authors' code keys it: pos_embeder., class attention's q, k, v in one qkv, in 'model'."""
    state = {k.replace("pos_embed.", "pos_embeder."): v for k, v in state.items()}
    for i in range(2):
        for kind in ("weight", "bias"):
            parts = [state.pop(f"cls_attn_blocks.{i}.attn.{p}.{kind}") for p in "qkv"]
            state[f"cls_attn_blocks.{i}.attn.qkv.{kind}"] = torch.cat(parts)
    return {"model": state, "epoch": 99}


def publish(spec, net):
    """Write the file where a download leaves it, in the publisher's format."""
    state = net.state_dict()
    held = official_xcit(state) if spec.format == "robustbench-timm-xcit" else {
        "state_dict": {f"module.{k}": v for k, v in state.items()}}  # Singh et al.: DataParallel's keys
    path = checkpoints.url_file(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(held, path)
    return path


@pytest.mark.parametrize("name", NAMES)
def test_a_published_file_loads_offline_and_matches_the_source_network(caches, name):
    spec = models.get_spec(name)
    net = source_network(name)
    publish(spec, net)
    with torch.no_grad():
        expected = net(IMAGE)  # RobustBench adds no normaliser: [0,1] pixels go straight in
        model = load_model(name)
        out = model(IMAGE, layers=("rep", *spec_style(model)))
    torch.testing.assert_close(out.logits, expected, rtol=1e-4, atol=1e-4)
    assert out["rep"].dim() == 2 and all(out[layer].dim() in (3, 4) for layer in spec_style(model))
    assert model.weights_sha256 == models.file_sha256(checkpoints.url_file(spec))


def spec_style(model):
    return preset_for(model).style


def test_the_family_is_declared_with_its_published_numbers_and_reaches_the_app():
    for name, clean, autoattack in zip(NAMES, (0.7272, 0.7590, 0.7234), (0.4946, 0.5614, 0.4178)):
        spec = models.get_spec(name)
        assert (spec.clean_accuracy, spec.autoattack_accuracy) == (clean, autoattack)
        assert spec.robustness == {"norm": "linf", "eps": 4 / 255} and spec.eps_label == "4/255"
        assert "MIT" in spec.license and "arXiv:" in spec.citation and spec.sha256 is None  # no published checksum
        assert [level["name"] for level in models.ladder(name)] == [name]  # its own architecture, one level
        assert gpu.work_seconds("generate", {"n": "1", "steps": "10"}, spec) > 0
    cards = pickers.family_cards()
    assert "Singh et al. 2023 ConvNeXt-T + ConvStem" in cards and "AutoAttack 49.46%" in cards
    assert "Debenedetti et al. 2022 XCiT-S12" in cards and "AutoAttack 41.78%" in cards


def test_offline_without_the_file_says_so_in_one_sentence(caches):
    with pytest.raises(WeightsUnavailableError, match="one-time download .* cannot be reached now"):
        load_model(NAMES[0])


def test_a_file_of_another_architecture_is_refused_by_name(caches):
    spec = models.get_spec(NAMES[0])
    path = checkpoints.url_file(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"module.fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(CheckpointFormatError, match="does not match architecture convnext_t_convstem"):
        load_model(NAMES[0])


def test_the_layer_norm_of_the_stem_is_the_source_formula():
    """Catches timm's LayerNorm2d standing in for convstem_models.LayerNorm with another eps or axis."""
    torch.manual_seed(2)
    ours, source = conv_stem((8,), (2,)), SourceStem((8,), (2,))
    source.load_state_dict({f"stem.{k}": v for k, v in ours.state_dict().items()})
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(ours(x), source(x), rtol=1e-5, atol=1e-5)
