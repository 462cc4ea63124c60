"""The detector contract, for every method, with the tiny seeded encoder on synthetic clips with a
known answer: machine-like normal clips, anomalies injected in known time-frequency boxes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from specview.detectors.cfa import CFA
from specview.detectors.padim import PaDiM
from specview.detectors.patchcore import PatchCore
from specview.detectors.stfpm import STFPM
from specview.detectors.zscore import ZScore
from specview.encoders.tiny import TinyEncoder
from specview.errors import Cancelled, ModelFileError, ParameterError
from specview.modelfile import load_tensors, save_tensors
from specview.params import to_dict
from specview.spectrogram import front_end_features
from specview.types import Audio, Box

SR = 16000
DURATION = 2.0

#: (kind, box): the anomaly injected into each anomalous test clip, and its ground-truth box
ANOMALIES = [
    ("tone", Box(0.7, 1.2, 2600.0, 3500.0)),
    ("noise", Box(1.0, 1.4, 3800.0, 6300.0)),
    ("tone", Box(0.4, 0.9, 1600.0, 2050.0)),
]

#: (class, parameter overrides, test id): few epochs keep the trained methods fast
DETECTORS = [
    (PatchCore, {}, "patchcore"),
    (PaDiM, {}, "padim-cell"),
    (PaDiM, {"mode": "row"}, "padim-row"),
    (CFA, {"epochs": 8}, "cfa-location"),
    (CFA, {"memory": "row", "epochs": 8}, "cfa-row"),
    (STFPM, {"epochs": 15, "batch_size": 2, "crop_seconds": 0.5}, "stfpm"),
    (ZScore, {}, "zscore"),
]


def _each(items, name="cls, over", indirect=False):
    values = [(c, o) for c, o, _ in items]
    return pytest.mark.parametrize(name, values, ids=[i for *_, i in items], indirect=indirect)


with_each_detector = _each(DETECTORS, "fitted", indirect=True)
each_class = _each(DETECTORS)


pytestmark = pytest.mark.usefixtures("one_thread")


def machine_clip(seed: int, duration: float = DURATION) -> np.ndarray:
    """A rotating-machine-like hum (varying speed, random phases) with broadband noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * SR)) / SR
    f0 = 110.0 * rng.uniform(0.97, 1.03)
    x = 0.02 * rng.standard_normal(len(t))
    for h in range(1, 12):
        x += 0.08 / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    return x


