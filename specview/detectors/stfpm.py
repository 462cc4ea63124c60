"""STFPM (Wang, Wu, Cui, Xu, Zhang, "Student-Teacher Feature Pyramid Matching for Anomaly
Detection", BMVC 2021) on spectrograms, as adapted to audio by Barusco et al. (2025, "From Vision
to Sound").

The teacher is the frozen pretrained encoder (its selected layers); the student is a network of
the same architecture (``encoder.network``) initialised at random (``student_init="random"``,
the paper's) or from the teacher's weights. The student learns to reproduce the teacher's
feature maps, L2-normalised over channels, on normal recordings:

    loss = sum over layers l of 0.5 * mean over cells (i, j) of ||t^l_ij - s^l_ij||^2

with SGD (lr 0.4, momentum 0.9, weight decay 1e-4, as the paper), on random crops of the
training spectrograms (``crop_seconds``), the student's batch norm in batch-statistics mode
(``batch_stats=True``, explicitly). The anomaly map is the product over layers of the per-layer
discrepancy ``0.5 * ||t - s||^2`` upsampled bilinearly to the spectrogram grid (the paper's
aggregation), then Gaussian-smoothed; the clip score is the map's maximum.

Training runs ``epochs`` epochs, or stops early on the loss of a validation split held out from
the normal training clips (``val_fraction``; the official code holds out 20 % and keeps the
best epoch's student, as done here). Test data is never seen.

The student is saved as tensors under ``student.``; its network is rebuilt from the encoder on
the first :meth:`STFPM.score` after loading (a model file holds no encoder).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from specview.detectors.base import Detector, EpochReport, check_tensor, restored_on_failure
from specview.detectors.components import (
    EarlyStopping,
    check_smoothing,
    map_result,
    pad_frames,
    padded_length,
    product_map,
    smooth_mel_field,
    smooth_s_field,
    split_validation,
)
from specview.encoders.base import Encoder
from specview.errors import ModelFileError, ParameterError
from specview.params import check_fields
from specview.types import AnomalyResult, Progress, Spectrogram
from specview.windows import window_starts

INITS = ("random", "teacher")
PREFIX = "student."


@dataclass(frozen=True)
class STFPMParams:
    epochs: int = field(
        default=100, metadata={"help": "training epochs (the most, with early stopping)"}
    )
    batch_size: int = field(default=32, metadata={"help": "crops per optimisation step"})
    lr: float = field(default=0.4, metadata={"help": "SGD learning rate"})
    momentum: float = field(default=0.9, metadata={"help": "SGD momentum"})
    weight_decay: float = field(default=1e-4, metadata={"help": "SGD weight decay"})
    crop_seconds: float = field(
        default=1.0,
        metadata={"help": "length of the random training crops (s); each epoch draws one per "
                          "crop length of every clip"},
    )
    student_init: str = field(
        default="random", metadata={"help": "random (the paper's) or teacher (a copy of it)"}
    )
    val_fraction: float = field(
        default=0.0,
        metadata={"help": "share of the normal training clips held out for early stopping "
                          "(0 = train the fixed number of epochs)"},
    )
    patience: int = field(
        default=10, metadata={"help": "early stopping: epochs without a better validation loss"}
    )
    smooth_s: float = smooth_s_field()
    smooth_mel: float = smooth_mel_field()
    seed: int = field(default=0, metadata={"help": "seed of the student init, crops and split"})

    def __post_init__(self) -> None:
        check_fields(self)
        if self.student_init not in INITS:
            raise ParameterError(f"student_init {self.student_init!r}: use random or teacher")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 0:
            raise ParameterError(
                f"STFPM epochs {self.epochs}, batch_size {self.batch_size}, patience "
                f"{self.patience}: use epochs >= 1, batch_size >= 1, patience >= 0"
            )
        if not (self.lr > 0 and 0 <= self.momentum < 1 and self.weight_decay >= 0):
            raise ParameterError(
                f"STFPM lr {self.lr}, momentum {self.momentum}, weight_decay "
                f"{self.weight_decay}: lr > 0, momentum in [0, 1), weight_decay >= 0"
            )
        if not self.crop_seconds > 0:
            raise ParameterError(f"crop_seconds {self.crop_seconds}: must be > 0")
        if not 0 <= self.val_fraction < 1:
            raise ParameterError(f"val_fraction {self.val_fraction}: must be in [0, 1)")
        check_smoothing(self.smooth_s, self.smooth_mel)


def layer_discrepancy(teacher: list[torch.Tensor], student: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per layer ``0.5 * ||t/|t| - s/|s|||^2`` over channels: (B, C, F, T) -> (B, F, T)."""
    return [0.5 * (F.normalize(t, dim=1) - F.normalize(s, dim=1)).pow(2).sum(1)
            for t, s in zip(teacher, student, strict=True)]


def stfpm_loss(teacher: list[torch.Tensor], student: list[torch.Tensor]) -> torch.Tensor:
    """The paper's loss: sum over layers of the mean per-cell discrepancy."""
    return sum(d.mean() for d in layer_discrepancy(teacher, student))  # type: ignore[return-value]


