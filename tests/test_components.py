import numpy as np
import pytest
import torch

from specview.detectors.components import (
    ReservoirBank,
    frame_scores,
    greedy_coreset,
    local_patch_features,
    nearest_neighbours,
    scores_to_map,
)


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
    m = scores_to_map(grid, padded_size=(96, 100), n_time=98, sigma=2.0)
    assert m.shape == (96, 98)
    r, c = np.unravel_index(np.argmax(m), m.shape)
    assert 24 <= r <= 27 and 40 <= c <= 43


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
