"""What every encoder provides: a front end, feature maps on a time-frequency grid, provenance."""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from specview.errors import ParameterError
from specview.spectrogram import MelFrontEnd
from specview.types import Spectrogram
from specview.windows import plan_windows, stitch


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None) picks CUDA when present, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ParameterError(f"device {device!r}: use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} requested but no CUDA GPU is available")
    return dev


@lru_cache(maxsize=8)
def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class LayerGrid:
    """Where a layer's feature cells lie, in physical units."""

    name: str
    channels: int
    time_stride: int  # spectrogram frames per feature cell
    freq_stride: int  # spectrogram rows per feature cell

    def describe(self, fe: MelFrontEnd) -> str:
        lo, hi = self.cell_bandwidth_hz(fe)
        return (
            f"{self.name}: {self.channels} channels, one cell = "
            f"{self.time_stride * fe.hop_length / fe.sr * 1000:.1f} ms"
            f" x {self.freq_stride} mel band(s) ({lo:.0f}-{hi:.0f} Hz wide)"
        )

    def cell_bandwidth_hz(self, fe: MelFrontEnd) -> tuple[float, float]:
        """Narrowest and widest frequency span of one cell (mel cells widen with frequency)."""
        import librosa

        edges = librosa.mel_frequencies(fe.n_mels + 2, fmin=fe.fmin, fmax=fe.fmax, htk=fe.htk)
        k = self.freq_stride
        starts = np.arange(0, fe.n_mels - k + 1, k)
        widths = edges[starts + k + 1] - edges[starts]  # band j spans edges[j]..edges[j + 2]
        return float(widths.min()), float(widths.max())


