"""STFPM: the loss and the product map on known cases, a student equal to its teacher, training,
early stopping on held-out normal clips, and the saved student."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_texture import machine

from specview.detectors.components import product_map
from specview.detectors.stfpm import STFPM, STFPMParams, layer_discrepancy, stfpm_loss
from specview.encoders.tiny import TinyEncoder, TinyParams
from specview.errors import ModelFileError, ParameterError
from specview.types import Spectrogram

FAST = {"batch_size": 2, "crop_seconds": 0.5}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def train(enc):
    return [machine(i, 64, enc) for i in range(8)]


def test_loss_is_half_the_squared_distance_of_normalised_features():
    t = torch.zeros(1, 2, 1, 2)
    s = torch.zeros(1, 2, 1, 2)
    t[0, 0] = 3.0  # teacher along channel 0 ...
    s[0, 1, 0, 0] = 0.5  # ... student along channel 1 in cell 0: ||e0 - e1||^2 = 2
    s[0, 0, 0, 1] = 7.0  # same direction in cell 1: 0
    (d,) = layer_discrepancy([t], [s])
    np.testing.assert_allclose(d[0, 0].numpy(), [1.0, 0.0])
    # sum over layers of the mean over cells
    assert float(stfpm_loss([t, t], [s, s])) == pytest.approx(2 * 0.5)


def test_map_is_the_product_of_the_upsampled_layer_maps():
    a = np.ones((2, 4), dtype=np.float32)
    b = np.full((1, 2), 3.0, dtype=np.float32)
    b[0, 0] = 0.0  # no discrepancy in one cell of one layer ...
    spec = Spectrogram(np.zeros((4, 8), dtype=np.float32), np.arange(8) * 0.02,
                       np.arange(4) * 100.0 + 50.0, "dB", 0.16)
    m = product_map([a, b], padded_size=(4, 8), n_time=8, spec=spec, smooth_s=0.0,
                    smooth_mel=0.0)
    assert m.shape == (4, 8)
    assert (m[:, :2] == 0).all()  # ... gives zero wherever that cell dominates
    assert m[:, -2:] == pytest.approx(3.0)


def test_student_equal_to_teacher_gives_a_zero_map(enc, train, monkeypatch):
    det = STFPM(STFPMParams(student_init="teacher"))
    # refused from users (nothing trained); here: no step
    object.__setattr__(det.params, "epochs", 0)
    det.fit(enc, train)
    res = det.score(enc, machine(99, 70, enc))
    assert res.map.shape == (32, 70)
    assert np.abs(res.map).max() < 1e-12 and res.clip_score < 1e-12
    # also when the teacher runs in chunks (long inputs): the student runs in the same chunks
    monkeypatch.setattr(TinyEncoder, "chunk_frames", 32)
    monkeypatch.setattr(TinyEncoder, "chunk_margin", 8)
    res = det.score(enc, machine(98, 300, enc))
    assert np.abs(res.map).max() < 1e-12


def test_student_loss_decreases_and_anomalies_stand_out(enc, train):
    det = STFPM(STFPMParams(epochs=12, **FAST))
    det.fit(enc, train)
    losses = [h["train_loss"] for h in det.history]
    assert len(losses) == 12 and losses[-1] < 0.3 * losses[0]
    normal = det.score(enc, machine(50, 64, enc))
    odd = machine(51, 64, enc)
    odd.values[12:18, 20:36] += 0.4
    res = det.score(enc, odd)
    assert res.clip_score > normal.clip_score
    r, c = np.unravel_index(np.argmax(res.map), res.map.shape)
    assert 8 <= r <= 22 and 14 <= c <= 42
    # the map is the product of the per-layer maps of extras
    again = product_map(res.extras["layer_grids"], padded_size=(32, 64), n_time=64, spec=odd,
                        smooth_s=det.params.smooth_s, smooth_mel=det.params.smooth_mel)
    np.testing.assert_array_equal(again, res.map)
    # scoring never depends on the module's train/eval flag
    det._student.train()
    np.testing.assert_array_equal(det.score(enc, odd).map, res.map)


def test_early_stopping_uses_only_the_held_out_normal_clips(enc, train):
    det = STFPM(STFPMParams(epochs=5, val_fraction=0.25, patience=0, **FAST))
    det.fit(enc, train)
    assert len(det.val_indices) == 2 and len(det.history) == 5
    val = [h["val_loss"] for h in det.history]
    assert det.best_epoch == int(np.argmin(val)) + 1
    held_out = [train[i] for i in det.val_indices]
    # the kept student is the best epoch's: its loss on the held-out clips is that epoch's
    assert det.validation_loss(enc, held_out) == pytest.approx(min(val), rel=1e-5)


def test_saved_student_is_checked_against_the_encoder(enc, train):
    det = STFPM(STFPMParams(epochs=1, **FAST))
    det.fit(enc, train[:2])
    state = det.state_tensors()
    assert all(k.startswith("student.") for k in state)
    assert "student.blocks.0.bn.running_mean" in state
    again = STFPM(det.params)
    again.load_state_tensors(state)
    again.bind(enc)  # fits
    with pytest.raises(ModelFileError, match="another encoder setup"):
        again.bind(TinyEncoder(TinyParams(layers=("block1", "block2"))))
    with pytest.raises(ModelFileError, match="lacks"):
        STFPM().load_state_tensors({"memory_bank": torch.zeros(2, 2)})
    nan = dict(state, **{"student.blocks.0.conv.weight": state["student.blocks.0.conv.weight"] * np.nan})
    with pytest.raises(ModelFileError, match="blocks.0.conv.weight' holds .* NaN or infinite"):
        STFPM().load_state_tensors(nan)


@pytest.mark.parametrize("bad", [
    {"student_init": "pretrained"}, {"epochs": -1}, {"batch_size": 0}, {"lr": 0.0},
    {"momentum": 1.0}, {"crop_seconds": 0.0}, {"val_fraction": -0.1},
])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ParameterError):
        STFPMParams(**bad)
