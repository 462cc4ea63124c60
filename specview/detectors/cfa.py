"""CFA (Lee, Lee and Song, "CFA: Coupled-hypersphere-based Feature Adaptation for
Target-Oriented Anomaly Localization", IEEE Access 2022) on spectrogram feature maps, as adapted to
audio by Barusco et al. (2025, "From Vision to Sound").

The frozen encoder's layers are averaged over 3x3 neighbourhoods, resized onto the first
layer's grid and concatenated (as the official Descriptor does); a CoordConv patch descriptor
(coordinate channels appended, one 1x1 convolution) maps them to ``C / gamma_d`` dimensions.
A memory bank of centroids is built once from the initial descriptor's outputs on the normal
training clips; the descriptor is then trained with the coupled-hypersphere soft-boundary loss

    L_att = 1/nu * mean(max(0, d_k^2 - r^2))            over the K nearest centroids
    L_rep = 1/nu * mean(max(0, r^2 - d_j^2 - alpha))    over the next J (hard negatives)

The constants follow the official code (github.com/sungwool/CFA_for_anomaly_localization,
``utils/cfa.py`` and ``trainer_cfa.py``): K = 3, J = 3, nu = 1e-3, alpha = 0.1, the radius r
initialised at 1e-5 and learnt with the descriptor, AdamW (lr 1e-3, weight decay 5e-4,
amsgrad), batch size 4, 30 epochs, ``gamma_d = 1``. Its k-means compression of the memory
bank (``gamma_c``) is left out (``gamma_c = 1`` is the default there too).

Score of a patch (official scoring): the Euclidean distances to its K nearest centroids,
weighted by their softmin, of which the nearest's term ``softmin(d)_0 * d_0`` is kept. The score
grid is upsampled to the spectrogram and Gaussian-smoothed in seconds and mel (the official
test loop smooths by sigma 4 pixels); the clip score is the map's maximum.

Memory for audio (``memory``):

* ``"location"`` (the paper's): one centroid per time-frequency cell of a fixed-length window
  (``window_seconds``, by default the first training clip's length), the average of the
  descriptor over the training windows; the descriptor sees both coordinates. Recordings are
  tiled into windows as in PaDiM's cell mode (stitched when longer; padded by repeating the last
  frame and cropped when shorter).
* ``"row"``: one centroid per frequency row (averaged over time and clips); the descriptor sees
  the frequency coordinate only, so the model is time-shift invariant and scores recordings of
  any length whole. Training still runs on windows so that clips batch together. A centroid
  shared along time cannot learn the artefacts of the network's zero padding at the ends, so
  ``context_seconds`` of mirrored sound is added at both ends of each input before the
  encoder and its cells are dropped after (as in PaDiM's row mode).

As in the official code, each patch is matched against all centroids (not only its own).
Training runs a fixed number of epochs, or stops early on the soft-boundary loss of a
validation split held out from the normal training clips (``val_fraction``; the best epoch's
descriptor is kept). Test data is never seen.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from specview.detectors.base import Detector, EpochReport, restored_on_failure
from specview.detectors.components import (
    EarlyStopping,
    check_smoothing,
    check_window,
    context_features,
    context_frames,
    grid_map_result,
    pad_frames,
    padded_length,
    smooth_mel_field,
    smooth_s_field,
    split_validation,
    tiled_grid,
    window_frames,
)
from specview.encoders.base import Encoder
from specview.errors import ModelFileError, ParameterError
from specview.params import check_fields
from specview.types import AnomalyResult, Progress, Spectrogram
from specview.windows import window_starts

MEMORIES = ("location", "row")


@dataclass(frozen=True)
class CFAParams:
    memory: str = field(
        default="location",
        metadata={"help": "location: one centroid per cell of a fixed-length window (the "
                          "paper's); row: one per frequency row, shared along time"},
    )
    epochs: int = field(
        default=30, metadata={"help": "training epochs (the most, with early stopping)"}
    )
    batch_size: int = field(default=4, metadata={"help": "windows per optimisation step"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=5e-4, metadata={"help": "AdamW weight decay"})
    gamma_d: int = field(
        default=1, metadata={"help": "descriptor compression: output dim = channels / gamma_d"}
    )
    k_nearest: int = field(
        default=3, metadata={"help": "K: nearest centroids attracted, and softmin-scored"}
    )
    j_negatives: int = field(
        default=3, metadata={"help": "J: next-nearest centroids repelled (hard negatives)"}
    )
    radius: float = field(
        default=1e-5, metadata={"help": "initial hypersphere radius r (learnt during training)"}
    )
    nu: float = field(default=1e-3, metadata={"help": "soft-boundary weight: loss scaled by 1/nu"})
    alpha: float = field(default=0.1, metadata={"help": "repulsion margin of the hard negatives"})
    neighbourhood: int = field(
        default=3, metadata={"help": "local patch averaging window (feature cells)"}
    )
    window_seconds: float = field(
        default=0.0, metadata={"help": "training window (s); 0 = the first training clip's length"}
    )
    context_seconds: float = field(
        default=0.5,
        metadata={"help": "row memory: mirrored context added at both ends of every window "
                          "before the encoder and dropped after, so no cell sees the network's "
                          "zero padding (0 = none)"},
    )
    val_fraction: float = field(
        default=0.0,
        metadata={"help": "share of the normal training clips held out for early stopping "
                          "(0 = train the fixed number of epochs)"},
    )
    patience: int = field(
        default=5, metadata={"help": "early stopping: epochs without a better validation loss"}
    )
    smooth_s: float = smooth_s_field()
    smooth_mel: float = smooth_mel_field()
    cache_mb: int = field(
        default=1024,
        metadata={"help": "encoder features kept in memory between epochs (MB); the rest is "
                          "recomputed every epoch"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the init, shuffling and split"})

    def __post_init__(self) -> None:
        check_fields(self)
        if self.memory not in MEMORIES:
            raise ParameterError(f"CFA memory {self.memory!r}: use location or row")
        if self.epochs < 1 or self.batch_size < 1 or self.gamma_d < 1 or self.patience < 0:
            raise ParameterError(
                f"CFA epochs {self.epochs}, batch_size {self.batch_size}, gamma_d {self.gamma_d}"
                f", patience {self.patience}: use patience >= 0, the others >= 1"
            )
        if self.k_nearest < 1 or self.j_negatives < 0:
            raise ParameterError(
                f"k_nearest {self.k_nearest} / j_negatives {self.j_negatives}: use K >= 1, J >= 0"
            )
        if not (self.lr > 0 and self.weight_decay >= 0 and self.nu > 0 and self.radius >= 0
                and self.alpha >= 0):
            raise ParameterError(
                f"CFA lr {self.lr}, weight_decay {self.weight_decay}, nu {self.nu}, radius "
                f"{self.radius}, alpha {self.alpha}: lr and nu must be > 0, the others >= 0"
            )
        if self.neighbourhood < 1 or self.neighbourhood % 2 == 0:
            raise ParameterError(f"neighbourhood {self.neighbourhood}: must be odd and >= 1")
        if not 0 <= self.val_fraction < 1:
            raise ParameterError(f"val_fraction {self.val_fraction}: must be in [0, 1)")
        check_smoothing(self.smooth_s, self.smooth_mel)
        if min(self.window_seconds, self.cache_mb, self.context_seconds) < 0:
            raise ParameterError(
                f"window_seconds {self.window_seconds}, context_seconds {self.context_seconds}, "
                f"cache_mb {self.cache_mb}: must be >= 0"
            )


def _coords(n: int, device: torch.device) -> torch.Tensor:
    """``n`` positions spread over [-1, 1] (CoordConv's normalisation)."""
    if n == 1:
        return torch.zeros(1, device=device)
    return torch.linspace(-1.0, 1.0, n, device=device)


class CoordDescriptor(nn.Module):
    """CoordConv patch descriptor: coordinate channels appended, then a 1x1 convolution.

    ``time_coord`` False appends the frequency coordinate only (time-shift invariant)."""

    def __init__(self, c_in: int, c_out: int, *, time_coord: bool) -> None:
        super().__init__()
        self.time_coord = time_coord
        self.n_coords = 2 if time_coord else 1
        self.conv = nn.Conv2d(c_in + self.n_coords, c_out, 1)

    def init_random(self, seed: int) -> CoordDescriptor:
        """PyTorch's default convolution init (uniform, bound 1/sqrt(fan_in)), seeded."""
        g = torch.Generator().manual_seed(seed)
        bound = 1.0 / self.conv.weight[0].numel() ** 0.5
        with torch.no_grad():
            for t in (self.conv.weight, self.conv.bias):
                t.copy_(torch.empty_like(t).uniform_(-bound, bound, generator=g))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, f, t = x.shape
        parts = [x, _coords(f, x.device)[None, None, :, None].expand(b, 1, f, t)]
        if self.time_coord:
            parts.append(_coords(t, x.device)[None, None, None, :].expand(b, 1, f, t))
        return self.conv(torch.cat(parts, dim=1))


def _sq_dists(phi: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """(B, N, D) descriptors, (M, D) centroids -> (B, N, M) squared distances."""
    return ((phi * phi).sum(-1, keepdim=True) + (centroids * centroids).sum(-1)[None, None]
            - 2.0 * phi @ centroids.T).clamp_min(0)


class CFA(Detector):
    name = "cfa"
    Params = CFAParams
    description = ("patch descriptor adapted to coupled hyperspheres around nominal centroids "
                   "(Lee et al. 2022)")
    # aisfx's blocks 2-4 (the paper's): on the real-recordings benchmark spectrogram AUROC
    # 0.927/0.943/0.925 -> 0.933/0.963/0.944 (engine, mining, power), AUPIMO 0.54 -> 0.72
    encoder_defaults = {"aisfx": {"layers": "block2,block3,block4"}}

    def __init__(self, params: CFAParams | None = None, *, device="cpu") -> None:
        super().__init__(params, device=device)
        self._clear()

    def _clear(self) -> None:
        self.descriptor: CoordDescriptor | None = None
        self.centroids: torch.Tensor | None = None  # (M, D)
        self.r: torch.Tensor | None = None  # (1,)
        self.window_frames = 0
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.val_indices: list[int] = []

    @property
    def is_fitted(self) -> bool:
        return self.descriptor is not None

    # -- pieces ---------------------------------------------------------------------------
    def _features(self, encoder: Encoder, values: np.ndarray) -> torch.Tensor:
        """(C, F, T) locally averaged, layer-concatenated features of a (n_freq, n_time) array
        (with mirrored context at both ends for the row memory)."""
        p = self.params
        context = context_frames(encoder, p.context_seconds) if p.memory == "row" else 0
        return context_features(encoder, values, context,
                                neighbourhood=p.neighbourhood).to(self.device)

    def _loss(self, phi: torch.Tensor, centroids: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Soft-boundary loss of descriptors ``phi`` (B, D, F, T) (official ``_soft_boundary``)."""
        p = self.params
        k, j = p.k_nearest, p.j_negatives
        x = phi.flatten(2).transpose(1, 2)  # (B, N, D)
        with torch.no_grad():  # pick the neighbours without a dense (B, N, M) backward
            idx = _sq_dists(x, centroids).topk(min(k + j, centroids.shape[0]), dim=-1,
                                               largest=False).indices
        d2 = (x[:, :, None, :] - centroids[idx]).pow(2).sum(-1)  # (B, N, K + J), ascending
        att = F.relu(d2[..., :k] - r**2).mean() / p.nu
        if j == 0:
            return att
        rep = F.relu(r**2 - d2[..., k:] - p.alpha).mean() / p.nu
        return att + rep

    def _grid(self, phi: torch.Tensor) -> torch.Tensor:
        """(1, D, F, T) descriptors -> (F, T) scores: softmin-weighted nearest distance."""
        assert self.centroids is not None
        _, _, f, t = phi.shape
        d = _sq_dists(phi.flatten(2).transpose(1, 2), self.centroids).sqrt()
        d = d.topk(min(self.params.k_nearest, d.shape[-1]), dim=-1, largest=False).values
        s = F.softmin(d, dim=-1)[..., 0] * d[..., 0]
        return s.reshape(f, t)

    # -- fit ------------------------------------------------------------------------------
    @restored_on_failure("history")  # shown live while training, for pollers
    def fit(
        self,
        encoder: Encoder,
        spectrograms: Iterable[Spectrogram],
        *,
        n_clips: int | None = None,
        progress: Progress | None = None,
        on_epoch: EpochReport | None = None,
    ) -> None:
        """Train on normal clips.

        Progress runs over reading the clips, building the memory bank, then the epochs;
        ``self.history`` holds one ``{"epoch", "train_loss", "val_loss"}`` per epoch, also passed
        to ``on_epoch`` as each epoch ends.
        """
        # the new model is built aside and replaces the previous one only when complete: a
        # failed or cancelled fit leaves the detector as it was (history included)
        p = self.params
        cache = _FeatureCache(self, encoder, p.cache_mb)
        clip_windows: list[list[int]] = []  # per clip, its windows' indices in the cache
        window = 0
        n_known = n_clips or 0

        def report(done: int, n: int) -> None:
            if progress is not None:
                progress(done, n + 1 + p.epochs)

        for spec in spectrograms:
            if not clip_windows:
                window = window_frames(encoder, self.params.window_seconds, spec.values.shape[1])
            x = pad_frames(spec.values, window)
            clip_windows.append([cache.add(x[:, s : s + window])
                                 for s in window_starts(x.shape[1], window)])
            report(len(clip_windows), max(n_known, len(clip_windows) + 1))
        n = len(clip_windows)
        if not n:
            raise ParameterError("CFA needs at least one training clip")
        train_idx, val_idx = split_validation(n, p.val_fraction, seed=p.seed)
        train_feats = _Subset(cache, [k for i in train_idx for k in clip_windows[i]])
        val_feats = _Subset(cache, [k for i in val_idx for k in clip_windows[i]])
        first = train_feats[0]
        c_in = first.shape[0]
        c_out = max(1, c_in // p.gamma_d)
        descriptor = CoordDescriptor(c_in, c_out, time_coord=p.memory == "location")
        descriptor = descriptor.init_random(p.seed).to(self.device)

        # memory bank: the initial descriptor averaged over the training windows
        with torch.no_grad():
            acc = torch.zeros(c_out, *first.shape[1:], dtype=torch.float64, device=self.device)
            for i in range(len(train_feats)):
                acc += descriptor(train_feats[i][None])[0].double()
            mean = (acc / len(train_feats)).float()
            if p.memory == "location":
                centroids = mean.flatten(1).T.contiguous()  # (F*T, D)
            else:
                centroids = mean.mean(2).T.contiguous()  # (F, D)
        if centroids.shape[0] < p.k_nearest + p.j_negatives:
            raise ParameterError(
                f"CFA memory of {centroids.shape[0]} centroids is smaller than K + J = "
                f"{p.k_nearest + p.j_negatives}; use memory=location or smaller k_nearest/j_negatives"
            )
        report(n + 1, n)

        r = nn.Parameter(torch.full((1,), p.radius, device=self.device))
        opt = torch.optim.AdamW([*descriptor.parameters(), r], lr=p.lr,
                                weight_decay=p.weight_decay, amsgrad=True)
        rng = np.random.default_rng(p.seed)
        stopper = EarlyStopping(p.patience)
        best = (copy.deepcopy(descriptor.state_dict()), r.detach().clone())
        history: list[dict] = []
        for epoch in range(p.epochs):
            order = rng.permutation(len(train_feats))
            losses = []
            for a in range(0, len(order), p.batch_size):
                batch = torch.stack([train_feats[int(i)] for i in order[a : a + p.batch_size]])
                loss = self._loss(descriptor(batch), centroids, r)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            entry = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_loss": None}
            if len(val_feats):
                with torch.no_grad():
                    vals = [float(self._loss(descriptor(val_feats[i][None]), centroids, r))
                            for i in range(len(val_feats))]
                entry["val_loss"] = float(np.mean(vals))
                if stopper.update(epoch + 1, entry["val_loss"]):
                    best = (copy.deepcopy(descriptor.state_dict()), r.detach().clone())
            history.append(entry)
            self.history = history
            if on_epoch is not None:
                on_epoch(entry)
            report(n + 2 + epoch, n)
            if len(val_feats) and stopper.stop:
                break
        if len(val_feats) and stopper.best_epoch > 0:
            descriptor.load_state_dict(best[0])
            r = best[1]
        report(n + 1 + p.epochs, n)
        self.descriptor = descriptor.requires_grad_(False)
        self.centroids = centroids
        self.r = r.detach().reshape(1).clone()
        self.window_frames = window
        self.history = history
        self.best_epoch = stopper.best_epoch if stopper.best_epoch > 0 else (len(history) or None)
        self.val_indices = val_idx

    def validation_loss(self, encoder: Encoder, spectrograms: Iterable[Spectrogram]) -> float:
        """Mean soft-boundary loss of the fitted descriptor over the windows of ``spectrograms``
        (what early stopping monitors on the held-out clips)."""
        if self.descriptor is None or self.centroids is None or self.r is None:
            raise ParameterError("CFA is not fitted")
        w = self.window_frames
        losses = []
        with torch.no_grad():
            for spec in spectrograms:
                x = pad_frames(spec.values, w)
                for s in window_starts(x.shape[1], w):
                    phi = self.descriptor(self._features(encoder, x[:, s : s + w])[None])
                    losses.append(float(self._loss(phi, self.centroids, self.r)))
        return float(np.mean(losses))

    # -- score ----------------------------------------------------------------------------
    def _window_grid(self, encoder: Encoder, values: np.ndarray) -> torch.Tensor:
        assert self.descriptor is not None
        feat = self._features(encoder, values)
        expected = self.descriptor.conv.in_channels - self.descriptor.n_coords
        if feat.shape[0] != expected:
            raise ModelFileError(
                f"features have {feat.shape[0]} channels but the CFA descriptor expects "
                f"{expected}: the model was fitted with another encoder setup"
            )
        return self._grid(self.descriptor(feat[None]))

    @torch.no_grad()
    def score(
        self, encoder: Encoder, spec: Spectrogram, *, valid: tuple[int, int] | None = None
    ) -> AnomalyResult:
        """Score a front-end spectrogram; ``valid`` (first, last) frames bounds the clip score."""
        if self.descriptor is None or self.centroids is None:
            raise ParameterError("CFA is not fitted; fit it or load a model file")
        values = spec.values
        padded = padded_length(values.shape[1], encoder.time_multiple)
        if self.params.memory == "row":
            grid, size = self._window_grid(encoder, values), padded
        else:
            window = self.window_frames
            check_window(window, encoder.time_multiple)
            centroids = self.centroids

            def cells(x: np.ndarray) -> torch.Tensor:
                g = self._window_grid(encoder, x)
                if g.numel() != centroids.shape[0]:
                    raise ModelFileError(
                        f"the window's feature grid has {g.numel()} cells but the model "
                        f"{centroids.shape[0]} centroids: it was fitted with another encoder "
                        "setup")
                return g

            grid, size = tiled_grid(pad_frames(values, padded), window, cells)
        return grid_map_result(grid, spec, size, valid, smooth_s=self.params.smooth_s,
                               smooth_mel=self.params.smooth_mel)

    # -- model files ----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.descriptor is None or self.centroids is None or self.r is None:
            raise ParameterError("CFA is not fitted; nothing to save")
        return {
            "descriptor.weight": self.descriptor.conv.weight.detach().cpu().contiguous(),
            "descriptor.bias": self.descriptor.conv.bias.detach().cpu().contiguous(),
            "centroids": self.centroids.cpu().contiguous(),
            "radius": self.r.cpu().contiguous(),
            "window_frames": torch.tensor([self.window_frames], dtype=torch.int64),
        }

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        w, b, c, r, window = self._require(
            tensors, "descriptor.weight", "descriptor.bias", "centroids", "radius", "window_frames",
            integer=("window_frames",),
        )
        time_coord = self.params.memory == "location"
        n_coords = 2 if time_coord else 1
        ok = (
            w.ndim == 4 and tuple(w.shape[2:]) == (1, 1) and w.shape[1] > n_coords
            and tuple(b.shape) == (w.shape[0],)
            and c.ndim == 2 and c.shape[1] == w.shape[0]
            and c.shape[0] >= self.params.k_nearest
            and r.numel() == 1 and window.numel() == 1 and int(window.reshape(-1)[0]) > 0
        )
        if not ok:
            raise ModelFileError(
                f"CFA ({self.params.memory} memory) tensors do not fit together: descriptor "
                f"weight {tuple(w.shape)}, bias {tuple(b.shape)}, centroids {tuple(c.shape)}, "
                f"radius {tuple(r.shape)}, window_frames {window.tolist()}; expected weight "
                f"(D, C + {n_coords}, 1, 1), bias (D,), centroids (>= K, D)"
            )
        if not all(torch.isfinite(t).all() for t in (w, b, c, r)):
            raise ModelFileError("CFA model holds non-finite values; refit it")
        self._clear()
        d = CoordDescriptor(w.shape[1] - n_coords, w.shape[0], time_coord=time_coord)
        with torch.no_grad():
            d.conv.weight.copy_(w)
            d.conv.bias.copy_(b)
        self.descriptor = d.to(self.device).requires_grad_(False)
        self.centroids = c.to(self.device, torch.float32).contiguous()
        self.r = r.to(self.device, torch.float32).reshape(1)
        self.window_frames = int(window.reshape(-1)[0])


class _FeatureCache:
    """Encoder features of fixed windows, kept in memory up to ``budget_mb`` and recomputed on
    each access for the rest (the encoder is frozen, so both give the same tensors)."""

    def __init__(self, det: CFA, encoder: Encoder, budget_mb: int) -> None:
        self.det, self.encoder = det, encoder
        self.windows: list[np.ndarray] = []
        self.cache: list[torch.Tensor | None] = []
        self.left = budget_mb * (1 << 20)

    def add(self, window: np.ndarray) -> int:
        """Store a window (computing its features while the budget lasts); its index."""
        f = None
        if self.left > 0:
            f = self.det._features(self.encoder, window)
            self.left -= f.numel() * f.element_size()
            if self.left < 0:
                f = None
        self.windows.append(window)
        self.cache.append(f)
        return len(self.windows) - 1

    def __getitem__(self, i: int) -> torch.Tensor:
        f = self.cache[i]
        return f if f is not None else self.det._features(self.encoder, self.windows[i])


class _Subset:
    def __init__(self, cache: _FeatureCache, items: list[int]) -> None:
        self.cache, self.items = cache, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.cache[self.items[i]]
