"""Where a bulk run's outputs go: one PNG per item (recipe embedded) or WebDataset tar shards, written atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path

import webdataset

from ..atomic import atomic_write_bytes, temp_path
from ..result_store import png_with_recipe
from .manifest import ManifestPart
from .plan import Item


def _image_names(key: str, count: int, suffix: str) -> list[str]:
    """key.png for the first image of an item, key-01.png ... for further ones (interpolation frames)."""
    return [f"{key}{suffix}"] + [f"{key}-{i:02d}{suffix}" for i in range(1, count)]


class PngStore:
    """out/<key>.png per item. An item is finished when its (first) PNG exists: further images are written first."""

    format = "png"

    def __init__(self, out: Path, manifest: ManifestPart):
        self.out, self.manifest = Path(out), manifest

    def chunk_size(self, batch_size: int) -> int:
        return batch_size  # the unit of work is one batch

    def pending(self, chunk: int, items: list[Item]) -> list[Item]:
        """The items of a chunk still to write (the batch is run whole, so its other items stay as they were)."""
        return [item for item in items if not (self.out / f"{item.key}.png").exists()]

    def begin(self, chunk: int) -> None:
        pass

    def write(self, chunk: int, items: list[Item], outputs: list, entry_for) -> None:
        """outputs[i] = (images, recipe) of items[i]; manifest lines first, then the files (see manifest.py)."""
        names = [_image_names(item.key, len(images), ".png") for item, (images, _) in zip(items, outputs)]
        self.manifest.append([entry_for(item, recipe, {"file": n[0], **({"files": n} if len(n) > 1 else {})})
                              for item, (_, recipe), n in zip(items, outputs, names)])
        for (images, recipe), n in zip(outputs, names):
            for name, image in reversed(list(zip(n, images))):
                atomic_write_bytes(self.out / name, png_with_recipe(image, recipe))

    def end(self, chunk: int) -> None:
        pass

    def exists(self, entry: dict) -> bool:
        return (self.out / entry["file"]).exists()


class TarStore:
    """out/shard-NNNNNN.tar per chunk of shard_size items, WebDataset layout: <key>.png, <key>.json (the recipe),
    <key>.cls (class index); further images <key>.01.png .... A shard is written to a temporary file and renamed
    when complete, so a shard that exists is whole; an interrupted shard is redone."""

    format = "tar"

    def __init__(self, out: Path, manifest: ManifestPart, shard_size: int):
        self.out, self.manifest, self.shard_size = Path(out), manifest, shard_size
        self._open: dict[int, tuple] = {}  # chunk -> (temp path, file, TarWriter, manifest entries)

    def chunk_size(self, batch_size: int) -> int:
        if self.shard_size % batch_size:
            raise ValueError(f"--shard-size ({self.shard_size}) must be a multiple of --batch-size ({batch_size}), "
                             "so shards are cut into the same batches as PNG runs")
        return self.shard_size

    def shard_name(self, chunk: int) -> str:
        return f"shard-{chunk:06d}.tar"

    def pending(self, chunk: int, items: list[Item]) -> list[Item]:
        """All items of a shard that does not exist yet, none of one that does."""
        return [] if (self.out / self.shard_name(chunk)).exists() else list(items)

    def begin(self, chunk: int) -> None:
        tmp = temp_path(self.out / self.shard_name(chunk))
        stream = open(tmp, "wb")
        self._open[chunk] = (tmp, stream, webdataset.TarWriter(stream, encoder=False), [])

    def write(self, chunk: int, items: list[Item], outputs: list, entry_for) -> None:
        _, _, writer, entries = self._open[chunk]
        for item, (images, recipe) in zip(items, outputs):
            key = item.key.replace(".", "_")  # WebDataset splits a member name at the first dot of its base name
            sample = {"__key__": key, "json": json.dumps(recipe, sort_keys=True).encode()}
            sample.update({ext: png_with_recipe(image, recipe) for ext, image in
                           zip(["png"] + [f"{i:02d}.png" for i in range(1, len(images))], images)})
            if item.label is not None:
                sample["cls"] = str(item.label).encode()
            writer.write(sample)
            entries.append(entry_for(item, recipe, {"file": self.shard_name(chunk), "member": key}))

    def end(self, chunk: int) -> None:
        tmp, stream, writer, entries = self._open.pop(chunk)
        writer.close()
        stream.close()
        self.manifest.append(entries)
        os.replace(tmp, self.out / self.shard_name(chunk))

    def exists(self, entry: dict) -> bool:
        return (self.out / entry["file"]).exists()
