"""Robust CLIP ViT-L/14 image encoders (FARE⁴, TeCoA⁴; Schlarmann et al. 2024) and OpenAI's CLIP as their ε = 0 level,
loaded through open_clip from their Hugging Face Hub repos: architecture, format, family and models, declared once.

Source of every fact: the authors' repository (github.com/chs20/RobustVLM, README: "Models", "Loading pretrained
models" and "Summary of results") and the Hub repos' model cards (chs20/fare4-clip, chs20/tecoa4-clip: "FARE CLIP
ViT-L/14 model. Unsupervised adversarial fine-tuning from Openai CLIP initialization on ImageNet with infinity-norm and
radius 4/255", licence MIT, loaded with ``open_clip.create_model_and_transforms('hf-hub:chs20/fare4-clip')``).
OpenAI's weights are open_clip's own Hub copy (open_clip's pretrained table: ViT-L-14-quickgelu "openai" ->
timm/vit_large_patch14_clip_224.openai), MIT as OpenAI's CLIP repository.

The Hub layout is open_clip's (push_to_hf_hub.save_for_hf): ``open_clip_config.json`` ({"model_cfg", "preprocess_cfg"})
beside ``open_clip_pytorch_model.bin`` (a torch.save state dict; some repos add ``open_clip_model.safetensors``).
The network is built from the repo's own config, the weights read with ``torch.load(weights_only=True)``.
Accuracies: the README's CLIP-only column, the *average zero-shot accuracy* over the paper's zero-shot datasets,
clean and under its adversarial evaluation at L∞ ε 4/255, not ImageNet top-1. The Hub shows each file's Git LFS
sha256 on its page, which could not be read from this project's offline build machines: no pin yet (each load
records the file's sha256 in the recipe).
"""
from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import open_clip
import torch
from open_clip import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from .. import checkpoints
from ..architectures import STAGE_STYLE, Architecture, register_architecture
from ..catalog import ModelFamily, ModelSpec, register_models
from ..checkpoint_formats import CheckpointFormat, register_format
from ..clip_network import CLASS_PROMPT, ClipModel, ZeroShotClassifier, ZeroShotHead, layer_nodes
from ..hub_files import download_checkpoint, remember_commit, snapshot_commit
from ..weights_errors import CheckpointFormatError

CONFIG_FILE = "open_clip_config.json"   # open_clip's HF_CONFIG_NAME
WEIGHTS_FILE = "open_clip_pytorch_model.bin"   # open_clip's HF_WEIGHTS_NAME, present in every repo of this family
PAPER = ("Schlarmann, Singh, Croce & Hein, Robust CLIP: Unsupervised Adversarial Fine-Tuning of Vision Embeddings for "
         "Robust Large Vision-Language Models, ICML 2024 (arXiv:2402.12336); TeCoA: Mao et al., ICLR 2023; "
         "CLIP: Radford et al., ICML 2021")
ACCURACY_SOURCE = ("RobustVLM README, 'Summary of results', CLIP-only column, over the paper's zero-shot datasets "
                   "(not ImageNet top-1)")
LINF_4 = {"norm": "linf", "eps": 4 / 255}
OPENAI = {"mean": OPENAI_DATASET_MEAN, "std": OPENAI_DATASET_STD}


def clip_classifier(config: dict):
    """An untrained open_clip CLIP of an open_clip model config with a zero head of num_classes prompts (parameter
    counts, the ZeroGPU estimate; the weights load builds from the repo's own config instead)."""
    def build(num_classes):
        clip = open_clip.CLIP(**config)
        head = ZeroShotHead(torch.zeros(num_classes, config["embed_dim"]), 100.0)
        return ZeroShotClassifier(clip, head), layer_nodes(config["vision_cfg"]["layers"])
    return build


