"""Model files: every tensor checked on load; the training band recorded, checked and
band-limited to; older files without it still load, with a warning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from specview.detectors.base import check_tensor
from specview.detectors.patchcore import PatchCore
from specview.encoders.tiny import TinyEncoder
from specview.errors import AudioError, ModelFileError, SpecviewWarning
from specview.modelfile import load_tensors, save_tensors
from specview.pipeline import Model, fit, load_model

pytestmark = pytest.mark.usefixtures("one_thread", "tiny_registered")


@pytest.fixture(scope="module")
def tiny_registered():
    """Model files of the tiny encoder load while it is registered (tests only)."""
    from specview.encoders import ENCODERS

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(ENCODERS, "tiny", TinyEncoder)
        yield


def hum(seconds: float, sr: int, seed: int = 0, tone: float | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.02 * rng.standard_normal(len(t))
    for h in range(1, 6):
        x += 0.05 / h * np.sin(2 * np.pi * 110 * h * t)
    if tone is not None:
        x += 0.2 * np.sin(2 * np.pi * tone * t)
    return x.astype(np.float32)


def _write(path, x, sr):
    sf.write(str(path), x, sr, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def encoder():
    return TinyEncoder()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return {
        16000: [_write(root / f"a{i}.wav", hum(0.5, 16000, i), 16000) for i in range(3)],
        8000: [_write(root / f"b{i}.wav", hum(0.5, 8000, 10 + i), 8000) for i in range(2)],
    }


def test_load_tensors_names_non_finite_and_non_numeric_tensors(tmp_path):
    meta = {"method": "patchcore", "method_params": {}, "encoder": {}}
    ok = torch.ones(4, 3)
    for bad, pattern in ((torch.tensor([1.0, math.nan]), r"'b' holds 1 NaN or infinite"),
                         (torch.tensor([math.inf, -math.inf]), r"'b' holds 2 NaN or infinite"),
                         (torch.tensor([True, False]), r"'b' is bool, not a number type")):
        save_tensors(tmp_path / "m.safetensors", {"a": ok, "b": bad}, meta)
        with pytest.raises(ModelFileError, match=pattern):
            load_tensors(tmp_path / "m.safetensors")
    save_tensors(tmp_path / "m.safetensors", {"a": ok, "i": torch.arange(3)}, meta)
    tensors, _ = load_tensors(tmp_path / "m.safetensors")
    assert torch.equal(tensors["a"], ok)


def test_check_tensor_dtype_and_shape():
    assert check_tensor("x", "t", torch.zeros(2, 3), ndim=2).shape == (2, 3)
    assert check_tensor("x", "i", torch.arange(3, dtype=torch.int32), integer=True).numel() == 3
    with pytest.raises(ModelFileError, match=r"x model tensor 't' is int32; expected floating"):
        check_tensor("x", "t", torch.zeros(2, dtype=torch.int32))
    with pytest.raises(ModelFileError, match=r"'i' is float32; expected integers"):
        check_tensor("x", "i", torch.zeros(2), integer=True)
    with pytest.raises(ModelFileError, match=r"'t' has shape \(6,\); expected 2 dimension"):
        check_tensor("x", "t", torch.zeros(6), ndim=2)


def test_patchcore_bank_is_checked_on_load_and_against_the_encoder(encoder):
    det = PatchCore()
    for bank, pattern in ((torch.zeros(5, 56, dtype=torch.int32), r"'memory_bank' is int32"),
                          (torch.full((5, 56), math.nan), r"'memory_bank' holds 280 NaN"),
                          (torch.zeros(0, 56), r"'memory_bank' has shape \(0, 56\)")):
        with pytest.raises(ModelFileError, match=pattern):
            det.load_state_tensors({"memory_bank": bank})
    det.load_state_tensors({"memory_bank": torch.zeros(5, 40)})
    with pytest.raises(ModelFileError, match=r"has 40 channels but the tiny encoder gives 56"):
        det.bind(encoder)
    det.load_state_tensors({"memory_bank": torch.zeros(5, 56, dtype=torch.float64)})
    det.bind(encoder)
    assert det.memory_bank.dtype == torch.float32


def test_fit_records_the_band_and_scoring_refuses_a_narrower_one(clips, encoder, tmp_path):
    model = fit(clips[16000], model=Model(encoder, PatchCore()))
    assert model.info["train_nyquist_hz"] == 8000.0
    assert model.info["train_sample_rates"] == [16000]
    assert model.band_hz == 8000.0 and model.band_sr is None
    with pytest.raises(AudioError, match=r"b0.wav: recorded at 8000 Hz \(sound up to 4000 Hz\) "
                                         r"but the model was fitted on audio up to 8000 Hz"):
        model.score_file(clips[8000][0])
    # the same band is fine, and so is a wider one (44.1 kHz: 22 kHz)
    assert model.check_recording(clips[16000][0]) == 16000
    wide = _write(tmp_path / "wide.wav", hum(0.5, 44100, 5), 44100)
    assert np.isfinite(model.score_file(wide).result.clip_score)
    # the band survives the model file
    model.save(tmp_path / "m.safetensors")
    assert load_model(tmp_path / "m.safetensors").band_hz == 8000.0


def test_mixed_rates_are_refused_unless_resampled_to_the_lowest(clips, encoder, tmp_path):
    mixed = clips[16000] + clips[8000]
    with pytest.raises(AudioError, match=r"different sample rates \(8000 Hz: 2 \(b0.wav, \.\.\.\); "
                                         r"16000 Hz: 3 \(a0.wav, \.\.\.\)\).*resample"):
        fit(mixed, model=Model(encoder, PatchCore()))
    with pytest.warns(SpecviewWarning, match=r"resampled 3 training clip\(s\) to 8000 Hz"):
        model = fit(mixed, model=Model(encoder, PatchCore()), resample=True)
    assert model.info["train_nyquist_hz"] == 4000.0 and model.band_sr == 8000
    # a 16 kHz recording is heard as the training clips were: nothing above 4 kHz is left
    loud = _write(tmp_path / "tone.wav", hum(0.5, 16000, 7, tone=6000.0), 16000)
    heard = model.load(loud).samples
    spectrum = np.abs(np.fft.rfft(heard))
    f = np.fft.rfftfreq(len(heard), 1 / 16000)
    assert heard.shape == (8000,)
    assert spectrum[f > 4200].max() < 1e-3 * spectrum.max()


def test_model_files_without_a_band_load_with_one_warning(clips, encoder, tmp_path):
    model = fit(clips[16000], model=Model(encoder, PatchCore()))
    del model.info["train_nyquist_hz"]
    model.save(tmp_path / "old.safetensors")
    with pytest.warns(SpecviewWarning, match=r"old.safetensors: written before specview recorded "
                                             r"the band") as seen:
        old = load_model(tmp_path / "old.safetensors")
    assert len(seen) == 1
    assert old.band_hz is None and old.band_sr is None
    assert np.isfinite(old.score_file(clips[8000][0]).result.clip_score)  # unknown: not refused


def test_silent_training_clip_is_refused_by_name(clips, encoder, tmp_path):
    silent = _write(tmp_path / "quiet.wav", np.zeros(8000, np.float32), 16000)
    with pytest.raises(AudioError, match=r"quiet.wav: the training clip is silent"):
        fit([*clips[16000], silent], model=Model(encoder, PatchCore()))


def test_short_clip_is_refused_with_the_minimum_length(clips, encoder, tmp_path):
    assert encoder.min_seconds == pytest.approx(8 * 256 / 16000)
    short = _write(tmp_path / "blip.wav", hum(0.1, 16000), 16000)
    with pytest.raises(AudioError, match=r"blip.wav: 0\.1 s long, shorter than one feature cell "
                                         r"of the tiny encoder: give clips of at least 0\.128 s"):
        fit([*clips[16000], short], model=Model(encoder, PatchCore()))


def test_fitted_models_score_through_their_row_profile_and_older_files_load_unchanged(
        clips, encoder, tmp_path):
    from specview.detectors.components import frame_scores, smoothing_cells
    from specview.pipeline import score_spectrogram
    from specview.spectrogram import compress, mel_power

    model = fit(clips[16000], model=Model(encoder, PatchCore()))
    fe = encoder.front_end
    spec = compress(mel_power(model.load(clips[16000][0]), fe), fe)
    # a fitted model scores through its row profile: the profiled map, its maximum, its frames
    rows = model.calibration.rows
    assert rows is not None and len(rows.loc) == spec.values.shape[0]
    raw = score_spectrogram(model.detector, model.encoder, spec)
    res = model.score_file(clips[16000][0]).result
    from specview.spectrogram import expand

    # ... focused on the energy above normal (rows.focus); regions from the profiled map
    assert rows.focus_gain > 0
    # frames reaching the flag threshold the model was fitted with also focus across bands
    assert rows.across_level == model.calibration.threshold
    np.testing.assert_array_equal(res.extras["region_map"], rows.apply(raw.map))
    np.testing.assert_array_equal(
        res.map, rows.focus(rows.apply(raw.map), rows.excess_power(expand(spec.values, fe))))
    assert res.clip_score == float(res.map.max())
    np.testing.assert_array_equal(res.frame_scores, frame_scores(res.map))
    assert res.extras["raw_clip_score"] == raw.clip_score
    # as written before smooth_s / smooth_mel and the row profile: sigma 4 cells, raw maps
    model.save(tmp_path / "new.safetensors")
    tensors, meta = load_tensors(tmp_path / "new.safetensors")
    params = meta["method_params"]
    del params["smooth_s"], params["smooth_mel"]
    params["sigma"] = 4.0
    del meta["calibration"]["rows"]
    save_tensors(tmp_path / "old.safetensors", tensors, meta)
    old = load_model(tmp_path / "old.safetensors")
    p = old.detector.params
    # 4 frames of hop / sr seconds; 4 rows of the bands' median HTK-mel spacing
    mel = 2595.0 * np.log10(1.0 + fe.mel_centres() / 700.0)
    assert p.smooth_s == pytest.approx(4 * fe.hop_length / fe.sr, rel=1e-12)
    assert p.smooth_mel == pytest.approx(4 * float(np.median(np.diff(mel))), rel=1e-12)
    res = old.score_file(clips[16000][0]).result
    assert smoothing_cells(res.times, res.freqs, p.smooth_s, p.smooth_mel) == pytest.approx(
        (4.0, 4.0))
    # no row profile in the file: the detector's raw map is the model's map
    assert old.calibration is not None and old.calibration.rows is None
    raw = score_spectrogram(old.detector, old.encoder, spec)
    np.testing.assert_array_equal(res.map, raw.map)
    assert res.clip_score == raw.clip_score


def test_patchcore_files_saved_before_mirrored_bands_score_without_them(clips, encoder, tmp_path):
    from specview.detectors.patchcore import PatchCoreParams

    plain = fit(clips[16000], model=Model(encoder, PatchCore(PatchCoreParams(freq_context=False))))
    plain.save(tmp_path / "plain.safetensors")
    tensors, meta = load_tensors(tmp_path / "plain.safetensors")
    del meta["method_params"]["freq_context"]  # as written before the parameter existed
    save_tensors(tmp_path / "old.safetensors", tensors, meta)
    old = load_model(tmp_path / "old.safetensors")
    assert old.detector.params.freq_context is False
    clip = clips[16000][0]
    np.testing.assert_array_equal(old.score_file(clip).result.map,
                                  plain.score_file(clip).result.map)
    # a new fit mirrors the bands, and its file says so
    fitted = fit(clips[16000], model=Model(encoder, PatchCore()))
    fitted.save(tmp_path / "new.safetensors")
    assert load_model(tmp_path / "new.safetensors").detector.params.freq_context is True
    assert not np.array_equal(fitted.score_file(clip).result.map,
                              plain.score_file(clip).result.map)


def test_region_level_is_chosen_per_method_kept_in_the_file_and_old_files_keep_half(
        clips, encoder, tmp_path):
    from specview.detectors.stfpm import STFPM, STFPMParams

    stfpm = fit(clips[16000], model=Model(encoder, STFPM(STFPMParams(epochs=1, batch_size=4))))
    assert stfpm.calibration.region_level == 0.3
    stfpm.save(tmp_path / "stfpm.safetensors")
    assert load_model(tmp_path / "stfpm.safetensors").calibration.region_level == 0.3
    patchcore = fit(clips[16000], model=Model(encoder, PatchCore()))
    assert patchcore.calibration.region_level == 0.5
    tensors, meta = load_tensors(tmp_path / "stfpm.safetensors")
    del meta["calibration"]["region_level"]  # as written before it
    save_tensors(tmp_path / "old.safetensors", tensors, meta)
    assert load_model(tmp_path / "old.safetensors").calibration.region_level == 0.5
    meta["calibration"]["region_level"] = 1.0
    save_tensors(tmp_path / "bad.safetensors", tensors, meta)
    with pytest.raises(ModelFileError, match="region_level 1.0 out of range"):
        load_model(tmp_path / "bad.safetensors")


def test_region_floor_is_kept_in_the_file_old_files_do_not_grow_and_bad_values_are_refused(
        clips, encoder, tmp_path):
    model = fit(clips[16000], model=Model(encoder, PatchCore()))
    cal = model.calibration
    assert cal.floor_quantile == 0.99
    assert cal.region_floor == cal.quantile(0.99)
    assert cal.median < cal.region_floor < cal.threshold
    # another flag rate keeps the regions' level and floor
    import dataclasses

    other = dataclasses.replace(cal, region_level=0.3).with_flag_rate(0.2)
    assert (other.region_level, other.floor_quantile, other.rows) == (0.3, 0.99, cal.rows)
    assert other.flag_rate == 0.2 and other.threshold < cal.threshold
    model.save(tmp_path / "m.safetensors")
    assert load_model(tmp_path / "m.safetensors").calibration.region_floor == cal.region_floor
    tensors, meta = load_tensors(tmp_path / "m.safetensors")
    del meta["calibration"]["floor_quantile"]  # as written before it
    save_tensors(tmp_path / "old.safetensors", tensors, meta)
    old = load_model(tmp_path / "old.safetensors").calibration
    assert old.floor_quantile is None and old.region_floor is None
    for bad in (1.0, 0.0, "0.99", True):
        meta["calibration"]["floor_quantile"] = bad
        save_tensors(tmp_path / "bad.safetensors", tensors, meta)
        with pytest.raises(ModelFileError, match="floor_quantile"):
            load_model(tmp_path / "bad.safetensors")


def test_encoder_features_take_mirrored_bands_of_one_coarse_cell(encoder):
    from specview.detectors.components import context_features
    from specview.errors import ParameterError

    rows = encoder.freq_context_rows
    assert rows == max(g.freq_stride for g in encoder.layer_grids())
    n = encoder.front_end.n_mels
    x = np.random.default_rng(0).random((n, 64), dtype=np.float32)
    wide = encoder.features(np.pad(x, ((rows, rows), (0, 0)), mode="reflect"), mirrored_rows=rows)
    assert [t.shape[1] for t in wide] == [(n + 2 * rows) // g.freq_stride
                                          for g in encoder.layer_grids()]
    with pytest.raises(ParameterError, match=rf"expects a \({n + 2 * rows}, n_time\)"):
        encoder.features(x, mirrored_rows=rows)
    with pytest.raises(ParameterError, match=f"takes 0 or {rows}"):
        encoder.features(x, mirrored_rows=rows + 1)
    # context_features drops the mirrored bands again: the grid is the plain one's
    plain = context_features(encoder, x, 0)
    mirrored = context_features(encoder, x, 0, freq_context=True)
    assert mirrored.shape == plain.shape
    assert not torch.equal(mirrored, plain)
