#!/usr/bin/env bash
# Build the sdist and the wheel, install the wheel into a fresh virtual environment outside the checkout, and there
# run the CLI (--help, one generation on the embedded model, offline) and import the library from the wheel.
# The fresh environment borrows the test environment's installed dependencies through a .pth file (no second torch).
# Usage: bash scripts/check_wheel.sh [PYTHON]   PYTHON: the test environment's interpreter (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-.venv/bin/python}
[[ $python = /* ]] || python=$PWD/$python  # absolute, but not resolved: a venv's python is a symlink
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
echo "built $(basename "$work"/dist/*.tar.gz) and $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"

"$python" -m venv "$work/venv"
fresh="$work/venv/bin/python"
purelib='import sysconfig; print(sysconfig.get_path("purelib"))'
"$python" -c "$purelib" >"$("$fresh" -c "$purelib")/_test_env_dependencies.pth"
"$fresh" -m pip install --quiet --no-deps --no-index "$wheel"

cd "$work"  # outside the checkout: only the wheel's robust_synth can be imported
export HF_HUB_OFFLINE=1
unset PYTHONPATH
venv/bin/robust-synth --help | grep -q "generate"
venv/bin/robust-synth-bulk --help | grep -q "evaluate"
venv/bin/robust-synth generate --model cifar10-resnet-l2-0.5 --target cat --n 1 --steps 2 --out "$work/out"
test -s "$work/out/generate-00.png" && test -s "$work/out/recipe.json"
"$fresh" - "$work/venv" <<'PY'
"""The imported library, its weights and its version are the installed wheel's."""
import importlib.metadata
import sys
from pathlib import Path

import robust_synth
from robust_synth.resources import weights_dir

venv = Path(sys.argv[1]).resolve()
for path in (Path(robust_synth.__file__), weights_dir()):
    assert venv in path.resolve().parents, f"{path} is not in the fresh environment {venv}"
assert importlib.metadata.version("robust-synth") == robust_synth.__version__
images, recipe = robust_synth.generate("cifar10-resnet-l2-0.5", target="ship", n=1, steps=2)
assert images[0].size == (32, 32) and recipe["version"] == robust_synth.__version__, recipe
print(f"robust_synth {robust_synth.__version__} from {robust_synth.__file__}: CLI and library work")
PY