class Encoder:
    """Base class; subclasses set the class attributes and implement :meth:`_forward`.

    ``features`` takes a front-end spectrogram ``(n_freq, n_time)`` and returns one tensor per
    selected layer, each ``(channels, n_freq / freq_stride, n_time_padded / time_stride)``, after
    padding time to a multiple of :attr:`time_multiple` (edge padding) so that cells align with
    frames exactly. Long inputs run in overlapping chunks so memory stays bounded.
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    provenance: ClassVar[str]
    #: Frames per chunk in one forward pass; margins on each side are discarded after.
    chunk_frames: ClassVar[int] = 2048
    chunk_margin: ClassVar[int] = 64

    params: Any
    front_end: MelFrontEnd
    device: torch.device
    _cache: OrderedDict | None = None
    _cache_limit: int = 0
    _cache_bytes: int = 0
    cache_hits: int = 0

    # -- to implement -------------------------------------------------------------------------
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x`` (1, n_freq, n_time) on the device; return selected layers (1, C, F_l, T_l)."""
        raise NotImplementedError

    def layer_grids(self) -> list[LayerGrid]:
        raise NotImplementedError

    def network(self, *, pretrained: bool = True, seed: int = 0) -> torch.nn.Module:
        """A trainable copy of the network (for methods that train one, e.g. STFPM's student):
        the pretrained weights, or a seeded random initialisation (``net.init_random(seed)``).

        Its ``forward(x, *, batch_stats=False)`` takes ``(B, n_freq, n_time)`` with ``n_time`` a
        multiple of :attr:`time_multiple` and returns the selected layers ``(B, C, F_l, T_l)``.
        """
        net = getattr(self, "net", None)
        if net is None:
            raise NotImplementedError(f"{self.name} offers no trainable network")
        copy_ = copy.deepcopy(net).requires_grad_(True)
        return copy_ if pretrained else copy_.init_random(seed)

    def weights_id(self) -> str:
        """A fingerprint of the weights saved in model files: the checkpoint's SHA-256."""
        path = getattr(self, "_path", None)
        if path is None:
            raise NotImplementedError(f"{self.name} must say how its weights are identified")
        return "sha256:" + file_sha256(str(path))

    # -- shared -------------------------------------------------------------------------------
    @property
    def time_multiple(self) -> int:
        return max(g.time_stride for g in self.layer_grids())

    @property
    def min_seconds(self) -> float:
        """The shortest recording worth scoring: one feature cell of the coarsest selected
        layer (:attr:`time_multiple` frames). Shorter clips would be padded up to a cell made
        mostly of repeated frames, so :mod:`specview.pipeline` refuses them."""
        fe = self.front_end
        return self.time_multiple * fe.hop_length / fe.sr

    def config(self) -> dict:
        """Everything a model file must match to be scored with this encoder."""
        from specview.params import to_dict

        return {
            "name": self.name,
            "params": to_dict(self.params),
            "front_end": self.front_end.to_dict(),
            "weights": self.weights_id(),
        }

    def describe(self) -> dict:
        fe = self.front_end
        return {
            "name": self.name,
            "front_end": (
                f"{fe.sr} Hz, {fe.n_mels} mel bands {fe.fmin:g}-{fe.fmax:g} Hz, n_fft {fe.n_fft}, "
                f"hop {fe.hop_length} ({fe.seconds_per_frame * 1000:.1f} ms), {fe.compression}"
            ),
            "layers": [g.describe(fe) for g in self.layer_grids()],
            "provenance": self.provenance,
        }

    def cache_features(self, max_bytes: int | None = 1 << 30) -> None:
        """Remember the features of the last inputs (least recently used dropped beyond
        ``max_bytes``; None switches the cache off). Several detectors compared on the same
        clips then run the network once per clip. Returned tensors must not be modified."""
        self._cache = OrderedDict() if max_bytes else None
        self._cache_limit = int(max_bytes or 0)
        self._cache_bytes = 0

    @contextmanager
    def uncached(self) -> Iterator[None]:
        """Inside the block the network runs on every input; the cache is kept for afterwards
        (a comparison times scoring as a user's run would see it, without cached features)."""
        saved, self._cache = self._cache, None
        try:
            yield
        finally:
            self._cache = saved

    @property
    def freq_context_rows(self) -> int:
        """Mel bands that may be mirrored below the lowest and above the highest band
        (:func:`specview.detectors.components.context_features`): one cell of the coarsest
        selected layer, so every layer's cells stay aligned with the bands. 0 for an encoder
        whose network fixes the number of bands (CNN14 normalises each band on its own)."""
        return max(g.freq_stride for g in self.layer_grids())

    @torch.no_grad()
    def features(self, spec: Spectrogram | np.ndarray, *, mirrored_rows: int = 0
                 ) -> list[torch.Tensor]:
        """The selected layers of ``spec`` ``(n_mels + 2 * mirrored_rows, n_time)``:
        ``mirrored_rows`` bands of mirrored context at each end (0 or
        :attr:`freq_context_rows`), kept in the result for the caller to drop."""
        values = spec.values if isinstance(spec, Spectrogram) else spec
        if mirrored_rows not in (0, self.freq_context_rows):
            takes = (f"0 or {self.freq_context_rows}" if self.freq_context_rows else
                     f"none: its network takes exactly its {self.front_end.n_mels} bands")
            raise ParameterError(
                f"{self.name}: frequency context of {mirrored_rows} bands; this encoder takes "
                f"{takes}")
        rows = self.front_end.n_mels + 2 * mirrored_rows
        if values.ndim != 2 or values.shape[0] != rows:
            raise ParameterError(
                f"{self.name} expects a ({rows}, n_time) spectrogram, got {values.shape}"
            )
        if self._cache is None:
            return self._features(values)
        arr = np.ascontiguousarray(values, dtype=np.float32)
        key = (arr.shape, hashlib.blake2b(arr.tobytes(), digest_size=16).digest())
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return list(hit)
        out = self._features(arr)
        size = sum(t.element_size() * t.nelement() for t in out)
        if size <= self._cache_limit:
            self._cache[key] = tuple(out)
            self._cache_bytes += size
            while self._cache_bytes > self._cache_limit:
                _, old = self._cache.popitem(last=False)
                self._cache_bytes -= sum(t.element_size() * t.nelement() for t in old)
        return out

    def _features(self, values: np.ndarray) -> list[torch.Tensor]:
        m = self.time_multiple
        n_time = values.shape[1]
        padded = -(-n_time // m) * m
        x = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        if padded != n_time:
            x = torch.nn.functional.pad(x[None], (0, padded - n_time), mode="replicate")[0]
        return self.run_chunked(self._forward, x.to(self.device))

    def run_chunked(self, forward, x: torch.Tensor) -> list[torch.Tensor]:
        """``forward`` (a network of this encoder's architecture: ``(1, n_freq, t)`` -> its
        selected layers ``(1, C, F_l, t / time_stride)``) over ``x`` ``(n_freq, padded)``, in
        the chunks :meth:`features` uses: cores of :attr:`chunk_frames` with
        :attr:`chunk_margin` frames of context each side, stitched (see
        :func:`specview.windows.plan_windows`). Returns each layer ``(C, F_l, padded / s)``."""
        spans = plan_windows(x.shape[1], self.chunk_frames, margin=self.chunk_margin,
                             multiple=self.time_multiple)
        if len(spans) == 1:
            return [t[0] for t in forward(x[None])]
        outs = [forward(x[None, :, s.slice]) for s in spans]
        return [stitch([o[i][0] for o in outs], spans, stride=g.time_stride)
                for i, g in enumerate(self.layer_grids())]


def existing_file(path: str | Path | None) -> Path | None:
    if path is None:
        return None
    p = Path(path).expanduser()
    return p if p.is_file() else None
