"""Where the embedded weights, model cards and seed statistics are: in the installed wheel, else the checkout."""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
INSTALLED_WEIGHTS = PACKAGE / "_weights"         # the wheel maps the repository's weights/ here (pyproject.toml)
CHECKOUT_WEIGHTS = PACKAGE.parent / "weights"    # the repository's own folder, which the Space reads


def weights_dir() -> Path:
    """The folder of the embedded models' safetensors, their JSON cards and the seed files (the wheel's copy when
    the package is installed, else the checkout's weights/; a missing file is reported where it is read)."""
    return INSTALLED_WEIGHTS if INSTALLED_WEIGHTS.is_dir() else CHECKOUT_WEIGHTS
