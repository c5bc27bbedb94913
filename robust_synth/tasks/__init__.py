"""One module per synthesis task; each public function returns (images, recipe)."""
from . import feature_painting, feature_visualization, generation, inpainting, inversion, super_resolution, translation
from .common import choose_preset
from .feature_painting import paint_features, top_features
from .feature_visualization import visualize_feature
from .generation import generate
from .inpainting import inpaint
from .inversion import interpolate, invert
from .sketch_to_image import IMAGENET as SKETCH_PRESET
from .sketch_to_image import sketch_to_image
from .super_resolution import super_resolve
from .translation import translate

# task -> (ImageNet preset, CIFAR-10 preset or None), as each task passes them to common.start()
PRESETS = {
    "generate": (generation.IMAGENET, generation.CIFAR), "inpaint": (inpainting.IMAGENET, None),
    "super_resolve": (super_resolution.IMAGENET, None), "translate": (translation.IMAGENET, None),
    "sketch_to_image": (SKETCH_PRESET, None), "paint_features": (feature_painting.IMAGENET, None),
    "invert": (inversion.IMAGENET, None), "interpolate": (inversion.IMAGENET, None),
    "visualize_feature": (feature_visualization.IMAGENET, None),
}


def model_images(task: str, values: dict, side: int) -> int:
    """How many model-size images a run of `task` with these inputs optimises (n, frames, super-resolution windows)."""
    if task == "super_resolve":
        return super_resolution.window_count(values.get("image"), values.get("factor") or 4, side)
    return int(values.get("n") or values.get("frames") or 1)


def default_steps(task: str, side: int) -> int:
    """The PGD steps `task` runs on a model of input size `side` when the caller leaves steps out."""
    imagenet, cifar = PRESETS[task]
    return choose_preset(side, imagenet, cifar)[0].steps


__all__ = ["generate", "inpaint", "super_resolve", "translate", "sketch_to_image", "paint_features", "top_features",
           "invert", "interpolate", "visualize_feature"]
