"""CNN14 (CLAP 2022 / PANNs) with seeded random checkpoints written in both real layouts.

The real checkpoints cannot be downloaded here, so each test writes a checkpoint in the layout
of ``CLAP_weights_2022.pth`` or ``Cnn14_mAP=0.431.pth`` from an independently written PANNs-style
reference module, loads it through the encoder's own loader, and compares outputs.
"""

import hashlib
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from specview.encoders.cnn14 import (
    CLAP_FILE,
    PANNS_FILE,
    Cnn14Encoder,
    Cnn14Params,
    cnn14_front_end,
    load_checkpoint,
)
from specview.errors import ParameterError, WeightsError
from specview.spectrogram import front_end_features
from specview.types import Audio

CHANS = [1, 64, 128, 256, 512]


class RefBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=(2, 2))


class RefCnn14(nn.Module):
    """PANNs' Cnn14 written out independently, first four blocks (the default layers' depth)."""

    def __init__(self):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(64)
        for i in range(4):
            self.add_module(f"conv_block{i + 1}", RefBlock(CHANS[i], CHANS[i + 1]))

    def forward(self, logmel):  # (B, time, mel), as torchlibrosa hands it over
        x = logmel[:, None]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        outs = []
        for i in range(4):
            x = getattr(self, f"conv_block{i + 1}")(x)
            outs.append(x)
        return outs  # (B, C, time, mel) per block


def _reference(seed=0):
    torch.manual_seed(seed)
    ref = RefCnn14()
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=(2.0 / m.weight[0].numel()) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(12345)
        # dB-like statistics per mel band
        ref.bn0.running_mean.uniform_(-60.0, -20.0)
        ref.bn0.running_var.uniform_(100.0, 400.0)
    return ref.eval()


def _cnn14_tail():
    # the unused deeper blocks: only block 6's shape is checked, so a zero-stride tensor of the
    # right shape stands in for 150 MB of weights
    return {"conv_block6.conv2.weight": torch.zeros(1).expand(2048, 2048, 3, 3)}


def _write(path, ref, layout, *, edit=None):
    state = {**ref.state_dict(), **_cnn14_tail()}
    if edit:
        edit(state)
    if layout == "clap":
        ckpt = {f"audio_encoder.base.{k}": v for k, v in state.items()}
        ckpt.update({  # front-end buffers, heads and the text side, all ignored
            "audio_encoder.base.spectrogram_extractor.stft.conv_real.weight": torch.ones(5, 1, 8),
            "audio_encoder.base.logmel_extractor.melW": torch.ones(9, 64),
            "audio_encoder.base.fc1.weight": torch.ones(4, 4),
            "audio_encoder.projection.linear1.weight": torch.ones(3, 4),
            "caption_encoder.base.embeddings.word_embeddings.weight": torch.ones(7, 3),
            "logit_scale": torch.tensor(2.0),
        })
        obj = {"model": ckpt, "epoch": 42}
    else:
        state["fc_audioset.bias"] = torch.zeros(527)
        obj = {"iteration": 660000, "model": state}
    torch.save(obj, path)
    return path


@pytest.fixture(scope="module")
def ref():
    return _reference()


@pytest.fixture(scope="module", params=["clap", "panns"])
def loaded(request, ref, tmp_path_factory):
    name = CLAP_FILE if request.param == "clap" else PANNS_FILE
    path = _write(tmp_path_factory.mktemp(request.param) / name, ref, request.param)
    return request.param, path, Cnn14Encoder(Cnn14Params(weights=str(path)))


def test_forward_reproduces_the_saved_model(loaded, ref):
    _, _, enc = loaded
    spec = np.random.default_rng(0).normal(-40.0, 15.0, (64, 96)).astype(np.float32)
    feats = enc.features(spec)
    with torch.no_grad():
        want = ref(torch.from_numpy(spec).T[None])
    for got, w in zip(feats, want[1:], strict=True):  # blocks 2, 3, 4
        w = w[0].transpose(1, 2)  # (C, mel, time)
        assert got.shape == w.shape
        torch.testing.assert_close(got, w, rtol=1e-4, atol=1e-4 * float(w.abs().max()))


