"""Result store behind share links: PNGs with the recipe embedded, content-hash ids, atomic writes, a size cap."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .image import load_image, open_image

RECIPE_KEY = "robust-synth-recipe"        # PNG text chunk holding the recipe JSON
ID_PATTERN = re.compile(r"[0-9a-f]{24}")  # 96 bits of sha256: ids are checked against this before any file access
INPUT_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")
STALE_TEMP_SECONDS = 3600                 # temp dirs older than this are left over from a crash: removed at start
DEFAULT_MAX_MB = 2048
log = logging.getLogger(__name__)
# Shared by every ResultStore in the process (the app makes one per request): one save (room, then write) at a
# time, and the sizes of result folders already measured (a result never changes once written), per root.
_STORE_LOCK = threading.Lock()
_FOLDER_SIZES: dict[Path, dict[str, int]] = {}


def default_root() -> Path:
    """$ROBUST_SYNTH_RESULTS, else /data/robust-synth-results on a Space with persistent storage, else the cache."""
    if os.environ.get("ROBUST_SYNTH_RESULTS"):
        return Path(os.environ["ROBUST_SYNTH_RESULTS"]).expanduser()
    if os.path.isdir("/data") and os.access("/data", os.W_OK):
        return Path("/data/robust-synth-results")
    return Path.home() / ".cache" / "robust_synth" / "results"


def default_max_bytes() -> int:
    text = os.environ.get("ROBUST_SYNTH_RESULTS_MAX_MB", "").strip() or str(DEFAULT_MAX_MB)
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = -1.0
    if not 0 < megabytes < float("inf"):
        raise ValueError(f"environment variable ROBUST_SYNTH_RESULTS_MAX_MB must be a positive number, got {text!r}")
    return int(megabytes * 2**20)


def recipe_json(recipe: dict) -> str:
    if not isinstance(recipe, dict):
        raise TypeError(f"recipe must be a dict, got {type(recipe).__name__}")
    try:
        return json.dumps(recipe, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"recipe must hold only JSON values (str, number, bool, None, list, dict): {e}") from e


def _png_bytes(img: Image.Image, pnginfo: PngInfo | None = None) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", pnginfo=pnginfo)
    return buf.getvalue()


def png_with_recipe(img: Image.Image, recipe: dict) -> bytes:
    """PNG bytes of img with the recipe JSON in a compressed text chunk named RECIPE_KEY."""
    info = PngInfo()
    info.add_text(RECIPE_KEY, recipe_json(recipe), zip=True)
    return _png_bytes(img, info)


def recipe_from_png(source) -> dict:
    """The recipe embedded in a result PNG (a PIL image, path or bytes), for "Re-run from recipe"."""
    info = open_image(source, name="recipe image").info
    text = info.get(RECIPE_KEY)
    if not isinstance(text, str):
        raise ValueError("this image carries no robust-synth recipe: upload a PNG saved by robust-synth, unmodified")
    try:
        recipe = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"the recipe embedded in this image is not valid JSON: {e}") from None
    if not isinstance(recipe, dict):
        raise ValueError("the recipe embedded in this image is not a JSON object")
    return recipe


def check_id(result_id) -> str:
    """Return result_id if it is a well-formed id (24 lowercase hex characters), else raise ValueError."""
    if not isinstance(result_id, str) or not ID_PATTERN.fullmatch(result_id):
        raise ValueError("unknown result id: a result id is 24 lowercase hexadecimal characters")
    return result_id


def _input_png(name, value) -> bytes:
    if not isinstance(name, str) or not INPUT_NAME.fullmatch(name):
        raise ValueError(f"input names must be lowercase identifiers of at most 32 characters, got {name!r}")
    img = open_image(value, name=name)
    return _png_bytes(img if img.mode in PNG_MODES else load_image(img, name=name))


def _check_images(what: str, images) -> None:
    if not isinstance(images, (list, tuple)) or not images or not all(isinstance(i, Image.Image) for i in images):
        raise TypeError(f"{what} must be a non-empty list of PIL images")


def _content_id(recipe_text: str, files: dict[str, bytes]) -> str:
    digest = hashlib.sha256(recipe_text.encode())
    for filename in sorted(files):
        digest.update(f"\0{filename}\0{len(files[filename])}\0".encode())
        digest.update(files[filename])
    return digest.hexdigest()[:24]


def _folder_bytes(folder: Path) -> int:
    return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file(follow_symlinks=False))


class ResultStore:
    """Results on disk, one directory per id: output-NNN.png (recipe embedded), input-<name>.png, recipe.json, and
    for a compared run compared-NNN.png (the standard model's images).

    Each result appears atomically (written to a temp directory, then renamed); ids are content hashes, so
    saving the same result twice gives the same id. Before a result is written, the oldest results are removed
    until it fits under max_bytes (a single result over the cap is still kept, alone). A failed write (full disk,
    no permission) logs a warning and save() returns None: the caller still has its images. No index: a new store on
    the same root sees old results.
    """

    def __init__(self, root: str | Path | None = None, max_bytes: int | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int) or self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        self._remove_stale_temp_dirs()

    def save(self, images: list[Image.Image], recipe: dict, inputs: dict | None = None,
             compared: list[Image.Image] | None = None) -> str | None:
        """Store the outputs (PNG, recipe embedded), the recipe and the inputs; return the result id, or None.

        compared: the standard model's images of a compared run (compared-NNN.png, its recipe["comparison"] embedded).
        """
        _check_images("images", images)
        if compared is not None:
            _check_images("compared", compared)
        text = recipe_json(recipe)
        files = {f"output-{i:03d}.png": png_with_recipe(img, recipe) for i, img in enumerate(images)}
        files.update({f"compared-{i:03d}.png": png_with_recipe(img, recipe.get("comparison") or recipe)
                      for i, img in enumerate(compared or [])})
        files.update({f"input-{name}.png": _input_png(name, value)
                      for name, value in (inputs or {}).items() if value is not None})
        files["recipe.json"] = text.encode()
        result_id = _content_id(text, files)
        with _STORE_LOCK:  # room first, then the write: the store is never over its cap, not even for a moment
            self._make_room(keep=result_id, incoming=sum(map(len, files.values())))
            try:
                self._write(result_id, files)
            except OSError as e:
                log.warning("result not saved to %s: %s", self.root, e)
                return None
            _FOLDER_SIZES.setdefault(self.root, {})[result_id] = sum(map(len, files.values()))
        return result_id

    def load(self, result_id: str) -> tuple[list[Image.Image], dict, dict[str, Image.Image]]:
        """(images, recipe, inputs) of a stored result; ValueError for a malformed or unknown id."""
        folder = self.root / check_id(result_id)
        try:
            recipe = json.loads((folder / "recipe.json").read_text())
            images = [_read_png(path) for path in sorted(folder.glob("output-*.png"))]
        except (FileNotFoundError, NotADirectoryError):
            raise ValueError(f"result {result_id} not found: it may have been removed to make room for "
                             f"newer results") from None
        return images, recipe, self.load_inputs(result_id)

    def load_inputs(self, result_id: str) -> dict[str, Image.Image]:
        """The input pictures of a stored result by name (only those: no outputs decoded); {} when it has none."""
        folder = self.root / check_id(result_id)
        return {path.stem[len("input-"):]: _read_png(path) for path in sorted(folder.glob("input-*.png"))}

    def load_compared(self, result_id: str) -> list[Image.Image]:
        """The standard model's images saved with a compared result (empty when it was not compared)."""
        return [_read_png(path) for path in sorted((self.root / check_id(result_id)).glob("compared-*.png"))]

    def ids(self) -> list[str]:
        """Stored result ids, oldest first."""
        return [result_id for _, result_id in self._entries()]

    def _entries(self) -> list[tuple[int, str]]:
        try:
            entries = [(e.stat().st_mtime_ns, e.name) for e in os.scandir(self.root)
                       if ID_PATTERN.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []
        return sorted(entries)

    def _write(self, result_id: str, files: dict[str, bytes]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / result_id
        if not final.is_dir():
            temp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            try:
                for filename, data in files.items():
                    (temp / filename).write_bytes(data)
                os.replace(temp, final)
            except OSError:
                if not final.is_dir():  # another request saving the same result won the race: that is fine
                    raise
            finally:
                shutil.rmtree(temp, ignore_errors=True)
        now = time.time_ns()
        os.utime(final, ns=(now, now))  # saved again: counts as new for eviction

    def _make_room(self, keep: str, incoming: int) -> None:
        """Remove the oldest results until the store plus `incoming` new bytes fits max_bytes (never `keep`)."""
        try:
            entries = self._entries()
            known = _FOLDER_SIZES.get(self.root, {})
            sizes = {rid: known.get(rid) or _folder_bytes(self.root / rid) for _, rid in entries}
            _FOLDER_SIZES[self.root] = sizes
            total = sum(sizes.values()) + (0 if keep in sizes else incoming)
            for _, result_id in entries:
                if total <= self.max_bytes:
                    break
                if result_id != keep:
                    self._remove(result_id)
                    total -= sizes.pop(result_id)
        except OSError as e:
            log.warning("could not evict old results from %s: %s", self.root, e)

    def _remove(self, result_id: str) -> None:
        trash = self.root / f".trash-{result_id}-{os.getpid()}-{threading.get_ident()}"
        os.replace(self.root / result_id, trash)  # disappears at once; deleting the files can take a while
        shutil.rmtree(trash, ignore_errors=True)

    def _remove_stale_temp_dirs(self) -> None:
        try:
            cutoff = time.time() - STALE_TEMP_SECONDS
            for entry in os.scandir(self.root):
                if entry.name.startswith((".tmp-", ".trash-")) and entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            pass  # no root yet, or unreadable: save() reports problems when it matters


def _read_png(path: Path) -> Image.Image:
    with Image.open(path, formats=["PNG"]) as img:
        img.load()
        return img
