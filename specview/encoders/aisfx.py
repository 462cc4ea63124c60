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

import numpy as np
import torch
import torch.nn.functional as F

from specview.encoders.base import Encoder, LayerGrid, file_sha256, resolve_device
from specview.errors import ParameterError, WeightsError
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
        default=512,
        metadata={"help": "STFT hop in samples at 44.1 kHz (trained at 1024; finer = finer time grid)"},
    )
    gain_db: float = field(
        default=0.0, metadata={"help": "fixed input gain in dB, the same for every clip"}
    )
    weights: str = field(
        default="", metadata={"help": "checkpoint path (default: the installed aisfx package's)"}
    )

    def __post_init__(self) -> None:
        bad = [b for b in self.layers if b not in BLOCKS]
        if bad or not self.layers:
            raise ParameterError(f"aisfx layers {self.layers}: choose from {', '.join(BLOCKS)}")
        if not 64 <= self.hop_length <= 4096:
            raise ParameterError(f"aisfx hop_length {self.hop_length}: use 64-4096 samples")


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
    from numpy._core.multiarray import scalar

    allowed = [(scalar, "numpy.core.multiarray.scalar"), np.dtype, *_numpy_dtype_classes()]
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a loadable aisfx checkpoint ({exc})") from None
    state = obj[0] if isinstance(obj, tuple) else obj
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: unexpected checkpoint content {type(state).__name__}")
    prefix = "embedding_net."
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not out:
        raise WeightsError(f"{path}: no embedding_net.* weights in checkpoint")
    return out


def _numpy_dtype_classes() -> list[type]:
    import numpy.dtypes as nd

    return [getattr(nd, n) for n in dir(nd) if n.endswith("DType")]


def _block(x: torch.Tensor, w: dict[str, torch.Tensor], name: str, pool: bool) -> torch.Tensor:
    for i in (1, 2):
        x = F.conv2d(x, w[f"{name}.conv{i}.weight"], padding=1)
        # running statistics only: the encoder is frozen, whatever mode a caller sets
        x = F.batch_norm(
            x, w[f"{name}.bn{i}.running_mean"], w[f"{name}.bn{i}.running_var"],
            w[f"{name}.bn{i}.weight"], w[f"{name}.bn{i}.bias"], training=False, eps=1e-5,
        )
        x = F.relu(x)
    return F.max_pool2d(x, 2) if pool else x


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
        w = load_checkpoint(self._path)
        self._w = {k: v.to(self.device, torch.float32) for k, v in w.items() if "num_batches" not in k}
        self.front_end = aisfx_front_end(self.params.hop_length, self.params.gain_db)
        self._last = max(BLOCKS.index(b) for b in self.params.layers)

    def weights_id(self) -> str:
        return "sha256:" + file_sha256(str(self._path))

    def layer_grids(self) -> list[LayerGrid]:
        return [LayerGrid(b, CHANNELS[b], STRIDES[b], STRIDES[b]) for b in self.params.layers]

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # (1, n_freq, n_time) -> the network's (1, 1, time, freq) image
        h = x.transpose(1, 2)[:, None]
        out = {}
        for i, b in enumerate(BLOCKS[: self._last + 1]):
            h = _block(h, self._w, f"conv_{b}", pool=i < 3)
            out[b] = h
        # back to (1, C, freq, time)
        return [out[b].transpose(2, 3).contiguous() for b in self.params.layers]
