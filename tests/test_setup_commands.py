"""The README's set-up commands: .ci/run runs its test command verbatim, every install goes into .venv, and the
CPU-only variant is the same set-up with torch's CPU wheels first."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _command_after(lines: list[str], marker: str) -> str:
    """The command on the lines after the comment line starting with `marker`, up to a blank line or a fence."""
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(marker)) + 1
    command = []
    for line in lines[start:]:
        if not line.strip() or line.startswith("```"):
            break
        command.append(line)
    assert command, f"no command after {marker!r}"
    return "\n".join(command)


def _readme_setup_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.search(r"```bash\n(.*?)```", text, re.S).group(1).splitlines()


def _readme_cpu_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    [block] = [b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if "# CPU only" in b]
    return block.splitlines()


def _steps(command: str) -> list[str]:
    return [step.strip(" \\\n") for step in command.split("&&")]


def _ci_lines() -> list[str]:
    return (ROOT / ".ci" / "run").read_text().splitlines()


def test_ci_runs_the_readme_test_command_verbatim():
    """Catches the two drifting apart: a step added to the README's test command but not to CI, or the reverse."""
    readme = _command_after(_readme_setup_block(), "# run the tests")
    ci = _command_after(_ci_lines(), "# The README's test command, verbatim")
    assert ci == readme
    assert "pytest -q" in readme and "--no-deps -r requirements-eval.txt" in readme


def test_every_install_and_run_goes_through_the_virtual_environment():
    """Catches a bare `python3 -m pip install`, which a PEP 668 (externally managed) Debian/Ubuntu Python refuses."""
    for command in (_command_after(_readme_setup_block(), "# set up and run the app"),
                    _command_after(_readme_setup_block(), "# run the tests"),
                    _command_after(_readme_cpu_block(), "# CPU only")):
        steps = _steps(command)
        assert steps[0] == "python3 -m venv .venv"
        assert all(step.startswith(".venv/bin/python ") for step in steps[1:]), steps


def test_the_cpu_only_set_up_is_the_set_up_with_torch_s_cpu_wheels_of_the_pinned_versions():
    """Catches the CPU-only command drifting from the main one (another requirements file, another entry point) or
    from requirements.txt's torch pins (pip would then replace the CPU wheels with CUDA ones)."""
    main = _steps(_command_after(_readme_setup_block(), "# set up and run the app"))
    cpu = _steps(_command_after(_readme_cpu_block(), "# CPU only"))
    assert cpu[0] == main[0] and cpu[2:] == main[1:]
    pins = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.startswith(("torch==", "torchvision=="))]
    assert cpu[1].split() == [".venv/bin/python", "-m", "pip", "install", *pins, "\\", "--index-url",
                              "https://download.pytorch.org/whl/cpu"]

