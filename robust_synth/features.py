"""RobustModel: [0,1] images in, normalisation inside, logits plus any named layers from ONE forward."""
from __future__ import annotations

import contextlib
import threading
from typing import Iterable, Sequence

import torch
import torch.nn as nn
from torchvision.models.feature_extraction import create_feature_extractor


class ModelOutput(dict):
    """Layer name -> activation, always holding "logits"."""

    @property
    def logits(self) -> torch.Tensor:
        return self["logits"]


def _wanted(layers: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(layers) | {"logits"}))


class _TraceGuard:
    """FX tracing patches nn.Module.__call__ for every thread: no RobustModel forward may run while one traces."""

    def __init__(self):
        self._cond = threading.Condition()
        self._running, self._tracing = 0, False
        self._mine = threading.local()  # forwards this thread is inside (a trace from inside one must not wait on it)

    def _my_forwards(self) -> int:
        return getattr(self._mine, "count", 0)

    @contextlib.contextmanager
    def forward(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._tracing)
            self._running += 1
        self._mine.count = self._my_forwards() + 1
        try:
            yield
        finally:
            self._mine.count -= 1
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def trace(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._tracing and self._running == self._my_forwards())
            self._tracing = True
        try:
            yield
        finally:
            with self._cond:
                self._tracing = False
                self._cond.notify_all()


_GUARD = _TraceGuard()


def guarded_forward():
    """The context for a forward through a model's modules outside RobustModel.__call__ (a CLIP text tower embedding
    prompts): a trace in another thread waits for it to finish, and it for the trace."""
    return _GUARD.forward()


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
            with _GUARD.trace():
                nodes = {self.layer_nodes[n] for n in layers}  # two names may share a node (CifarResNet: rep = layer3)
                extractor = create_feature_extractor(self.net, {node: node for node in nodes})
            self._extractors[layers] = extractor.train(self.net.training)
        return self._extractors[layers]

    def __call__(self, x: torch.Tensor, layers: Iterable[str] = ()) -> ModelOutput:
        self._extractor(_wanted(layers))  # traced before entering the guard: tracing waits until no forward runs
        with _GUARD.forward():
            return super().__call__(x, layers)

    def forward(self, x: torch.Tensor, layers: Iterable[str] = ()) -> ModelOutput:
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        wanted = _wanted(layers)
        out = self._extractor(wanted)(x)
        return ModelOutput({name: out[self.layer_nodes[name]] for name in wanted})

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
