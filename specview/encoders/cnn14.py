"""CNN14 (PANNs) as a feature extractor: the audio encoder of CLAP 2022, or the PANNs AudioSet tagger.

The network is defined here; only trained weights are read, from a checkpoint the user places in
the models folder (``SPECVIEW_MODELS_DIR`` or ``<repo>/models/``) or names with ``weights=PATH``.
Checkpoints are read with ``torch.load(weights_only=True)``, so a file cannot run code.

Two checkpoint layouts are recognised, and each decides its own front end:

- ``CLAP_weights_2022.pth`` (Elizalde et al., CLAP 2022): the state dict under ``"model"`` with
  the encoder under ``audio_encoder.base.*``; trained on 44.1 kHz audio.
- ``Cnn14_mAP=0.431.pth`` (Kong et al., PANNs 2020): plain ``conv_block1.conv1.weight`` ...
  under ``"model"``; trained on 32 kHz audio.

Architecture: ``bn0`` normalises each of the 64 mel bands (the mel axis is the BN channel axis),
then six blocks of two 3x3 conv (no bias)-BN-ReLU layers with 64 ... 2048 channels, each followed
by 2x2 average pooling (none after block 6). The network sees the ``(time, mel)`` image.
Front-end buffers (``spectrogram_extractor.*``, ``logmel_extractor.*``) and the heads (``fc1``,
``fc_audioset``, CLAP's projection) in a checkpoint are ignored.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from specview.encoders.base import Encoder, LayerGrid, resolve_device
from specview.encoders.layers import ConvBlock, batch_norm, safe_load
from specview.errors import ParameterError, WeightsError
from specview.params import check_fields
from specview.spectrogram import MelFrontEnd

BLOCKS = ("block1", "block2", "block3", "block4", "block5", "block6")
CHANNELS = {"block1": 64, "block2": 128, "block3": 256, "block4": 512, "block5": 1024,
            "block6": 2048}
STRIDES = {"block1": 2, "block2": 4, "block3": 8, "block4": 16, "block5": 32, "block6": 32}
#: Frames of context each side that make chunked features equal whole-clip ones (receptive field).
MARGINS = {"block1": 16, "block2": 16, "block3": 32, "block4": 64, "block5": 96, "block6": 160}
N_MELS = 64
TRAINED_HOP = 320

CLAP_FILE = "CLAP_weights_2022.pth"
PANNS_FILE = "Cnn14_mAP=0.431.pth"
CLAP_SOURCE = "https://huggingface.co/microsoft/msclap or https://zenodo.org/record/8378278"
PANNS_SOURCE = "https://zenodo.org/record/3987831"


@dataclass(frozen=True)
class Layout:
    """Where a checkpoint keeps the CNN14 weights and which audio it was trained on."""

    name: str
    prefix: str
    sr: int
    provenance: str


CLAP_2022 = Layout(
    "clap2022", "audio_encoder.base.", 44100,
    "CNN14 audio encoder of CLAP 2022 (B. Elizalde, S. Deshmukh, M. Al Ismail and H. Wang, 'CLAP: "
    "Learning Audio Concepts from Natural Language Supervision', ICASSP 2023), Microsoft CLAP "
    "release, MIT licence; trained at 44.1 kHz",
)
PANNS = Layout(
    "panns", "", 32000,
    "PANNs Cnn14 (Q. Kong, Y. Cao, T. Iqbal, Y. Wang, W. Wang and M. D. Plumbley, 'PANNs: "
    "Large-Scale Pretrained Audio Neural Networks for Audio Pattern Recognition', IEEE/ACM TASLP "
    "2020), AudioSet tagging, mAP 0.431; trained at 32 kHz",
)


@dataclass(frozen=True)
class Cnn14Params:
    layers: tuple[str, ...] = field(
        default=("block2", "block3", "block4"),
        metadata={"help": "feature maps to use (block1..block6), comma-separated"},
    )
    hop_length: int = field(
        default=TRAINED_HOP,
        metadata={"help": "STFT hop in samples (trained at 320: 7.3 ms at 44.1 kHz for CLAP, "
                          "10 ms at 32 kHz for PANNs)"},
    )
    gain_db: float = field(
        default=0.0, metadata={"help": "fixed input gain in dB, the same for every clip"}
    )
    weights: str = field(
        default="",
        metadata={"help": f"checkpoint path (default: {CLAP_FILE}, else {PANNS_FILE}, in the "
                          "models folder: SPECVIEW_MODELS_DIR or <repo>/models)"},
    )

    def __post_init__(self) -> None:
        check_fields(self)
        bad = [b for b in self.layers if b not in BLOCKS]
        if bad or not self.layers:
            raise ParameterError(f"cnn14 layers {self.layers}: choose from {', '.join(BLOCKS)}")
        if not 32 <= self.hop_length <= 4096:
            raise ParameterError(f"cnn14 hop_length {self.hop_length}: use 32-4096 samples")
        if not -120 <= self.gain_db <= 120:
            raise ParameterError(f"gain_db {self.gain_db}: use -120 to 120 dB")


# -- checkpoints -----------------------------------------------------------------------------------
def models_dir() -> Path:
    """Where users drop third-party checkpoints: ``SPECVIEW_MODELS_DIR`` or ``<repo>/models``."""
    env = os.environ.get("SPECVIEW_MODELS_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "models"


def default_checkpoint() -> Path:
    """The CLAP 2022 checkpoint in the models folder, else the PANNs one; explain if neither."""
    folder = models_dir()
    for name in (CLAP_FILE, PANNS_FILE):
        if (folder / name).is_file():
            return folder / name
    raise WeightsError(
        f"no CNN14 checkpoint in {folder}: put {CLAP_FILE} (https://zenodo.org/record/8378278) "
        f"or {PANNS_FILE} ({PANNS_SOURCE}) there, or set SPECVIEW_MODELS_DIR to the folder "
        "holding it, or pass --set weights=PATH"
    )


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a CNN14 checkpoint, read without unpickling code."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"{path}: no such CNN14 checkpoint; give the path of {CLAP_FILE} or {PANNS_FILE}, or "
            f"put one in {models_dir()} (or the folder named by SPECVIEW_MODELS_DIR)"
        )
    # memory-map zip checkpoints: CLAP's file also holds a text encoder we never read
    obj = safe_load(path, "CNN14", mmap=zipfile.is_zipfile(path))
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: unexpected checkpoint content {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def detect_layout(state: dict[str, torch.Tensor], path: Path) -> Layout:
    for layout in (CLAP_2022, PANNS):
        if f"{layout.prefix}conv_block1.conv1.weight" in state:
            return layout
    raise WeightsError(
        f"{path}: neither a CLAP 2022 nor a PANNs Cnn14 checkpoint (no "
        f"{CLAP_2022.prefix}conv_block1.conv1.weight or conv_block1.conv1.weight in it)"
    )


# -- network ---------------------------------------------------------------------------------------
class Cnn14Net(nn.Module):
    """The PANNs Cnn14 convolutional stack up to the deepest requested block.

    ``forward`` takes ``(B, 64, n_time)`` log-mel (dB) batches, ``n_time`` a multiple of the
    deepest block's stride, and returns the requested blocks as ``(B, C, 64 / s, n_time / s)``.
    """

    def __init__(self, layers: tuple[str, ...]) -> None:
        super().__init__()
        self.layers = tuple(layers)
        self.depth = max(BLOCKS.index(b) for b in layers) + 1
        self.bn0 = nn.BatchNorm2d(N_MELS)
        chans = [1, 64, 128, 256, 512, 1024, 2048]
        for i in range(self.depth):
            self.add_module(f"conv_block{i + 1}", ConvBlock(chans[i], chans[i + 1]))

    def forward(self, x: torch.Tensor, *, batch_stats: bool = False) -> list[torch.Tensor]:
        # bn0 with the mel bands as channels, as PANNs does by transposing (B, 1, T, mel)
        h = batch_norm(x, self.bn0, batch_stats)
        # channels-last convolutions run faster on CPU
        h = h.transpose(1, 2)[:, None].contiguous(memory_format=torch.channels_last)
        out = {}
        for i in range(self.depth):
            h = getattr(self, f"conv_block{i + 1}")(h, batch_stats=batch_stats)
            if i < 5:  # PANNs: 2x2 average pooling after blocks 1-5, (1, 1) after block 6
                h = F.avg_pool2d(h, 2)
            out[BLOCKS[i]] = h
        return [out[b].transpose(2, 3).contiguous() for b in self.layers]

    def init_random(self, seed: int) -> Cnn14Net:
        """Xavier-uniform convolutions, unit BN (PANNs' own initialisation), seeded."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in, fan_out = m.weight[0].numel(), m.weight[:, 0].numel()
                    bound = (6.0 / (fan_in + fan_out)) ** 0.5
                    m.weight.copy_(torch.empty_like(m.weight).uniform_(-bound, bound, generator=g))
                elif isinstance(m, nn.BatchNorm2d):
                    m.reset_parameters()
        return self


def cnn14_front_end(sr: int, hop_length: int = TRAINED_HOP, gain_db: float = 0.0) -> MelFrontEnd:
    """torchlibrosa's front end as CLAP/PANNs use it: Hann 1024, n_fft 1024, 64 Slaney mel bands
    50-14000 Hz with Slaney normalisation (librosa's defaults), power, ``10 log10(max(S, 1e-10))``
    (ref 1, no top_db). torchlibrosa pads the clip ends by reflection, specview by zeros: only the
    first and last few frames differ."""
    return MelFrontEnd(
        sr=sr, n_fft=1024, hop_length=hop_length, n_mels=N_MELS, fmin=50.0, fmax=14000.0,
        htk=False, mel_norm="slaney", window_norm=False, compression="db", scale=1.0,
        gain_db=gain_db,
    )


class Cnn14Encoder(Encoder):
    name = "cnn14"
    Params = Cnn14Params
    provenance = (
        "CNN14 (PANNs, Kong et al. 2020) as used by CLAP 2022 (Elizalde et al.); weights from a "
        "user-supplied checkpoint"
    )

    def __init__(self, params: Cnn14Params | None = None, *, device: str | None = "cpu") -> None:
        self.params = params or Cnn14Params()
        self.device = resolve_device(device)
        self._path = Path(self.params.weights).expanduser() if self.params.weights \
            else default_checkpoint()
        state = load_checkpoint(self._path)
        self.layout = detect_layout(state, self._path)
        self.net = self._pretrained_net(state)
        del state
        self.front_end = cnn14_front_end(self.layout.sr, self.params.hop_length,
                                         self.params.gain_db)
        self.provenance = f"{self.layout.provenance}; checkpoint {self._path.name}"
        self.chunk_margin = max(MARGINS[b] for b in self.params.layers)

    def _pretrained_net(self, state: dict[str, torch.Tensor]) -> Cnn14Net:
        prefix = self.layout.prefix
        # Cnn10/Cnn6 share the first blocks' shapes: insist on Cnn14's last block being there
        marker = state.get(f"{prefix}conv_block6.conv2.weight")
        if marker is None or tuple(marker.shape) != (2048, 2048, 3, 3):
            raise WeightsError(
                f"{self._path}: not a Cnn14 checkpoint ({prefix}conv_block6.conv2.weight is "
                f"{'missing' if marker is None else tuple(marker.shape)}, expected 2048x2048x3x3)"
            )
        net = Cnn14Net(self.params.layers)
        wanted = {}
        missing = []
        for k, v in net.state_dict().items():
            src = state.get(prefix + k)
            if src is None and k.endswith("num_batches_tracked"):
                src = v  # unused at inference; older checkpoints may lack it
            if src is None:
                missing.append(prefix + k)
            else:
                wanted[k] = src
        if missing:
            raise WeightsError(
                f"{self._path}: checkpoint lacks {missing[:3]} ({len(missing)} missing) for CNN14"
            )
        try:
            net.load_state_dict(wanted)
        except RuntimeError as exc:
            raise WeightsError(f"{self._path}: weights do not fit CNN14 ({exc})") from None
        return net.to(self.device).requires_grad_(False)

    def layer_grids(self) -> list[LayerGrid]:
        return [LayerGrid(b, CHANNELS[b], STRIDES[b], STRIDES[b]) for b in self.params.layers]

    @property
    def freq_context_rows(self) -> int:
        return 0  # bn0 normalises each of the 64 bands: the network takes exactly 64

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net(x)