def test_layout_decides_the_front_end_and_provenance(loaded):
    layout, path, enc = loaded
    fe = enc.front_end
    assert (fe.n_fft, fe.hop_length, fe.n_mels, fe.fmin, fe.fmax) == (1024, 320, 64, 50.0, 14000.0)
    assert (fe.htk, fe.mel_norm, fe.compression) == (False, "slaney", "db")
    d = enc.describe()
    if layout == "clap":
        assert fe.sr == 44100 and enc.layout.name == "clap2022"
        assert "CLAP 2022" in d["provenance"] and "Elizalde" in d["provenance"]
        assert any(layer.startswith("block2: 128 channels, one cell = 29.0 ms x 4 mel band(s)") for layer in d["layers"])
    else:
        assert fe.sr == 32000 and enc.layout.name == "panns"
        assert "PANNs" in d["provenance"] and "Kong" in d["provenance"]
        assert any(layer.startswith("block2: 128 channels, one cell = 40.0 ms x 4 mel band(s)") for layer in d["layers"])
    assert path.name in d["provenance"]
    assert enc.weights_id() == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert enc.config()["front_end"]["sr"] == fe.sr


def test_grid_strides_and_shapes(loaded):
    _, _, enc = loaded
    assert [(g.name, g.channels, g.time_stride, g.freq_stride) for g in enc.layer_grids()] == [
        ("block2", 128, 4, 4), ("block3", 256, 8, 8), ("block4", 512, 16, 16)]
    feats = enc.features(np.full((64, 200), -50.0, dtype=np.float32))  # padded to 208 frames
    assert [tuple(f.shape) for f in feats] == [(128, 16, 52), (256, 8, 26), (512, 4, 13)]
    assert all(torch.isfinite(f).all() for f in feats)
    # bn0 normalises each of the 64 bands: no mirrored bands around them
    assert enc.freq_context_rows == 0
    with pytest.raises(ParameterError, match="takes none: its network takes exactly its 64 bands"):
        enc.features(np.full((80, 200), -50.0, dtype=np.float32), mirrored_rows=8)


def test_chunked_features_equal_whole(loaded, monkeypatch):
    _, _, enc = loaded
    x = np.random.default_rng(1).normal(-40.0, 15.0, (64, 600)).astype(np.float32)
    whole = enc.features(x)
    monkeypatch.setattr(Cnn14Encoder, "chunk_frames", 128)
    chunked = enc.features(x)
    for a, b in zip(whole, chunked, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max()))


def test_network_copies_are_trainable_and_explicit_about_batch_stats(loaded):
    _, _, enc = loaded
    x = torch.randn(2, 64, 32) * 15 - 40
    net = enc.network()
    assert net.conv_block1.conv1.weight.requires_grad
    assert not enc.net.conv_block1.conv1.weight.requires_grad
    torch.testing.assert_close(net(x)[0], enc.net(x)[0])
    net.train()  # the mode flag changes nothing; only batch_stats does
    torch.testing.assert_close(net(x)[0], enc.net(x)[0])
    assert not torch.allclose(net(x, batch_stats=True)[0], enc.net(x)[0])
    a, b = enc.network(pretrained=False, seed=3), enc.network(pretrained=False, seed=3)
    torch.testing.assert_close(a(x)[0], b(x)[0])
    assert torch.equal(a.bn0.running_var, torch.ones(64))
    assert not torch.allclose(a(x)[0], net(x)[0])


def test_models_folder_is_searched_and_clap_preferred(ref, tmp_path, monkeypatch):
    monkeypatch.setenv("SPECVIEW_MODELS_DIR", str(tmp_path))
    _write(tmp_path / PANNS_FILE, ref, "panns")
    assert Cnn14Encoder().front_end.sr == 32000
    _write(tmp_path / CLAP_FILE, ref, "clap")
    assert Cnn14Encoder().front_end.sr == 44100


