"""Hugging Face Hub files: download with one clear error, the Hub cache's commits, the converted-weights cache paths.

A hub model's file is fetched with ``huggingface_hub.hf_hub_download`` (its cache, ``spec.revision`` and
``HF_HUB_OFFLINE`` apply) and converted once to safetensors under
``datasets.cache_dir()/converted/<repo>/<commit>/<file>.safetensors``; later loads read only that, with no network
call, using the commit the revision last resolved to (Hub cache refs, or our own ``converted/<repo>/refs/<revision>``).
Pin ``spec.revision`` to a commit for exact reproducibility.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx2  # huggingface_hub's HTTP client: its transfer errors are not OSError
from huggingface_hub import constants as hub_constants
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (EntryNotFoundError, RemoteEntryNotFoundError, RepositoryNotFoundError,
                                    RevisionNotFoundError)
from huggingface_hub.file_download import repo_folder_name

from .datasets import cache_dir
from .weights_errors import WeightsUnavailableError

logger = logging.getLogger(__name__)
COMMIT_PATTERN = re.compile(r"[0-9a-f]{40}")


def download_checkpoint(spec, local_only: bool, file: str | None = None) -> Path:
    """hf_hub_download the spec's file (or another `file` of its repo, at the same revision); any failure to fetch it
    becomes one WeightsUnavailableError sentence.

    local_only (the caller's probe found the Hub silent): read only the local cache, instead of huggingface_hub's
    retries with back-off (about 24 s before it gives up).
    """
    file = file or spec.file
    try:
        return Path(hf_hub_download(spec.repo, file, revision=spec.revision, local_files_only=local_only))
    except (OSError, EntryNotFoundError, httpx2.HTTPError) as err:  # HfHubHTTPError is an OSError
        logger.debug("download of %s/%s failed", spec.repo, file, exc_info=True)
        raise WeightsUnavailableError(
            f"model {spec.name} needs a one-time download of {file} (revision {spec.revision}) from the "
            f"Hugging Face Hub repo {spec.repo}, which failed: {hub_failure_reason(err)}") from None


def hub_failure_reason(err: Exception) -> str:
    if hub_constants.is_offline_mode():
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
