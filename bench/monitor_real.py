"""Real material for ``bench_monitor.py --real MACHINE`` (issue 16): a replay recording of a
realdata machine (``bench/realdata.py``) with that machine's real events mixed in at known times
and levels, and the scoring of a monitor's alerts against them.

The recording is one continuous stretch of the machine's background stream as realdata renders
it (the same seeded plan and crossfades, re-rendered from the cached sources and checked
against the dataset's first training clip), taken from the stream's test part (after the
training share), so it shares no stream sample with the clips the model was fitted and
calibrated on. The stream itself chains excerpts of a few seconds of real takes with 0.5-s
crossfades; the training clips hold such seams too, so they are part of the normal sound here,
not joins the model never heard. The stretch is played at speed 1 and gain 0 dB (the training
clips vary by +-3 % and +-3 dB around that).

Events: the machine's event recordings, band-limited as realdata does, played at a random
speed (+-3 %), trimmed by realdata's rule (at most 2 s), scaled to an event-to-background
ratio over their span (:func:`realdata.mix_event`, full band) cycling through the levels, one
every ``every`` seconds (jittered), kinds cycling too. The truth of an event is its trimmed
span [t0, t1] (fades included) and its 95 %-energy band.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import realdata as rd
import soundfile as sf

#: Random stream of the replay's events (realdata uses 0-3 for its own purposes).
_S_REPLAY = 16
#: Seconds after the test part's start where the replay begins.
LEAD_S = 1.0
#: Criterion on onset and end times (seconds), the issue's.
TOLERANCE_S = 0.5


@dataclass(frozen=True)
class TrueEvent:
    t0: float
    t1: float
    f_low: float
    f_high: float
    kind: str
    level_db: float


def machine_spec(name: str) -> rd.MachineSpec:
    for m in rd.MACHINES:
        if m.name == name:
            return m
    raise SystemExit(f"--real {name!r}: one of {', '.join(m.name for m in rd.MACHINES)}")


def build_params(folder: Path) -> rd.Params:
    b = json.loads((folder / "BUILD.json").read_text(encoding="utf-8"))
    return rd.Params(b["seed"], b["sr"], b["clip_seconds"], b["n_train"], b["n_test_normal"],
                     b["n_per_level"], tuple(b["levels_db"]), b["stream_seconds"],
                     b["max_event_seconds"])


def stream_and_events(cache: Path, machine: str):
    """The machine's background stream as the dataset was cut from (float64), its parameters,
    the first sample of its test part, and its event sources."""
    spec = machine_spec(machine)
    folder = cache / machine
    if not (folder / "BUILD.json").is_file():
        raise SystemExit(f"{folder}: no realdata build (python bench/realdata.py)")
    params = build_params(folder)
    sr = params.sr
    fetched = rd.fetch_sources(cache, [spec])
    takes = rd.prepare_takes([(s.key, *rd.read_mono(fetched.files[s.key])) for s in spec.takes],
                             sr)
    n_total = int(round(params.stream_seconds * sr))
    plan = rd.plan_stream([len(t.samples) for t in takes], n_total, sr,
                          rd._rng(params.seed, machine, rd._S_STREAM))
    stream, _ = rd.render_stream([t.samples for t in takes], plan, n_total, sr)
    # the same stream as the dataset's: its first training clip, cut again, is the file's
    lo, hi = rd.train_slots(int(round(rd.TRAIN_SHARE * n_total)), params.n_train)[0]
    clip, _ = rd.cut_clip(stream, lo, hi, int(round(params.clip_seconds * sr)), sr,
                          rd._rng(params.seed, machine, rd._S_TRAIN, 0))
    written, _ = sf.read(str(folder / "train" / "normal_0000.wav"), dtype="float32")
    if not np.array_equal(clip.astype(np.float32), written):
        raise SystemExit(f"{folder}: the re-rendered stream differs from the dataset's "
                         "(rebuild it: python bench/realdata.py --force)")
    band = min(t.native_sr for t in takes)
    events = []
    for e in spec.events:
        x, native = rd.read_mono(fetched.files[e.source.key])
        events.append(rd.EventSource(e.kind, e.source.key,
                                     rd.to_rate(x, native, sr, bandlimit=band)))
    return stream, params, int(round(rd.TRAIN_SHARE * n_total)), events


def replay_recording(cache: Path, machine: str, seconds: float, *, every: float = 12.0,
                     levels: tuple[float, ...] = (6.0, 0.0), first: float = 6.0
                     ) -> tuple[np.ndarray, int, list[TrueEvent], float]:
    """(float32 recording, sample rate, true events, stream time of its first sample)."""
    stream, params, split, sources = stream_and_events(cache, machine)
    sr = params.sr
    a = split + int(round(LEAD_S * sr))
    n = int(round(seconds * sr))
    if a + n > len(stream):
        raise SystemExit(f"--seconds {seconds:g}: the test part of {machine}'s stream holds "
                         f"{(len(stream) - a) / sr:.0f} s")
    bg = stream[a:a + n]
    x = bg.astype(np.float32)
    kinds = list(dict.fromkeys(e.kind for e in sources))
    by_kind = {k: [e for e in sources if e.kind == k] for k in kinds}
    max_len = int(round(params.max_event_seconds * sr))
    truth: list[TrueEvent] = []
    at, k = first, 0
    while True:
        rng = rd._rng(params.seed, machine, _S_REPLAY, k)
        kind = kinds[k % len(kinds)]
        src = by_kind[kind][(k // len(kinds)) % len(by_kind[kind])]
        level = levels[k % len(levels)]
        speed = 1.0 + float(rng.uniform(-rd.SPEED, rd.SPEED))
        ev = rd.trim_event(rd.vary_speed(src.samples, sr, speed), sr, max_len, speed)
        if ev is None:
            raise SystemExit(f"{src.name}: the event recording is silent")
        i = int(round((at + float(rng.uniform(0, 1.0))) * sr))
        j = i + len(ev.signal)
        if j > n - int(6.0 * sr):  # room for the hold time and the post-roll
            break
        m = rd.mix_event(bg[i:j], ev.signal, level, 0)
        if m.scaled:
            raise SystemExit(f"{src.name} at {level:+g} dB would clip")
        x[i:j] += m.anomaly
        f0, f1 = rd._energy_band(m.anomaly.astype(np.float64), sr)
        truth.append(TrueEvent(i / sr, j / sr, f0, f1, kind, level))
        at = j / sr + every
        k += 1
    return x, sr, truth, a / sr


def _stream_spans(train: Path) -> dict[str, tuple[float, float]]:
    """Each training clip's span of the stream (seconds), from realdata's ``meta.csv``."""
    out = {}
    with open(train / "meta.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            m = re.search(r"stream\[([\d.]+)s:([\d.]+)s\]", row["source_background"])
            out[row["file"]] = (float(m.group(1)), float(m.group(2)))
    return out


def disjoint_training_files(train: Path, fraction: float = 0.15) -> list[Path]:
    """The training clips, ordered so that :func:`specview.checks.split_calibration` holds out
    clips that share no stream sample with one another or with the clips fitted (those that
    would are left out). realdata's format 1 cut its training clips at random offsets of the
    training part, so about half the held-out calibration audio was also in fitted clips and
    scored lower than new audio does; format 2's clips share no sample, and this order then
    only moves the held-out clips."""
    from specview.checks import split_calibration

    span = _stream_spans(train)
    names = sorted(span)

    def meet(a: str, b: str) -> bool:
        return min(span[a][1], span[b][1]) > max(span[a][0], span[b][0])

    for c in range(max(2, round(fraction * len(names))), 1, -1):
        cal: list[str] = []
        for n in reversed(names):
            if len(cal) < c and not any(meet(n, o) for o in cal):
                cal.append(n)
        fit = [n for n in names if n not in cal and not any(meet(n, o) for o in cal)]
        total = len(fit) + len(cal)
        if max(round(fraction * total), 2) == c:
            break
    idx = set(np.linspace(0, total - 1, c + 2)[1:-1].round().astype(int).tolist())
    held, rest = iter(sorted(cal)), iter(fit)
    files = [train / (next(held) if i in idx else next(rest)) for i in range(total)]
    got = split_calibration(files, fraction)[1]
    if sorted(p.name for p in got) != sorted(cal):
        raise SystemExit("internal error: the calibration split did not take the disjoint clips")
    return files


def write_recording(path: Path, x: np.ndarray, sr: int, truth: list[TrueEvent]) -> None:
    from specview.annotations import sidecar_path, write_raven
    from specview.types import Box

    sf.write(str(path), x, sr, subtype="FLOAT")
    write_raven(sidecar_path(path), [Box(e.t0, e.t1, e.f_low, e.f_high, e.kind) for e in truth])


def score_alerts(truth: list[TrueEvent], opens: list[dict], closes: list[dict],
                 seconds: float, per_hour: float, tol: float = TOLERANCE_S) -> dict:
    """The alerts against the truth. An alert (final times from its closed record) belongs to
    an event when its span meets the event's widened by ``tol``; an event is alerted once
    (exactly one alert), duplicated (more) or missed (none), and on time when its one alert's
    onset and end are within ``tol``. Alerts meeting no event are on the normal parts, whose
    length is the recording less the widened events."""
    final = {c["event"]: c for c in closes}
    alerts = [final.get(p["event"], p) for p in opens]
    n_dupe_msgs = len(opens) - len({p["event"] for p in opens})
    rows, used = [], set()
    for e in truth:
        hit = [a for a in alerts if a["start"] <= e.t1 + tol and a["end"] >= e.t0 - tol]
        used.update(a["event"] for a in hit)
        first = min(hit, key=lambda a: a["start"]) if hit else None
        rows.append({
            "t0": e.t0, "t1": e.t1, "kind": e.kind, "level_db": e.level_db,
            "f_low": e.f_low, "f_high": e.f_high, "alerts": len(hit),
            "start_err": first["start"] - e.t0 if first else math.nan,
            "end_err": (max(a["end"] for a in hit) - e.t1) if hit else math.nan,
            "shared": bool(first) and any(
                o is not e and first["start"] <= o.t1 + tol and first["end"] >= o.t0 - tol
                for o in truth),
        })
    extra = [a for a in alerts if a["event"] not in used]
    normal_s = seconds - sum(min(e.t1 + tol, seconds) - max(e.t0 - tol, 0.0) for e in truth)
    once = [r for r in rows if r["alerts"] == 1]
    on_time = [r for r in once if abs(r["start_err"]) <= tol and abs(r["end_err"]) <= tol]
    return {
        "rows": rows, "extra": extra, "normal_s": normal_s,
        "allowed": per_hour * normal_s / 3600.0, "once": len(once),
        "duplicated": sum(r["alerts"] > 1 for r in rows),
        "missed": sum(r["alerts"] == 0 for r in rows), "on_time": len(on_time),
        "duplicate_messages": n_dupe_msgs,
    }


def report(s: dict, tol: float = TOLERANCE_S) -> list[str]:
    rows = s["rows"]
    out = [f"  {'t0':>7s} {'t1':>7s} {'kind':<10s} {'dB':>3s} {'band Hz':>13s} alerts "
           f"{'onset':>7s} {'end':>7s}"]
    for r in rows:
        flag = "" if r["alerts"] == 1 and abs(r["start_err"]) <= tol and \
            abs(r["end_err"]) <= tol else "  <-"
        out.append(f"  {r['t0']:7.2f} {r['t1']:7.2f} {r['kind']:<10s} {r['level_db']:+3.0f} "
                   f"{r['f_low']:6.0f}-{r['f_high']:<6.0f} {r['alerts']:6d} "
                   f"{r['start_err']:+7.3f} {r['end_err']:+7.3f}"
                   f"{' (shared)' if r['shared'] else ''}{flag}")
    se = np.array([r["start_err"] for r in rows if r["alerts"]])
    ee = np.array([r["end_err"] for r in rows if r["alerts"]])
    out.append(
        f"events: {len(rows)}; alerted once {s['once']}, duplicated {s['duplicated']}, missed "
        f"{s['missed']}; once and within +-{tol:g} s at onset and end: {s['on_time']}/"
        f"{len(rows)}")
    if se.size:
        out.append(f"onset error: median {np.median(se):+.3f} s, max |{np.abs(se).max():.3f}| s;"
                   f" end error: median {np.median(ee):+.3f} s, max |{np.abs(ee).max():.3f}| s")
    out.append(f"alerts on the normal parts: {len(s['extra'])} in {s['normal_s']:.0f} s; the "
               f"calibrated rate allows {s['allowed']:.2f}" +
               "".join(f"\n  {a['start']:.2f}-{a['end']:.2f} s, {a['f_low']:.0f}-"
                       f"{a['f_high']:.0f} Hz, peak {a['peak']:.2f}" for a in s["extra"]))
    return out