def read_config(path: Path, spec) -> dict:
    """The repo's open_clip_config.json, checked against the declaration: the input side and normalisation."""
    try:
        config = json.loads(path.read_text())
        vision = config["model_cfg"]["vision_cfg"]
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointFormatError(f"{CONFIG_FILE} of {spec.repo} is not an open_clip config ({err!r})") from None
    preprocess = config.get("preprocess_cfg", {})
    if vision.get("image_size", 224) != spec.input_size:
        raise CheckpointFormatError(f"{spec.repo} is a {vision.get('image_size')}-px model; {spec.name} is declared "
                                    f"for {spec.input_size} px")
    for key, declared in (("mean", spec.mean), ("std", spec.std)):
        if not torch.allclose(torch.tensor(preprocess.get(key, declared)), torch.tensor(declared), atol=1e-4):
            raise CheckpointFormatError(f"{spec.repo} normalises with {key} {preprocess[key]}, not the declared "
                                        f"{declared}")
    return config


@contextlib.contextmanager
def _without_random_init_warning():
    """open_clip logs "Model initialized randomly" (root logger) when asked to build without weights."""
    def drop(record):
        return "initialized randomly" not in record.getMessage()
    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def load_open_clip(spec, device, class_names: list[str]) -> tuple[ClipModel, Path]:
    """Fetch the repo's config and weights (hf_hub_download at spec.revision), build the network from the config
    with open_clip, load the weights strictly, and make it a classifier of class_names in CLASS_PROMPT."""
    # cached: no network call (as hub_state_dict reads its converted file); otherwise one probe of the Hub first
    local_only = checkpoints.is_cached(spec) or not checkpoints.reachable(spec, fresh=True)
    config_path = download_checkpoint(spec, local_only, CONFIG_FILE)
    weights = download_checkpoint(spec, local_only)
    remember_commit(spec, snapshot_commit(weights, spec))
    checkpoints.verify_pin(weights, spec)
    config = read_config(config_path, spec)
    folder = f"local-dir:{config_path.parent}"
    with _without_random_init_warning():  # the weights are loaded just below, from the file whose sha256 we record
        clip = open_clip.create_model(folder, load_weights=False)
    try:
        open_clip.load_checkpoint(clip, str(weights), strict=True)
    except (RuntimeError, OSError, EOFError) as err:  # wrong keys or shapes, truncated or unsafe file
        raise CheckpointFormatError(f"{spec.file} of {spec.repo} does not load into its own config's network "
                                    f"({str(err).splitlines()[0]})") from None
    clip = clip.to(device).eval().requires_grad_(False)
    model = ClipModel(clip, open_clip.get_tokenizer(folder), [CLASS_PROMPT.format(n) for n in class_names],
                      spec.mean, spec.std, name=spec.name, class_names=class_names, input_size=spec.input_size,
                      depth=config["model_cfg"]["vision_cfg"]["layers"])
    return model.to(device), weights


# Cost: ViT-L/14 at 224 px is 257 tokens through 24 blocks of width 1024 (about 12.6 M multiply-adds per token per
# block, plus attention): about 81 G multiply-adds, 19.8 × ResNet-50's 4.1 G. Derived from the shapes, not yet
# measured with benchmarks/arch_cost.py.
register_architecture(Architecture("clip_vit_l_14", clip_classifier(open_clip.get_model_config("ViT-L-14-quickgelu")),
                                   19.8, style=STAGE_STYLE))
register_format(CheckpointFormat("open_clip", load_model=load_open_clip, text_targets=True))

FAMILY = ModelFamily("Robust CLIP ViT-L/14 (FARE, TeCoA; OpenAI CLIP as ε 0)", "Schlarmann et al. (Hub: chs20)",
                     PAPER, "MIT", "https://github.com/chs20/RobustVLM", ACCURACY_SOURCE,
                     accuracy_metric="average zero-shot accuracy", robust_metric="adversarial, L∞ 4/255")


def _clip(name: str, repo: str, robustness, clean: float, robust: float | None) -> ModelSpec:
    return ModelSpec(name, "clip_vit_l_14", "imagenet", "hub", WEIGHTS_FILE, "open_clip", FAMILY, repo=repo,
                     robustness=robustness, clean_accuracy=clean, autoattack_accuracy=robust, **OPENAI)


register_models(
    _clip("clip-vit-l-14-openai", "timm/vit_large_patch14_clip_224.openai", None, 0.731, None),
    _clip("clip-vit-l-14-fare-linf-4", "chs20/fare4-clip", LINF_4, 0.611, 0.324),
    _clip("clip-vit-l-14-tecoa-linf-4", "chs20/tecoa4-clip", LINF_4, 0.542, 0.319),
)
