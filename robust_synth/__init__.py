"""robust_synth: image synthesis with a single robust classifier, by PGD on its input."""
__version__ = "0.1.0"

from .constraints import L2Ball, LinfBall, Unconstrained  # noqa: E402
from .engine import Cancelled, PGDConfig, PGDResult, pgd  # noqa: E402
from .features import ModelOutput, RobustModel  # noqa: E402
from .models import REGISTRY, ModelSpec, load_model  # noqa: E402
from . import objectives  # noqa: E402
from .tasks import (generate, inpaint, interpolate, invert, paint_features, sketch_to_image, super_resolve,  # noqa: E402
                    top_features, translate, visualize_feature)
from .tasks.style_transfer import compare_style_transfer, style_transfer  # noqa: E402

__all__ = ["__version__", "pgd", "PGDConfig", "PGDResult", "Cancelled", "L2Ball", "LinfBall", "Unconstrained",
           "RobustModel", "ModelOutput", "ModelSpec", "REGISTRY", "load_model", "objectives"]
__all__ += ["generate", "inpaint", "super_resolve", "translate", "sketch_to_image", "paint_features", "top_features",
            "invert", "interpolate", "visualize_feature"]
__all__ += ["style_transfer", "compare_style_transfer"]