def test_no_checkpoint_says_what_to_download_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECVIEW_MODELS_DIR", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        Cnn14Encoder()
    msg = str(err.value)
    for needle in (CLAP_FILE, PANNS_FILE, str(tmp_path), "zenodo", "SPECVIEW_MODELS_DIR",
                   "weights="):
        assert needle in msg
    # one line, and never the advice to unpickle code
    assert "\n" not in msg and "weights_only" not in msg and len(msg) < 300
    with pytest.raises(WeightsError, match="no such CNN14 checkpoint.*SPECVIEW_MODELS_DIR"):
        Cnn14Encoder(Cnn14Params(weights=str(tmp_path / "nope.pth")))


def _wrong_shape(state):
    state["conv_block2.conv1.weight"] = torch.zeros(128, 32, 3, 3)


def _missing(state):
    del state["conv_block3.bn2.running_var"]


def _cnn10(state):
    del state["conv_block6.conv2.weight"]


@pytest.mark.parametrize("edit,match", [
    (_wrong_shape, "do not fit CNN14"), (_missing, "lacks"), (_cnn10, "not a Cnn14")])
def test_wrong_architecture_is_refused_naming_the_file(ref, tmp_path, edit, match):
    path = _write(tmp_path / "odd.pth", ref, "clap", edit=edit)
    with pytest.raises(WeightsError, match=match) as err:
        Cnn14Encoder(Cnn14Params(weights=str(path)))
    assert str(path) in str(err.value)


def test_foreign_checkpoint_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"model": {"embedding_net.conv_block1.conv1.weight": torch.zeros(3)}}, path)
    with pytest.raises(WeightsError, match="neither a CLAP 2022 nor a PANNs"):
        Cnn14Encoder(Cnn14Params(weights=str(path)))


def test_pickle_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = tmp_path / CLAP_FILE
    with open(p, "wb") as f:
        pickle.dump({"model": Evil()}, f)
    with pytest.raises(WeightsError, match="not a loadable CNN14 checkpoint") as err:
        load_checkpoint(p)
    assert not marker.exists()
    # torch's several-line message, which suggests weights_only=False, is not passed on
    assert "\n" not in str(err.value) and "weights_only" not in str(err.value)


def test_params_are_checked():
    with pytest.raises(ParameterError, match="choose from"):
        Cnn14Params(layers=("block7",))
    with pytest.raises(ParameterError, match="hop_length"):
        Cnn14Params(hop_length=8)


def test_front_end_is_torchlibrosa_log_mel_in_db():
    import librosa

    sr = 44100
    fe = cnn14_front_end(sr)
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 1000.0 * t) + 0.01 * rng.standard_normal(sr)).astype(np.float32)
    x[: sr // 4] = 0.0  # a silent start shows the 1e-10 floor
    spec = front_end_features(Audio(x, sr), fe)
    assert spec.unit == "dB" and spec.values.shape == (64, 1 + sr // 320)
    # the tone's energy peaks in the band centred nearest 1 kHz
    frame = spec.values[:, 100]
    assert abs(int(np.argmax(frame)) - int(np.argmin(np.abs(spec.freqs - 1000.0)))) <= 1
    assert spec.values[:, 5:25].max() == pytest.approx(-100.0)
    # torchlibrosa = librosa's Slaney mel on a periodic-Hann power STFT, power_to_db(ref=1,
    # amin=1e-10, top_db=None); it pads the ends by reflection, so compare interior frames
    xp = np.pad(x.astype(np.float64), 512, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(xp, 1024)[::320]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    power = np.abs(np.fft.rfft(frames * hann, axis=1)) ** 2
    mel = librosa.filters.mel(sr=sr, n_fft=1024, n_mels=64, fmin=50.0, fmax=14000.0) @ power.T
    want = 10 * np.log10(np.maximum(mel, 1e-10))
    np.testing.assert_allclose(spec.values[:, 40:-4], want[:, 40:-4], atol=0.05)
    assert 0.0 < frame.max() < 60.0  # a half-scale tone: tens of dB re 1 (power), not log1p units
