"""result_store.py: traversal-proof ids, atomic writes, eviction order, restart, full-disk degrade, recipe in PNG."""
import errno
import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bad_inputs import items
from robust_synth import result_store as results
from robust_synth.result_store import ResultStore, png_with_recipe, recipe_from_png

RECIPE = {"task": "generate", "model": "cifar10-resnet-l2-0.5", "seed": 3, "eps": 30.0, "note": "café ✓"}


def _image(seed: int, size: int = 16) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def _visible_entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


@pytest.fixture
def store(tmp_path):
    return ResultStore(tmp_path / "results", max_bytes=10 * 2**20)


def test_save_and_load_round_trip(store):
    outputs, mask = [_image(0), _image(1)], Image.new("L", (16, 16), 255)
    result_id = store.save(outputs, RECIPE, {"image": _image(2), "mask": mask, "target": None})
    assert results.ID_PATTERN.fullmatch(result_id)
    images, recipe, inputs = store.load(result_id)
    assert recipe == RECIPE and set(inputs) == {"image", "mask"}
    for got, expected in zip(images, outputs):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    np.testing.assert_array_equal(np.asarray(inputs["mask"]), np.asarray(mask))
    assert recipe_from_png(store.root / result_id / "output-001.png") == RECIPE


def test_a_compared_result_keeps_the_standard_images_with_their_recipe(store):
    """Catches a shared compared result that reopens without its comparison."""
    recipe = {**RECIPE, "comparison": {**RECIPE, "model": "cifar10-resnet-standard"}}
    result_id = store.save([_image(0), _image(1)], recipe, compared=[_image(2), _image(3)])
    assert [np.asarray(im).tolist() for im in store.load_compared(result_id)] == \
        [np.asarray(_image(seed)).tolist() for seed in (2, 3)]
    assert recipe_from_png(store.root / result_id / "compared-001.png") == recipe["comparison"]
    assert store.load(result_id)[0][1].tobytes() == _image(1).tobytes()  # the outputs stay the robust ones
    assert store.save([_image(0), _image(1)], recipe) != result_id
    assert store.load_compared(store.save([_image(0)], RECIPE)) == []
    with pytest.raises(TypeError, match="compared must be a non-empty list of PIL images"):
        store.save([_image(0)], recipe, compared=[])


def test_ids_are_content_hashes(store):
    first = store.save([_image(0)], RECIPE)
    assert store.save([_image(0)], dict(RECIPE)) == first
    assert store.save([_image(1)], RECIPE) != first
    assert store.save([_image(0)], {**RECIPE, "seed": 4}) != first
    assert len(store.ids()) == 3


@pytest.mark.parametrize("item", items("result_id"), ids=[item.name for item in items("result_id")])
def test_malformed_or_unknown_ids_are_refused(store, item):
    store.save([_image(0)], RECIPE)
    with pytest.raises(ValueError, match=item.match):
        store.load(item.make())


def test_traversal_never_touches_the_filesystem(store, monkeypatch):
    secret = store.root.parent / "secret"
    (secret / "recipe.json").parent.mkdir(parents=True)
    (secret / "recipe.json").write_text("{}")
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("file read for a malformed id"))
    for bad in ["../secret", "..%2fsecret", str(secret), None, 123, b"0" * 24]:
        with pytest.raises(ValueError, match="unknown result id"):
            store.load(bad)


def test_failed_rename_leaves_no_half_result(store, monkeypatch):
    store.save([_image(0)], RECIPE)
    before = _visible_entries(store.root)

    def crash(src, dst):
        raise OSError(errno.EIO, "simulated crash during rename")

    monkeypatch.setattr(results.os, "replace", crash)
    assert store.save([_image(1)], RECIPE) is None
    assert _visible_entries(store.root) == before and len(list(store.root.iterdir())) == 1


def test_leftovers_of_a_killed_process_are_invisible_and_cleaned(store):
    result_id = store.save([_image(0)], RECIPE)
    leftover = store.root / ".tmp-killed"
    leftover.mkdir()
    (leftover / "output-000.png").write_bytes(b"\x89PNG half")
    assert store.ids() == [result_id]
    ResultStore(store.root)
    assert leftover.exists()  # recent: may belong to a save in progress in another process
    os.utime(leftover, (time.time() - 2 * results.STALE_TEMP_SECONDS,) * 2)
    ResultStore(store.root)
    assert not leftover.exists() and store.ids() == [result_id]


