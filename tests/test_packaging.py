"""pyproject.toml against the requirements files the Space and CI install; the wheel's contents; the weights folder."""
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from robust_synth import resources

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins(lines) -> dict[str, str]:
    """name -> specifier of each requirement (comments, blank lines and -r includes left out)."""
    requirements = [Requirement(line.split("#")[0]) for line in lines
                    if line.split("#")[0].strip() and not line.startswith("-r")]
    names = [r.name.lower().replace("_", "-") for r in requirements]
    assert len(set(names)) == len(names), f"a requirement is listed twice: {names}"
    return dict(zip(names, (str(r.specifier) for r in requirements)))


def requirements_file(name: str) -> dict[str, str]:
    return pins((ROOT / name).read_text().splitlines())


def test_pyproject_carries_the_requirements_files_pins():
    """Catches a pin changed in requirements*.txt (what the Space and CI install) but not in pyproject.toml (what
    pip install . gets), or the reverse."""
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    assert pins(project["dependencies"] + extras["app"]) == requirements_file("requirements.txt")
    assert pins(extras["eval"]) == requirements_file("requirements-eval.txt")
    assert pins(extras["dev"]) == requirements_file("requirements-dev.txt")
    assert all(spec.startswith("==") for spec in pins(project["dependencies"]).values())


def test_the_app_needs_are_the_app_extra_only():
    """Catches gradio (or spaces) moving into the core dependencies, which the library and CLI do not import."""
    core = pins(PYPROJECT["project"]["dependencies"])
    assert not {"gradio", "gradio-client", "spaces"} & set(core)


def test_the_wheel_lists_every_package_and_the_weights():
    """Catches a new subpackage or weights file that the wheel would leave out (setuptools lists them by hand here)."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "robust_synth").rglob("__init__.py")}
    assert set(setuptools["packages"]) == on_disk | {"robust_synth._weights"}
    assert setuptools["package-dir"] == {"robust_synth._weights": "weights"}
    patterns = setuptools["package-data"]["robust_synth._weights"]
    files = {p.name for p in (ROOT / "weights").iterdir()}
    packaged = {name for pattern in patterns for name in (p.name for p in (ROOT / "weights").glob(pattern))}
    assert files == packaged, f"weights/ files outside the wheel's patterns: {sorted(files - packaged)}"


def test_one_version_string():
    """Catches a second version written into pyproject.toml instead of read from robust_synth/version.py."""
    assert "version" in PYPROJECT["project"]["dynamic"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "robust_synth.version.__version__"}


def test_the_weights_folder_is_the_wheel_s_when_installed_else_the_checkout_s(tmp_path, monkeypatch):
    """Catches the library reading the checkout's weights/ where only the wheel's copy exists, or the reverse."""
    assert resources.weights_dir() == ROOT / "weights"
    monkeypatch.setattr(resources, "INSTALLED_WEIGHTS", tmp_path)
    assert resources.weights_dir() == tmp_path
    monkeypatch.setattr(resources, "INSTALLED_WEIGHTS", tmp_path / "absent")
    assert resources.weights_dir() == resources.CHECKOUT_WEIGHTS
