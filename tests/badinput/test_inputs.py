"""The bad-input suite for audio, models and parameters: each bad input is refused in one line
(``specview: error: ...``, exit status 2) before any work, or accepted with a one-line warning
that says what was done; never a traceback, and no file that was in the case folder before
changes (nor is a new one left behind).

Models are fitted once per module with the tiny seeded encoder (registered for the CLI here,
as ``--encoder tiny``) on half-second clips, so the whole file runs in well under a minute.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from badinput_harness import assert_refused, assert_unchanged, assert_warned, snapshot

SR = 16000
#: one feature cell of the tiny encoder: 8 frames of 256 samples at 16 kHz
CELL = 8 * 256 / SR

pytestmark = pytest.mark.usefixtures("one_thread", "tiny_cli")


# -- audio --------------------------------------------------------------------------------------

def hum(seconds: float = 0.5, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A machine-like hum with a little noise, float32 in [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    x = 0.02 * rng.standard_normal(len(t))
    for h in range(1, 8):
        x += 0.05 / h * np.sin(2 * np.pi * 110 * h * t + rng.uniform(0, 2 * np.pi))
    return x.astype(np.float32)


def write_wav(path: Path, x: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def with_header_rate(path: Path, sr: int) -> None:
    """Rewrite the sample rate (and byte rate) of a 16-bit mono WAV's ``fmt`` chunk."""
    b = bytearray(path.read_bytes())
    b[24:28] = struct.pack("<I", sr)
    b[28:32] = struct.pack("<I", min(2 * sr, 2**32 - 1))
    path.write_bytes(bytes(b))


def _truncated_wav(p: Path) -> None:  # header 1 s, data 0.5 s
    write_wav(p, hum(1.0))
    b = p.read_bytes()
    p.write_bytes(b[: 44 + SR])


