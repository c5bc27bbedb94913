"""Hub and torchvision weights: download, safe loading, MadryLab checkpoint conversion, converted-weights cache.

Hub models (``spec.source == "hub"``) are MadryLab ``robustness`` checkpoints fetched with
``huggingface_hub.hf_hub_download`` (its cache, ``spec.revision`` and ``HF_HUB_OFFLINE`` apply).
They are converted once to a torchvision state dict and cached as safetensors under
``datasets.cache_dir()/converted/<repo>/<commit>/<file>.safetensors`` (written atomically); later loads
read only that, with no network call, using the commit the revision last resolved to (Hub cache refs, or
our own ``converted/<repo>/refs/<revision>``). Pin ``spec.revision`` to a commit for exact reproducibility.
Torchvision models (``spec.source == "torchvision"``) use the weights enum's URL and torch.hub's
cache (``$TORCH_HOME/hub/checkpoints``). ``HF_HUB_OFFLINE=1`` also stops torchvision downloads.

Integrity: a spec with a pinned ``spec.sha256`` refuses a downloaded file whose sha256 differs, checked once before
the conversion (the converted file's metadata records the source sha256 and that the pin was checked; later loads
read only the converted file). The conversion checks that the attacker's copy of the weights equals the model's and
that the checkpoint's normaliser holds the spec's mean/std.
Safety: a ``.ckpt`` is read with ``torch.load(weights_only=True)`` (plus ``SAFE_CHECKPOINT_GLOBALS``); MadryLab's
files, written with ``pickle_module=dill``, need nothing more when they hold only tensors and plain containers. A file
that needs more is refused, unless it sits in the Hub cache of the registry's pinned repo
(``madry_family.HUB_REPO``) and its sha256 matched its pin; only then is it fully unpickled (with dill, as the
``robustness`` library loads them).
No function here takes a user-supplied path.
"""
from __future__ import annotations

import argparse
import http.client
import logging
import pickle
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import dill  # the robustness library's pickler: the fully unpickled (pinned) path reads with it
import httpx2  # huggingface_hub's HTTP client: its transfer errors are not OSError
import torch
import torchvision
from huggingface_hub import constants as hub_constants
from huggingface_hub import file_download, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError, RemoteEntryNotFoundError,
                                    RepositoryNotFoundError, RevisionNotFoundError)
from huggingface_hub.file_download import repo_folder_name
from safetensors.torch import load_file, save_file

from .architectures import build
from .atomic import atomic_write
from .datasets import cache_dir
from .hashes import file_sha256
from .madry_family import HUB_REPO

logger = logging.getLogger(__name__)

# Non-tensor objects MadryLab checkpoints may carry next to the weights (training arguments).
SAFE_CHECKPOINT_GLOBALS = [argparse.Namespace]
COMMIT_PATTERN = re.compile(r"[0-9a-f]{40}")
PROBE_TIMEOUT_S = 3.0   # a reachable host answers one HEAD well within this; huggingface_hub's retries take ~24 s
REACHABILITY_TTL_S = 300.0  # how long an answer about a host is trusted before asking again
_reachable: dict[str, tuple[float, bool]] = {}  # host -> (time.monotonic() of the probe, answered)


class WeightsUnavailableError(FileNotFoundError):
    """The weights are not cached and could not be downloaded (offline, no network, or not on the server)."""


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs arbitrary unpickling and is not pinned by checksum to the trusted repo."""


class CheckpointFormatError(ValueError):
    """A checkpoint's contents do not match the architecture it is registered for."""


class ChecksumMismatchError(RuntimeError):
    """A downloaded checkpoint's sha256 differs from the one pinned in its spec."""


def offline() -> bool:
    """True when HF_HUB_OFFLINE is set (as read by huggingface_hub): no download is attempted."""
    return hub_constants.is_offline_mode()


# ---------------------------------------------------------------- public entry points

def availability(spec) -> str:
    """"cached", "downloadable" or "unavailable offline" for a hub or torchvision spec (probes the host at most
    once per REACHABILITY_TTL_S)."""
    if is_cached(spec):
        return "cached"
    return "downloadable" if reachable(spec) else "unavailable offline"


