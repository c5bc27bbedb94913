"""The project's own CIFAR-10 models, shipped in weights/ (work offline): a robust and a standard one per family."""
from ..catalog import ModelFamily, ModelSpec, register_models

CIFAR10_STATS = {"mean": (0.4914, 0.4822, 0.4465), "std": (0.2470, 0.2435, 0.2616)}
RESNET = ModelFamily("robust-synth CIFAR-10 ResNet", "robust-synth", "robust-synth (this project)", "MIT")
# The style-transfer pair: a batch-norm VGG, the network Shats & Aharon (2021) found transfers style much better when
# adversarially trained.
VGG = ModelFamily("robust-synth CIFAR-10 VGG-11-bn", "robust-synth", "robust-synth (this project)", "MIT")
L2_HALF = {"norm": "l2", "eps": 0.5}

register_models(
    ModelSpec("cifar10-resnet-l2-0.5", "cifar_resnet", "cifar10", "embedded", "cifar10-resnet-l2-0.5", "safetensors",
              RESNET, robustness=L2_HALF, **CIFAR10_STATS),
    ModelSpec("cifar10-resnet-standard", "cifar_resnet", "cifar10", "embedded", "cifar10-resnet-standard",
              "safetensors", RESNET, **CIFAR10_STATS),
    ModelSpec("cifar10-vgg-l2-0.5", "cifar_vgg", "cifar10", "embedded", "cifar10-vgg-l2-0.5", "safetensors", VGG,
              robustness=L2_HALF, **CIFAR10_STATS),
    ModelSpec("cifar10-vgg-standard", "cifar_vgg", "cifar10", "embedded", "cifar10-vgg-standard", "safetensors", VGG,
              **CIFAR10_STATS),
)
