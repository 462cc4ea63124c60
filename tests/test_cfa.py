"""CFA: the coupled-hypersphere loss and the softmin score on known cases, training, memory
layouts and early stopping on a held-out split of the normal clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_texture import machine

from specview.detectors.cfa import CFA, CFAParams, CoordDescriptor
from specview.errors import ModelFileError, ParameterError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def train(enc):
    return [machine(i, 64, enc) for i in range(8)]


def test_soft_boundary_loss_on_a_known_case():
    # 1-D centroids at 0, 1, 3; a descriptor at 0.5: squared distances 0.25, 0.25, 6.25
    det = CFA(CFAParams(k_nearest=1, j_negatives=1, nu=1.0, alpha=0.1))
    phi = torch.tensor([0.5]).reshape(1, 1, 1, 1)
    centroids = torch.tensor([[0.0], [1.0], [3.0]])
    r = torch.tensor([1.0])
    # attraction max(0, 0.25 - 1) = 0; repulsion max(0, 1 - 0.25 - 0.1) = 0.65
    assert float(det._loss(phi, centroids, r)) == pytest.approx(0.65)
    # K = 2, J = 1: attraction to both 0.25s (0 each), repulsion of 6.25 (0); nu scales
    det = CFA(CFAParams(k_nearest=2, j_negatives=1, nu=0.5, alpha=0.1))
    assert float(det._loss(phi, centroids, torch.tensor([0.1]))) == pytest.approx(
        (0.25 - 0.01) / 0.5)


def test_score_is_the_softmin_weighted_nearest_distance():
    det = CFA(CFAParams(k_nearest=3))
    det.centroids = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 5.0], [9.0, 9.0]])
    phi = torch.tensor([0.0, 1.0]).reshape(1, 2, 1, 1)
    d = np.array([1.0, np.sqrt(10.0), 4.0])  # Euclidean, the 3 nearest
    w = np.exp(-d) / np.exp(-d).sum()
    assert float(det._grid(phi)[0, 0]) == pytest.approx(w[0] * d[0], rel=1e-6)


def test_coord_descriptor_appends_coordinates():
    d = CoordDescriptor(2, 3, time_coord=True).init_random(0)
    assert d.conv.in_channels == 4
    with torch.no_grad():
        d.conv.weight.zero_()
        d.conv.bias.zero_()
        d.conv.weight[0, 2] = 1.0  # output 0 = frequency coordinate
        d.conv.weight[1, 3] = 1.0  # output 1 = time coordinate
    out = d(torch.zeros(1, 2, 3, 5)).detach()
    np.testing.assert_allclose(out[0, 0, :, 0].numpy(), [-1, 0, 1])
    np.testing.assert_allclose(out[0, 1, 0].numpy(), [-1, -0.5, 0, 0.5, 1])
    assert CoordDescriptor(2, 3, time_coord=False).conv.in_channels == 3


@pytest.mark.parametrize("memory", ["location", "row"])
def test_loss_decreases_over_epochs(enc, train, memory):
    det = CFA(CFAParams(memory=memory, epochs=10))
    det.fit(enc, train)
    losses = [h["train_loss"] for h in det.history]
    assert len(losses) == 10 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    assert det.best_epoch == 10 and all(h["val_loss"] is None for h in det.history)


def test_memory_layouts(enc, train):
    loc = CFA(CFAParams(epochs=1))
    loc.fit(enc, train)
    assert loc.centroids.shape == (16 * 32, 56)  # one per cell of the 64-frame window
    row = CFA(CFAParams(memory="row", epochs=1))
    row.fit(enc, [machine(i, n, enc) for i, n in enumerate((40, 64, 100))])
    assert row.centroids.shape == (16, 56)  # one per frequency row
    for n in (20, 64, 150):  # any length, scored whole
        res = row.score(enc, machine(50 + n, n, enc))
        assert res.map.shape == (32, n) and np.isfinite(res.map).all()
    long = loc.score(enc, machine(7, 150, enc))  # windows stitched
    assert long.map.shape == (32, 150) and np.isfinite(long.map).all()
    with pytest.raises(ModelFileError, match="do not fit together"):
        CFA(CFAParams(memory="location")).load_state_tensors(
            dict(row.state_tensors(), centroids=row.centroids[:, :5]))


def test_early_stopping_uses_only_the_held_out_normal_clips(enc, train):
    det = CFA(CFAParams(memory="row", epochs=6, val_fraction=0.25, patience=1))
    det.fit(enc, train)
    assert len(det.val_indices) == 2
    val = [h["val_loss"] for h in det.history]
    assert all(v is not None for v in val)
    # the kept epoch is the one with the lowest validation loss ...
    assert det.best_epoch == int(np.argmin(val)) + 1
    if len(val) < 6:  # stopped early: patience epochs after the best
        assert len(val) == det.best_epoch + 1
    # ... and the kept descriptor is that epoch's: its loss on the held-out clips is the same
    held_out = [train[i] for i in det.val_indices]
    assert det.validation_loss(enc, held_out) == pytest.approx(min(val), rel=1e-5)
    # the memory bank (from the initial descriptor) comes from the training part only
    alone = CFA(CFAParams(memory="row", epochs=1))
    alone.fit(enc, [s for i, s in enumerate(train) if i not in det.val_indices])
    torch.testing.assert_close(alone.centroids, det.centroids)


def test_too_few_centroids_for_k_plus_j_is_refused(enc, train):
    with pytest.raises(ParameterError, match="K \\+ J"):
        CFA(CFAParams(memory="row", k_nearest=10, j_negatives=10, epochs=1)).fit(enc, train[:2])


@pytest.mark.parametrize("bad", [
    {"memory": "clip"}, {"epochs": -1}, {"epochs": 0}, {"batch_size": 0}, {"nu": 0.0}, {"k_nearest": 0},
    {"val_fraction": 1.0}, {"neighbourhood": 2}, {"gamma_d": 0},
])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ParameterError):
        CFAParams(**bad)