def reachable(spec, fresh: bool = False) -> bool:
    """Whether the spec's download host answers (offline mode: no); remembered for REACHABILITY_TTL_S unless fresh."""
    if offline():
        return False
    url = torchvision_file(spec)[0] if spec.source == "torchvision" else hf_hub_url(spec.repo, spec.file,
                                                                                    revision=spec.revision)
    host = urlsplit(url).netloc
    checked = _reachable.get(host)
    if fresh or checked is None or time.monotonic() - checked[0] > REACHABILITY_TTL_S:
        answered = answers(url, hub=spec.source == "hub")
        if not answered and (checked is None or checked[1]):  # said once, when the host stops answering
            logger.warning("%s could not be reached within %g s (no network?): models whose weights are not cached are "
                           "unavailable; asking again in %g s", host, PROBE_TIMEOUT_S, REACHABILITY_TTL_S)
        checked = _reachable[host] = (time.monotonic(), answered)
    return checked[1]


def answers(url: str, hub: bool) -> bool:
    """One HEAD request without retries: True if the server answered at all (any HTTP status)."""
    try:
        if hub:  # huggingface_hub's own request (its session, proxies and token), retries off
            file_download.get_hf_file_metadata(url, timeout=PROBE_TIMEOUT_S, retry_on_errors=False)
        else:
            httpx2.head(url, timeout=PROBE_TIMEOUT_S)
    except httpx2.TransportError:  # DNS failure, refused or timed-out connection, broken transfer
        logger.debug("HEAD %s failed", url, exc_info=True)
        return False
    except HfHubHTTPError:  # an HTTP error status is still an answer
        return True
    return True


def is_cached(spec) -> bool:
    """True if the spec's weights can be loaded without any network access."""
    if spec.source == "torchvision":
        return torchvision_file(spec)[1].exists()
    commit = cached_commit(spec)
    if commit is None:
        return False
    return converted_path(spec, commit).exists() or snapshot_path(spec, commit).exists()


def load_state_dict(spec) -> tuple[dict[str, torch.Tensor], Path]:
    """The torchvision-layout state dict for a hub or torchvision spec, and the file it was read from."""
    if spec.source == "torchvision":
        return torchvision_state_dict(spec)
    if spec.source == "hub":
        return hub_state_dict(spec)
    raise ValueError(f"model source {spec.source!r} has no downloadable weights; allowed: 'hub', 'torchvision'")


# ---------------------------------------------------------------- Hugging Face Hub

def hub_state_dict(spec) -> tuple[dict[str, torch.Tensor], Path]:
    commit = cached_commit(spec)
    if commit is not None and converted_path(spec, commit).exists():
        path = converted_path(spec, commit)
        return load_file(str(path)), path
    ckpt = download_checkpoint(spec)
    commit = snapshot_commit(ckpt, spec)
    remember_commit(spec, commit)
    path = converted_path(spec, commit)
    if not path.exists():
        sha256 = verify_pin(ckpt, spec)
        state = madry_to_torchvision(read_checkpoint(ckpt, spec), spec)
        save_atomic(state, path, {"repo": spec.repo, "file": spec.file, "commit": commit, "sha256": sha256,
                                  "pin": "verified" if spec.sha256 else "none"})
    return load_file(str(path)), path


def verify_pin(path: Path, spec) -> str:
    """The file's sha256; ChecksumMismatchError if the spec pins another one (damaged, or replaced upstream)."""
    sha256 = file_sha256(path)
    if spec.sha256 and sha256 != spec.sha256.lower():
        raise ChecksumMismatchError(
            f"refusing {spec.file} for model {spec.name}: its sha256 is {sha256}, not the pinned {spec.sha256}, so "
            f"the download is damaged or the file changed upstream; delete {path.resolve()} and load again")
    return sha256


def download_checkpoint(spec) -> Path:
    """hf_hub_download the spec's file; any failure to fetch it becomes one WeightsUnavailableError sentence.

    The Hub is probed first (one HEAD, PROBE_TIMEOUT_S): when it does not answer, only the local cache is read,
    instead of huggingface_hub's retries with back-off (about 24 s before it gives up).
    """
    try:
        return Path(hf_hub_download(spec.repo, spec.file, revision=spec.revision,
                                    local_files_only=not reachable(spec, fresh=True)))
    except (OSError, EntryNotFoundError, httpx2.HTTPError) as err:  # HfHubHTTPError is an OSError
        logger.debug("download of %s/%s failed", spec.repo, spec.file, exc_info=True)
        raise WeightsUnavailableError(
            f"model {spec.name} needs a one-time download of {spec.file} (revision {spec.revision}) from the "
            f"Hugging Face Hub repo {spec.repo}, which failed: {hub_failure_reason(err)}") from None


