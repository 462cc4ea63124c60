"""PaDiM (Defard et al., "PaDiM: a Patch Distribution Modeling Framework for Anomaly Detection
and Localization", ICPR 2021) on spectrogram feature maps, as adapted to audio by Barusco et al.
(2025, "From Vision to Sound").

Patch embeddings: the encoder's layers, deeper ones resized bilinearly onto the first layer's
grid and concatenated; a seeded random subset of the channels is kept (the paper's random
dimensionality reduction). One multivariate Gaussian per time-frequency cell, covariance
regularised by ``epsilon * I``; the score of a cell is its Mahalanobis distance. The score grid is
upsampled to the spectrogram and Gaussian-smoothed; the clip score is the map's maximum.

Spectrograms have no fixed width, so the per-cell model (``mode="cell"``, the paper's) is fitted
and applied on fixed-length windows (``window_seconds``; by default the length of the first
training clip, rounded up to the encoder's time multiple):

* training clips are cut into non-overlapping windows (plus one aligned to the clip's end when
  the tiles leave a rest); a clip shorter than the window is extended by repeating its last
  frame (edge replication, the same padding the encoders apply);
* longer recordings are scored window by window on the same tiling and the score grids are
  stitched (averaged where the end-aligned window overlaps);
* shorter recordings follow ``short_clips``: ``"pad"`` (default) extends them by edge
  replication to the window, scores, and crops the map back; ``"prefix"`` scores the clip as it
  is against the Gaussians of the first time cells of the window.

``mode="row"`` (the default) shares the Gaussians along time, one per frequency row of the grid:
it needs no fixed length, learns from every frame of every clip and scores recordings of any
length whole. A machine's sound is stationary along time, so a Gaussian per row fits a
recording as well as one per cell does, from many more samples: the 51 fitted 5-s clips of the
real mining benchmark give a cell's Gaussian of 200 channels 51 samples, a row's about 2,750
(there clip AUROC 0.90 with cells, 0.97 with rows; ``bench/bench_real.py``).
A Gaussian shared along time cannot learn the artefacts of the network's zero padding at the
clip's two ends (they made the ends the most "anomalous" cells of every clip), so in row mode
``context_seconds`` of mirrored sound is added at both ends before the encoder and its cells
are dropped after.

Covariances are accumulated streaming (float64 sums and outer-product sums per cell), inverted
once by Cholesky; the model stores the mean and the inverse Cholesky factor ``W``
(``d^2 = ||W (x - mean)||^2``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from specview.detectors.base import Detector, EpochReport
from specview.detectors.components import (
    GaussianAccumulator,
    check_smoothing,
    check_window,
    context_features,
    context_frames,
    grid_map_result,
    mahalanobis,
    pad_frames,
    padded_length,
    smooth_mel_field,
    smooth_s_field,
    tiled_grid,
    window_frames,
)
from specview.encoders.base import Encoder
from specview.errors import ModelFileError, ParameterError
from specview.params import check_fields
from specview.types import AnomalyResult, Progress, Spectrogram
from specview.windows import window_starts

MODES = ("cell", "row")
SHORT = ("pad", "prefix")


@dataclass(frozen=True)
class PaDiMParams:
    mode: str = field(
        default="row",
        metadata={"help": "row: one Gaussian per frequency row, shared along time (any length); "
                          "cell: one per time-frequency cell of a fixed-length window (the "
                          "paper's)"},
    )
    n_features: int = field(
        default=0,
        metadata={"help": "random channels kept; 0 = feature_ratio of the encoder's channels, "
                          "at most max_features"},
    )
    feature_ratio: float = field(
        default=0.25, metadata={"help": "share of channels kept when n_features is 0 (0-1]"}
    )
    max_features: int = field(
        default=200, metadata={"help": "cap on the automatic channel count (memory: cells x d^2)"}
    )
    epsilon: float = field(
        default=0.01, metadata={"help": "covariance regulariser: cov + epsilon * I"}
    )
    window_seconds: float = field(
        default=0.0,
        metadata={"help": "cell mode: window length in seconds; 0 = the first training clip's"},
    )
    context_seconds: float = field(
        default=0.5,
        metadata={"help": "row mode: mirrored context added at both clip ends before the "
                          "encoder and dropped after, so no cell sees the network's zero "
                          "padding (0 = none)"},
    )
    short_clips: str = field(
        default="pad",
        metadata={"help": "cell mode, clips shorter than the window: pad (repeat the last frame, "
                          "crop the map) or prefix (the window's first cells' Gaussians)"},
    )
    smooth_s: float = smooth_s_field()
    smooth_mel: float = smooth_mel_field()
    seed: int = field(default=0, metadata={"help": "seed of the random channel selection"})

    def __post_init__(self) -> None:
        check_fields(self)
        if self.mode not in MODES:
            raise ParameterError(f"PaDiM mode {self.mode!r}: use {' or '.join(MODES)}")
        if self.short_clips not in SHORT:
            raise ParameterError(f"PaDiM short_clips {self.short_clips!r}: use pad or prefix")
        if not 0 < self.feature_ratio <= 1:
            raise ParameterError(f"feature_ratio {self.feature_ratio}: must be in (0, 1]")
        if self.n_features < 0 or self.max_features < 1:
            raise ParameterError(
                f"n_features {self.n_features} / max_features {self.max_features}: "
                "use n_features >= 0 and max_features >= 1"
            )
        if not self.epsilon > 0:
            raise ParameterError(f"epsilon {self.epsilon}: must be > 0")
        if self.window_seconds < 0 or self.context_seconds < 0:
            raise ParameterError(
                f"window_seconds {self.window_seconds}, context_seconds {self.context_seconds}"
                ": must be >= 0"
            )
        check_smoothing(self.smooth_s, self.smooth_mel)


class PaDiM(Detector):
    name = "padim"
    Params = PaDiMParams
    description = "one Gaussian per patch position, Mahalanobis distance (Defard et al. 2021)"
    # aisfx's deepest block as well (the paper's blocks 2-4, as CFA and STFPM): on the real-recordings benchmark
    # (bench/bench_real.py) spectrogram AUROC 0.901/0.916/0.916 -> 0.931/0.945/0.930 (engine,
    # mining, power), clip AUROC staying >= 0.939, at about twice the encoder's cost.
    encoder_defaults = {"aisfx": {"layers": "block2,block3,block4"}}

    def __init__(self, params: PaDiMParams | None = None, *, device="cpu") -> None:
        super().__init__(params, device=device)
        self._clear()

    def _clear(self) -> None:
        self.mean: torch.Tensor | None = None  # (F, T, d) cell mode, (F, d) row mode
        self.whiten: torch.Tensor | None = None  # (F, T, d, d) / (F, d, d)
        self.index: torch.Tensor | None = None  # (d,) channels kept
        self.window_frames = 0  # cell mode: padded window length in frames

    @property
    def is_fitted(self) -> bool:
        return self.mean is not None

    # -- features -------------------------------------------------------------------------
    def _embedding(self, encoder: Encoder, values: np.ndarray,
                   index: torch.Tensor | None = None) -> torch.Tensor:
        """(d, F, T) embedding of a (n_freq, n_time) array: layers on the first layer's grid,
        the chosen channels."""
        index = self.index if index is None else index
        assert index is not None
        context = 0
        if self.params.mode == "row":
            context = context_frames(encoder, self.params.context_seconds)
        feat = context_features(encoder, values, context).to(self.device)
        if int(index.max()) >= feat.shape[0]:
            raise ModelFileError(
                f"features have {feat.shape[0]} channels but the model picks channel "
                f"{int(index.max())}: it was fitted with another encoder setup"
            )
        return feat[index]

    def _choose_channels(self, n_channels: int) -> torch.Tensor:
        p = self.params
        d = p.n_features or min(p.max_features, max(1, int(round(p.feature_ratio * n_channels))))
        if d > n_channels:
            raise ParameterError(
                f"n_features {d} exceeds the encoder's {n_channels} channels; choose fewer"
            )
        g = torch.Generator().manual_seed(p.seed)
        return torch.randperm(n_channels, generator=g)[:d].sort().values.to(self.device)

    # -- fit ------------------------------------------------------------------------------
    def fit(
        self,
        encoder: Encoder,
        spectrograms: Iterable[Spectrogram],
        *,
        n_clips: int | None = None,
        progress: Progress | None = None,
        on_epoch: EpochReport | None = None,
    ) -> None:
        """Accumulate the Gaussians over normal clips (streaming), then invert them once.

        Progress counts the clips, plus one step for the inversion.
        """
        # the model is built aside and replaces the previous one only when complete: a failed
        # or cancelled fit leaves the detector as it was
        p = self.params
        total = (n_clips or 0) + 1
        acc: GaussianAccumulator | None = None
        index: torch.Tensor | None = None
        window = 0
        grid: tuple[int, int] | None = None
        done = 0
        for spec in spectrograms:
            values = spec.values
            if index is None:
                index = self._choose_channels(sum(g.channels for g in encoder.layer_grids()))
                window = window_frames(encoder, self.params.window_seconds, values.shape[1])
            if p.mode == "row":
                emb = self._embedding(encoder, values, index)  # (d, F, T)
                samples = emb.permute(1, 2, 0)  # (F, T, d): T samples per row
            else:
                x = pad_frames(values, window)
                embs = [self._embedding(encoder, x[:, s : s + window], index)
                        for s in window_starts(x.shape[1], window)]
                grid = grid or (embs[0].shape[1], embs[0].shape[2])
                # one sample per cell and window: (F*T, n_windows, d)
                samples = torch.stack(embs, 0).flatten(2).permute(2, 0, 1)
            if acc is None:
                acc = GaussianAccumulator(samples.shape[0], samples.shape[2], device=self.device)
            acc.add(samples)
            done += 1
            if progress is not None:
                progress(done, max(total, done + 1))
        if acc is None or index is None:
            raise ParameterError("PaDiM needs at least one training clip")
        mean, whiten = acc.finalize(p.epsilon)
        if p.mode == "cell":
            assert grid is not None
            mean = mean.reshape(*grid, -1)
            whiten = whiten.reshape(*grid, *whiten.shape[1:])
        if progress is not None:
            progress(max(total, done + 1), max(total, done + 1))
        self.mean = mean.float().contiguous()
        self.whiten = whiten.float().contiguous()
        self.index = index
        self.window_frames = window if p.mode == "cell" else 0

    # -- score ----------------------------------------------------------------------------
    def _row_scores(self, emb: torch.Tensor) -> torch.Tensor:
        """(d, F, T) -> (F, T) distances to the row Gaussians."""
        assert self.mean is not None and self.whiten is not None
        if emb.shape[1] != self.mean.shape[0]:
            raise ModelFileError(
                f"the feature grid has {emb.shape[1]} frequency rows but the model {self.mean.shape[0]}: "
                "it was fitted with another encoder setup"
            )
        return mahalanobis(emb.permute(1, 2, 0), self.mean, self.whiten)

    def _cell_scores(self, emb: torch.Tensor) -> torch.Tensor:
        """(d, F, T) with T <= the window's cells -> (F, T) distances to the first T cells."""
        assert self.mean is not None and self.whiten is not None
        f, t = emb.shape[1:]
        mf, mt = self.mean.shape[:2]
        if f != mf or t > mt:
            raise ModelFileError(
                f"the feature grid ({f} x {t} cells) does not fit the model's ({mf} x {mt}): "
                "it was fitted with another encoder setup"
            )
        mean = self.mean[:, :t].reshape(f * t, -1)
        whiten = self.whiten[:, :t].reshape(f * t, *self.whiten.shape[2:])
        x = emb.flatten(1).T[:, None, :]  # (F*T, 1, d)
        return mahalanobis(x, mean, whiten)[:, 0].reshape(f, t)

    @torch.no_grad()
    def score(
        self, encoder: Encoder, spec: Spectrogram, *, valid: tuple[int, int] | None = None
    ) -> AnomalyResult:
        """Score a front-end spectrogram; ``valid`` (first, last) frames bounds the clip score."""
        if self.mean is None:
            raise ParameterError("PaDiM is not fitted; fit it or load a model file")
        values = spec.values
        padded = padded_length(values.shape[1], encoder.time_multiple)
        if self.params.mode == "row":
            grid, size = self._row_scores(self._embedding(encoder, values)), padded
        else:
            window = self.window_frames
            check_window(window, encoder.time_multiple)

            def cells(x: np.ndarray) -> torch.Tensor:
                return self._cell_scores(self._embedding(encoder, x))

            if padded < window and self.params.short_clips == "prefix":
                grid, size = cells(values), padded
            else:
                grid, size = tiled_grid(pad_frames(values, padded), window, cells)
        return grid_map_result(grid, spec, size, valid, smooth_s=self.params.smooth_s,
                               smooth_mel=self.params.smooth_mel)

    # -- model files ----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.mean is None or self.whiten is None or self.index is None:
            raise ParameterError("PaDiM is not fitted; nothing to save")
        return {
            "mean": self.mean.cpu().contiguous(),
            "whiten": self.whiten.cpu().contiguous(),
            "index": self.index.cpu().contiguous(),
            "window_frames": torch.tensor([self.window_frames], dtype=torch.int64),
        }

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        mean, whiten, index, window = self._require(
            tensors, "mean", "whiten", "index", "window_frames", integer=("index", "window_frames")
        )
        cell = self.params.mode == "cell"
        lead = 2 if cell else 1
        d = index.shape[0] if index.ndim == 1 else -1
        ok = (
            index.ndim == 1 and d >= 1 and not index.is_floating_point() and int(index.min()) >= 0
            and mean.ndim == lead + 1 and mean.shape[-1] == d and min(mean.shape) >= 1
            and tuple(whiten.shape) == (*mean.shape, d)
            and window.numel() == 1 and (int(window.reshape(-1)[0]) > 0) == cell
        )
        if not ok:
            raise ModelFileError(
                f"PaDiM ({self.params.mode} mode) tensors do not fit together: mean "
                f"{tuple(mean.shape)}, whiten {tuple(whiten.shape)}, index {tuple(index.shape)}, "
                f"window_frames {window.tolist()}; expected mean ({'F, T, d' if cell else 'F, d'}),"
                " whiten (..., d, d), index (d,) and a window only in cell mode"
            )
        if not (torch.isfinite(mean).all() and torch.isfinite(whiten).all()):
            raise ModelFileError("PaDiM model holds non-finite values; refit it")
        self._clear()
        self.mean = mean.to(self.device, torch.float32).contiguous()
        self.whiten = whiten.to(self.device, torch.float32).contiguous()
        self.index = index.to(self.device, torch.int64)
        self.window_frames = int(window.reshape(-1)[0])
