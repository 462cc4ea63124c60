"""The aisfx sound-effects CNN (Ma & Lerch, ISMIR 2022) as a feature extractor.

The network is defined here; only its trained weights are read from the ``aisfx`` package's
``models/checkpoint.pth`` (CC BY 4.0), with ``torch.load(weights_only=True)`` and an allow-list
of the numpy globals the pickle names, so no code from the file is ever executed and none of
aisfx's own code is imported.

Architecture (a 4-block "Cnn_9layers" embedding net): each block is two 3x3 conv-BN-ReLU layers
(64, 128, 256, 512 channels) followed by 2x2 max pooling for blocks 1-3. The input is the
``(time, mel)`` log-mel image.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from specview.encoders.base import Encoder, LayerGrid, resolve_device
from specview.encoders.layers import ConvBlock, safe_load
from specview.errors import ParameterError, WeightsError
from specview.params import check_fields
from specview.spectrogram import MelFrontEnd

BLOCKS = ("block1", "block2", "block3", "block4")
CHANNELS = {"block1": 64, "block2": 128, "block3": 256, "block4": 512}
STRIDES = {"block1": 2, "block2": 4, "block3": 8, "block4": 8}
TRAINED_HOP = 1024


@dataclass(frozen=True)
class AisfxParams:
    layers: tuple[str, ...] = field(
        default=("block2", "block3"),
        metadata={"help": "feature maps to use (block1..block4), comma-separated"},
    )
    hop_length: int = field(
        default=TRAINED_HOP,
        metadata={"help": "STFT hop in samples at 44.1 kHz (trained at 1024; finer = finer time "
                          "grid, no better localization measured on the demo sets, 2-4x slower)"},
    )
    gain_db: float = field(
        default=0.0, metadata={"help": "fixed input gain in dB, the same for every clip"}
    )
    weights: str = field(
        default="", metadata={"help": "checkpoint path (default: the installed aisfx package's)"}
    )

    def __post_init__(self) -> None:
        check_fields(self)
        bad = [b for b in self.layers if b not in BLOCKS]
        if bad or not self.layers:
            raise ParameterError(f"aisfx layers {self.layers}: choose from {', '.join(BLOCKS)}")
        if not 64 <= self.hop_length <= 4096:
            raise ParameterError(f"aisfx hop_length {self.hop_length}: use 64-4096 samples")
        if not -120 <= self.gain_db <= 120:
            raise ParameterError(f"gain_db {self.gain_db}: use -120 to 120 dB")


def default_checkpoint() -> Path:
    """Path of ``aisfx/models/checkpoint.pth`` in the installed package (never imported)."""
    env = os.environ.get("SPECVIEW_AISFX_CHECKPOINT")
    if env:
        return Path(env)
    try:
        dist = importlib.metadata.distribution("aisfx")
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(
            "the aisfx weights are not installed; run `make install` or "
            "`pip install --no-deps aisfx==0.1.2`"
        ) from None
    return Path(str(dist.locate_file("aisfx/models/checkpoint.pth")))


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the embedding-net weights from an aisfx checkpoint without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: aisfx checkpoint not found; run `make install`")
    obj = safe_load(path, "aisfx")
    state = obj[0] if isinstance(obj, tuple) else obj
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: unexpected checkpoint content {type(state).__name__}")
    prefix = "embedding_net."
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not out:
        raise WeightsError(f"{path}: no embedding_net.* weights in checkpoint")
    return out


class AisfxNet(nn.Module):
    """The aisfx embedding CNN up to the deepest requested block.

    ``forward`` takes ``(B, n_freq, n_time)`` log-mel batches and returns the requested blocks'
    outputs as ``(B, C, n_freq / s, n_time / s)`` (the network itself sees ``(time, freq)``).
    """

    def __init__(self, layers: tuple[str, ...]) -> None:
        super().__init__()
        self.layers = tuple(layers)
        depth = max(BLOCKS.index(b) for b in layers) + 1
        chans = [1, 64, 128, 256, 512]
        for i in range(depth):
            self.add_module(f"conv_block{i + 1}", ConvBlock(chans[i], chans[i + 1]))
        self.depth = depth

    def forward(self, x: torch.Tensor, *, batch_stats: bool = False) -> list[torch.Tensor]:
        # channels-last convolutions run ~15 % faster on CPU here
        h = x.transpose(1, 2)[:, None].contiguous(memory_format=torch.channels_last)
        out = {}
        for i in range(self.depth):
            h = getattr(self, f"conv_block{i + 1}")(h, batch_stats=batch_stats)
            if i < 3:
                h = F.max_pool2d(h, 2)
            out[BLOCKS[i]] = h
        return [out[b].transpose(2, 3).contiguous() for b in self.layers]

    def init_random(self, seed: int) -> AisfxNet:
        """Kaiming-uniform convolutions, unit BN (aisfx's own initialisation), seeded."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.weight[0].numel()
                    bound = (6.0 / fan_in) ** 0.5  # kaiming uniform, gain sqrt(2)
                    w = torch.empty(m.weight.shape).uniform_(-bound, bound, generator=g)
                    m.weight.copy_(w)  # drawn on the CPU generator, copied to the device
                elif isinstance(m, nn.BatchNorm2d):
                    m.reset_parameters()
        return self


def _fold_batch_norm(net: AisfxNet) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Each block's conv-BN pairs as (weight, bias) of one convolution with the frozen BN's
    running statistics folded in: the same function, one pass fewer over each activation."""
    blocks = []
    for i in range(net.depth):
        blk = getattr(net, f"conv_block{i + 1}")
        pairs = []
        for conv, bn in ((blk.conv1, blk.bn1), (blk.conv2, blk.bn2)):
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w = (conv.weight * scale[:, None, None, None]).detach().contiguous()
            b = (bn.bias - bn.running_mean * scale).detach().contiguous()
            pairs.append((w, b))
        blocks.append(pairs)
    return blocks


def aisfx_front_end(hop_length: int = TRAINED_HOP, gain_db: float = 0.0) -> MelFrontEnd:
    """Essentia's front end the weights were trained with: 44.1 kHz, unnormalised Hann 2048, 96 HTK bands
    0-22050 Hz (unit-sum), power, ``log10(1 + 1e4 S) / 9.4578`` — at a fixed gain instead of
    the per-clip peak normalisation."""
    return MelFrontEnd(
        sr=44100, n_fft=2048, hop_length=hop_length, n_mels=96, fmin=0.0, fmax=22050.0,
        htk=True, mel_norm="unit_sum", window_norm=False, compression="log1p",
        scale=1.0 / 9.457798957824707, gain_db=gain_db,
    )


class AisfxEncoder(Encoder):
    name = "aisfx"
    Params = AisfxParams
    provenance = (
        "aisfx 0.1.2 (A. B. Ma and A. Lerch, 'Representation Learning for the Automatic Indexing "
        "of Sound Effects Libraries', ISMIR 2022), weights CC BY 4.0, trained on sound-effect libraries"
    )

    def __init__(self, params: AisfxParams | None = None, *, device: str | None = "cpu") -> None:
        self.params = params or AisfxParams()
        self.device = resolve_device(device)
        self._path = Path(self.params.weights) if self.params.weights else default_checkpoint()
        self.net = self._pretrained_net(load_checkpoint(self._path))
        self._folded: list[list[tuple[torch.Tensor, torch.Tensor]]] | None = None
        self.front_end = aisfx_front_end(self.params.hop_length, self.params.gain_db)

    def _pretrained_net(self, state: dict[str, torch.Tensor]) -> AisfxNet:
        net = AisfxNet(self.params.layers)
        wanted = net.state_dict().keys()
        missing = [k for k in wanted if k not in state]
        if missing:
            raise WeightsError(f"{self._path}: checkpoint lacks {missing[:3]}... for the aisfx CNN")
        try:
            net.load_state_dict({k: state[k] for k in wanted})
        except RuntimeError as exc:
            raise WeightsError(f"{self._path}: weights do not fit the aisfx CNN ({exc})") from None
        return net.to(self.device).requires_grad_(False)

    def layer_grids(self) -> list[LayerGrid]:
        return [LayerGrid(b, CHANNELS[b], STRIDES[b], STRIDES[b]) for b in self.params.layers]

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self._folded is None:
            self._folded = _fold_batch_norm(self.net)
        h = x.transpose(1, 2)[:, None].contiguous(memory_format=torch.channels_last)
        out = {}
        for i, convs in enumerate(self._folded):
            for w, b in convs:
                h = F.conv2d(h, w, b, padding=1).relu_()
            if i < 3:
                h = F.max_pool2d(h, 2)
            out[BLOCKS[i]] = h
        return [out[b].transpose(2, 3).contiguous() for b in self.params.layers]