def hub_failure_reason(err: Exception) -> str:
    if offline():
        return "offline mode is on (HF_HUB_OFFLINE=1) and the file is not in the local cache"
    if isinstance(err, (RepositoryNotFoundError, RevisionNotFoundError)):
        return "the repo or revision does not exist on the Hub (or needs a token)"
    if isinstance(err, RemoteEntryNotFoundError):
        return "the repo has no such file at that revision"
    if isinstance(err, httpx2.HTTPError):
        return f"the transfer broke off ({type(err).__name__}); retrying resumes from a clean state"
    return "the Hub could not be reached (no network?) and the file is not in the local cache"


def hub_repo_cache(repo: str) -> Path:
    return Path(hub_constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo, repo_type="model")


def cached_commit(spec) -> str | None:
    """The commit spec.revision last resolved to (Hub cache refs, else our own record; no network), or None."""
    if COMMIT_PATTERN.fullmatch(spec.revision):
        return spec.revision
    for ref in (hub_repo_cache(spec.repo) / "refs" / spec.revision, converted_root(spec) / "refs" / spec.revision):
        if ref.is_file():
            return ref.read_text().strip()
    return None


def remember_commit(spec, commit: str) -> None:
    """Record revision -> commit beside the converted weights, so they load even after the Hub cache is cleared."""
    ref = converted_root(spec) / "refs" / spec.revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)


def snapshot_path(spec, commit: str) -> Path:
    return hub_repo_cache(spec.repo) / "snapshots" / commit / spec.file


def snapshot_commit(path: Path, spec) -> str:
    """The commit of a hf_hub_download result: .../snapshots/<commit>/<spec.file>."""
    return path.parts[-len(Path(spec.file).parts) - 1]


def converted_root(spec) -> Path:
    return cache_dir() / "converted" / spec.repo.replace("/", "--")


def converted_path(spec, commit: str) -> Path:
    return converted_root(spec) / commit / f"{Path(spec.file).stem}.safetensors"


# ---------------------------------------------------------------- safe reading and conversion

