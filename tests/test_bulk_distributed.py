"""Two processes under torch.distributed.run (gloo, CPU): disjoint shards, a crash and resume, same images as one."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from robust_synth.bulk.__main__ import main
from robust_synth.bulk.runner import FAIL_AFTER_ENV

ROOT = Path(__file__).resolve().parent.parent
RUN = ["generate", "--model", "cifar10-resnet-l2-0.5", "--per-class", "4", "--classes", "cat", "dog", "--steps", "2",
       "--batch-size", "2", "--seed", "5"]


def _torchrun(out: Path, **env) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
               "-m", "robust_synth.bulk", *RUN, "--out", str(out)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_two_ranks_split_the_work_survive_a_crash_and_match_one_process(tmp_path):
    """Catches ranks doing the same items (duplicates) or skipping some, a rank-count-dependent batch cut or seed
    (images differing from the single-process run), and a resume under torchrun that loses or repeats items."""
    assert main(RUN + ["--no-progress", "--out", str(tmp_path / "one")]) == 0
    out = tmp_path / "two"
    crashed = _torchrun(out, **{FAIL_AFTER_ENV: "1"})  # each rank stops after its first batch of 2
    assert crashed.returncode != 0 and FAIL_AFTER_ENV in crashed.stderr
    assert not (out / "manifest.jsonl").exists() and len(list(out.rglob("*.png"))) in (2, 4)
    resumed = _torchrun(out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "8 of 8 items" in resumed.stdout and "generate x2" in resumed.stderr  # rank 0's bar
    entries = _manifest(out)
    assert [e["item"] for e in entries] == list(range(8)) and len({e["file"] for e in entries}) == 8
    assert [e["rank"] for e in entries] == [(e["item"] // 2) % 2 for e in entries]  # batch j on rank j % 2
    single = {e["file"]: e for e in _manifest(tmp_path / "one")}
    for e in entries:
        assert e["seed"] == single[e["file"]]["seed"]
        a, b = (np.asarray(Image.open(root / e["file"])) for root in (out, tmp_path / "one"))
        assert np.array_equal(a, b), e["file"]
