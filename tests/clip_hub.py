"""A tiny random-weight CLIP written exactly as open_clip's Hub repos store it, in a local Hub cache, and registered.

open_clip's push_to_hf_hub.save_for_hf writes ``open_clip_config.json`` (save_config_for_hf: {"model_cfg",
"preprocess_cfg"}) and ``open_clip_pytorch_model.bin`` (torch.save of the state dict); hf_hub_download leaves them as
``models--<org>--<name>/snapshots/<commit>/<file>`` with ``refs/main`` holding the commit. The registered family
mirrors the robust-CLIP one (robust_synth/zoo/robust_clip.py): a "FARE" model at L∞ 4/255 and its ε = 0 "OpenAI"
level, each with its own repo and weights, on a 64-px, 4-block ViT so the tasks run in seconds on a CPU.
"""
from pathlib import Path

import open_clip
import torch
from huggingface_hub import constants as hub_constants
from open_clip.push_to_hf_hub import save_config_for_hf

from robust_synth import models
from robust_synth.architectures import ARCHITECTURES, STAGE_STYLE, Architecture, register_architecture
from robust_synth.catalog import ModelFamily, ModelSpec, register_models
from robust_synth.zoo.robust_clip import OPENAI, WEIGHTS_FILE, clip_classifier

CONFIG = {"embed_dim": 32, "quick_gelu": True,
          "vision_cfg": {"image_size": 64, "layers": 4, "width": 64, "patch_size": 16, "head_width": 32},
          "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}
ARCH = Architecture("clip_vit_tiny_test", clip_classifier(CONFIG), 1.0, input_size=64, style=STAGE_STYLE)
FAMILY = ModelFamily("Tiny test CLIP (FARE-like; ε 0 level)", "tests", "none: random weights", "MIT",
                     "https://example.invalid/tiny-clip", "none")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ROBUST = ModelSpec("test-clip-fare-linf-4", ARCH.name, "imagenet", "hub", WEIGHTS_FILE, "open_clip", FAMILY,
                   repo="test-org/tiny-fare-clip", robustness={"norm": "linf", "eps": 4 / 255},
                   **OPENAI)
STANDARD = ModelSpec("test-clip-openai", ARCH.name, "imagenet", "hub", WEIGHTS_FILE, "open_clip", FAMILY,
                     repo="test-org/tiny-openai-clip", **OPENAI)
# A third CLIP of its own family, for what must be judged by a model that made neither image (benchmarks/clip_prompts)
JUDGE = ModelSpec("test-clip-judge-linf-4", ARCH.name, "imagenet", "hub", WEIGHTS_FILE, "open_clip",
                  ModelFamily("Tiny test CLIP judge", "tests", "none: random weights", "MIT", "", "none"),
                  repo="test-org/tiny-judge-clip", robustness={"norm": "linf", "eps": 4 / 255}, **OPENAI)


def write_repo(hub: Path, repo: str, seed: int) -> Path:
    """The repo's two files as open_clip's save_for_hf writes them, in the Hub cache's snapshot layout."""
    torch.manual_seed(seed)
    clip = open_clip.CLIP(**CONFIG)
    clip.visual.image_mean, clip.visual.image_std = OPENAI["mean"], OPENAI["std"]  # as open_clip.create_model sets
    folder = hub / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    torch.save(clip.state_dict(), snapshot / WEIGHTS_FILE)
    save_config_for_hf(clip, snapshot / "open_clip_config.json", model_config=CONFIG)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(COMMIT)
    return snapshot


def install(tmp_path: Path, monkeypatch) -> Path:
    """Both repos in an offline Hub cache under tmp_path, the test architecture and models registered; the Hub
    cache folder is returned. Undo with uninstall()."""
    hub = tmp_path / "hf" / "hub"
    hub.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("ROBUST_SYNTH_CACHE", str(tmp_path / "rs"))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    write_repo(hub, ROBUST.repo, seed=1)
    write_repo(hub, STANDARD.repo, seed=2)
    write_repo(hub, JUDGE.repo, seed=3)
    register_architecture(ARCH)
    register_models(STANDARD, ROBUST, JUDGE)
    return hub


def uninstall() -> None:
    for name in (ROBUST.name, STANDARD.name, JUDGE.name):
        models.REGISTRY.pop(name, None)
        for key in [key for key in models._cache if key[0] == name]:
            models._cache.pop(key)
    ARCHITECTURES.pop(ARCH.name, None)
    register_models()  # recompute the standard counterparts without them
