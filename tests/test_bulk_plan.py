"""Bulk work plan: per-item seeds, class folders, folder items with companion files, disjoint rank shards."""
import pytest

from robust_synth.bulk.plan import (chunks, class_folder, folder_items, generation_items, item_seed, rank_chunks)
from robust_synth.models import CIFAR10_CLASSES


def test_item_seeds_depend_only_on_base_class_and_index():
    """Catches seeds drawn from a running generator (they would depend on order, batch or rank) and collisions."""
    items = generation_items([3, 5], list(CIFAR10_CLASSES), 4, base_seed=7)
    assert [it.seed for it in items] == [item_seed(7, c, i) for c in (3, 5) for i in range(4)]
    assert generation_items([5], list(CIFAR10_CLASSES), 4, base_seed=7)[2].seed == item_seed(7, 5, 2)
    assert len({it.seed for it in items}) == len(items)
    assert item_seed(8, 3, 0) != item_seed(7, 3, 0)
    assert items[0].kwargs == {"target": 3, "n": 1} and items[0].key == "3-cat/000000" and items[0].label == 3


def test_class_folders_are_unique_and_safe_for_any_class_name():
    """Catches ImageNet's duplicate names (two 'crane' classes) landing in one folder, and slashes in names."""
    assert class_folder(134, "crane", 1000) == "134-crane" and class_folder(517, "crane", 1000) == "517-crane"
    assert class_folder(3, "a/b c", 10) == "3-a_b_c"


def test_bad_generation_plans_are_refused():
    with pytest.raises(ValueError, match="per-class"):
        generation_items([1], list(CIFAR10_CLASSES), 0, 0)
    with pytest.raises(ValueError, match="twice"):
        generation_items([1, 1], list(CIFAR10_CLASSES), 2, 0)


@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_rank_shards_are_disjoint_and_cover_every_item(world):
    """Catches overlapping or missing shards, and cuts that change with the number of ranks."""
    all_chunks = list(enumerate(chunks(23, 4)))
    seen = [i for rank in range(world) for _, span in rank_chunks(all_chunks, rank, world) for i in span]
    assert sorted(seen) == list(range(23)) and len(seen) == len(set(seen))
    assert [list(span) for _, span in all_chunks][-1] == [20, 21, 22]


def _png(path):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (100, 50, 25)).save(path)


def test_folder_items_take_companion_files_by_name_and_seeds_by_path(tmp_path):
    """Catches masks paired with the wrong photo, seeds that shift when a file is added, and missing masks."""
    for rel in ("a/one.png", "b.jpg", "notes.txt"):
        (tmp_path / "in" / rel).parent.mkdir(parents=True, exist_ok=True)
        _png(tmp_path / "in" / rel) if not rel.endswith(".txt") else (tmp_path / "in" / rel).write_text("x")
    _png(tmp_path / "masks" / "a" / "one.png")
    _png(tmp_path / "masks" / "b.png")
    items = folder_items(tmp_path / "in", "image", 0, {"mask": tmp_path / "masks"})
    assert [it.source for it in items] == ["a/one.png", "b.jpg"] and [it.key for it in items] == ["a/one", "b"]
    assert items[1].kwargs == {"image": str(tmp_path / "in" / "b.jpg"), "mask": str(tmp_path / "masks" / "b.png")}
    _png(tmp_path / "in" / "0-first.png")
    assert folder_items(tmp_path / "in", "image", 0, {})[2].seed == items[1].seed  # b.jpg keeps its seed
    (tmp_path / "in" / "0-first.png").unlink()
    (tmp_path / "masks" / "b.png").unlink()
    with pytest.raises(ValueError, match="no image for 'b.jpg'"):
        folder_items(tmp_path / "in", "image", 0, {"mask": tmp_path / "masks"})
    with pytest.raises(ValueError, match="folder of images"):
        folder_items(tmp_path / "none", "image", 0, {})
