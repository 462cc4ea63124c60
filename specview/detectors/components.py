"""Building blocks shared by the detectors: patch features, coreset, nearest neighbours in
bounded-memory chunks, and the map post-processing that puts scores back on the spectrogram grid.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from specview.types import Progress

#: Elements of a distance block computed at once (bounds the temporary memory to ~256 MB).
_BLOCK_ELEMENTS = 1 << 26


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
    for a in range(0, M, rows):
        q = queries[a : a + rows]
        d2 = (q * q).sum(1, keepdim=True) + bank_sq[None] - 2.0 * (q @ bank.T)
        val, ind = torch.topk(d2, k, dim=1, largest=False)
        dists[a : a + rows] = val.clamp_min_(0).sqrt_()
        idxs[a : a + rows] = ind
    return dists, idxs


def upsample_to(grid: np.ndarray | torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a score grid ``(F_cells, T_cells)`` to ``size`` (half-pixel aligned)."""
    t = torch.as_tensor(grid, dtype=torch.float32)[None, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].cpu().numpy()


def scores_to_map(
    grid: np.ndarray | torch.Tensor,
    *,
    padded_size: tuple[int, int],
    n_time: int,
    sigma: float,
) -> np.ndarray:
    """Score grid -> map on the spectrogram grid: upsample to the padded input, crop the padding,
    Gaussian-smooth with ``sigma`` spectrogram cells."""
    m = upsample_to(grid, padded_size)[:, :n_time]
    if sigma > 0:
        m = gaussian_filter(m, sigma=sigma, mode="nearest")
    return np.ascontiguousarray(m, dtype=np.float32)


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
