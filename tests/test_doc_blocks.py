"""Every python and bash block of README.md and docs/*.md runs as written, or is marked not-run with its reason.

Python blocks run one by one in a fresh namespace (a name from another block is a NameError, as for a reader who
copies one block), client blocks against the test app; bash blocks run in bash with the package's console commands
(pyproject.toml's [project.scripts]) and `python` on the PATH. Both run in an empty folder holding `examples/`.
"""
import os
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from huggingface_hub import constants as hub_constants

from app_server import running_app
from robust_synth import task_registry

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^(?:<!-- not-run: (?P<reason>[^\n]+?) -->\n)?```(?P<lang>[^\n]*)\n(?P<code>.*?)^```$",
                   re.S | re.M)
RUN = ("python", "bash")
UNTESTED_TAGS = ("", "py", "sh", "shell", "console")  # code a reader would run, under a tag this test skips
NOT_RUN = {"README.md": 5, "docs/bulk.md": 1}  # blocks marked <!-- not-run: reason -->, per page
APP_URL = "http://127.0.0.1:7860/"  # what the client blocks connect to; the test app's address replaces it
SECONDS_PER_BLOCK = 300


def all_blocks() -> list[dict]:
    blocks = []
    for page in PAGES:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("lang")) + 1
            blocks.append({"page": page.relative_to(ROOT).as_posix(), "line": line, "lang": match["lang"].strip(),
                           "code": match["code"], "reason": match["reason"]})
    return blocks


BLOCKS = all_blocks()
RUNNABLE = [b for b in BLOCKS if b["lang"] in RUN and b["reason"] is None]


def block_id(block: dict) -> str:
    return f"{block['page']}:{block['line']}"


def test_blocks_not_run_are_marked_and_counted():
    """Catches a block newly marked not-run (or a mark dropped) without this count, and so without a review."""
    marked = Counter(b["page"] for b in BLOCKS if b["reason"] is not None)
    assert dict(marked) == NOT_RUN
    assert {b["lang"] for b in BLOCKS if b["reason"] is not None} <= set(RUN)


def test_every_block_is_tagged_so_this_test_sees_it():
    """Catches shell or Python code under no tag or another tag (```sh), which this test would not run."""
    untested = [block_id(b) for b in BLOCKS if b["lang"] in UNTESTED_TAGS]
    assert not untested, f"tag these blocks python or bash: {untested}"
    assert len(RUNNABLE) >= 8, "the pages lost their code blocks, or this test no longer finds them"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """An empty working folder with the repository's examples/, as the blocks' relative paths expect."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The test app, offline (as in CI): the blocks use the embedded model, and no start waits on a Hub probe."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
        with running_app(tmp_path_factory.mktemp("results")) as url:
            yield url


@pytest.fixture
def registry_restored():
    """A block that registers a task (docs/architecture.md) leaves the registry as it found it."""
    before = dict(task_registry.TASKS)
    yield
    task_registry.TASKS.clear()
    task_registry.TASKS.update(before)


@pytest.mark.parametrize("block", [b for b in RUNNABLE if b["lang"] == "python"], ids=block_id)
def test_python_block_runs(block, folder, registry_restored, request):
    code = block["code"]
    if "gradio_client" in code:
        assert APP_URL in code, f"a client block must connect to {APP_URL}, which the test replaces"
        code = code.replace(APP_URL, request.getfixturevalue("app_url"))
    exec(compile(code, block_id(block), "exec"), {"__name__": "__main__"})


def console_commands(bin_dir: Path) -> None:
    """`python` and pyproject.toml's console commands on the PATH, as an install makes them, run from the checkout."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    commands = {"python": f'exec "{sys.executable}" "$@"'}
    for name, target in scripts.items():
        module, function = target.split(":")
        commands[name] = (f'exec "{sys.executable}" -c "import sys; from {module} import {function}; '
                          f'sys.exit({function}())" "$@"')
    for name, body in commands.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)


@pytest.mark.parametrize("block", [b for b in RUNNABLE if b["lang"] == "bash"], ids=block_id)
def test_bash_block_runs(block, folder, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    console_commands(bin_dir)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block["code"]], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=SECONDS_PER_BLOCK)
    assert done.returncode == 0, f"{block_id(block)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
