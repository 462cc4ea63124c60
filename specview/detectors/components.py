"""Building blocks shared by the detectors: patch features, coreset, nearest neighbours in
bounded-memory chunks, and the map post-processing that puts scores back on the spectrogram grid.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from specview.types import AnomalyResult, Progress

#: Elements of a distance block computed at once (bounds the temporaries to ~64 MB each).
_BLOCK_ELEMENTS = 1 << 24


def local_patch_features(layers: list[torch.Tensor], *, neighbourhood: int = 3) -> torch.Tensor:
    """PatchCore's locally aware patch features.

    Each layer is averaged over a ``neighbourhood x neighbourhood`` window (stride 1, borders
    averaged over the cells that exist), deeper layers are resized bilinearly onto the first
    layer's grid, and channels are concatenated.

    Parameters
    ----------
    layers : list of torch.Tensor, each (C_l, F_l, T_l)

    Returns
    -------
    torch.Tensor, (sum C_l, F_0, T_0)
    """
    size = layers[0].shape[-2:]
    out = []
    for t in layers:
        x = t[None].float()
        if neighbourhood > 1:
            x = F.avg_pool2d(x, neighbourhood, stride=1, padding=neighbourhood // 2,
                             count_include_pad=False)
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        out.append(x[0])
    return torch.cat(out, dim=0)


def flatten_patches(feat: torch.Tensor) -> torch.Tensor:
    """(C, F, T) -> (F*T, C), row-major over (freq, time)."""
    c = feat.shape[0]
    return feat.reshape(c, -1).T.contiguous()


def greedy_coreset(
    x: torch.Tensor,
    n: int,
    *,
    projection_dim: int = 128,
    seed: int = 0,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Greedy k-center coreset selection (Sener & Savarese 2018, as used by PatchCore).

    Points are first projected to ``projection_dim`` dimensions with a seeded Gaussian random
    projection (Johnson-Lindenstrauss). Each iteration adds the point farthest from the current
    selection; only one distance column is computed per iteration, with the norm expansion
    ``|a-b|^2 = |a|^2 + |b|^2 - 2ab``, so the cost is one matrix-vector product.

    Parameters
    ----------
    x : torch.Tensor, (N, D)
    n : int
        Number of points to keep (``1 <= n <= N``).

    Returns
    -------
    torch.Tensor, int64, (n,)
        Indices of the selected points, in selection order.
    """
    N, D = x.shape
    n = int(min(max(n, 1), N))
    g = torch.Generator(device="cpu").manual_seed(seed)
    if projection_dim and projection_dim < D:
        proj = torch.randn(D, projection_dim, generator=g) / projection_dim**0.5
        y = (x @ proj.to(x.device, x.dtype)).contiguous()
    else:
        y = x.contiguous()
    sq = (y * y).sum(1)
    min_d = torch.full((N,), float("inf"), device=y.device, dtype=y.dtype)
    col = torch.empty(N, device=y.device, dtype=y.dtype)
    selected = torch.empty(n, dtype=torch.long)
    idx = int(torch.randint(N, (1,), generator=g))
    step = max(1, n // 100)
    for i in range(n):
        selected[i] = idx
        torch.mv(y, y[idx], out=col)
        col.mul_(-2.0).add_(sq).add_(sq[idx])
        torch.minimum(min_d, col, out=min_d)
        min_d[idx] = 0.0  # guard against rounding leaving a chosen point positive
        idx = int(torch.argmax(min_d))
        if progress is not None and (i % step == 0 or i == n - 1):
            progress(i + 1, n)
    return selected


def nearest_neighbours(
    queries: torch.Tensor, bank: torch.Tensor, *, k: int = 1, bank_sq: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean k nearest neighbours of each query in ``bank``, in bounded-memory blocks.

    Parameters
    ----------
    queries : (M, D)
    bank : (N, D)

    Returns
    -------
    distances : (M, k), ascending
    indices : (M, k), int64
    """
    M, N = queries.shape[0], bank.shape[0]
    k = min(k, N)
    if bank_sq is None:
        bank_sq = (bank * bank).sum(1)
    rows = max(1, _BLOCK_ELEMENTS // max(N, 1))
    dists = torch.empty(M, k, dtype=queries.dtype, device=queries.device)
    idxs = torch.empty(M, k, dtype=torch.long, device=queries.device)
    bank_t = bank.T
    for a in range(0, M, rows):
        q = queries[a : a + rows]
        # |b|^2 - 2 q.b in one fused GEMM; |q|^2 is constant along a row, so it is added to the
        # k winners only
        part = torch.addmm(bank_sq[None], q, bank_t, beta=1.0, alpha=-2.0)
        if k == 1:
            val, ind = part.min(dim=1, keepdim=True)
        else:
            val, ind = torch.topk(part, k, dim=1, largest=False)
        val += (q * q).sum(1, keepdim=True)
        dists[a : a + rows] = val.clamp_min_(0).sqrt_()
        idxs[a : a + rows] = ind
    return dists, idxs


def upsample_to(grid: np.ndarray | torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a score grid ``(F_cells, T_cells)`` to ``size`` (half-pixel aligned)."""
    t = torch.as_tensor(grid, dtype=torch.float32)[None, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].cpu().numpy()


#: Default smoothing of the maps, in physical units: a Gaussian of this standard deviation in
#: time (seconds) and in frequency (mel, HTK formula). Small next to the feature cells (about
#: 93 ms x 160 mel for aisfx), so the map follows the event's band instead of smearing it.
SMOOTH_SECONDS = 0.05
SMOOTH_MEL = 40.0


def smooth_s_field():
    """The ``smooth_s`` parameter every detector has (a dataclass field)."""
    from dataclasses import field

    return field(default=SMOOTH_SECONDS,
                 metadata={"help": "Gaussian smoothing of the map in time: standard deviation (s)"})


def smooth_mel_field():
    """The ``smooth_mel`` parameter every detector has (a dataclass field)."""
    from dataclasses import field

    return field(default=SMOOTH_MEL, metadata={
        "help": "Gaussian smoothing of the map in frequency: standard deviation (mel)"})


def check_smoothing(smooth_s: float, smooth_mel: float) -> None:
    from specview.errors import ParameterError

    if not (np.isfinite(smooth_s) and np.isfinite(smooth_mel)) or smooth_s < 0 or smooth_mel < 0:
        raise ParameterError(
            f"smooth_s {smooth_s}, smooth_mel {smooth_mel}: must be >= 0 (0 = no smoothing)")


def smoothing_cells(times, freqs, smooth_s: float, smooth_mel: float) -> tuple[float, float]:
    """``(rows, frames)`` standard deviations of a Gaussian of ``smooth_mel`` mel in frequency
    and ``smooth_s`` seconds in time on a grid with centres ``freqs`` (Hz) and ``times`` (s).

    The mel spacing is the grid's median spacing on the HTK mel scale (a mel front end's rows
    are evenly spaced on its own mel scale)."""
    t = np.asarray(times, dtype=np.float64)
    f = np.asarray(freqs, dtype=np.float64)
    dt = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    mel = 2595.0 * np.log10(1.0 + f / 700.0)
    dm = float(np.median(np.diff(mel))) if f.size > 1 else 0.0
    rows = smooth_mel / dm if dm > 0 else 0.0
    frames = smooth_s / dt if dt > 0 else 0.0
    return rows, frames


def smooth_map(m: np.ndarray, times, freqs, smooth_s: float, smooth_mel: float) -> np.ndarray:
    """Gaussian smoothing in physical units (see :func:`smoothing_cells`), edges extended."""
    rows, frames = smoothing_cells(times, freqs, smooth_s, smooth_mel)
    if rows > 0 or frames > 0:
        m = gaussian_filter(m, sigma=(rows, frames), mode="nearest")
    return np.ascontiguousarray(m, dtype=np.float32)


def scores_to_map(
    grid: np.ndarray | torch.Tensor,
    *,
    padded_size: tuple[int, int],
    n_time: int,
    spec,
    smooth_s: float,
    smooth_mel: float,
) -> np.ndarray:
    """Score grid -> map on the spectrogram grid: upsample to the padded input, crop the padding,
    Gaussian-smooth in physical units on ``spec``'s axes (:func:`smooth_map`)."""
    m = upsample_to(grid, padded_size)[:, :n_time]
    return smooth_map(m, spec.times, spec.freqs, smooth_s, smooth_mel)


def frame_scores(anomaly_map: np.ndarray, *, top: int = 5) -> np.ndarray:
    """Per-frame score: mean of the ``top`` highest frequency cells in each frame."""
    top = min(top, anomaly_map.shape[0])
    part = np.partition(anomaly_map, anomaly_map.shape[0] - top, axis=0)[-top:]
    return part.mean(axis=0).astype(np.float32)


class ReservoirBank:
    """Keeps at most ``capacity`` rows out of a stream, each row equally likely (seeded).

    Lets detectors fit on training sets of any size with bounded memory.
    """

    def __init__(self, capacity: int, *, seed: int = 0) -> None:
        self.capacity = int(capacity)
        self.rng = np.random.default_rng(seed)
        self.seen = 0
        self._rows: list[torch.Tensor] = []
        self._bank: torch.Tensor | None = None

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.detach()
        n = rows.shape[0]
        if self._bank is None and self.seen + n <= self.capacity:
            self._rows.append(rows)
            self.seen += n
            return
        if self._bank is None:
            self._bank = torch.cat(self._rows) if self._rows else rows[:0]
            self._rows = []
            fill = self.capacity - self._bank.shape[0]
            self._bank = torch.cat([self._bank, rows[:fill]])
            self.seen += fill
            rows, n = rows[fill:], n - fill
        # Algorithm R, vectorised: row j of the stream (0-based position p) replaces a random slot
        # with probability capacity / (p + 1)
        pos = self.seen + np.arange(n)
        slots = (self.rng.random(n) * (pos + 1)).astype(np.int64)
        keep = slots < self.capacity
        src = torch.from_numpy(np.nonzero(keep)[0])
        self._bank[torch.from_numpy(slots[keep])] = rows[src]
        self.seen += n

    def tensor(self) -> torch.Tensor:
        if self._bank is not None:
            return self._bank
        return torch.cat(self._rows) if self._rows else torch.empty(0)


# -- shared by PaDiM, CFA and STFPM: fixed-length windows (tiled by specview.windows), map
# assembly, Gaussians, training ----


def padded_length(n_time: int, multiple: int) -> int:
    """``n_time`` rounded up to a multiple of ``multiple`` (the encoders' time padding)."""
    return -(-int(n_time) // int(multiple)) * int(multiple)


def pad_frames(values: np.ndarray, n_time: int) -> np.ndarray:
    """Extend ``(n_freq, t)`` to ``n_time`` frames by repeating the last frame (edge
    replication, as the encoders pad time); longer inputs are returned unchanged."""
    t = values.shape[1]
    if t >= n_time:
        return values
    return np.pad(values, ((0, 0), (0, n_time - t)), mode="edge")


def product_map(
    grids: list[np.ndarray | torch.Tensor],
    *,
    padded_size: tuple[int, int],
    n_time: int,
    spec,
    smooth_s: float,
    smooth_mel: float,
) -> np.ndarray:
    """Several score grids -> one map: each upsampled to the padded input, multiplied
    element-wise (STFPM's multi-scale aggregation), cropped to ``n_time``, smoothed in physical
    units (:func:`smooth_map`)."""
    m = np.ones(padded_size, dtype=np.float32)
    for g in grids:
        m = m * upsample_to(g, padded_size)
    return smooth_map(m[:, :n_time], spec.times, spec.freqs, smooth_s, smooth_mel)


def valid_max(anomaly_map: np.ndarray, valid: tuple[int, int] | None) -> float:
    """Largest map value within the frames ``valid = (first, last)`` (all frames if None)."""
    if valid is not None:
        a, b = max(0, int(valid[0])), min(anomaly_map.shape[1], int(valid[1]))
        if b > a:
            anomaly_map = anomaly_map[:, a:b]
    return float(anomaly_map.max())


class GaussianAccumulator:
    """Streaming multivariate Gaussians, one per cell: float64 sums and outer-product sums.

    Memory is ``cells * (dim + dim**2)`` float64 whatever the number of samples, so any number
    of training clips can be added.
    """

    def __init__(self, cells: int, dim: int, *, device: torch.device | str = "cpu") -> None:
        self.n = 0
        self.sum = torch.zeros(cells, dim, dtype=torch.float64, device=device)
        self.outer = torch.zeros(cells, dim, dim, dtype=torch.float64, device=device)

    def add(self, x: torch.Tensor) -> None:
        """``x`` (cells, samples, dim): the same number of new samples for every cell."""
        x = x.to(self.sum.device, torch.float64)
        self.sum += x.sum(1)
        self.outer += torch.bmm(x.transpose(1, 2), x)
        self.n += x.shape[1]

    def finalize(self, epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean ``(cells, dim)`` and whitening matrix ``W = L^-1`` ``(cells, dim, dim)`` with
        ``L L^T = cov + epsilon * I`` (unbiased covariance, Cholesky, float64)."""
        if self.n < 1:
            raise ValueError("no samples")
        mean = self.sum / self.n
        cov = (self.outer - self.n * mean[:, :, None] * mean[:, None, :]) / max(self.n - 1, 1)
        cov = 0.5 * (cov + cov.transpose(1, 2))
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
        chol = torch.linalg.cholesky(cov + epsilon * eye)
        whiten = torch.linalg.solve_triangular(chol, eye.expand_as(chol), upper=False)
        return mean, whiten


def mahalanobis(x: torch.Tensor, mean: torch.Tensor, whiten: torch.Tensor) -> torch.Tensor:
    """Mahalanobis distance ``||W (x - mean)||`` of samples ``x`` (cells, samples, dim) to each
    cell's Gaussian (``mean`` (cells, dim), ``whiten`` (cells, dim, dim)); -> (cells, samples)."""
    diff = x - mean[:, None, :]
    return torch.linalg.vector_norm(torch.bmm(diff, whiten.transpose(1, 2)), dim=-1)


def split_validation(n: int, fraction: float, *, seed: int = 0) -> tuple[list[int], list[int]]:
    """Seeded split of ``n`` normal training clips into (train, validation) indices.

    ``fraction`` 0 holds nothing out; otherwise at least one clip is held out and one kept.
    """
    if fraction <= 0:
        return list(range(n)), []
    if n < 2:
        from specview.errors import ParameterError

        raise ParameterError(
            f"val_fraction {fraction} needs at least 2 training clips, got {n}; "
            "add clips or set val_fraction=0"
        )
    n_val = min(n - 1, max(1, int(round(fraction * n))))
    perm = np.random.default_rng(seed).permutation(n)
    return sorted(perm[n_val:].tolist()), sorted(perm[:n_val].tolist())


class EarlyStopping:
    """Tracks the best validation loss; ``stop`` after ``patience`` epochs without a gain
    (``patience`` 0: never stop early, still remember the best epoch)."""

    def __init__(self, patience: int) -> None:
        self.patience = int(patience)
        self.best = float("inf")
        self.best_epoch = -1
        self.bad = 0

    def update(self, epoch: int, loss: float) -> bool:
        """Record ``loss`` of ``epoch``; True when it is the best so far."""
        if loss < self.best:
            self.best, self.best_epoch, self.bad = loss, epoch, 0
            return True
        self.bad += 1
        return False

    @property
    def stop(self) -> bool:
        return self.patience > 0 and self.bad >= self.patience


def context_frames(encoder, seconds: float) -> int:
    """``seconds`` of context as frames, rounded up to the encoder's time multiple (so that the
    context is a whole number of cells of every layer)."""
    if seconds <= 0:
        return 0
    fe = encoder.front_end
    return padded_length(max(1, int(round(seconds * fe.sr / fe.hop_length))), encoder.time_multiple)


def context_features(
    encoder, values: np.ndarray, context: int, *, neighbourhood: int = 1,
    freq_context: bool = False,
) -> torch.Tensor:
    """Patch features of ``values`` ``(n_freq, n_time)`` computed with ``context`` frames
    mirrored at both ends, which are dropped again: cells near the clip's ends then see
    mirrored sound instead of the network's zero padding (whose edge artefacts a model
    shared along time cannot learn). With ``freq_context`` the same is done in frequency:
    :attr:`Encoder.freq_context_rows` bands are mirrored below the lowest and above the highest
    band (none for an encoder that fixes its number of bands).

    Returns
    -------
    torch.Tensor, (sum C_l, F_0, T_0) on the first layer's grid of the padded clip
    """
    rows = encoder.freq_context_rows if freq_context else 0
    if context > 0 or rows > 0:
        values = np.pad(values, ((rows, rows), (context, context)), mode="reflect")
    feat = local_patch_features(encoder.features(values, mirrored_rows=rows),
                                neighbourhood=neighbourhood)
    first = encoder.layer_grids()[0]
    if context > 0:
        cut = context // first.time_stride
        feat = feat[:, :, cut:-cut]
    if rows > 0:
        cut = rows // first.freq_stride
        feat = feat[:, cut:-cut, :]
    return feat


def window_frames(encoder, seconds: float, default_frames: int) -> int:
    """Length in frames of the fixed windows a per-position model is fitted on: ``seconds``
    (as the front end frames that much audio), or ``default_frames`` when ``seconds`` is 0,
    rounded up to the encoder's time multiple."""
    fe = encoder.front_end
    n = fe.n_frames(int(round(seconds * fe.sr))) if seconds > 0 else int(default_frames)
    return padded_length(max(1, n), encoder.time_multiple)


def map_result(
    amap: np.ndarray, spec, valid: tuple[int, int] | None, **extras
) -> AnomalyResult:
    """The :class:`AnomalyResult` of a map on ``spec``'s grid whose clip score is its maximum
    within ``valid`` (PaDiM, CFA, STFPM; PatchCore re-weights its own)."""
    clip = valid_max(amap, valid)
    return AnomalyResult(
        map=amap, times=spec.times, freqs=spec.freqs, clip_score=clip,
        frame_scores=frame_scores(amap), extras={**extras, "peak_score": clip},
    )


def check_window(window: int, multiple: int) -> None:
    """A model's fixed window must be a multiple of the encoder's time multiple."""
    if window % multiple:
        from specview.errors import ModelFileError

        raise ModelFileError(
            f"the model's window of {window} frames is no multiple of the encoder's "
            f"{multiple}: it was fitted with another encoder setup"
        )


def tiled_grid(values: np.ndarray, window: int, grid_of) -> tuple[torch.Tensor, int]:
    """``grid_of`` (a window's values -> its score grid) over end-aligned windows of
    ``window`` frames covering ``values`` (padded by repeating its last frame up to at least
    one window), stitched with overlaps averaged; ``(grid, padded length in frames)``.
    PaDiM's cell mode and CFA's position memory score recordings of any length this way."""
    from specview.windows import plan_windows, stitch

    size = max(values.shape[1], window)
    x = pad_frames(values, size)
    spans = plan_windows(size, window, align_end=True)
    grids = [grid_of(x[:, s.slice]) for s in spans]
    return stitch(grids, spans, stride=window // grids[0].shape[1], overlap="mean"), size


def grid_map_result(grid: torch.Tensor, spec, size: int, valid: tuple[int, int] | None, *,
                    smooth_s: float, smooth_mel: float) -> AnomalyResult:
    """A score grid over ``size`` frames upsampled and smoothed to ``spec``'s grid
    (:func:`scores_to_map`), as an :class:`AnomalyResult` (:func:`map_result`)."""
    grid = grid.float().cpu()
    values = spec.values
    amap = scores_to_map(grid, padded_size=(values.shape[0], size), n_time=values.shape[1],
                         spec=spec, smooth_s=smooth_s, smooth_mel=smooth_mel)
    return map_result(amap, spec, valid, patch_grid=grid.numpy())
