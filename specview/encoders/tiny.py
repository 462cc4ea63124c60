"""A tiny seeded random-weight encoder: a test fixture for fast detector tests.

Three blocks of one 3x3 conv-BN-ReLU layer followed by 2x2 max pooling (8, 16, 32 channels,
strides 2, 4, 8) on a small front end (16 kHz, n_fft 512, 32 HTK mel bands, log1p). Its weights
are drawn from ``seed`` (Kaiming-uniform), so it needs no download and every run is identical;
it also offers :meth:`TinyEncoder.network`, so STFPM can train a student on it. It is kept in
the package so every contract test can use it, but it is not registered as a user-facing encoder.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from specview.encoders.base import Encoder, LayerGrid, resolve_device
from specview.errors import ParameterError
from specview.params import check_fields
from specview.spectrogram import MelFrontEnd

BLOCKS = ("block1", "block2", "block3")
CHANNELS = {"block1": 8, "block2": 16, "block3": 32}
STRIDES = {"block1": 2, "block2": 4, "block3": 8}
#: Bumped whenever the architecture or the initialisation changes (goes into ``weights_id``).
ARCH_VERSION = 1
#: Offset of the seeds of :meth:`TinyEncoder.network` (``pretrained=False``).
_STUDENT_STREAM = 1 << 31


@dataclass(frozen=True)
class TinyParams:
    seed: int = field(default=0, metadata={"help": "seed of the random weights"})
    layers: tuple[str, ...] = field(
        default=BLOCKS, metadata={"help": "feature maps to use (block1..block3), comma-separated"}
    )
    hop_length: int = field(default=256, metadata={"help": "STFT hop in samples at 16 kHz"})

    def __post_init__(self) -> None:
        check_fields(self)
        bad = [b for b in self.layers if b not in BLOCKS]
        if bad or not self.layers:
            raise ParameterError(f"tiny layers {self.layers}: choose from {', '.join(BLOCKS)}")
        if not 32 <= self.hop_length <= 2048:
            raise ParameterError(f"tiny hop_length {self.hop_length}: use 32-2048 samples")


class TinyBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor, *, batch_stats: bool = False) -> torch.Tensor:
        bn = self.bn
        # explicit: batch statistics only when a caller trains (STFPM's student)
        x = F.batch_norm(self.conv(x), bn.running_mean, bn.running_var, bn.weight, bn.bias,
                         training=batch_stats, momentum=0.1, eps=bn.eps)
        return F.max_pool2d(F.relu(x), 2)


class TinyNet(nn.Module):
    """``forward`` takes ``(B, n_freq, n_time)`` and returns the requested blocks'
    outputs ``(B, C, n_freq / s, n_time / s)``."""

    def __init__(self, layers: tuple[str, ...]) -> None:
        super().__init__()
        self.layers = tuple(layers)
        self.depth = max(BLOCKS.index(b) for b in layers) + 1
        chans = [1] + [CHANNELS[b] for b in BLOCKS]
        self.blocks = nn.ModuleList(TinyBlock(chans[i], chans[i + 1]) for i in range(self.depth))

    def forward(self, x: torch.Tensor, *, batch_stats: bool = False) -> list[torch.Tensor]:
        h = x[:, None]
        out = {}
        for name, block in zip(BLOCKS, self.blocks, strict=False):
            h = block(h, batch_stats=batch_stats)
            out[name] = h
        return [out[b] for b in self.layers]

    def init_random(self, seed: int) -> TinyNet:
        """Kaiming-uniform convolutions (gain sqrt(2)) and unit batch norm, seeded."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    bound = (6.0 / m.weight[0].numel()) ** 0.5
                    m.weight.copy_(torch.empty_like(m.weight).uniform_(-bound, bound, generator=g))
                elif isinstance(m, nn.BatchNorm2d):
                    m.reset_parameters()
        return self


def tiny_front_end(hop_length: int = 256) -> MelFrontEnd:
    return MelFrontEnd(
        sr=16000, n_fft=512, hop_length=hop_length, n_mels=32, fmin=0.0, fmax=8000.0, htk=True,
        mel_norm="unit_sum", window_norm=False, compression="log1p", scale=0.1, gain_db=0.0,
    )


class TinyEncoder(Encoder):
    name = "tiny"
    Params = TinyParams
    provenance = "random weights drawn from a seed (test fixture, not a trained network)"

    def __init__(self, params: TinyParams | None = None, *, device: str | None = "cpu") -> None:
        self.params = params or TinyParams()
        self.device = resolve_device(device)
        self.front_end = tiny_front_end(self.params.hop_length)
        net = TinyNet(self.params.layers).init_random(self.params.seed)
        self.net = net.to(self.device).requires_grad_(False)

    def network(self, *, pretrained: bool = True, seed: int = 0) -> TinyNet:
        """A trainable copy: the encoder's own (seeded) weights, or a fresh init from ``seed``
        (drawn from another stream than the encoder's, so that no student seed reproduces the
        encoder's weights)."""
        if pretrained:
            return copy.deepcopy(self.net).requires_grad_(True)
        return TinyNet(self.params.layers).init_random(_STUDENT_STREAM + seed).to(self.device)

    def weights_id(self) -> str:
        return f"random:tiny-v{ARCH_VERSION}:seed={self.params.seed}"

    def layer_grids(self) -> list[LayerGrid]:
        return [LayerGrid(b, CHANNELS[b], STRIDES[b], STRIDES[b]) for b in self.params.layers]

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net(x)