def _truncated_flac(p: Path) -> None:
    q = p.with_suffix(".flac")
    sf.write(str(q), hum(2.0), SR)
    b = q.read_bytes()
    q.write_bytes(b[: len(b) // 2])


def _unfinished_wav(p: Path) -> None:  # data written, header size never filled in
    write_wav(p, hum(0.5))
    b = bytearray(p.read_bytes())
    b[40:44] = struct.pack("<I", 0)
    p.write_bytes(bytes(b))


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _header_only(p: Path) -> None:
    write_wav(p, np.zeros(0, dtype=np.float32))


def _text(p: Path) -> None:
    p.write_text("these are field notes, not a recording\n")


def _rate(sr: int):
    def make(p: Path) -> None:
        write_wav(p, hum(0.5))
        with_header_rate(p, sr)
    return make


def _samples(value: float, where: slice = slice(100, 101)):
    def make(p: Path) -> None:
        x = hum(0.5)
        x[where] = value
        write_wav(p, x, subtype="FLOAT")
    return make


def _huge(p: Path) -> None:  # float WAV with samples near 3e38
    x = hum(0.5)
    write_wav(p, (x / np.abs(x).max() * np.float32(3e38)).astype(np.float32), subtype="FLOAT")


def _length(seconds: float):
    def make(p: Path) -> None:
        write_wav(p, hum(seconds))
    return make


def _one_sample(p: Path) -> None:
    write_wav(p, hum(0.5)[:1])


#: (id, maker, message pattern, commands it applies to)
BAD_AUDIO = [
    ("truncated-wav", _truncated_wav, r"truncated: the header says 1\.000 s but the file holds "
                                      r"0\.500 s", "fit score play"),
    ("truncated-flac", _truncated_flac, r"truncated or damaged: the header says 2\.000 s but "
                                        r"only [0-9.]+ s decode", "fit score play"),
    ("unfinished-wav", _unfinished_wav, r"says the recording is empty but 0\.500 s of audio "
                                        r"follow it", "fit score play"),
    ("empty-file", _empty, r"empty \(0 bytes\)", "fit score play"),
    ("header-only", _header_only, r"holds no samples", "fit score play"),
    ("not-audio", _text, r"cannot read audio", "fit score play"),
    ("rate-1hz", _rate(1), r"sample rate of 1 Hz, outside 1 kHz-1 MHz", "fit score play"),
    ("rate-500hz", _rate(500), r"sample rate of 500 Hz, outside", "fit score play"),
    ("rate-2mhz", _rate(2_000_000), r"sample rate of 2000000 Hz, outside", "fit score play"),
    ("rate-4ghz", _rate(4_000_000_000), r"sample rate of 4000000000 Hz", "fit score play"),
    ("nan-sample", _samples(np.nan), r"1 sample\(s\) are NaN or infinite", "fit score play"),
    ("inf-samples", _samples(np.inf, slice(0, 50)), r"50 sample\(s\) are NaN or infinite",
     "fit score play"),
    ("huge-float", _huge, r"times full scale .*\+60 dBFS", "fit score play"),
    ("one-sample", _one_sample, r"shorter than one feature cell .* at least 0\.128 s",
     "fit score"),
    ("short-0.05s", _length(0.05), r"0\.05 s long, shorter than one feature cell .* at least "
                                   r"0\.128 s", "fit score"),
]


def _audio_cases():
    for name, make, pattern, commands in BAD_AUDIO:
        for cmd in commands.split():
            yield pytest.param(cmd, make, pattern, id=f"{name}-{cmd}")


def _clip_path(make, folder: Path) -> Path:
    p = folder / "bad.wav"
    make(p)
    return p if p.exists() else p.with_suffix(".flac")


@pytest.mark.parametrize("cmd,make,pattern", list(_audio_cases()))
def test_bad_audio_is_refused(cmd, make, pattern, cli, tmp_path, models):
    case = tmp_path / "case"
    if cmd == "fit":
        train = case / "train"
        train.mkdir(parents=True)
        for i in range(2):
            write_wav(train / f"good{i}.wav", hum(0.5, seed=i))
        bad = _clip_path(make, train)
        argv = ["fit", train, "--encoder", "tiny", "--out", case / "m.safetensors"]
    else:
        case.mkdir()
        bad = _clip_path(make, case)
        if cmd == "score":
            argv = ["score", models["patchcore"], bad, "--out", case / "out"]
        else:
            argv = ["play", bad, "--out", case / "played.wav"]
    before = snapshot(case)
    o = cli(*argv)
    assert_refused(o, pattern)
    assert bad.name in o.err  # the clip is named
    assert_unchanged(before, snapshot(case))


def test_missing_audio_is_refused(cli, tmp_path, models):
    case = tmp_path / "case"
    case.mkdir()
    before = snapshot(case)
    assert_refused(cli("score", models["patchcore"], case / "gone.wav", "--out", case / "o"),
                   r"gone\.wav: no such file")
    assert_refused(cli("play", case / "gone.wav", "--out", case / "p.wav"),
                   r"gone\.wav: no such file")
    assert_unchanged(before, snapshot(case))


# -- training clips -----------------------------------------------------------------------------

def _silent(p: Path) -> None:
    write_wav(p, np.zeros(SR // 2, dtype=np.float32))


def _dc(p: Path) -> None:
    write_wav(p, np.full(SR // 2, 0.25, dtype=np.float32), subtype="FLOAT")


def _other_rate(p: Path) -> None:
    write_wav(p, hum(0.5, sr=8000), sr=8000)


@pytest.mark.parametrize("make,pattern", [
    pytest.param(_silent, r"bad\.wav: the training clip is silent", id="silent"),
    pytest.param(_dc, r"bad\.wav: the training clip is constant \(every sample is 0\.25",
                 id="constant-dc"),
    pytest.param(_other_rate, r"different sample rates \(8000 Hz: 1 \(bad\.wav\); 16000 Hz: 2 "
                              r".*--resample", id="mixed-rates"),
])
def test_unusable_training_clips_are_refused(make, pattern, cli, tmp_path):
    case = tmp_path / "case"
    train = case / "train"
    train.mkdir(parents=True)
    for i in range(2):
        write_wav(train / f"good{i}.wav", hum(0.5, seed=i))
    make(train / "bad.wav")
    before = snapshot(case)
    assert_refused(cli("fit", train, "--encoder", "tiny", "--out", case / "m.safetensors"),
                   pattern)
    assert_unchanged(before, snapshot(case))


def test_mixed_rates_with_resample_are_brought_to_the_lowest(cli, tmp_path):
    from specview.pipeline import load_model

    case = tmp_path / "case"
    train = case / "train"
    train.mkdir(parents=True)
    for i in range(2):
        write_wav(train / f"good{i}.wav", hum(0.5, seed=i))
    write_wav(train / "low.wav", hum(0.5, sr=8000), sr=8000)
    before = snapshot(case)
    o = cli("fit", train, "--encoder", "tiny", "--out", case / "m.safetensors", "--resample")
    assert_warned(o, r"resampled 2 training clip\(s\) to 8000 Hz.*covers 0-4000 Hz")
    assert_unchanged(before, snapshot(case), allow_new=True)
    model = load_model(case / "m.safetensors")
    assert model.info["train_nyquist_hz"] == 4000.0
    assert model.info["train_sample_rates"] == [8000, 16000]
    assert model.band_sr == 8000
    # an 8 kHz recording now fits the model's band: scored without a word
    write_wav(case / "low-test.wav", hum(0.5, sr=8000, seed=7), sr=8000)
    o = cli("score", case / "m.safetensors", case / "low-test.wav", "--out", case / "o")
    assert o.rc == 0 and not o.err_lines


# -- the model's band ---------------------------------------------------------------------------

def test_recording_below_the_training_band_is_refused(cli, tmp_path, models):
    case = tmp_path / "case"
    case.mkdir()
    write_wav(case / "phone.wav", hum(0.5, sr=8000), sr=8000)
    before = snapshot(case)
    pattern = (r"phone\.wav: recorded at 8000 Hz \(sound up to 4000 Hz\) but the model was "
               r"fitted on audio up to 8000 Hz")
    assert_refused(cli("score", models["patchcore"], case / "phone.wav", "--out", case / "o"),
                   pattern)
    assert_refused(cli("play", case / "phone.wav", "--model", models["patchcore"],
                       "--anomaly-only", "--out", case / "p.wav"), pattern)
    assert_unchanged(before, snapshot(case))


def test_evaluate_checks_every_test_clip_first(cli, tmp_path, models):
    case = tmp_path / "case"
    (case / "ds" / "train").mkdir(parents=True)
    (case / "ds" / "test").mkdir()
    write_wav(case / "ds" / "train" / "a.wav", hum(0.5))
    write_wav(case / "ds" / "test" / "normal_0.wav", hum(0.5, seed=3))
    write_wav(case / "ds" / "test" / "anomaly_1.wav", hum(0.5, sr=8000), sr=8000)
    before = snapshot(case)
    assert_refused(cli("evaluate", models["patchcore"], case / "ds", "--out", case / "rep"),
                   r"anomaly_1\.wav: recorded at 8000 Hz")
    assert_unchanged(before, snapshot(case))


def test_model_without_a_recorded_band_loads_with_a_warning(cli, tmp_path, models):
    case = tmp_path / "case"
    case.mkdir()
    write_wav(case / "ok.wav", hum(0.5, seed=5))
    before = snapshot(case)
    o = cli("score", models["old"], case / "ok.wav", "--out", case / "o")
    assert_warned(o, r"old\.safetensors: written before specview recorded the band")
    assert len(o.warnings) == 1
    assert_unchanged(before, snapshot(case), allow_new=True)
    assert (case / "o" / "scores.csv").is_file()


# -- parameters ---------------------------------------------------------------------------------

#: (method, key=value, message pattern)
BAD_PARAMS = [
    ("patchcore", "smooth_s=-1", r"smooth_s -1\.0, smooth_mel 40\.0: must be >= 0"),
    ("patchcore", "smooth_mel=-1", r"smooth_s 0\.05, smooth_mel -1\.0: must be >= 0"),
    ("patchcore", "smooth_s=inf", r"smooth_s=inf: must be a finite number"),
    ("patchcore", "smooth_mel=nan", r"smooth_mel=nan: must be a finite number"),
    ("patchcore", "context_seconds=-1", r"context_seconds -1\.0: must be >= 0"),
    ("patchcore", "coreset_ratio=2", r"coreset_ratio 2\.0: must be in \(0, 1\]"),
    ("patchcore", "coreset_ratio=0", r"coreset_ratio 0\.0: must be in"),
    ("patchcore", "coreset_size=-3", r"coreset_size -3: must be >= 0"),
    ("patchcore", "num_neighbors=0", r"num_neighbors 0: must be >= 1"),
    ("patchcore", "projection_dim=0", r"projection_dim 0: must be >= 1"),
    ("patchcore", "max_patches=1.5", r"max_patches='1\.5': expected int"),
    ("patchcore", "neighbourhood=2", r"neighbourhood 2: must be odd"),
    ("patchcore", "detector.seed=-1", r"PatchCoreParams: seed=-1: use 0 to 4294967295"),
    ("patchcore", "detector.seed=4294967296", r"seed=4294967296: use 0 to 4294967295"),
    ("patchcore", "max_patches=99999999999999999999", r"max_patches=.*: too large"),
    ("patchcore", "seed=3", r"--set seed: ambiguous, write encoder.seed or detector.seed"),
    ("padim", "smooth_s=-1", r"smooth_s -1\.0, smooth_mel 40\.0: must be >= 0"),
    ("padim", "smooth_mel=inf", r"smooth_mel=inf: must be a finite number"),
    ("padim", "feature_ratio=0", r"feature_ratio 0\.0: must be in \(0, 1\]"),
    ("padim", "epsilon=0", r"epsilon 0\.0: must be > 0"),
    ("padim", "n_features=-1", r"n_features -1"),
    ("padim", "mode=cube", r"PaDiM mode 'cube'"),
    ("padim", "window_seconds=-inf", r"window_seconds=-inf: must be a finite number"),
    ("padim", "detector.seed=-2", r"PaDiMParams: seed=-2: use 0 to"),
    ("cfa", "epochs=0", r"CFA epochs 0.* the others >= 1"),
    ("cfa", "epochs=-1", r"CFA epochs -1"),
    ("cfa", "lr=0", r"lr and nu must be > 0"),
    ("cfa", "lr=inf", r"lr=inf: must be a finite number"),
    ("cfa", "nu=nan", r"nu=nan: must be a finite number"),
    ("cfa", "batch_size=0", r"batch_size 0"),
    ("cfa", "k_nearest=0", r"k_nearest 0"),
    ("cfa", "val_fraction=1", r"val_fraction 1\.0: must be in \[0, 1\)"),
    ("cfa", "smooth_mel=-1", r"smooth_s 0\.05, smooth_mel -1\.0: must be >= 0"),
    ("stfpm", "epochs=0", r"STFPM epochs 0.*use epochs >= 1"),
    ("stfpm", "lr=-1", r"STFPM lr -1\.0"),
    ("stfpm", "momentum=1", r"momentum in \[0, 1\)"),
    ("stfpm", "crop_seconds=0", r"crop_seconds 0\.0: must be > 0"),
    ("stfpm", "batch_size=1.5", r"batch_size='1\.5': expected int"),
    ("stfpm", "smooth_s=inf", r"smooth_s=inf: must be a finite number"),
    ("stfpm", "student_init=copy", r"student_init 'copy'"),
    ("patchcore", "hop_length=10", r"tiny hop_length 10: use 32-2048"),
    ("patchcore", "encoder.seed=-1", r"TinyParams: seed=-1: use 0 to"),
    ("patchcore", "layers=block9", r"tiny layers \('block9',\): choose from"),
    ("patchcore", "nope=1", r"--set nope: unknown parameter"),
    ("patchcore", "smooth_s", r"--set 'smooth_s': expected key=value"),
    ("patchcore", "smooth_mel=lots", r"smooth_mel='lots': expected float"),
    ("patchcore", "sigma=4", r"--set sigma: unknown parameter"),
]


@pytest.mark.parametrize("method,item,pattern", [
    pytest.param(m, i, p, id=f"{m}-{i}") for m, i, p in BAD_PARAMS])
def test_bad_parameters_are_refused_before_any_fitting(method, item, pattern, cli, tmp_path,
                                                        train_folder):
    case = tmp_path / "case"
    case.mkdir()
    before = snapshot(case)
    o = cli("fit", train_folder, "--method", method, "--encoder", "tiny", "--set", item,
            "--out", case / "m.safetensors")
    assert_refused(o, pattern)
    assert_unchanged(before, snapshot(case))


@pytest.mark.parametrize("sets,pattern", [
    pytest.param(["cfa.epochs=0"], r"CFA epochs 0", id="last-method"),
    pytest.param(["patchcore.smooth_s=-1"], r"smooth_s -1\.0, smooth_mel 40\.0: must be >= 0",
                 id="first-method"),
    pytest.param(["tiny.hop_length=5"], r"tiny hop_length 5", id="encoder"),
    pytest.param(["stfpm.epochs=3"], r"--set stfpm\.epochs: in compare, prefix", id="absent"),
])
def test_compare_checks_every_parameter_before_the_first_fit(sets, pattern, cli, tmp_path,
                                                             dataset):
    case = tmp_path / "case"
    case.mkdir()
    before = snapshot(case)
    argv = ["compare", dataset, "--methods", "patchcore", "cfa", "--encoders", "tiny",
            "--out", case / "cmp", "--no-figures", "--no-faithfulness"]
    for s in sets:
        argv += ["--set", s]
    o = cli(*argv)
    assert_refused(o, pattern)
    assert "fitting" not in o.out  # refused before the first method was fitted
    assert_unchanged(before, snapshot(case))


# -- command-line numbers -----------------------------------------------------------------------

def _fit(*flags):
    return ["fit", "train", "--encoder", "tiny", "--out", "m.safetensors", *flags]


def _score(*flags):
    return ["score", "m.safetensors", "a.wav", "--out", "o", *flags]


def _evaluate(*flags):
    return ["evaluate", "m.safetensors", "ds", "--out", "o", *flags]


def _play(*flags):
    return ["play", "a.wav", "--out", "p.wav", *flags]


def _envmix(*flags):
    return ["build-envmix", "--urbansound8k", "us", "--esc50", "esc", "--background", "x",
            "--out", "mix", *flags]


#: (argv, message pattern): refused while the command line is parsed
BAD_FLAGS = [
    (_fit("--threads", "0"), r"fit: argument --threads: 0: must be >= 1"),
    (_fit("--threads", "-1"), r"fit: argument --threads: -1: must be >= 1"),
    (_fit("--threads", "1.5"), r"argument --threads: '1\.5' is not a whole number"),
    (_fit("--threads", "many"), r"argument --threads: 'many' is not a whole number"),
    (_score("--threads", "0"), r"score: argument --threads: 0: must be >= 1"),
    (_score("--threads", "-4"), r"score: argument --threads: -4"),
    (_evaluate("--threads", "0"), r"evaluate: argument --threads"),
    (_evaluate("--iou", "0"), r"argument --iou: 0: must be > 0 and <= 1"),
    (_evaluate("--iou", "1.5"), r"argument --iou: 1\.5: must be > 0 and <= 1"),
    (_evaluate("--iou", "nan"), r"argument --iou: 'nan': must be a finite number"),
    (_evaluate("--flag-rate", "0"), r"argument --flag-rate: 0: must be > 0 and < 1"),
    (_evaluate("--flag-rate", "1"), r"argument --flag-rate: 1: must be > 0 and < 1"),
    (_evaluate("--flag-rate", "-0.1"), r"argument --flag-rate: -0\.1"),
    (_evaluate("--flag-rate", "inf"), r"argument --flag-rate: 'inf': must be a finite"),
    (_play("--speed", "0"), r"argument --speed: 0: must be >= 0\.25 and <= 2"),
    (_play("--speed", "3"), r"argument --speed: 3: must be >= 0\.25 and <= 2"),
    (_play("--speed", "inf"), r"argument --speed: 'inf': must be a finite number"),
    (_play("--speed", "fast"), r"argument --speed: 'fast' is not a number"),
    (_play("--start", "-1"), r"argument --start: -1: must be >= 0"),
    (_play("--start", "nan"), r"argument --start: 'nan': must be a finite number"),
    (_play("--end", "0"), r"argument --end: 0: must be > 0"),
    (_play("--end", "inf"), r"argument --end: 'inf'"),
    (_play("--band", "-5", "100"), r"argument --band: -5: must be >= 0"),
    (_play("--band", "100", "inf"), r"argument --band: 'inf': must be a finite number"),
    (_envmix("--levels", "6", "inf"), r"argument --levels: 'inf': must be a finite number"),
    (_envmix("--levels", "100"), r"argument --levels: 100: must be >= -60 and <= 60 dB"),
    (_envmix("--clip-seconds", "0"), r"argument --clip-seconds: 0: must be >= 0\.1"),
    (_envmix("--clip-seconds", "-4"), r"argument --clip-seconds: -4"),
    (_envmix("--sr", "500"), r"argument --sr: 500: must be >= 1000 and <= 1e\+06"),
    (_envmix("--sr", "44.1"), r"argument --sr: '44\.1' is not a whole number"),
    (_envmix("--train-fraction", "0"), r"argument --train-fraction: 0: must be > 0 and < 1"),
    (_envmix("--train-fraction", "1.5"), r"argument --train-fraction: 1\.5"),
    (_envmix("--seed", "-1"), r"argument --seed: -1: must be >= 0"),
    (["demo-data", "out", "--seed", "-3"], r"demo-data: argument --seed: -3: must be >= 0"),
    (["fit", "train", "--encoder", "tiny"], r"fit: the following arguments are required: --out"),
    (["score", "m.safetensors"], r"score: the following arguments are required"),
    (["frobnicate"], r"argument COMMAND: invalid choice: 'frobnicate'"),
    (["fit", "train", "--out", "m.safetensors", "--bogus"], r"unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize("argv,pattern", [
    pytest.param(a, p, id=" ".join(a[:1] + a[-2:])) for a, p in BAD_FLAGS])
def test_bad_command_line_numbers_are_refused_while_parsing(argv, pattern, cli, tmp_path,
                                                            monkeypatch):
    case = tmp_path / "case"
    case.mkdir()
    monkeypatch.chdir(case)
    before = snapshot(case)
    assert_refused(cli(*argv), pattern)
    assert_unchanged(before, snapshot(case))


@pytest.mark.parametrize("flags,pattern", [
    pytest.param(["--start", "5"], r"--start 5: the clip is 0\.500 s long", id="start-past-end"),
    pytest.param(["--start", "0.3", "--end", "0.2"], r"--end 0\.2 must come after --start 0\.3",
                 id="end-before-start"),
    pytest.param(["--band", "200", "100"], r"--band 200 100: the second edge must be above",
                 id="band-reversed"),
    pytest.param(["--band", "9000", "9500"], r"--band 9000 9500: starts at or above the clip's "
                                             r"Nyquist frequency \(8000 Hz", id="band-above"),
])
def test_play_span_and_band_are_checked_against_the_clip(flags, pattern, cli, tmp_path):
    case = tmp_path / "case"
    case.mkdir()
    write_wav(case / "a.wav", hum(0.5))
    before = snapshot(case)
    assert_refused(cli("play", case / "a.wav", "--out", case / "p.wav", *flags), pattern)
    assert_unchanged(before, snapshot(case))


# -- model files --------------------------------------------------------------------------------

def _edit(name: str, fn):
    def edit(tensors: dict, meta: dict) -> None:
        tensors[name] = fn(tensors[name])
    return edit


def _drop(name: str):
    def edit(tensors: dict, meta: dict) -> None:
        del tensors[name]
    return edit


def _meta(**changes):
    def edit(tensors: dict, meta: dict) -> None:
        for k, v in changes.items():
            if isinstance(v, dict):
                meta[k] = {**meta[k], **v}
            else:
                meta[k] = v
    return edit


def _legacy_sigma(sigma: float):
    """The model file as written before the maps were smoothed in seconds and mel."""
    def edit(tensors: dict, meta: dict) -> None:
        params = meta["method_params"]
        del params["smooth_s"], params["smooth_mel"]
        params["sigma"] = sigma
    return edit


def _nan_first(t):
    t = t.clone()
    t.view(-1)[0] = math.nan
    return t


def _inf_all(t):
    return torch.full_like(t, math.inf)


STUDENT_W = "student.blocks.0.conv.weight"

#: (method, id, edit of (tensors, meta), message pattern)
BROKEN_MODELS = [
    ("patchcore", "bank-nan", _edit("memory_bank", _nan_first),
     r"tensor 'memory_bank' holds 1 NaN or infinite value"),
    ("patchcore", "bank-inf", _edit("memory_bank", _inf_all), r"'memory_bank' holds \d+ NaN"),
    ("patchcore", "bank-int32", _edit("memory_bank", lambda t: t.to(torch.int32)),
     r"patchcore model tensor 'memory_bank' is int32; expected floating point"),
    ("patchcore", "bank-bool", _edit("memory_bank", lambda t: t > 0),
     r"tensor 'memory_bank' is bool, not a number type"),
    ("patchcore", "bank-1d", _edit("memory_bank", lambda t: t.reshape(-1)),
     r"'memory_bank' has shape \(\d+,\); expected \(n_patches, n_channels\)"),
    ("patchcore", "bank-width", _edit("memory_bank", lambda t: t[:, :7].contiguous()),
     r"'memory_bank' has 7 channels but the tiny encoder gives 56"),
    ("patchcore", "bank-missing", _drop("memory_bank"), r"lacks tensor\(s\) \['memory_bank'\]"),
    ("patchcore", "bank-huge", _edit("memory_bank", lambda t: t * 0 + 3e38),
     r"a\.wav: scoring gave NaN or infinite values"),
    ("patchcore", "unknown-encoder", _meta(encoder={"name": "wav2vec9"}),
     r"unknown encoder 'wav2vec9' \(known: "),
    ("patchcore", "unknown-method", _meta(method="isolation-forest"),
     r"unknown method 'isolation-forest'"),
    ("patchcore", "other-encoder", _meta(encoder={"name": "aisfx"}),
     r"(another front end|saved parameters do not fit)"),
    ("patchcore", "other-front-end", lambda t, m: m["encoder"]["front_end"].update(sr=8000),
     r"fitted with another front end than this tiny encoder has \(saved sr=8000, now sr=16000"),
    ("patchcore", "format-version", _meta(format_version=99),
     r"model format version 99 is not supported"),
    ("patchcore", "bad-params", _meta(method_params={"smooth_s": -1.0}),
     r"saved parameters do not fit .*smooth_s -1\.0, smooth_mel 40\.0: must be >= 0"),
    # a model file from before smooth_s / smooth_mel: its sigma (cells) is translated on load,
    # and a negative one is refused like a negative smooth_s
    ("patchcore", "legacy-sigma", _legacy_sigma(-1.0),
     r"saved parameters do not fit .*smooth_s -0\.0\d+, smooth_mel -\d.*: must be >= 0"),
    ("padim", "mean-nan", _edit("mean", _nan_first), r"'mean' holds 1 NaN or infinite"),
    ("padim", "whiten-int32", _edit("whiten", lambda t: t.to(torch.int32)),
     r"padim model tensor 'whiten' is int32; expected floating point"),
    ("padim", "index-float", _edit("index", lambda t: t.to(torch.float32)),
     r"padim model tensor 'index' is float32; expected integers"),
    ("padim", "index-missing", _drop("index"), r"lacks tensor\(s\) \['index'\]"),
    ("cfa", "centroids-nan", _edit("centroids", _nan_first), r"'centroids' holds 1 NaN"),
    ("cfa", "weight-int32", _edit("descriptor.weight", lambda t: t.to(torch.int32)),
     r"cfa model tensor 'descriptor\.weight' is int32"),
    ("cfa", "window-float", _edit("window_frames", lambda t: t.to(torch.float64)),
     r"cfa model tensor 'window_frames' is float64; expected integers"),
    ("cfa", "radius-inf", _edit("radius", _inf_all), r"'radius' holds 1 NaN or infinite"),
    ("stfpm", "weight-nan", _edit(STUDENT_W, _nan_first),
     r"'student\.blocks\.0\.conv\.weight' holds 1 NaN"),
    ("stfpm", "weight-int32", _edit(STUDENT_W, lambda t: t.to(torch.int32)),
     r"stfpm model tensor 'student\.blocks\.0\.conv\.weight' is int32"),
    ("stfpm", "no-student", lambda t, m: t.clear() or t.update(x=torch.zeros(2)),
     r"lacks the student's tensors"),
]


@pytest.mark.parametrize("method,edit,pattern", [
    pytest.param(m, e, p, id=f"{m}-{i}") for m, i, e, p in BROKEN_MODELS])
def test_broken_model_files_are_refused_on_load(method, edit, pattern, cli, tmp_path, models):
    from specview.modelfile import load_tensors, save_tensors

    case = tmp_path / "case"
    case.mkdir()
    tensors, meta = load_tensors(models[method])
    edit(tensors, meta)
    save_tensors(case / "broken.safetensors", tensors, meta)
    write_wav(case / "a.wav", hum(0.5, seed=4))
    before = snapshot(case)
    o = cli("score", case / "broken.safetensors", case / "a.wav", "--out", case / "o")
    assert_refused(o, pattern)
    assert_unchanged(before, snapshot(case))


@pytest.mark.parametrize("content,pattern", [
    pytest.param(b"", r"not a readable \.safetensors model file", id="empty"),
    pytest.param(b"\x00" * 64, r"not a readable \.safetensors model file", id="zeros"),
    pytest.param(b"PK\x03\x04 a zip, not a model", r"not a readable", id="zip"),
])
def test_files_that_are_not_models_are_refused(content, pattern, cli, tmp_path):
    case = tmp_path / "case"
    case.mkdir()
    (case / "m.safetensors").write_bytes(content)
    write_wav(case / "a.wav", hum(0.5))
    before = snapshot(case)
    assert_refused(cli("score", case / "m.safetensors", case / "a.wav", "--out", case / "o"),
                   pattern)
    assert_unchanged(before, snapshot(case))


def test_safetensors_without_specview_metadata_is_refused(cli, tmp_path):
    from safetensors.torch import save_file

    case = tmp_path / "case"
    case.mkdir()
    save_file({"w": torch.zeros(3)}, str(case / "m.safetensors"))
    write_wav(case / "a.wav", hum(0.5))
    before = snapshot(case)
    assert_refused(cli("score", case / "m.safetensors", case / "a.wav", "--out", case / "o"),
                   r"a safetensors file, but not a specview model")
    assert_unchanged(before, snapshot(case))


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def train_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train")
    for i in range(3):
        write_wav(root / f"clip{i}.wav", hum(0.5, seed=10 + i))
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ds")
    (root / "train").mkdir()
    (root / "test").mkdir()
    for i in range(3):
        write_wav(root / "train" / f"clip{i}.wav", hum(0.5, seed=20 + i))
    write_wav(root / "test" / "normal_0.wav", hum(0.5, seed=30))
    write_wav(root / "test" / "anomaly_0.wav", hum(0.5, seed=31) + 0.2 * hum(0.5, seed=32))
    return root


#: fast parameters of each method on the tiny encoder
FAST = {
    "patchcore": {},
    "padim": {},
    "cfa": {"epochs": "1"},
    "stfpm": {"epochs": "1", "batch_size": "2", "crop_seconds": "0.25"},
}


@pytest.fixture(scope="module")
def models(tmp_path_factory, train_folder, tiny_cli, one_thread) -> dict[str, Path]:
    """One fitted model file per method (tiny encoder), and ``old``: the PatchCore model as
    written before the training band was recorded."""
    from specview.pipeline import fit

    root = tmp_path_factory.mktemp("models")
    out: dict[str, Path] = {}
    for method, over in FAST.items():
        model = fit(train_folder, method=method, encoder="tiny", overrides=over)
        model.save(root / f"{method}.safetensors")
        out[method] = root / f"{method}.safetensors"
        if method == "patchcore":
            del model.info["train_nyquist_hz"], model.info["train_sample_rates"]
            model.save(root / "old.safetensors")
            out["old"] = root / "old.safetensors"
    return out


@pytest.mark.parametrize("make,pattern", [
    pytest.param(_samples(np.nan), r"bad\.wav: 1 sample\(s\) are NaN", id="nan-among-good"),
    pytest.param(_rate(1), r"bad\.wav: the header claims a sample rate of 1 Hz", id="rate-among-good"),
])
def test_a_bad_clip_among_good_ones_leaves_earlier_results_alone(make, pattern, cli, tmp_path,
                                                                  models):
    case = tmp_path / "case"
    case.mkdir()
    write_wav(case / "a.wav", hum(0.5, seed=1))
    assert cli("score", models["patchcore"], case / "a.wav", "--out", case / "out").rc == 0
    write_wav(case / "b.wav", hum(0.5, seed=2))
    make(case / "bad.wav")
    before = snapshot(case)
    o = cli("score", models["patchcore"], case / "a.wav", case / "b.wav", case / "bad.wav",
            "--out", case / "out")
    assert_refused(o, pattern)
    assert_unchanged(before, snapshot(case))  # the previous scores.csv and map, byte for byte
