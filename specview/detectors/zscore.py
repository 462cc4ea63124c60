"""A transparent baseline without a network: how far each cell's level lies from its band's
normal level, in normal deviations.

Fitting reads the front end's log-mel spectrograms of the normal clips and keeps, for every
mel band, the mean and the standard deviation of its level over all their frames (streaming
float64 sums: any number of clips in bounded memory). Scoring gives each cell
``|level - band mean| / band deviation`` (the deviation floored at ``min_std_ratio`` times the
median band's, so a band that never moved in training does not divide by almost nothing; the
floor is relative because front ends differ in units: aisfx's compressed level spans about 0-1,
CNN14's dB about 100), lightly smoothed. The clip score is
the map's maximum. The encoder's network is not used — only its front end, so the map lies on
the same grid as every other method's and compares with them directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from specview.detectors.base import Detector, EpochReport
from specview.detectors.components import (
    check_smoothing,
    map_result,
    smooth_map,
    smooth_mel_field,
    smooth_s_field,
)
from specview.encoders.base import Encoder
from specview.errors import ModelFileError, ParameterError
from specview.params import check_fields
from specview.types import AnomalyResult, Progress, Spectrogram


@dataclass(frozen=True)
class ZScoreParams:
    """Parameters of :class:`ZScore`."""

    min_std_ratio: float = field(
        default=0.05,
        metadata={"help": "floor of each band's deviation, as a share of the median band's (> 0)"},
    )
    smooth_s: float = smooth_s_field()
    smooth_mel: float = smooth_mel_field()

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.min_std_ratio > 0:
            raise ParameterError(f"min_std_ratio {self.min_std_ratio}: must be > 0")
        check_smoothing(self.smooth_s, self.smooth_mel)


class ZScore(Detector):
    """Per-band z-score of the log-mel level against normal clips (a non-learned baseline)."""

    name = "zscore"
    Params = ZScoreParams
    description = ("baseline: |level - band mean| / band deviation of the normal clips' log-mel "
                   "(no network)")

    def __init__(self, params: ZScoreParams | None = None, *, device=None) -> None:
        super().__init__(params, device="cpu")
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    @property
    def is_fitted(self) -> bool:
        return self.mean is not None

    def fit(
        self,
        encoder: Encoder,
        spectrograms: Iterable[Spectrogram],
        *,
        n_clips: int | None = None,
        progress: Progress | None = None,
        on_epoch: EpochReport | None = None,
    ) -> None:
        """Band means and deviations over every frame of the normal clips."""
        # the model replaces the previous one only when complete: a failed or cancelled fit
        # leaves the detector as it was
        total = (n_clips or 0) + 1
        s = ss = None
        count = 0
        done = 0
        for spec in spectrograms:
            v = np.asarray(spec.values, dtype=np.float64)
            if s is None:
                s, ss = np.zeros(v.shape[0]), np.zeros(v.shape[0])
            elif v.shape[0] != s.shape[0]:
                raise ParameterError(
                    f"training spectrograms have {s.shape[0]} and {v.shape[0]} bands; one "
                    "front end for all clips")
            s += v.sum(axis=1)
            ss += np.square(v).sum(axis=1)
            count += v.shape[1]
            done += 1
            if progress is not None:
                progress(done, max(total, done + 1))
        if s is None or count == 0:
            raise ParameterError("no training spectrogram: fit on at least one normal clip")
        mean = s / count
        var = np.maximum(ss / count - mean**2, 0.0)
        std = np.sqrt(var)
        floor = self.params.min_std_ratio * float(np.median(std))
        std = np.maximum(std, floor if floor > 0 else 1e-6)
        if progress is not None:
            progress(max(total, done + 1), max(total, done + 1))
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)

    def score(
        self, encoder: Encoder, spec: Spectrogram, *, valid: tuple[int, int] | None = None
    ) -> AnomalyResult:
        """|z| per cell on ``spec``'s grid; ``valid`` (first, last) frames bounds the clip score."""
        if self.mean is None or self.std is None:
            raise ParameterError("zscore is not fitted; fit it or load a model file")
        v = np.asarray(spec.values, dtype=np.float32)
        if v.shape[0] != self.mean.shape[0]:
            raise ModelFileError(
                f"the model knows {self.mean.shape[0]} bands but the spectrogram has "
                f"{v.shape[0]}: it was fitted with another front end")
        z = np.abs(v - self.mean[:, None]) / self.std[:, None]
        z = smooth_map(z, spec.times, spec.freqs, self.params.smooth_s, self.params.smooth_mel)
        return map_result(z, spec, valid)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.mean is None or self.std is None:
            raise ParameterError("zscore is not fitted; nothing to save")
        return {"band_mean": torch.from_numpy(self.mean.copy()),
                "band_std": torch.from_numpy(self.std.copy())}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        mean, std = self._require(tensors, "band_mean", "band_std")
        if mean.ndim != 1 or tuple(std.shape) != tuple(mean.shape) or mean.numel() < 1:
            raise ModelFileError(
                f"zscore tensors do not fit together: band_mean {tuple(mean.shape)}, band_std "
                f"{tuple(std.shape)}; expected two vectors of one value per band")
        if not bool((std > 0).all()):
            raise ModelFileError("zscore model holds a band deviation <= 0; refit it")
        self.mean = mean.to(torch.float32).numpy().copy()
        self.std = std.to(torch.float32).numpy().copy()
