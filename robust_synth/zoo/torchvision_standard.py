"""torchvision's standard (non-robust) ImageNet weights: VGG-19 for Gatys' style transfer, ResNet-50 as a control."""
from ..catalog import ModelFamily, ModelSpec, register_models

LICENSE = "BSD-3-Clause (torchvision)"
ACCURACY_SOURCE = "torchvision's weights metadata"

register_models(
    ModelSpec("imagenet-vgg19-standard", "vgg19", "imagenet", "torchvision", "VGG19_Weights.IMAGENET1K_V1",
              "torchvision", ModelFamily("torchvision VGG-19", "torchvision", "Simonyan & Zisserman, 2015", LICENSE,
                                         accuracy_source=ACCURACY_SOURCE)),
    ModelSpec("imagenet-resnet50-standard", "resnet50", "imagenet", "torchvision", "ResNet50_Weights.IMAGENET1K_V1",
              "torchvision", ModelFamily("torchvision ResNet-50", "torchvision", "He et al., 2016", LICENSE,
                                         accuracy_source=ACCURACY_SOURCE)),
)