def test_full_disk_degrades_to_not_saved(store, monkeypatch, caplog):
    def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", no_space)
    assert store.save([_image(0)], RECIPE) is None
    assert "result not saved" in caplog.text and "No space left" in caplog.text
    assert store.ids() == []


def test_unwritable_root_degrades_to_not_saved(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert ResultStore(blocker / "results").save([_image(0)], RECIPE) is None


def test_oldest_results_are_evicted_first(tmp_path):
    store = ResultStore(tmp_path, max_bytes=10**9)
    saved = [store.save([_image(i, 32)], RECIPE) for i in range(4)]
    for age, result_id in enumerate(reversed(saved)):  # saved[0] oldest, one minute apart
        os.utime(tmp_path / result_id, (time.time() - 60 * (age + 1),) * 2)
    size = sum(f.stat().st_size for f in (tmp_path / saved[0]).iterdir())
    small = ResultStore(tmp_path, max_bytes=int(3.5 * size))
    newest = small.save([_image(9, 32)], RECIPE)
    assert small.ids() == saved[2:] + [newest]
    with pytest.raises(ValueError, match="not found"):
        small.load(saved[0])


def test_a_result_over_the_cap_is_still_kept(tmp_path):
    store = ResultStore(tmp_path, max_bytes=1)
    first = store.save([_image(0)], RECIPE)
    second = store.save([_image(1)], RECIPE)
    assert store.ids() == [second] and first != second


def test_results_survive_a_restart(tmp_path):
    result_id = ResultStore(tmp_path).save([_image(5)], RECIPE, {"image": _image(6)})
    images, recipe, inputs = ResultStore(tmp_path).load(result_id)
    assert recipe == RECIPE and len(images) == 1 and "image" in inputs


def test_root_and_cap_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_SYNTH_RESULTS", str(tmp_path / "env-root"))
    monkeypatch.setenv("ROBUST_SYNTH_RESULTS_MAX_MB", "1.5")
    store = ResultStore()
    assert store.root == tmp_path / "env-root" and store.max_bytes == int(1.5 * 2**20)
    monkeypatch.setenv("ROBUST_SYNTH_RESULTS_MAX_MB", "-1")
    with pytest.raises(ValueError, match="ROBUST_SYNTH_RESULTS_MAX_MB"):
        ResultStore()


def test_recipe_round_trips_through_png_bytes_and_images():
    data = png_with_recipe(_image(0), RECIPE)
    assert recipe_from_png(data) == RECIPE
    assert recipe_from_png(Image.open(io.BytesIO(data))) == RECIPE


def test_png_without_a_recipe_is_refused():
    plain = io.BytesIO()
    _image(0).save(plain, "PNG")
    with pytest.raises(ValueError, match="no robust-synth recipe"):
        recipe_from_png(_image(0))
    with pytest.raises(ValueError, match="no robust-synth recipe"):
        recipe_from_png(plain.getvalue())
    with pytest.raises(ValueError, match="could not be read"):
        recipe_from_png(b"not a png")


def test_bad_arguments_raise_type_errors(store):
    with pytest.raises(TypeError, match="JSON"):
        store.save([_image(0)], {"x": object()})
    with pytest.raises(TypeError, match="list of PIL images"):
        store.save([], RECIPE)
    with pytest.raises(ValueError, match="input names"):
        store.save([_image(0)], RECIPE, {"../evil": _image(1)})


def test_the_store_is_never_over_its_cap_not_even_between_a_write_and_its_eviction(tmp_path, monkeypatch):
    probe = ResultStore(tmp_path / "probe")
    size = sum(f.stat().st_size for f in (probe.root / probe.save([_image(0, 32)], RECIPE)).iterdir())
    store = ResultStore(tmp_path / "store", max_bytes=int(2.5 * size))
    largest, write = [], ResultStore._write

    def measured_write(self, result_id, files):
        write(self, result_id, files)
        largest.append(sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file()))

    monkeypatch.setattr(ResultStore, "_write", measured_write)
    saved = [store.save([_image(i, 32)], RECIPE) for i in range(6)]
    assert store.ids() == saved[-2:] and max(largest) <= store.max_bytes
