"""One module per synthesis task; each public function returns (images, recipe)."""
from .feature_painting import paint_features, top_features
from .feature_visualization import visualize_feature
from .generation import generate
from .inpainting import inpaint
from .inversion import interpolate, invert
from .sketch_to_image import sketch_to_image
from .super_resolution import super_resolve
from .translation import translate

__all__ = ["generate", "inpaint", "super_resolve", "translate", "sketch_to_image", "paint_features", "top_features",
           "invert", "interpolate", "visualize_feature"]
