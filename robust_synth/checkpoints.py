"""Where a model's weights come from and whether they can be had: embedded, Hub, torchvision or a URL, then its format.

Every source yields a file, which the spec's checkpoint format (checkpoint_formats.FORMATS) reads and converts to the
builder's layout. Hub files are converted once and cached as safetensors (hub_files.py); torchvision files use the
weights enum's URL and torch.hub's cache (``$TORCH_HOME/hub/checkpoints``), as do URL sources (saved as
``robust_synth--<model>.<ext>``). ``HF_HUB_OFFLINE=1`` stops every download.

Integrity: a spec with a pinned ``spec.sha256`` refuses a downloaded file whose sha256 differs, checked once before
the conversion (the converted file's metadata records the source sha256 and that the pin was checked). Safety: files
are read with ``torch.load(weights_only=True)``; only a pinned file from its family's own Hub repo may be fully
unpickled (checkpoint_reading.py). No function here takes a user-supplied path.
"""
from __future__ import annotations

import http.client
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2  # huggingface_hub's HTTP client: its transfer errors are not OSError
import torch
import torchvision
from huggingface_hub import constants as hub_constants
from huggingface_hub import file_download, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError
from safetensors.torch import load_file, save_file

from .atomic import atomic_write
from .checkpoint_formats import get_format, state_dict_from
from .hashes import file_sha256
from .hub_files import (cached_commit, converted_path, download_checkpoint, remember_commit, snapshot_commit,
                        snapshot_path)
from .weights_errors import (CheckpointFormatError, ChecksumMismatchError, UnsafeCheckpointError,  # noqa: F401
                             WeightsUnavailableError)

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0   # a reachable host answers one HEAD well within this; huggingface_hub's retries take ~24 s
REACHABILITY_TTL_S = 300.0  # how long an answer about a host is trusted before asking again
_reachable: dict[str, tuple[float, bool]] = {}  # host -> (time.monotonic() of the probe, answered)


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
    url = download_url(spec)
    host = urlsplit(url).netloc
    checked = _reachable.get(host)
    if fresh or checked is None or time.monotonic() - checked[0] > REACHABILITY_TTL_S:
        answered = answers(url, hub=spec.source == "hub")
        if not answered and (checked is None or checked[1]):  # said once, when the host stops answering
            logger.warning("%s could not be reached within %g s (no network?): models whose weights are not cached are "
                           "unavailable; asking again in %g s", host, PROBE_TIMEOUT_S, REACHABILITY_TTL_S)
        checked = _reachable[host] = (time.monotonic(), answered)
    return checked[1]


def download_url(spec) -> str:
    if spec.source == "torchvision":
        return torchvision_file(spec)[0]
    return spec.file if spec.source == "url" else hf_hub_url(spec.repo, spec.file, revision=spec.revision)


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
    if spec.source == "url":
        return url_file(spec).exists()
    commit = cached_commit(spec)
    if commit is None:
        return False
    return converted_path(spec, commit).exists() or snapshot_path(spec, commit).exists()


def load_state_dict(spec) -> tuple[dict[str, torch.Tensor], Path]:
    """The state dict in the builder's layout for a downloadable spec, and the file it was read from."""
    if spec.source not in SOURCES:
        raise ValueError(f"model source {spec.source!r} has no downloadable weights; allowed: {', '.join(SOURCES)}")
    return SOURCES[spec.source](spec)


# ---------------------------------------------------------------- sources

def hub_state_dict(spec) -> tuple[dict[str, torch.Tensor], Path]:
    commit = cached_commit(spec)
    if commit is not None and converted_path(spec, commit).exists():
        path = converted_path(spec, commit)
        return load_file(str(path)), path
    ckpt = download_checkpoint(spec, local_only=not reachable(spec, fresh=True))
    commit = snapshot_commit(ckpt, spec)
    remember_commit(spec, commit)
    path = converted_path(spec, commit)
    if not path.exists():
        sha256 = verify_pin(ckpt, spec)
        save_atomic(state_dict_from(ckpt, spec), path, {"repo": spec.repo, "file": spec.file, "commit": commit,
                                                        "sha256": sha256, "pin": "verified" if spec.sha256 else "none"})
    return load_file(str(path)), path


def verify_pin(path: Path, spec) -> str:
    """The file's sha256; ChecksumMismatchError if the spec pins another one (damaged, or replaced upstream)."""
    sha256 = file_sha256(path)
    if spec.sha256 and sha256 != spec.sha256.lower():
        raise ChecksumMismatchError(
            f"refusing {spec.file} for model {spec.name}: its sha256 is {sha256}, not the pinned {spec.sha256}, so "
            f"the download is damaged or the file changed upstream; delete {path.resolve()} and load again")
    return sha256


def url_file(spec) -> Path:
    """Where a URL source's file is kept: torch.hub's cache, named after the model (the URL may not name a file)."""
    suffix = "".join(Path(urlsplit(spec.file).path).suffixes[-2:]) or ".pt"
    return Path(torch.hub.get_dir()) / "checkpoints" / f"robust_synth--{spec.name}{suffix}"


def url_state_dict(spec) -> tuple[dict[str, torch.Tensor], Path]:
    """Download a URL source once (atomically, into torch.hub's cache), check its pin, read it as its format says."""
    path = url_file(spec)
    if not path.exists():
        if not reachable(spec, fresh=True):
            raise WeightsUnavailableError(
                f"model {spec.name} needs a one-time download of {spec.file}, but it cannot be reached now (offline "
                f"mode or no network) and the file is not in the torch.hub cache ({path})")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(spec.file, str(path), progress=False)
        except (OSError, http.client.HTTPException) as err:
            raise WeightsUnavailableError(f"model {spec.name}: the download of {spec.file} failed "
                                          f"({type(err).__name__})") from None
    verify_pin(path, spec)
    return state_dict_from(path, spec), path


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
    return state_dict_from_loaded(state, spec), path


def state_dict_from_loaded(state, spec) -> dict[str, torch.Tensor]:
    """torch.hub has read the file: only the format's conversion is left."""
    return get_format(spec.format).convert(state, spec)


SOURCES = {"hub": hub_state_dict, "torchvision": torchvision_state_dict, "url": url_state_dict}
