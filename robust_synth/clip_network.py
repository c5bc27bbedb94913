"""CLIP image encoders as zero-shot classifiers: logits are scaled cosines to prompt embeddings; any text a class.

A CLIP model with a set of prompts is a classifier (Radford et al. 2021): the image embedding's cosine similarity to
each prompt's text embedding, times CLIP's logit scale, are the logits. The base model's classes are ImageNet's 1000
names in OpenAI's prompt "a photo of a {}." (so class-free tasks, seeds and accuracy work as for the ImageNet
models); ``ClipModel.for_prompts`` gives the same encoder with a run's own prompts as its classes.

Competing classes for a free-text target: the run's own prompts plus NEUTRAL_PROMPTS, generic descriptions of no
particular content. The class loss toward a prompt then asks for an image that matches it better than it matches
"a photo." or "a photo of noise.", not one that beats 1000 ImageNet prompts (which would push a prompt such as "a red
fox in snow" away from the ImageNet class "red fox" itself).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .features import RobustModel, guarded_forward

CLASS_PROMPT = "a photo of a {}."   # OpenAI's single-template ImageNet zero-shot prompt (Radford et al. 2021)
NEUTRAL_PROMPTS = ("a photo.", "a blurry photo.", "a photo of noise.", "a plain grey image.", "a photo of a texture.",
                   "an abstract pattern.", "a photo of something.", "a picture.")
MAX_PROMPT_CHARS = 300   # CLIP reads at most 77 tokens; a longer text would be cut without a word
TEXT_BATCH = 256         # prompts embedded per forward of the text tower
VIEWS_KEPT = 8           # prompt sets whose classifier (and its traced graphs) a model keeps for the next run


class ZeroShotHead(nn.Linear):
    """logit scale × cos(image embedding, prompt embedding) per prompt; its weight is the scaled prompt embeddings
    (so, like any classifier's last linear layer, it ranks the features of R(x) each class relies on)."""

    def __init__(self, text_features: torch.Tensor, logit_scale: float):
        super().__init__(text_features.shape[1], text_features.shape[0], bias=False, device=text_features.device)
        self.weight = nn.Parameter(F.normalize(text_features.float(), dim=-1) * logit_scale, requires_grad=False)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return super().forward(F.normalize(embedding, dim=-1))


class ZeroShotClassifier(nn.Module):
    """open_clip's CLIP (its image tower) followed by a ZeroShotHead; the text tower is kept to embed prompts."""

    def __init__(self, clip: nn.Module, head: ZeroShotHead):
        super().__init__()
        self.clip, self.head = clip, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.clip.encode_image(x))


def layer_nodes(depth: int) -> dict[str, str]:
    """stage1..4: the (B, tokens, width) output of the image transformer's blocks at each quarter of its depth;
    rep: the projected image embedding the head reads; logits: the head."""
    stages = {f"stage{k}": f"clip.visual.transformer.resblocks.{depth * k // 4 - 1}" for k in range(1, 5)}
    return {**stages, "rep": "clip.visual", "logits": "head"}


def logit_scale(clip: nn.Module) -> float:
    return float(clip.logit_scale.detach().exp())


@torch.no_grad()
def embed_texts(clip: nn.Module, tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """(len(texts), D) text embeddings, on the text tower's device, TEXT_BATCH prompts per forward."""
    device = clip.logit_scale.device
    with guarded_forward():  # the text tower is shared with the image models other threads may be tracing
        parts = [clip.encode_text(tokenizer(list(texts[i:i + TEXT_BATCH])).to(device)).float()
                 for i in range(0, len(texts), TEXT_BATCH)]
    return torch.cat(parts)


def check_prompts(target) -> list[str]:
    """A prompt or a list of prompts -> their texts, whitespace normalised, in order (ValueError for anything that is
    not text: an index, an empty string, a text over MAX_PROMPT_CHARS)."""
    items = list(target) if isinstance(target, (list, tuple)) else [target]
    if not items:
        raise ValueError("target must give at least one prompt")
    prompts = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"a CLIP model's target is a text prompt such as 'a red fox in snow', got {item!r}")
        if len(item) > MAX_PROMPT_CHARS:
            raise ValueError(f"a prompt may have at most {MAX_PROMPT_CHARS} characters (CLIP reads 77 tokens), "
                             f"got {len(item)}")
        prompts.append(" ".join(item.split()))
    return prompts


class ClipModel(RobustModel):
    """A CLIP image encoder as a RobustModel whose classes are prompts; for_prompts() swaps in a run's own."""

    def __init__(self, clip: nn.Module, tokenizer, prompts: Sequence[str], mean, std, *, name: str,
                 class_names: Sequence[str], input_size: int, depth: int):
        head = ZeroShotHead(embed_texts(clip, tokenizer, prompts), logit_scale(clip))
        # freeze=False: the shared encoder is frozen and in eval mode already (load_open_clip), and RobustModel's
        # channels_last conversion would rewrite its parameters while other views of it run
        super().__init__(ZeroShotClassifier(clip, head), mean, std, layer_nodes(depth), name=name,
                         class_names=class_names, input_size=input_size, freeze=False)
        self.net.training = self.net.head.training = False  # the wrapper's own flags: nothing shared is touched
        self.tokenizer, self.depth = tokenizer, depth
        self._views: OrderedDict[tuple[str, ...], ClipModel] = OrderedDict()
        self._views_lock = threading.Lock()

    def for_prompts(self, prompts: Sequence[str]) -> "ClipModel":
        """The same encoder classifying among `prompts` and NEUTRAL_PROMPTS (each prompt embedded once; the last
        VIEWS_KEPT prompt sets are kept, so a repeated run reuses its traced graphs)."""
        classes = tuple(dict.fromkeys([*prompts, *NEUTRAL_PROMPTS]))
        with self._views_lock:
            if classes not in self._views:
                with torch.device(self.mean.device):  # built where the encoder is: no .to() over shared modules
                    view = ClipModel(self.net.clip, self.tokenizer, classes, self.mean.flatten().tolist(),
                                     self.std.flatten().tolist(), name=self.name, class_names=classes,
                                     input_size=self.input_size, depth=self.depth)
                view.__dict__.update({k: v for k, v in self.__dict__.items() if k in ("spec", "weights_sha256")})
                self._views[classes] = view
                if len(self._views) > VIEWS_KEPT:
                    self._views.popitem(last=False)
            self._views.move_to_end(classes)
            return self._views[classes]
