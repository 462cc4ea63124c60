"""The contract every detector follows."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

import torch

from specview.encoders.base import Encoder, resolve_device
from specview.errors import ModelFileError, ParameterError
from specview.types import AnomalyResult, Progress, Spectrogram

#: ``on_epoch(entry)``: a trained method's report after each epoch, ``entry`` the
#: ``{"epoch", "train_loss", "val_loss"}`` it appends to its ``history`` (``val_loss`` None
#: without a validation split); may raise :class:`specview.errors.Cancelled`.
EpochReport = Callable[[dict], None]


class Detector:
    """Fitted on normal recordings only; scores a front-end spectrogram into an anomaly map.

    Subclasses implement :meth:`fit`, :meth:`score`, :meth:`state_tensors` and
    :meth:`load_state_tensors`; parameters are a frozen dataclass (``Params``).

    The contract (``tests/test_detector_contract.py``, every registered detector):

    * parameters are checked when the detector is built: a value out of range (a negative
      smoothing, say) raises :class:`~specview.errors.ParameterError`, also when it was forced
      into a ``Params`` afterwards, and so does a ``Params`` of another method;
    * :meth:`fit` builds the new model aside and replaces the previous one only once complete: a
      fit that fails or is cancelled (the progress callback raises
      :class:`~specview.errors.Cancelled`) leaves the detector exactly as it was, fitted and
      scoring as before, or unfitted;
    * progress is monotone and ends at its total;
    * an unfitted detector refuses to score or save; a saved and reloaded one scores the same.
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    description: ClassVar[str] = ""
    #: The method's own defaults for an encoder's parameters, ``{encoder: {key: text}}``
    #: (``--set`` syntax), applied under the user's overrides (:mod:`specview.methods`).
    encoder_defaults: ClassVar[dict[str, dict[str, str]]] = {}

    def __init__(self, params: Any = None, *, device: str | torch.device | None = "cpu") -> None:
        params = params if params is not None else self.Params()
        if not isinstance(params, self.Params):
            raise ParameterError(
                f"{self.name} takes {self.Params.__name__}, got {type(params).__name__}")
        params.__post_init__()  # again: refuses a value forced in after the Params were built
        self.params = params
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
        on_epoch: EpochReport | None = None,
    ) -> None:
        """Fit on normal spectrograms (an iterable, read once).

        ``progress(done, total)`` is called as the fit advances (``n_clips``, when known, sizes
        the total); methods that train a network also call ``on_epoch(entry)`` after each
        epoch (:data:`EpochReport`), the others never do. Either may raise
        :class:`~specview.errors.Cancelled`; the previous fit then stays as it was.
        """
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

    def _require(self, tensors: dict[str, torch.Tensor], *names: str,
                 integer: tuple[str, ...] = ()) -> list[torch.Tensor]:
        """The named tensors, each checked by :func:`check_tensor`: those in ``integer`` must
        hold integers, the others finite floating-point values."""
        missing = [n for n in names if n not in tensors]
        if missing:
            raise ModelFileError(f"{self.name} model file lacks tensor(s) {missing}")
        return [check_tensor(self.name, n, tensors[n], integer=n in integer) for n in names]


_Fit = TypeVar("_Fit", bound=Callable[..., Any])


def restored_on_failure(*names: str) -> Callable[[_Fit], _Fit]:
    """Decorator of a ``fit`` that updates attributes ``names`` while it runs (a trained
    method's live ``history``, for pollers): when it fails or is cancelled, they are put back
    as they were, so that the previous fit stays whole."""

    def wrap(fit: _Fit) -> _Fit:
        @functools.wraps(fit)
        def wrapper(self, *args, **kwargs):
            saved = {n: getattr(self, n) for n in names}
            try:
                return fit(self, *args, **kwargs)
            except BaseException:
                for n, v in saved.items():
                    setattr(self, n, v)
                raise

        return wrapper  # type: ignore[return-value]

    return wrap


def check_tensor(owner: str, name: str, t: torch.Tensor, *, integer: bool = False,
                 ndim: int | None = None) -> torch.Tensor:
    """Check one tensor read from a model file; return it.

    Parameters
    ----------
    owner : str
        Who reads it (a method name), for the message.
    name : str
        The tensor's name in the file.
    integer : bool
        Whether it must hold integers (indices, sizes); otherwise it must be floating point
        and every value finite.
    ndim : int, optional
        Required number of dimensions.

    Raises
    ------
    ModelFileError
        Naming the tensor, its dtype or shape, and what was expected.
    """
    if not isinstance(t, torch.Tensor):
        raise ModelFileError(f"{owner} model tensor {name!r} is not a tensor")
    is_int = not (t.is_floating_point() or t.is_complex()) and t.dtype != torch.bool
    if integer and not is_int:
        raise ModelFileError(
            f"{owner} model tensor {name!r} is {str(t.dtype).removeprefix('torch.')}; expected "
            "integers: the model file is damaged, refit it"
        )
    if not integer and not t.is_floating_point():
        raise ModelFileError(
            f"{owner} model tensor {name!r} is {str(t.dtype).removeprefix('torch.')}; expected "
            "floating point: the model file is damaged, refit it"
        )
    if ndim is not None and t.ndim != ndim:
        raise ModelFileError(
            f"{owner} model tensor {name!r} has shape {tuple(t.shape)}; expected {ndim} "
            "dimension(s): the model file is damaged, refit it"
        )
    if not integer:
        bad = int((~torch.isfinite(t)).sum())
        if bad:
            raise ModelFileError(
                f"{owner} model tensor {name!r} holds {bad} NaN or infinite value(s): the model "
                "file is damaged, refit it"
            )
    return t
