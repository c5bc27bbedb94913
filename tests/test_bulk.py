"""Bulk runs in one process: lockstep batches, batch-size independence, resume after a crash, tar shards, folders."""
import json
import tarfile
from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

from robust_synth import seeds, tasks
from robust_synth.bulk import lockstep
from robust_synth.bulk.__main__ import main
from robust_synth.bulk.lockstep import run_together
from robust_synth.bulk.plan import generation_items
from robust_synth.bulk.runner import FAIL_AFTER_ENV, BulkRun, execute
from robust_synth.models import CIFAR10_CLASSES
from robust_synth.result_store import recipe_from_png

TOL = dict(atol=1e-4, rtol=0)  # convolution algorithms may differ with the batch size: rounding only


def _generation(model, out, *, per_class=4, batch=3, fmt="png", shard=None):
    items = generation_items([3, 5], list(CIFAR10_CLASSES), per_class, base_seed=1)
    return BulkRun("generate", tasks.generate, model, items, {"steps": 2}, out, fmt, batch, shard, progress=False,
                   settings={"steps": 2, "batch_size": batch, "format": fmt})


def _manifest(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _pixels(out):
    """key -> uint8 array of every PNG a png run wrote."""
    return {e["key"]: np.asarray(Image.open(out / e["file"])) for e in _manifest(out)}


def test_lockstep_runs_one_batch_in_item_order_and_matches_solo_runs(tiny_model, monkeypatch):
    """Catches time-based grouping (several pgd calls), requests in thread-arrival order, and batched results that
    differ from each item run alone; a failing item must not block the others."""
    calls = []

    def recording(model, requests, cfg):
        calls.append([r.x0 for r in requests])
        return pgd_batch(model, requests, cfg)
    pgd_batch = lockstep.pgd_batch
    monkeypatch.setattr(lockstep, "pgd_batch", recording)
    monkeypatch.setenv("ROBUST_SYNTH_BATCH_IMAGES", "8")
    jobs = [(3, 11), (5, 12), (3, 13), (9, 14)]
    calls_to_run = [partial(tasks.generate, tiny_model, target=c, n=1, seed=s, steps=2) for c, s in jobs]
    outputs = run_together(calls_to_run + [partial(tasks.generate, tiny_model, target="no such class")])
    assert len(calls) == 1 and len(calls[0]) == 4
    for x0, (c, s) in zip(calls[0], jobs):
        torch.testing.assert_close(x0, seeds.sample(tiny_model, torch.tensor([c]), torch.Generator().manual_seed(s)))
    monkeypatch.setenv("ROBUST_SYNTH_BATCH_IMAGES", "1")
    for (images, _), (c, s) in zip(outputs, jobs):
        torch.testing.assert_close(images.tensor, tasks.generate(tiny_model, c, n=1, seed=s, steps=2)[0].tensor, **TOL)
    assert isinstance(outputs[4], ValueError) and "unknown class" in str(outputs[4])


def test_batch_size_does_not_change_the_images(tiny_model, tmp_path):
    """Catches items that interact inside a batch (a shared step size or seed): images would differ by far more
    than the rounding of batch-size-dependent convolution kernels (at most one grey level here)."""
    execute(_generation(tiny_model, tmp_path / "b1", batch=1))
    execute(_generation(tiny_model, tmp_path / "b4", batch=4))
    one, four = _pixels(tmp_path / "b1"), _pixels(tmp_path / "b4")
    assert one.keys() == four.keys() and len(one) == 8
    assert max(np.abs(one[k].astype(int) - four[k]).max() for k in one) <= 1


def test_an_interrupted_run_resumes_without_duplicates_or_gaps(tiny_model, tmp_path, monkeypatch):
    """Catches a re-run that redoes or rewrites finished items, leaves temp files, trips over a half-written
    manifest line, misses an item whose file never landed, or makes other images than an uninterrupted run."""
    execute(_generation(tiny_model, tmp_path / "whole"))
    out = tmp_path / "resumed"
    monkeypatch.setenv(FAIL_AFTER_ENV, "1")
    with pytest.raises(RuntimeError, match=FAIL_AFTER_ENV):
        execute(_generation(tiny_model, out))
    monkeypatch.delenv(FAIL_AFTER_ENV)
    first = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert first == ["3-cat/000000.png", "3-cat/000001.png", "3-cat/000002.png"]  # one batch of 3, then the crash
    kept = (out / "3-cat/000000.png").stat().st_mtime_ns
    (out / "3-cat/000002.png").unlink()                           # its manifest line was written, the file not
    (out / "3-cat/.000003.png.tmp-1-2").write_bytes(b"half a png")  # a killed write
    with open(out / "manifest.parts/rank-00000.jsonl", "ab") as part:
        part.write(b'{"file": "3-cat/000003.png", "ite')          # a killed append
    execute(_generation(tiny_model, out))
    entries = _manifest(out)
    assert [e["item"] for e in entries] == list(range(8)) and len({e["file"] for e in entries}) == 8
    assert not list(out.rglob("*.tmp-*")) and (out / "3-cat/000000.png").stat().st_mtime_ns == kept
    whole, resumed = _pixels(tmp_path / "whole"), _pixels(out)
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole) and len(resumed) == 8
    for e in entries:
        recipe = recipe_from_png(out / e["file"])
        assert recipe["seed"] == e["seed"] and recipe["params"]["target_index"] == [e["class"]]