def inject(x: np.ndarray, kind: str, box: Box, seed: int) -> np.ndarray:
    """Add a tone (at the box's centre frequency) or band noise filling the box."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(x)) / SR
    inside = (t >= box.t0) & (t < box.t1)
    y = x.copy()
    if kind == "tone":
        y[inside] += 0.1 * np.sin(2 * np.pi * 0.5 * (box.f0 + box.f1) * t[inside])
    else:
        n = rng.standard_normal(len(x))
        spec = np.fft.rfft(n)
        f = np.fft.rfftfreq(len(x), 1 / SR)
        spec[(f < box.f0 + 200) | (f > box.f1 - 200)] = 0
        band = np.fft.irfft(spec, len(x))
        y[inside] += 0.1 * band[inside] / band.std()
    return y


def to_spec(x: np.ndarray, encoder: TinyEncoder):
    return front_end_features(Audio(x.astype(np.float32), SR), encoder.front_end)


@pytest.fixture(scope="module")
def encoder() -> TinyEncoder:
    return TinyEncoder()


@pytest.fixture(scope="module")
def data(encoder):
    train = [to_spec(machine_clip(i), encoder) for i in range(8)]
    normal = [to_spec(machine_clip(100 + i), encoder) for i in range(3)]
    anomalous = [(to_spec(inject(machine_clip(200 + i), kind, box, i), encoder), box)
                 for i, (kind, box) in enumerate(ANOMALIES)]
    return {"train": train, "normal": normal, "anomalous": anomalous}


@pytest.fixture(scope="module")
def fit_cache() -> dict:
    return {}


@pytest.fixture
def fitted(request, encoder, data, fit_cache):
    """``(detector, normal results, [(anomalous result, box)])`` for the test's parameters,
    fitted and scored once per module."""
    cls, over = request.param
    key = (cls.__name__, tuple(sorted(over.items())))
    if key not in fit_cache:
        det = cls(cls.Params(**over))
        det.fit(encoder, iter(data["train"]), n_clips=len(data["train"]))
        normal = [det.score(encoder, s) for s in data["normal"]]
        anomalous = [(det.score(encoder, s), box) for s, box in data["anomalous"]]
        fit_cache[key] = (det, normal, anomalous)
    return fit_cache[key]


def _box_mask(res, box: Box) -> np.ndarray:
    rows = (res.freqs >= box.f0) & (res.freqs <= box.f1)
    cols = (res.times >= box.t0) & (res.times <= box.t1)
    return rows[:, None] & cols[None, :]


@with_each_detector
def test_map_is_on_the_spectrogram_grid(fitted, data):
    det, normal, anomalous = fitted
    assert det.is_fitted
    for res, spec in zip([*normal, *(r for r, _ in anomalous)],
                         [*data["normal"], *(s for s, _ in data["anomalous"])], strict=True):
        assert res.map.shape == spec.values.shape
        assert res.map.dtype == np.float32 and np.isfinite(res.map).all()
        assert np.array_equal(res.times, spec.times) and np.array_equal(res.freqs, spec.freqs)
        assert res.frame_scores.shape == (spec.values.shape[1],)
        assert np.isfinite(res.clip_score) and np.isfinite(res.extras["peak_score"])


@with_each_detector
def test_map_is_higher_inside_the_injected_box(fitted):
    _, _, anomalous = fitted
    for res, box in anomalous:
        inside = _box_mask(res, box)
        assert res.map[inside].mean() > res.map[~inside].mean(), box


@with_each_detector
def test_anomalous_clips_score_above_normal_ones(fitted):
    _, normal, anomalous = fitted
    assert min(r.clip_score for r, _ in anomalous) > max(r.clip_score for r in normal)


@with_each_detector
def test_valid_span_bounds_the_clip_score(fitted, encoder, data):
    det, _, _ = fitted
    spec, box = data["anomalous"][0]
    # a span of frames that excludes the anomaly (it lies at 0.7-1.2 s)
    span = (int(np.searchsorted(spec.times, 1.5)), spec.values.shape[1])
    whole, part = det.score(encoder, spec), det.score(encoder, spec, valid=span)
    assert np.array_equal(whole.map, part.map)
    assert part.extras["peak_score"] < whole.extras["peak_score"]
    if not isinstance(det, PatchCore):  # PatchCore re-weights its peak (eq. 7)
        assert part.clip_score == pytest.approx(float(part.map[:, span[0] : span[1]].max()))


@with_each_detector
def test_model_file_round_trip_gives_identical_maps(fitted, encoder, data, tmp_path):
    det, _, _ = fitted
    tensors = det.state_tensors()
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    path = tmp_path / "m.safetensors"
    meta = {"method": det.name, "method_params": to_dict(det.params), "encoder": encoder.config()}
    save_tensors(path, tensors, meta)
    loaded, _ = load_tensors(path)
    again = type(det)(det.params)
    again.load_state_tensors(loaded)
    assert again.is_fitted
    spec, _ = data["anomalous"][1]
    a, b = det.score(encoder, spec), again.score(encoder, spec)
    assert np.array_equal(a.map, b.map)
    assert a.clip_score == b.clip_score
    assert np.array_equal(a.frame_scores, b.frame_scores)


@with_each_detector
def test_damaged_tensors_are_refused(fitted, encoder, data):
    det, _, _ = fitted
    with pytest.raises(ModelFileError):
        type(det)(det.params).load_state_tensors({})
    tensors = det.state_tensors()
    biggest = max(tensors, key=lambda k: tensors[k].numel())
    bad = dict(tensors, **{biggest: tensors[biggest].reshape(-1)[:-1]})
    fresh = type(det)(det.params)
    with pytest.raises(ModelFileError):
        # STFPM checks its student against the encoder's network when it first meets it
        fresh.load_state_tensors(bad)
        fresh.score(encoder, data["normal"][0])


@each_class
def test_unfitted_detector_refuses_to_score_or_save(cls, over, encoder, data):
    det = cls(cls.Params(**over))
    assert not det.is_fitted
    with pytest.raises(ParameterError):
        det.score(encoder, data["normal"][0])
    with pytest.raises(ParameterError):
        det.state_tensors()


@each_class
def test_progress_reaches_total_and_cancel_leaves_the_detector_unfitted(cls, over, encoder, data):
    n = len(data["train"])
    calls: list[tuple[int, int]] = []

    def cancel_after_reading(done: int, total: int) -> None:
        calls.append((done, total))
        if done > n:  # the first step after reading the clips: coreset, memory, training
            raise Cancelled("stop")

    det = cls(cls.Params(**over))
    with pytest.raises(Cancelled):
        det.fit(encoder, iter(data["train"]), n_clips=n, progress=cancel_after_reading)
    assert not det.is_fitted
    with pytest.raises(ParameterError):
        det.score(encoder, data["normal"][0])
    assert [d for d, _ in calls[:n]] == list(range(1, n + 1))

    # fitting from scratch reports monotone progress up to its total
    short = {"epochs": 2} if cls in (CFA, STFPM) else {}
    det = cls(cls.Params(**{**over, **short}))
    calls.clear()
    det.fit(encoder, iter(data["train"][:4]), n_clips=4, progress=lambda d, t: calls.append((d, t)))
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and all(d <= t for d, t in calls)
    assert calls[-1][0] == calls[-1][1]
    assert det.is_fitted


def _state(det) -> dict:
    return {k: v.clone() for k, v in det.state_tensors().items()}


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def test_the_contract_covers_every_registered_detector():
    from specview.detectors import DETECTORS as REGISTRY

    assert {cls for cls, *_ in DETECTORS} == set(REGISTRY.values())


@each_class
def test_a_cancelled_or_failed_refit_leaves_the_previous_fit_intact(cls, over, encoder, data):
    det = cls(cls.Params(**{**over, **({"epochs": 2} if cls in (CFA, STFPM) else {})}))
    det.fit(encoder, iter(data["train"][:3]))
    spec = data["anomalous"][0][0]
    before, state = det.score(encoder, spec), _state(det)
    history = copy.deepcopy(getattr(det, "history", None))
    others = data["train"][3:6]

    def unchanged() -> None:
        assert det.is_fitted
        after = det.score(encoder, spec)
        assert np.array_equal(before.map, after.map) and before.clip_score == after.clip_score
        assert np.array_equal(before.frame_scores, after.frame_scores)
        assert _same_state(state, _state(det))
        assert getattr(det, "history", None) == history

    # a complete refit on other clips reports this many steps ...
    calls: list[tuple[int, int]] = []
    cls(det.params).fit(encoder, iter(others), n_clips=3, progress=lambda d, t: calls.append((d, t)))
    # ... cancel one at its first step, the first after reading the clips, the last two
    for stop_at in sorted({1, 4, len(calls) - 1, len(calls)}):
        seen = []

        def cancel(done: int, total: int, stop_at=stop_at, seen=seen) -> None:
            seen.append(done)
            if len(seen) == stop_at:
                raise Cancelled("stop")

        with pytest.raises(Cancelled):
            det.fit(encoder, iter(others), n_clips=3, progress=cancel)
        unchanged()

    if cls in (CFA, STFPM):  # cancelled from the epoch report, mid-training
        def stop(entry: dict) -> None:
            raise Cancelled("stop")

        with pytest.raises(Cancelled):
            det.fit(encoder, iter(others), on_epoch=stop)
        unchanged()

    def unreadable():  # a fit that fails while reading the clips
        yield others[0]
        raise OSError("the disk went away")

    with pytest.raises(OSError):
        det.fit(encoder, unreadable(), n_clips=3)
    unchanged()

    # and a refit that completes replaces the model
    det.fit(encoder, iter(others))
    assert not _same_state(state, _state(det))


@each_class
def test_trained_methods_report_each_epoch_and_the_others_never(cls, over, encoder, data):
    det = cls(cls.Params(**{**over, **({"epochs": 2} if cls in (CFA, STFPM) else {})}))
    entries: list[dict] = []
    det.fit(encoder, iter(data["train"][:3]), on_epoch=entries.append)
    assert entries == getattr(det, "history", [])
    if cls in (CFA, STFPM):
        assert [e["epoch"] for e in entries] == [1, 2]
        assert all(np.isfinite(e["train_loss"]) and e["val_loss"] is None for e in entries)


@each_class
def test_params_have_help_and_reject_bad_values(cls, over):
    import dataclasses

    from specview.params import describe

    params = cls.Params(**over)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.smooth_s = 1.0  # type: ignore[misc]
    assert all(help_text for *_, help_text in describe(params))
    for name in ("smooth_s", "smooth_mel"):
        cases = ((-1.0, rf"{name} -1\.0\b.*: must be >= 0"),
                 (float("inf"), rf"{name}=inf: must be a finite number"),
                 (float("nan"), rf"{name}=nan: must be a finite number"))
        for bad, pattern in cases:
            with pytest.raises(ParameterError, match=pattern):
                cls.Params(**{**over, name: bad})
    # every number is type-checked: no float field takes infinity, no int field 2.5
    for f in dataclasses.fields(params):
        if isinstance(getattr(params, f.name), bool):
            continue
        bad = {float: float("inf"), int: 2.5}.get(type(getattr(params, f.name)))
        if bad is not None:
            with pytest.raises(ParameterError, match=f.name):
                cls.Params(**{**over, f.name: bad})


@each_class
def test_invalid_params_are_refused_when_the_detector_is_built(cls, over):
    cls(cls.Params(**over))
    cls(None)  # the defaults
    for name in ("smooth_s", "smooth_mel"):
        forced = cls.Params(**over)
        object.__setattr__(forced, name, -1.0)  # past the Params' own check
        with pytest.raises(ParameterError, match=rf"{name} -1\.0"):
            cls(forced)
    other = next(c for c, *_ in DETECTORS if c is not cls)
    with pytest.raises(ParameterError, match=f"takes {cls.Params.__name__}"):
        cls(other.Params())
