"""Every registered architecture builds, and its layer-name map reaches real layers of the right shape (meta: free)."""
import pytest
import torch
import torch.nn as nn

from robust_synth import RobustModel, models
from robust_synth.architectures import build
from robust_synth.checkpoint_formats import get_format

REGISTERED = sorted({(spec.arch, spec.num_classes, spec.input_size) for spec in models.REGISTRY.values()})


def stage_names(nodes: dict) -> list[str]:
    return [n for n in nodes if n.startswith(("layer", "stage"))]


@pytest.mark.parametrize("arch, num_classes, size", REGISTERED, ids=[arch for arch, _, _ in REGISTERED])
def test_layer_maps_name_real_layers_in_one_forward(arch, num_classes, size):
    with torch.device("meta"):  # shapes only: no memory, no init, no compute
        net, nodes = build(arch, num_classes)
    out = RobustModel(net, (0.5,) * 3, (0.5,) * 3, nodes).to("meta")(torch.empty(2, 3, size, size, device="meta"),
                                                                   layers=list(nodes))
    assert out.logits.shape == (2, num_classes)
    # rep: the features the classifier pools and reads, one per channel of its last linear layer (feature painting
    # reads those weights): a vector, or for the CIFAR ResNet the map before its max-pool
    assert out["rep"].dim() in (2, 4) and out["rep"].shape[0] == 2
    head = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    assert head.in_features == out["rep"].shape[1] and head.out_features == num_classes
    sides = [out[name].shape[-1] for name in stage_names(nodes)]
    tokens = stage_names(nodes) and all(out[name].dim() == 3 for name in stage_names(nodes))
    if tokens:  # a vision transformer's (B, N, C) tokens
        assert len(sides) == 4 and len({out[name].shape for name in stage_names(nodes)}) == 1
    elif "vgg" in arch:
        assert {f"relu{b}_1" for b in range(1, 6)} <= set(nodes)
    elif arch.startswith("cifar_resnet"):  # three groups, each max-pooling the one before (15, 7, 3 at 32 px)
        assert sides == [15, 7, 3]
    else:  # one map per resolution stage, each half the side of the one before (56, 28, 14, 7 at 224 px)
        assert len(sides) == 4 and all(a == 2 * b for a, b in zip(sides, sides[1:]))


@pytest.mark.parametrize("arch", sorted({spec.arch for spec in models.REGISTRY.values()
                                         if get_format(spec.format).load_model is None}))
def test_every_buffer_is_in_the_state_dict(arch):
    """load_model builds on the meta device and assigns the state dict: a buffer outside it would stay empty. (A
    format with its own load_model, open_clip's, builds on the CPU from the repo's config: not this path.)"""
    with torch.device("meta"):
        net, _ = build(arch, 1000)
    assert {name for name, _ in net.named_buffers()} <= set(net.state_dict())


def test_wide_resnet50_4_is_the_width_madrylab_trained():
    with torch.device("meta"):
        net, _ = build("wide_resnet50_4", 1000)
    # robustness.imagenet_models.wide_resnet50_4: width_per_group 64 × 4, so 256 inner channels (torchvision's -2: 128)
    assert net.layer1[0].conv2.weight.shape == (256, 256, 3, 3) and net.layer4[0].conv2.weight.shape[0] == 2048


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture 'resnet9000'"):
        build("resnet9000", 10)