def test_tar_shards_are_webdataset_samples_and_resume_whole(tiny_model, tmp_path, monkeypatch):
    """Catches shards that are not WebDataset samples (key.png / key.json / key.cls), a half-written shard left
    after a crash, and shards whose images differ from the PNG run's."""
    execute(_generation(tiny_model, tmp_path / "png"))
    out = tmp_path / "tar"
    monkeypatch.setenv(FAIL_AFTER_ENV, "1")  # after the 1st batch: shard 0 (items 0-5, 2 batches) is half-written
    with pytest.raises(RuntimeError):
        execute(_generation(tiny_model, out, fmt="tar", shard=6))
    monkeypatch.delenv(FAIL_AFTER_ENV)
    assert not list(out.glob("shard-*.tar")) and list(out.glob(".shard-000000.tar.tmp-*"))
    execute(_generation(tiny_model, out, fmt="tar", shard=6))
    assert sorted(p.name for p in out.glob("*.tar")) == ["shard-000000.tar", "shard-000001.tar"]
    with tarfile.open(out / "shard-000000.tar") as tar:
        names = tar.getnames()
        assert names[:3] == ["3-cat/000000.cls", "3-cat/000000.json", "3-cat/000000.png"] and len(names) == 18
        assert tar.extractfile("3-cat/000000.cls").read() == b"3"
        png = np.asarray(Image.open(tar.extractfile("5-dog/000001.png")))
    assert np.array_equal(png, _pixels(tmp_path / "png")["5-dog/000001"])
    entries = _manifest(out)
    assert [(e["file"], e["member"]) for e in entries][5:7] == [("shard-000000.tar", "5-dog/000001"),
                                                                ("shard-000001.tar", "5-dog/000002")]
    with pytest.raises(ValueError, match="multiple of --batch-size"):
        execute(_generation(tiny_model, tmp_path / "bad", fmt="tar", shard=5))


def _photos(root, names, size=(40, 30)):
    g = np.random.default_rng(0)
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(g.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(root / name)


def test_a_folder_task_writes_one_full_size_png_per_input_and_reports_bad_files(tmp_path, capsys):
    """Catches a folder task that drops the input's size or folder layout, pairs masks wrongly, loses the recipe,
    or lets one unreadable file stop the rest."""
    _photos(tmp_path / "in", ["a.png", "sub/b.png", "c.png"])
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    rc = main(["translate", "--model", "cifar10-resnet-l2-0.5", "--inputs", str(tmp_path / "in"), "--target", "dog",
               "--steps", "2", "--batch-size", "2", "--no-progress", "--out", str(tmp_path / "out")])
    assert rc == 1 and "broken.png" in capsys.readouterr().err
    entries = _manifest(tmp_path / "out")
    assert [e["source"] for e in entries] == ["a.png", "c.png", "sub/b.png"]
    for e in entries:
        with Image.open(tmp_path / "out" / e["file"]) as img:
            assert img.size == (40, 30)
        assert e["class_name"] == "dog" and recipe_from_png(tmp_path / "out" / e["file"])["task"] == "translate"
    mask = np.zeros((30, 40), np.uint8)
    mask[10:20, 10:20] = 255
    for name in ("a.png", "c.png", "sub/b.png"):
        (tmp_path / "masks" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(tmp_path / "masks" / name)
    (tmp_path / "in" / "broken.png").unlink()
    rc = main(["inpaint", "--model", "cifar10-resnet-l2-0.5", "--inputs", str(tmp_path / "in"), "--mask",
               str(tmp_path / "masks"), "--steps", "2", "--no-progress", "--out", str(tmp_path / "filled")])
    assert rc == 0
    far = np.ones_like(mask, bool)
    far[6:24, 6:24] = False  # inpainting feathers 3 pixels outside the hole; everything farther keeps its bytes
    for name in ("a.png", "sub/b.png"):
        before, after = (np.asarray(Image.open(p / name)) for p in (tmp_path / "in", tmp_path / "filled"))
        assert (before[far] == after[far]).all() and (before[mask > 0] != after[mask > 0]).any()


def test_resuming_with_other_settings_is_refused(tmp_path, capsys):
    """Catches a re-run with another --steps silently mixing two kinds of images in one folder."""
    args = ["generate", "--model", "cifar10-resnet-l2-0.5", "--per-class", "1", "--classes", "cat", "--no-progress",
            "--out", str(tmp_path)]
    assert main(args + ["--steps", "1"]) == 0
    assert main(args + ["--steps", "2"]) == 2
    assert "other settings (options)" in capsys.readouterr().err
