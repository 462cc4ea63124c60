"""The contract every detector follows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import torch

from specview.encoders.base import Encoder, resolve_device
from specview.errors import ModelFileError
from specview.types import AnomalyResult, Progress, Spectrogram


class Detector:
    """Fitted on normal recordings only; scores a front-end spectrogram into an anomaly map.

    Subclasses implement :meth:`fit`, :meth:`score`, :meth:`state_tensors` and
    :meth:`load_state_tensors`; parameters are a frozen dataclass (``Params``).
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    description: ClassVar[str] = ""

    def __init__(self, params: Any = None, *, device: str | torch.device | None = "cpu") -> None:
        self.params = params if params is not None else self.Params()
        self.device = resolve_device(device)

    @property
    def is_fitted(self) -> bool:
        raise NotImplementedError

    def fit(
        self,
        encoder: Encoder,
        spectrograms: Iterable[Spectrogram],
        *,
        n_clips: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        raise NotImplementedError

    def score(
        self, encoder: Encoder, spec: Spectrogram, *, valid: tuple[int, int] | None = None
    ) -> AnomalyResult:
        """Anomaly map on ``spec``'s grid; ``valid`` = (first, last) frame span that the clip
        score may come from (the rest is context, when scoring windows of a long recording)."""
        raise NotImplementedError

    def state_tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def _require(self, tensors: dict[str, torch.Tensor], *names: str) -> list[torch.Tensor]:
        missing = [n for n in names if n not in tensors]
        if missing:
            raise ModelFileError(f"{self.name} model file lacks tensor(s) {missing}")
        return [tensors[n] for n in names]
