import numpy as np
import pytest
import torch

from specview.detectors.components import (
    ReservoirBank,
    check_smoothing,
    frame_scores,
    greedy_coreset,
    local_patch_features,
    nearest_neighbours,
    scores_to_map,
    smooth_map,
    smoothing_cells,
)
from specview.errors import ParameterError
from specview.types import Spectrogram


def htk_grid(n_rows: int, n_time: int, *, dt: float = 0.02, dmel: float = 40.0,
             mel0: float = 100.0) -> Spectrogram:
    """A spectrogram grid with frames ``dt`` s apart and rows ``dmel`` HTK mel apart."""
    mel = mel0 + dmel * np.arange(n_rows)
    freqs = 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    times = np.arange(n_time) * dt
    return Spectrogram(np.zeros((n_rows, n_time), dtype=np.float32), times, freqs, "dB",
                       n_time * dt)


def test_coreset_picks_one_point_per_cluster():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(6, 32, generator=g) * 50
    x = torch.cat([c + 0.1 * torch.randn(200, 32, generator=g) for c in centres])
    idx = greedy_coreset(x, 6, projection_dim=16, seed=3)
    clusters = set((idx // 200).tolist())
    assert clusters == set(range(6))


def test_coreset_covers_better_than_random():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3000, 64, generator=g) ** 3  # heavy tails: outliers a random pick misses
    idx = greedy_coreset(x, 100, seed=0)
    rnd = torch.randperm(3000, generator=g)[:100]

    def radius(sel):
        return torch.cdist(x, x[sel]).min(1).values.max()

    assert radius(idx) < 0.8 * radius(rnd)
    assert len(set(idx.tolist())) == 100
    assert torch.equal(idx, greedy_coreset(x, 100, seed=0))  # seeded


def test_nearest_neighbours_match_brute_force(monkeypatch):
    import specview.detectors.components as C

    monkeypatch.setattr(C, "_BLOCK_ELEMENTS", 1000)  # force many blocks
    g = torch.Generator().manual_seed(2)
    q, bank = torch.randn(257, 20, generator=g), torch.randn(300, 20, generator=g)
    d, i = nearest_neighbours(q, bank, k=3)
    ref = torch.cdist(q, bank).topk(3, largest=False)
    torch.testing.assert_close(d, ref.values, atol=1e-4, rtol=1e-4)
    assert torch.equal(i, ref.indices)


def test_local_features_average_and_align_layers():
    a = torch.zeros(1, 8, 8)
    a[0, 4, 4] = 9.0
    b = torch.arange(16.0).reshape(1, 4, 4)
    out = local_patch_features([a, b], neighbourhood=3)
    assert out.shape == (2, 8, 8)
    assert out[0, 3:6, 3:6].allclose(torch.ones(3, 3))  # 9 spread over its 3x3 neighbourhood
    assert out[0, 0, 0] == 0


def test_score_grid_peak_maps_to_its_frames():
    grid = np.zeros((24, 25), dtype=np.float32)
    grid[6, 10] = 1.0  # cell covering rows 24-27, frames 40-43 of a 4x4-strided grid
    # 0.04 s and 80 mel on this grid: 2 frames and 2 rows, the old sigma=2 cells
    spec = htk_grid(96, 98)
    m = scores_to_map(grid, padded_size=(96, 100), n_time=98, spec=spec, smooth_s=0.04,
                      smooth_mel=80.0)
    assert m.shape == (96, 98)
    r, c = np.unravel_index(np.argmax(m), m.shape)
    assert 24 <= r <= 27 and 40 <= c <= 43
    raw = scores_to_map(grid, padded_size=(96, 100), n_time=98, spec=spec, smooth_s=0.0,
                        smooth_mel=0.0)
    assert raw.max() > m.max()  # smoothing spreads the peak


def test_smoothing_cells_convert_seconds_and_mel_to_cells():
    spec = htk_grid(64, 50)  # frames 0.02 s apart, rows 40 mel apart
    rows, frames = smoothing_cells(spec.times, spec.freqs, 0.05, 40.0)
    assert rows == pytest.approx(1.0, rel=1e-9) and frames == pytest.approx(2.5, rel=1e-9)
    # other spacings scale inversely; zero means no smoothing on that axis
    rows, frames = smoothing_cells(htk_grid(8, 8, dt=0.01, dmel=20.0).times,
                                   htk_grid(8, 8, dt=0.01, dmel=20.0).freqs, 0.05, 40.0)
    assert (rows, frames) == pytest.approx((2.0, 5.0))
    assert smoothing_cells(spec.times, spec.freqs, 0.0, 0.0) == (0.0, 0.0)
    # a single frame or row has no spacing: no smoothing along it
    assert smoothing_cells([0.5], [440.0], 0.05, 40.0) == (0.0, 0.0)


def test_smooth_map_is_the_gaussian_in_cells():
    from scipy.ndimage import gaussian_filter

    spec = htk_grid(32, 40)
    m = np.zeros((32, 40), dtype=np.float32)
    m[16, 20] = 1.0
    out = smooth_map(m, spec.times, spec.freqs, 0.05, 40.0)
    want = gaussian_filter(m, sigma=(1.0, 2.5), mode="nearest")
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-7)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert out.sum() == pytest.approx(1.0, rel=1e-5)  # mass kept far from the edges
    np.testing.assert_array_equal(smooth_map(m, spec.times, spec.freqs, 0.0, 0.0), m)


@pytest.mark.parametrize("s,mel", [(-0.01, 40.0), (0.05, -1.0), (float("nan"), 40.0),
                                   (0.05, float("inf"))])
def test_check_smoothing_refuses_negative_or_non_finite(s, mel):
    with pytest.raises(ParameterError, match=r"smooth_s .*, smooth_mel .*: must be >= 0"):
        check_smoothing(s, mel)
    check_smoothing(0.0, 0.0)
    check_smoothing(0.05, 40.0)


def test_frame_scores_mean_of_top5():
    m = np.zeros((10, 3), dtype=np.float32)
    m[:, 1] = np.arange(10)
    np.testing.assert_allclose(frame_scores(m), [0, 7, 0])


def test_reservoir_is_bounded_and_uniform():
    counts = np.zeros(1000)
    for seed in range(200):
        r = ReservoirBank(100, seed=seed)
        for a in range(0, 1000, 37):
            r.add(torch.arange(a, min(1000, a + 37), dtype=torch.float32)[:, None])
        kept = r.tensor()
        assert kept.shape == (100, 1) and r.seen == 1000
        counts[kept[:, 0].long().numpy()] += 1
    # each row kept with probability 0.1 -> ~20 times in 200 runs
    first, last = counts[:500].mean(), counts[500:].mean()
    assert first == pytest.approx(20, rel=0.15) and last == pytest.approx(20, rel=0.15)