class STFPM(Detector):
    name = "stfpm"
    Params = STFPMParams
    description = "student network regressing the teacher's feature pyramid (Wang et al. 2021)"
    # aisfx's blocks 2-4 (the paper's): on the real-recordings benchmark spectrogram AUROC
    # 0.907/0.901/0.929 -> 0.928/0.935/0.938 (engine, mining, power), mining clip AUROC 0.84 -> 0.88
    encoder_defaults = {"aisfx": {"layers": "block2,block3,block4"}}

    def __init__(self, params: STFPMParams | None = None, *, device="cpu") -> None:
        super().__init__(params, device=device)
        self._clear()

    def _clear(self) -> None:
        self._state: dict[str, torch.Tensor] | None = None  # student tensors (CPU)
        self._student: torch.nn.Module | None = None
        self._bound_to: int | None = None  # id of the encoder the student net was built from
        self.history: list[dict] = []
        self.best_epoch: int | None = None
        self.val_indices: list[int] = []

    @property
    def is_fitted(self) -> bool:
        return self._state is not None

    # -- networks -------------------------------------------------------------------------
    def bind(self, encoder: Encoder) -> torch.nn.Module:
        """The fitted student as a network of ``encoder``'s architecture (built once).

        Raises :class:`ModelFileError` when the saved student does not fit the encoder's
        network; a caller that loads a model file may call it right away to check."""
        if self._state is None:
            raise ParameterError("STFPM is not fitted; fit it or load a model file")
        if self._student is None or self._bound_to != id(encoder):
            net = encoder.network(pretrained=False, seed=self.params.seed)
            try:
                net.load_state_dict(self._state, strict=True)
            except RuntimeError as exc:
                raise ModelFileError(
                    f"the STFPM student does not fit the {encoder.name} network: the model was "
                    f"fitted with another encoder setup ({str(exc).splitlines()[0]})"
                ) from None
            self._student = net.to(self.device).requires_grad_(False)
            self._bound_to = id(encoder)
        return self._student

    def _student_features(self, encoder: Encoder, x: torch.Tensor) -> list[torch.Tensor]:
        """Student layers of a padded ``(n_freq, n_time)`` input, in the same chunks as
        :meth:`Encoder.features` runs the teacher (so a student equal to the teacher gives
        exactly the teacher's features)."""
        net = self.bind(encoder)
        return encoder.run_chunked(lambda t: net(t, batch_stats=False), x)

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
        """Train the student on normal clips.

        Progress runs over reading the clips, then the epochs; ``self.history`` holds one
        ``{"epoch", "train_loss", "val_loss"}`` per epoch, also passed to ``on_epoch`` as each
        epoch ends.
        """
        # the new model is built aside and replaces the previous one only when complete: a
        # failed or cancelled fit leaves the detector as it was (history included)
        p = self.params
        n_known = n_clips or 0

        def report(done: int, n: int) -> None:
            if progress is not None:
                progress(done, n + p.epochs)

        clips: list[np.ndarray] = []
        for spec in spectrograms:
            clips.append(np.ascontiguousarray(spec.values, dtype=np.float32))
            report(len(clips), max(n_known, len(clips) + 1))
        n = len(clips)
        if not n:
            raise ParameterError("STFPM needs at least one training clip")
        fe = encoder.front_end
        crop = padded_length(fe.n_frames(int(round(p.crop_seconds * fe.sr))), encoder.time_multiple)
        train_idx, val_idx = split_validation(n, p.val_fraction, seed=p.seed)

        teacher = encoder.network(pretrained=True).to(self.device).requires_grad_(False)
        student = encoder.network(pretrained=p.student_init == "teacher", seed=p.seed)
        student = student.to(self.device).requires_grad_(True)
        opt = torch.optim.SGD(student.parameters(), lr=p.lr, momentum=p.momentum,
                              weight_decay=p.weight_decay)

        # validation: fixed windows of the held-out clips, teacher features computed once
        val_x = [torch.from_numpy(pad_frames(clips[i], crop)[:, s : s + crop])
                 for i in val_idx for s in window_starts(max(clips[i].shape[1], crop), crop)]
        val_t = []
        with torch.no_grad():
            for a in range(0, len(val_x), p.batch_size):
                xb = torch.stack(val_x[a : a + p.batch_size]).to(self.device)
                val_t.append((xb, teacher(xb, batch_stats=False)))

        rng = np.random.default_rng(p.seed)
        stopper = EarlyStopping(p.patience)
        best = copy.deepcopy(student.state_dict())
        history: list[dict] = []
        for epoch in range(p.epochs):
            crops = []
            for i in train_idx:
                x = pad_frames(clips[i], crop)
                for _ in range(max(1, x.shape[1] // crop)):
                    s = int(rng.integers(0, x.shape[1] - crop + 1))
                    crops.append(x[:, s : s + crop])
            order = rng.permutation(len(crops))
            losses = []
            for a in range(0, len(order), p.batch_size):
                xb = torch.from_numpy(np.stack([crops[k] for k in order[a : a + p.batch_size]]))
                xb = xb.to(self.device)
                with torch.no_grad():
                    t = teacher(xb, batch_stats=False)
                loss = stfpm_loss(t, student(xb, batch_stats=True))
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            entry = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_loss": None}
            if val_t:
                entry["val_loss"] = _eval_loss(student, val_t)
                if stopper.update(epoch + 1, entry["val_loss"]):
                    best = copy.deepcopy(student.state_dict())
            history.append(entry)
            self.history = history
            if on_epoch is not None:
                on_epoch(entry)
            report(n + epoch + 1, n)
            if val_t and stopper.stop:
                break
        if val_t and stopper.best_epoch > 0:
            student.load_state_dict(best)
        report(n + p.epochs, n)
        self._state = {k: v.detach().cpu().clone() for k, v in student.state_dict().items()}
        self._student = student.requires_grad_(False)
        self._bound_to = id(encoder)
        self.history = history
        self.best_epoch = stopper.best_epoch if stopper.best_epoch > 0 else (len(history) or None)
        self.val_indices = val_idx

    def validation_loss(self, encoder: Encoder, spectrograms: Iterable[Spectrogram]) -> float:
        """Mean loss of the fitted student over crop-length windows of ``spectrograms`` (what
        early stopping monitors on the held-out clips)."""
        student = self.bind(encoder)
        fe = encoder.front_end
        crop = padded_length(fe.n_frames(int(round(self.params.crop_seconds * fe.sr))),
                             encoder.time_multiple)
        teacher = encoder.network(pretrained=True).to(self.device).requires_grad_(False)
        xs = []
        for spec in spectrograms:
            v = spec.values.astype(np.float32)
            xs += [torch.from_numpy(pad_frames(v, crop)[:, s : s + crop])
                   for s in window_starts(max(v.shape[1], crop), crop)]
        with torch.no_grad():
            batches = []
            for a in range(0, len(xs), self.params.batch_size):
                xb = torch.stack(xs[a : a + self.params.batch_size]).to(self.device)
                batches.append((xb, teacher(xb, batch_stats=False)))
        return _eval_loss(student, batches)

    # -- score ----------------------------------------------------------------------------
    @torch.no_grad()
    def score(
        self, encoder: Encoder, spec: Spectrogram, *, valid: tuple[int, int] | None = None
    ) -> AnomalyResult:
        """Score a front-end spectrogram; ``valid`` (first, last) frames bounds the clip score."""
        if self._state is None:
            raise ParameterError("STFPM is not fitted; fit it or load a model file")
        values = spec.values
        n_time = values.shape[1]
        padded = padded_length(n_time, encoder.time_multiple)
        teacher = [t.to(self.device) for t in encoder.features(values)]
        x = torch.from_numpy(pad_frames(np.ascontiguousarray(values, dtype=np.float32), padded))
        student = self._student_features(encoder, x.to(self.device))
        if len(student) != len(teacher) or any(
                s.shape != t.shape for s, t in zip(student, teacher, strict=False)):
            raise ModelFileError(
                "the STFPM student's layers do not match the encoder's: the model was fitted "
                "with another encoder setup"
            )
        grids = [d[0].float().cpu() for d in
                 layer_discrepancy([t[None] for t in teacher], [s[None] for s in student])]
        amap = product_map(grids, padded_size=(values.shape[0], padded), n_time=n_time,
                           spec=spec, smooth_s=self.params.smooth_s,
                             smooth_mel=self.params.smooth_mel)
        return map_result(amap, spec, valid, layer_grids=[g.numpy() for g in grids])

    # -- model files ----------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self._state is None:
            raise ParameterError("STFPM is not fitted; nothing to save")
        return {PREFIX + k: v.contiguous() for k, v in self._state.items()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        state = {k[len(PREFIX):]: v for k, v in tensors.items() if k.startswith(PREFIX)}
        if not state:
            raise ModelFileError(f"STFPM model file lacks the student's tensors ({PREFIX}*)")
        for k, v in state.items():  # batch-norm step counters are integers, the rest float
            check_tensor(self.name, PREFIX + k, v, integer=k.endswith("num_batches_tracked"))
        weights = [k for k, v in state.items() if v.is_floating_point() and v.ndim == 4]
        if not weights:
            raise ModelFileError(
                f"STFPM student tensors {sorted(state)[:4]}... hold no convolution weights"
            )
        self._clear()
        # shapes are checked against the encoder's network when it is first used (score)
        self._state = {k: v.detach().cpu().clone() for k, v in state.items()}


def _eval_loss(student: torch.nn.Module, batches: list) -> float:
    """Mean loss over ``(x, teacher features)`` batches, the student with running statistics."""
    total, count = 0.0, 0
    with torch.no_grad():
        for xb, t in batches:
            total += float(stfpm_loss(t, student(xb, batch_stats=False))) * xb.shape[0]
            count += xb.shape[0]
    return total / count
