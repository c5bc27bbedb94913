"""RobustModel: [0,1] images in, normalisation inside, logits plus any named layers from ONE forward."""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn as nn
from torchvision.models.feature_extraction import create_feature_extractor


class ModelOutput(dict):
    """Layer name -> activation, always holding "logits"."""

    @property
    def logits(self) -> torch.Tensor:
        return self["logits"]


class RobustModel(nn.Module):
    """A classifier on [0,1] inputs whose forward returns logits and the requested named layers.

    layer_nodes maps friendly names ("rep", "layer3", "relu4_2", ...) to FX node names of `net`.
    Parameters are frozen and the network is in eval mode unless freeze=False (training).
    """

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float], layer_nodes: dict[str, str],
                 *, name: str = "model", class_names: Sequence[str] = (), input_size: int = 224, freeze: bool = True):
        super().__init__()
        if "logits" not in layer_nodes:
            raise ValueError("layer_nodes must name the logits node")
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.layer_nodes = dict(layer_nodes)
        self.name, self.class_names, self.input_size = name, list(class_names), input_size
        self._extractors: dict[tuple[str, ...], nn.Module] = {}
        if freeze:
            self.net.eval().requires_grad_(False)
            # NHWC conv weights from the start (same results from the first call on): cuDNN's fast bf16 kernels on
            # GPUs, and on CPU oneDNN without layout reorders (~10% less time per PGD step, benchmarks/speed.py).
            self.net.to(memory_format=torch.channels_last)

    @property
    def layer_names(self) -> list[str]:
        return list(self.layer_nodes)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _extractor(self, layers: tuple[str, ...]) -> nn.Module:
        if layers not in self._extractors:
            unknown = [name for name in layers if name not in self.layer_nodes]
            if unknown:
                raise ValueError(f"unknown layer(s) {unknown} for {self.name}; available: {self.layer_names}")
            extractor = create_feature_extractor(self.net, {self.layer_nodes[n]: n for n in layers})
            self._extractors[layers] = extractor.train(self.net.training)
        return self._extractors[layers]

    def forward(self, x: torch.Tensor, layers: Iterable[str] = ()) -> ModelOutput:
        wanted = tuple(sorted(set(layers) | {"logits"}))
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return ModelOutput(self._extractor(wanted)(x))

    def train(self, mode: bool = True):
        super().train(mode)
        for extractor in self._extractors.values():
            extractor.train(mode)
        return self

    def _apply(self, fn, *args, **kwargs):
        self._extractors.clear()  # traced graphs are rebuilt lazily after .to(device) / dtype changes
        return super()._apply(fn, *args, **kwargs)

    @torch.no_grad()
    def classify(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Logits for a batch of [0,1] images, in chunks."""
        return torch.cat([self(x[i:i + batch_size]).logits.float() for i in range(0, len(x), batch_size)])
