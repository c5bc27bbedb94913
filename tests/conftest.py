"""Shared fixtures: tiny randomly initialised models (CPU, no network, no weights), empty offline caches."""
import pytest
import torch
from huggingface_hub import constants as hub_constants

from robust_synth import models
from robust_synth.networks import CifarResNet, resnet_layer_nodes
from robust_synth.features import RobustModel
from robust_synth.models import CIFAR10_CLASSES

torch.set_num_threads(1)  # tests are tiny; one thread keeps them fast and leaves the other core alone


def make_tiny_model(seed: int = 0) -> RobustModel:
    """A 3-group CIFAR ResNet with 8-16 channels: same layers as the embedded model, ~8k params, inputs from 10 px.

    Convolutions get plain Kaiming weights: the architecture's identity (dirac) start, meant for training, makes a
    net this narrow a near-copy of its stem, whose input gradients are too uniform to exercise the tasks.
    """
    torch.manual_seed(seed)
    net = CifarResNet(widths=(8, 16, 16), num_classes=10)
    for conv in (m for m in net.modules() if isinstance(m, torch.nn.Conv2d)):
        torch.nn.init.kaiming_normal_(conv.weight)
    model = RobustModel(net, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26), resnet_layer_nodes(3, "layer3", "mul"),
                        name="tiny", class_names=CIFAR10_CLASSES, input_size=32)
    model.weights_sha256 = "0" * 64
    return model


@pytest.fixture
def tiny_model():
    return make_tiny_model()


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 3, 32, 32, generator=g)



@pytest.fixture
def image_folder(tmp_path):
    """A tiny labelled image folder: <root>/{train,test}/<class>/*.png, 3 classes, 32×32, class-tinted noise."""
    from PIL import Image
    root, g = tmp_path / "images", torch.Generator().manual_seed(0)
    for split, count in (("train", 12), ("test", 4)):
        for k, cls in enumerate(("cat", "dog", "ship")):
            (root / split / cls).mkdir(parents=True)
            for i in range(count):
                pixels = (torch.rand(32, 32, 3, generator=g) * 128 + 40 * k).to(torch.uint8).numpy()
                Image.fromarray(pixels).save(root / split / cls / f"{i:03d}.png")
    return root


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty Hub, torch.hub and robust_synth caches under tmp_path, Hub offline, a private model cache."""
    hub = tmp_path / "hf" / "hub"
    hub.mkdir(parents=True)
    for var, value in {"HF_HOME": tmp_path / "hf", "HF_HUB_CACHE": hub, "HF_HUB_OFFLINE": "1",
                       "TORCH_HOME": tmp_path / "torch", "ROBUST_SYNTH_CACHE": tmp_path / "rs"}.items():
        monkeypatch.setenv(var, str(value))
    # huggingface_hub reads these variables once at import; mirror them into its constants.
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(models, "_cache", {})
    return tmp_path
