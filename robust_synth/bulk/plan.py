"""Work items of a bulk run: per-item seeds, output keys, and the batches and shards each rank takes."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Item:
    """One unit of work: the task's per-item keyword arguments and where its output goes."""
    index: int                   # position in the run's global order (batches and shards are cut in this order)
    key: str                     # output name without extension, e.g. "003-cat/000012" or "holiday/photo"
    seed: int                    # the task's seed for this item
    kwargs: dict = field(default_factory=dict)  # e.g. {"target": 3, "n": 1} or {"image": "in/photo.png"}
    label: int | None = None     # class index, where the item has one
    source: str | None = None    # input file relative to --inputs (folder tasks)


def item_seed(base_seed: int, *parts: int) -> int:
    """A 32-bit seed from (base seed, parts...) via numpy's SeedSequence: independent streams, any process count."""
    return int(np.random.SeedSequence([base_seed, *parts]).generate_state(1)[0])


def _path_number(relative: str) -> int:
    """A stable 64-bit number for a relative path (the folder item's seed part: adding files changes no seed)."""
    return int.from_bytes(hashlib.sha256(relative.encode()).digest()[:8], "little")


def class_folder(index: int, name: str, num_classes: int) -> str:
    """'003-cat': zero-padded index (ImageNet has duplicate names) and the name made safe for a file system."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "class"
    return f"{index:0{len(str(num_classes - 1))}d}-{safe}"


def generation_items(classes: list[int], class_names: list[str], per_class: int, base_seed: int,
                     by_name: bool = False) -> list[Item]:
    """per_class items of each class, class by class; item (c, i) has seed item_seed(base, c, i).

    by_name: each item's target is the class's name, not its index (a CLIP model's prompts are its classes)."""
    if not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"--per-class must be a positive integer, got {per_class!r}")
    if len(set(classes)) != len(classes):
        raise ValueError("--classes names a class twice")
    items = []
    for c in classes:
        folder = class_folder(c, class_names[c], len(class_names))
        for i in range(per_class):
            items.append(Item(len(items), f"{folder}/{i:06d}", item_seed(base_seed, c, i),
                              {"target": class_names[c] if by_name else c, "n": 1}, label=c))
    return items


def image_files(folder: Path) -> list[Path]:
    """Image files under folder (recursive, sorted by relative path); ValueError if it is not a folder or has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--inputs must be a folder of images, got {str(folder)!r}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {str(folder)!r}")
    return files


def _companion(folder: Path, relative: Path, option: str) -> str:
    """The file in `folder` with the same relative path and stem as an input, any image extension."""
    matches = [p for p in sorted((folder / relative.parent).glob(relative.stem + ".*"))
               if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not matches:
        raise ValueError(f"--{option.replace('_', '-')} folder {str(folder)!r} has no image for "
                         f"{relative.as_posix()!r} (same name, any image extension)")
    return str(matches[0])


def folder_items(inputs: Path, image_param: str, base_seed: int, per_item_folders: dict[str, Path]) -> list[Item]:
    """One item per image under `inputs`, passed as the task's `image_param`.

    per_item_folders: other image parameters given as a folder (e.g. --mask masks/): each item gets the file with
    its own relative path and stem there. Seeds come from (base seed, relative path), so they survive added files.
    """
    items = []
    for path in image_files(inputs):
        relative = path.relative_to(inputs)
        rel = relative.as_posix()
        kwargs = {image_param: str(path)}
        kwargs.update({name: _companion(folder, relative, name) for name, folder in per_item_folders.items()})
        items.append(Item(len(items), relative.with_suffix("").as_posix(), item_seed(base_seed, _path_number(rel)),
                          kwargs, source=rel))
    return items


def chunks(n_items: int, chunk_size: int) -> list[range]:
    """Consecutive ranges of chunk_size item indices (the last may be shorter)."""
    return [range(a, min(a + chunk_size, n_items)) for a in range(0, n_items, chunk_size)]


def rank_chunks(all_chunks: list, rank: int, world: int) -> list:
    """Chunk j goes to rank j % world: disjoint, covering, balanced to one chunk, the same cut for any world size."""
    return all_chunks[rank::world]