def read_checkpoint(path: Path, spec):
    """torch.load with weights_only=True; full unpickling only for a checksum-pinned file of the pinned repo."""
    try:
        with torch.serialization.safe_globals(SAFE_CHECKPOINT_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if is_pinned_and_trusted(path, spec):
            logger.warning("fully unpickling %s: its sha256 matches the pin for %s", path.name, spec.repo)
            return torch.load(path, map_location="cpu", weights_only=False, pickle_module=dill)
        raise UnsafeCheckpointError(
            f"refusing to load {spec.file} for model {spec.name}: it holds Python objects beyond tensors "
            f"({unsafe_globals(path)}), and only a file from {HUB_REPO} whose sha256 matches the pin in its "
            f"model spec may be fully unpickled") from None
    except (RuntimeError, EOFError, OSError) as err:  # truncated or corrupt file
        raise CheckpointFormatError(f"{spec.file} for model {spec.name} could not be read ({err}); it may be "
                                    f"damaged: delete {path.resolve()} and load again") from None


def is_pinned_and_trusted(path: Path, spec) -> bool:
    """A pinned spec of the pinned repo, read from that repo's Hub cache (verify_pin has matched its sha256)."""
    if not spec.sha256 or spec.repo != HUB_REPO:
        return False
    return path.resolve().is_relative_to(hub_repo_cache(spec.repo).resolve())


def unsafe_globals(path: Path) -> str:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (RuntimeError, ValueError, OSError, pickle.UnpicklingError):  # legacy (non-zip) or damaged file
        return "unknown: the file is not a readable zip-format checkpoint"
    return ", ".join(names[:5]) or "none listed"


def madry_to_torchvision(checkpoint, spec) -> dict[str, torch.Tensor]:
    """Keep the `module.model.` weights of a MadryLab checkpoint, keyed exactly as torchvision's spec.arch.

    Checked, then dropped: `module.attacker.model.` (the attacker's copy, which must equal the weights) and
    `module.normalizer.` (mean/std buffers, which must be the spec's).
    """
    file = spec.file
    state = checkpoint.get("model", checkpoint.get("state_dict")) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointFormatError(f"{file} is not a MadryLab checkpoint: expected a dict with a 'model' or "
                                    "'state_dict' entry")
    unwrapped = {k.removeprefix("module."): v for k, v in state.items()}  # DataParallel's prefix
    weights, attacker = submodule(unwrapped, "model."), submodule(unwrapped, "attacker.model.")
    if weights and all(k.startswith("model.") for k in weights):  # torchvision-wrapped arch: module.model.model.
        weights, attacker = submodule(weights, "model."), submodule(attacker, "model.")
    verify_keys(weights, spec)
    verify_attacker_copy(weights, attacker, spec)
    verify_normalizer(submodule(unwrapped, "normalizer."), spec)
    return {k: v.detach().contiguous() for k, v in weights.items()}


def submodule(state: dict, prefix: str) -> dict:
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def verify_attacker_copy(weights: dict, attacker: dict, spec) -> None:
    """In the robustness library the attacker holds the same network: a missing or different copy means a bad file."""
    differ = sorted(attacker.keys() ^ weights.keys()) or [k for k in weights if not same(weights[k], attacker[k])]
    if differ:
        raise CheckpointFormatError(f"{spec.file} for model {spec.name} is inconsistent: the attacker's copy of the "
                                    f"weights (module.attacker.model.) differs from the model's at {few(differ)}")


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shape and values (meta tensors, used to check layouts at no cost, carry no values to compare)."""
    return a.shape == b.shape and (a.is_meta or torch.equal(a, b))


def close(values: torch.Tensor, expected: tuple) -> bool:
    return values.numel() == len(expected) and torch.allclose(values.flatten().double(),
                                                              torch.tensor(expected, dtype=torch.double), atol=1e-4)


def verify_normalizer(normalizer: dict, spec) -> None:
    """The checkpoint's input normaliser must hold the mean/std that RobustModel applies (ImageNet's)."""
    expected = {"new_mean": spec.mean, "new_std": spec.std}
    found = {k: normalizer.get(k) for k in expected}
    if not all(v is not None and (v.is_meta or close(v, expected[k])) for k, v in found.items()):
        shown = {k: None if v is None else [round(x, 4) for x in v.flatten().tolist()] for k, v in found.items()}
        raise CheckpointFormatError(f"{spec.file} for model {spec.name} normalises its input with {shown} "
                                    f"(module.normalizer.), not the expected mean {spec.mean} and std {spec.std}")


def verify_keys(state: dict[str, torch.Tensor], spec) -> None:
    """Raise CheckpointFormatError unless keys and shapes match torchvision's spec.arch exactly."""
    file, arch = spec.file, spec.arch
    with torch.device("meta"):  # keys and shapes only: no memory, no init cost
        expected = build(arch, spec.num_classes)[0].state_dict()
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise CheckpointFormatError(f"{file} does not match torchvision {arch}: missing keys {few(missing)}; "
                                    f"unexpected keys {few(unexpected)}")
    wrong = [k for k in expected if tuple(expected[k].shape) != tuple(state[k].shape)]
    if wrong:
        raise CheckpointFormatError(f"{file} does not match torchvision {arch}: wrong shapes for {few(wrong)}")


def few(keys: list[str], n: int = 3) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def save_atomic(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write safetensors atomically (a temp file in the same folder, then a rename): never a half-written cache file."""
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))


# ---------------------------------------------------------------- torchvision

def torchvision_file(spec) -> tuple[str, Path]:
    """The weights enum's URL and where torch.hub caches it ($TORCH_HOME/hub/checkpoints/<url basename>)."""
    url = torchvision.models.get_weight(spec.file).url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def torchvision_state_dict(spec) -> tuple[dict[str, torch.Tensor], Path]:
    url, path = torchvision_file(spec)
    if not path.exists() and offline():
        raise WeightsUnavailableError(
            f"model {spec.name} needs a one-time download of {path.name} from {url}, but offline mode is on "
            "(HF_HUB_OFFLINE=1) and the file is not in the torch.hub cache")
    try:
        state = torch.hub.load_state_dict_from_url(url, map_location="cpu", check_hash=True, weights_only=True)
    except (OSError, http.client.HTTPException) as err:
        logger.debug("download of %s failed", url, exc_info=True)
        raise WeightsUnavailableError(
            f"model {spec.name} needs a one-time download of {path.name} from {url}, which failed "
            f"({type(err).__name__}: no network?) and the file is not in the torch.hub cache") from None
    return state, path
