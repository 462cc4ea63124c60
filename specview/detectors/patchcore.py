"""PatchCore (Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022)
on spectrogram feature maps.

Fit: locally aware patch features of every training clip (3x3 neighbourhood average, layers
concatenated on the first layer's grid; the clip's ends and its lowest and highest bands are
computed with mirrored context, so the encoder's zero padding does not make the grid's border
look unlike its interior) form a memory bank, reduced by greedy k-center coreset
selection on a random projection. Score: each test patch's distance to its nearest bank patch;
the clip score is the largest patch score re-weighted by how isolated its nearest bank patch is
(eq. 7 of the paper); the patch grid is resized bilinearly to the spectrogram and smoothed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from specview.detectors.base import Detector, EpochReport
from specview.detectors.components import (
    ReservoirBank,
    check_smoothing,
    context_features,
    context_frames,
    flatten_patches,
    frame_scores,
    greedy_coreset,
    nearest_neighbours,
    scores_to_map,
    smooth_mel_field,
    smooth_s_field,
)
from specview.encoders.base import Encoder
from specview.errors import ModelFileError, ParameterError
from specview.params import check_fields
from specview.types import AnomalyResult, Progress, Spectrogram


@dataclass(frozen=True)
class PatchCoreParams:
    coreset_ratio: float = field(
        default=0.1, metadata={"help": "share of training patches kept in the memory bank (0-1]"}
    )
    coreset_size: int = field(
        default=0, metadata={"help": "fixed memory bank size; overrides coreset_ratio when > 0"}
    )
    projection_dim: int = field(
        default=128, metadata={"help": "random projection size used for coreset selection"}
    )
    num_neighbors: int = field(
        default=9, metadata={"help": "bank neighbours b used to re-weight the clip score"}
    )
    neighbourhood: int = field(
        default=3, metadata={"help": "local patch aggregation window (feature cells)"}
    )
    smooth_s: float = smooth_s_field()
    smooth_mel: float = smooth_mel_field()
    context_seconds: float = field(
        default=0.5,
        metadata={"help": "mirrored context added at both clip ends before the encoder and "
                          "dropped after, so edge cells see sound, not the network's zero "
                          "padding (s, 0 = none)"},
    )
    freq_context: bool = field(
        default=True,
        metadata={"help": "mirror one coarsest feature cell of mel bands below the lowest and "
                          "above the highest band before the encoder and drop it after, so the "
                          "edge bands see sound, not the network's zero padding (not with "
                          "CNN14, whose network takes exactly its 64 bands)"},
    )
    max_patches: int = field(
        default=200_000,
        metadata={"help": "training patches kept before coreset (uniform reservoir sample)"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the projection, start point, sampling"})

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0 < self.coreset_ratio <= 1:
            raise ParameterError(f"coreset_ratio {self.coreset_ratio}: must be in (0, 1]")
        if self.coreset_size < 0:
            raise ParameterError(f"coreset_size {self.coreset_size}: must be >= 0 (0 = use "
                                 "coreset_ratio)")
        for name in ("projection_dim", "num_neighbors", "max_patches"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name} {getattr(self, name)}: must be >= 1")
        check_smoothing(self.smooth_s, self.smooth_mel)
        if not self.context_seconds >= 0:
            raise ParameterError(f"context_seconds {self.context_seconds}: must be >= 0")
        if self.neighbourhood < 1 or self.neighbourhood % 2 == 0:
            raise ParameterError(f"neighbourhood {self.neighbourhood}: must be odd and >= 1")


class PatchCore(Detector):
    name = "patchcore"
    Params = PatchCoreParams
    description = "memory bank of nominal patch features, nearest-neighbour distance (Roth et al. 2022)"

    def __init__(self, params: PatchCoreParams | None = None, *, device="cpu") -> None:
        super().__init__(params, device=device)
        self.memory_bank: torch.Tensor | None = None
        self._bank_sq: torch.Tensor | None = None

    @property
    def is_fitted(self) -> bool:
        return self.memory_bank is not None

    def _patches(self, encoder: Encoder, spec: Spectrogram) -> tuple[torch.Tensor, tuple[int, int]]:
        values = spec.values if isinstance(spec, Spectrogram) else spec
        context = context_frames(encoder, self.params.context_seconds)
        if context >= values.shape[1]:  # reflection needs more frames than it mirrors
            context = (values.shape[1] - 1) // encoder.time_multiple * encoder.time_multiple
        feat = context_features(encoder, values, context, neighbourhood=self.params.neighbourhood,
                                freq_context=self.params.freq_context)
        return flatten_patches(feat), (feat.shape[1], feat.shape[2])

    def fit(
        self,
        encoder: Encoder,
        spectrograms: Iterable[Spectrogram],
        *,
        n_clips: int | None = None,
        progress: Progress | None = None,
        on_epoch: EpochReport | None = None,
    ) -> None:
        p = self.params
        # the bank is built aside and replaces the previous one only when complete: a failed or
        # cancelled fit leaves the detector as it was
        reservoir = ReservoirBank(p.max_patches, seed=p.seed)
        steps = 100
        total = (n_clips or 0) + steps
        done = 0
        for spec in spectrograms:
            patches, _ = self._patches(encoder, spec)
            reservoir.add(patches.to(self.device))
            done += 1
            if progress is not None:
                progress(done, max(total, done + steps))
        bank = reservoir.tensor()
        if bank.numel() == 0:
            raise ParameterError("PatchCore needs at least one training clip")
        n = p.coreset_size or int(round(p.coreset_ratio * bank.shape[0]))
        n = max(1, min(n, bank.shape[0]))

        def coreset_progress(i: int, n_: int) -> None:
            if progress is not None:
                progress(done + i * steps // n_, done + steps)

        if n < bank.shape[0]:
            idx = greedy_coreset(
                bank, n, projection_dim=p.projection_dim, seed=p.seed, progress=coreset_progress
            )
            bank = bank[idx.to(bank.device)]
        elif progress is not None:  # every patch kept: the coreset's steps are done at once
            progress(done + steps, done + steps)
        self._set_bank(bank.contiguous())

    def _set_bank(self, bank: torch.Tensor) -> None:
        self.memory_bank = bank.to(self.device, torch.float32)
        self._bank_sq = (self.memory_bank * self.memory_bank).sum(1)

    @torch.no_grad()
    def score(
        self, encoder: Encoder, spec: Spectrogram, *, valid: tuple[int, int] | None = None
    ) -> AnomalyResult:
        """Score a front-end spectrogram.

        ``valid`` (first, last) frames restricts the clip score to patches of that span: the
        pipeline passes it when scoring a window of a long recording whose margins are context.
        """
        if self.memory_bank is None:
            raise ParameterError("PatchCore is not fitted; fit it or load a model file")
        patches, (nf, nt) = self._patches(encoder, spec)
        patches = patches.to(self.device)
        if patches.shape[1] != self.memory_bank.shape[1]:
            raise ModelFileError(
                f"features have {patches.shape[1]} channels but the memory bank has "
                f"{self.memory_bank.shape[1]}: the model was fitted with another encoder setup"
            )
        dist, nn_idx = nearest_neighbours(patches, self.memory_bank, k=1, bank_sq=self._bank_sq)
        patch_scores = dist[:, 0]
        grid = patch_scores.reshape(nf, nt).cpu()
        candidates = patch_scores
        if valid is not None:
            stride = encoder.layer_grids()[0].time_stride
            keep = torch.zeros(nf, nt, dtype=torch.bool)
            keep[:, valid[0] // stride : -(-valid[1] // stride)] = True
            candidates = torch.where(keep.reshape(-1).to(patch_scores.device), patch_scores,
                                     torch.full_like(patch_scores, -torch.inf))
        clip_score = self._reweighted_max(patches, candidates, nn_idx[:, 0])
        n_time = spec.values.shape[1]
        m = encoder.time_multiple
        padded = -(-n_time // m) * m
        amap = scores_to_map(
            grid, padded_size=(spec.values.shape[0], padded), n_time=n_time, spec=spec, smooth_s=self.params.smooth_s,
            smooth_mel=self.params.smooth_mel,
        )
        return AnomalyResult(
            map=amap, times=spec.times, freqs=spec.freqs, clip_score=clip_score,
            frame_scores=frame_scores(amap),
            extras={"patch_grid": grid.numpy(), "peak_score": float(candidates.max())},
        )

    def _reweighted_max(
        self, patches: torch.Tensor, scores: torch.Tensor, nn_idx: torch.Tensor
    ) -> float:
        """Eq. 7 of PatchCore: ``s = (1 - softmax(d)_0) * s*`` where ``d`` are the distances from
        the most anomalous test patch to its nearest bank patch ``m*`` and to the ``b`` nearest
        neighbours of ``m*`` in the bank (``m*`` itself first)."""
        bank = self.memory_bank
        assert bank is not None and self._bank_sq is not None
        i = int(torch.argmax(scores))
        s_star = scores[i]
        b = min(self.params.num_neighbors, bank.shape[0])
        if b < 2:
            return float(s_star)
        m_star = bank[nn_idx[i]][None]
        _, support = nearest_neighbours(m_star, bank, k=b, bank_sq=self._bank_sq)
        d = torch.linalg.vector_norm(bank[support[0]] - patches[i][None], dim=1)
        weight = 1.0 - torch.softmax(d, dim=0)[0]
        return float(weight * s_star)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.memory_bank is None:
            raise ParameterError("PatchCore is not fitted; nothing to save")
        return {"memory_bank": self.memory_bank.cpu().contiguous()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Take a memory bank read from a model file: a finite floating-point
        ``(n_patches, n_channels)`` tensor (checked here; its width is checked against the
        encoder by :meth:`bind`)."""
        (bank,) = self._require(tensors, "memory_bank")
        if bank.ndim != 2 or bank.shape[0] < 1 or bank.shape[1] < 1:
            raise ModelFileError(
                f"PatchCore model tensor 'memory_bank' has shape {tuple(bank.shape)}; expected "
                "(n_patches, n_channels)"
            )
        self._set_bank(bank)

    def bind(self, encoder: Encoder) -> None:
        """Check that the memory bank's width is the encoder's feature width (the channels of
        its selected layers).

        Raises
        ------
        ModelFileError
            When the bank was built from other features (another encoder or layer choice).
        """
        if self.memory_bank is None:
            raise ParameterError("PatchCore is not fitted; fit it or load a model file")
        width = sum(g.channels for g in encoder.layer_grids())
        if self.memory_bank.shape[1] != width:
            raise ModelFileError(
                f"PatchCore model tensor 'memory_bank' has {self.memory_bank.shape[1]} channels "
                f"but the {encoder.name} encoder gives {width}: the model was fitted with "
                "another encoder setup"
            )


