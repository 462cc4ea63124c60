"""Real-recordings anomaly benchmark: datasets built from openly licensed Debian sound packages.

    python bench/realdata.py [--cache DIR] [--force] [--seed 0] [--clip-seconds 5]
                             [--train 60] [--test-normal 20] [--per-level 20]
                             [--levels 6 0 -6] [--stream-seconds 1000] [--machines ...]

Downloads a few Debian game and sound-theme packages (``apt-get download``, no root needed;
``apt-get update`` is run only when a download fails and we are root), takes real recordings
of machines and of events out of them, and writes one dataset per machine type into the cache
(default ``~/.cache/specview/realdata``) in the layout :mod:`specview.envmix` writes, which
:func:`specview.datasets.load_dataset` reads::

    <cache>/debs/*.deb                     the downloaded packages (kept for --force)
    <cache>/src/<package>_<version>/<path> the recordings used, extracted from the packages
    <cache>/licences/<package>.copyright   each package's Debian copyright file
    <cache>/SOURCES.json                   every source file of every dataset, with its licence
    <cache>/<machine>/README.txt           what was built, and from what
    <cache>/<machine>/SOURCES.json         the source files of this dataset
    <cache>/<machine>/BUILD.json           the build's parameters (a rerun compares them)
    <cache>/<machine>/stream.csv           how the background stream was chained from the takes
    <cache>/<machine>/licences/            copies of the copyright files of its packages
    <cache>/<machine>/train/normal_0000.wav ... + meta.csv
    <cache>/<machine>/test/normal_0000.wav ...
    <cache>/<machine>/test/anomaly_0000_knock_+6dB.wav ... + Raven sidecar of the event's box
    <cache>/<machine>/test/sources/<stem>.anomaly.wav, <stem>.background.wav
    <cache>/<machine>/test/meta.csv        the columns of EnvMix's test/meta.csv

Backgrounds
    A machine's takes (2-8 s game recordings) are resampled to ``sr`` (soxr), mixed to mono,
    cut to their steady part (50 ms frames within 10 dB of the median frame level), made
    zero-mean and brought to a common RMS (-30 dBFS). A seeded plan chains random excerpts of
    them (random take, offset, length >= 1.5 s, half of them time-reversed) into one stream of
    ``stream_seconds`` with equal-power (sine/cosine) crossfades of 0.5 s, so no seam clicks.
    Each excerpt is first shifted by up to 25 ms to where it best matches the sound before it,
    and the crossfade's gains are divided by ``sqrt(1 + rho sin 2theta)`` (``rho``: the two
    sides' correlation), so the level stays even where a periodic take joins itself.
    The first 60 % of the stream feeds ``train/``, the last 40 % ``test/``; every clip lies
    wholly inside its half, so no test clip copies a training clip (both halves are, however,
    made of the same few seconds of source material, re-ordered; see README.txt). A clip is
    cut at a random offset, played at a random speed (+-3 %, soxr) and given a random gain
    (+-3 dB). The training half is split into ``n_train`` equal slots (10 s by default: 600 s
    for 60 training clips of 5 s) and training clip ``k`` lies wholly inside slot ``k``, so no
    two training clips share a sample: held-out calibration clips are then as new to a model
    as test clips are. (Format 1 cut training clips anywhere in the half; about half the
    held-out audio was also in fitted clips, scored low, and the calibrated thresholds read
    low. With a 150-s stream every normal test clip of the power station was flagged.)

Events
    Recordings from other files than the machine's takes (other packages, mostly). Every
    event is band-limited to the machine's bandwidth (resampled through the takes' native
    rate), so a detector cannot spot it by energy above the band the machine was recorded in.
    Per clip the event is played at a random speed (+-3 %), trimmed to its active span by
    EnvMix's rule (``specview.envmix._active_span``; longer than ``max_event_seconds`` keeps
    its loudest window), made zero-mean with 10 ms fades, and placed at a random sample at least
    0.3 s from both clip ends. Event kinds cycle over the anomalous clips, levels cycle
    through ``levels`` (file names ``_+6dB``, ``_0dB``, ``_-6dB``).

Level and box
    The EBR of :func:`specview.demo.event_to_background_db` over the event's span, full band;
    the event is scaled to the nominal level exactly and ``meta.csv``'s ``level_db`` holds the
    value measured on the written float32 sources. ``mix == background + anomaly`` exactly in
    float32. A mix whose peak would pass 0.95 is scaled down as a whole (EBR unchanged; the
    README counts them; with -30 dBFS backgrounds none is). The Raven box is the event's span
    in time and, in frequency, the band holding the central 95 % of its energy
    (``specview.envmix._energy_band``).

Reproducibility
    The same packages and arguments give byte-identical files: every random choice draws from
    its own ``numpy.random.default_rng((seed, machine, purpose, index))``; nothing holds a time
    stamp. Each dataset is built in a temporary folder beside its target and renamed into place
    when complete; a rerun finds the complete datasets (same BUILD.json, files unchanged since
    the build) and does nothing unless ``--force``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import fftconvolve

from specview import envmix, fileio
from specview.annotations import sidecar_path, write_raven
from specview.datasets import META_FILE
from specview.demo import EDGE_S, event_to_background_db
from specview.envmix import (
    _TEST_COLUMNS,
    _TRAIN_COLUMNS,
    BAND_ENERGY,
    FADE_S,
    TRIM_DB,
    _csv_text,
    _energy_band,
    _level_tag,
    _swap_in,
    _write_float,
)
from specview.types import Box

#: Kept for an independent check of this benchmark: never used here.
FORBIDDEN_PACKAGES = frozenset({"openttd-opensfx", "stormbaancoureur-data", "bucklespring-data"})
DEFAULT_CACHE = Path("~/.cache/specview/realdata")

#: Equal-power crossfade between chained excerpts (seconds).
XFADE_S = 0.5
#: Each excerpt may shift by up to this much (seconds) to line up with the one before it.
ALIGN_S = 0.025
#: Shortest excerpt of a take in the stream (seconds).
MIN_SEGMENT_S = 1.5
#: Takes are cut to the 50 ms frames within this many dB of their median frame level.
STEADY_DB = 10.0
#: Every take is brought to this RMS level before chaining (dBFS).
STREAM_RMS_DB = -30.0
#: Clip speed (and event speed) varies by up to this share; clip gain by up to GAIN_DB.
SPEED = 0.03
GAIN_DB = 3.0
#: Share of the stream (from its start) that feeds train/; the rest feeds test/.
TRAIN_SHARE = 0.6
#: A clip (or mix) whose peak would pass this is scaled down as a whole.
MAX_PEAK = 0.95
#: Extra source samples on both sides of a clip, so the resampler's edges stay outside it.
_PAD_S = 0.05
_MARKER = "specview realdata dataset"
_FORMAT = 2  # bump when a change of this script changes what it writes
_QUALITY = "HQ"
# Random streams, one per purpose.
_S_STREAM, _S_TRAIN, _S_TEST_NORMAL, _S_ANOMALY = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------
# What is built from what
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """A recording inside a Debian package.

    ``path`` is its path inside the package; ``member`` its name inside the zip archive at
    ``path``, if any; ``upstream`` its path as the package's copyright file names it (DEP-5
    ``Files:`` patterns are matched against it to find its licence).
    """

    package: str
    path: str
    upstream: str
    member: str = ""

    @property
    def key(self) -> str:
        return f"{self.package}:{self.path}" + (f"/{self.member}" if self.member else "")

    @property
    def local(self) -> Path:
        """Where the extracted copy lies in the package's folder under ``<cache>/src`` (a
        zip's members under ``<path>.d/``)."""
        return Path(f"{self.path}.d") / self.member if self.member else Path(self.path)


@dataclass(frozen=True)
class EventSpec:
    kind: str
    source: SourceFile


@dataclass(frozen=True)
class MachineSpec:
    name: str
    description: str
    takes: tuple[SourceFile, ...]
    events: tuple[EventSpec, ...]


def _tr(name: str) -> SourceFile:
    return SourceFile("trigger-rally-data", "usr/share/games/trigger-rally/data.zip",
                      f"data/data.zip/sounds/{name}", member=f"sounds/{name}")


def _lc(name: str) -> SourceFile:
    return SourceFile("lincity-ng-data", f"usr/share/games/lincity-ng/sounds/{name}",
                      f"data/sounds/{name}")


def _st(name: str) -> SourceFile:
    return SourceFile("simutrans-pak64", f"usr/share/games/simutrans/pak/sound/{name}",
                      f"sound/{name}")


def _fd(name: str) -> SourceFile:
    return SourceFile("sound-theme-freedesktop", f"usr/share/sounds/freedesktop/stereo/{name}",
                      f"stereo/{name}")


MACHINES: tuple[MachineSpec, ...] = (
    MachineSpec(
        "engine",
        "a rally car's engine held at a steady speed (Trigger Rally's engine recording)",
        (_tr("engine.wav"),),
        (
            EventSpec("knock", _tr("bang.wav")),
            EventSpec("gear", _tr("gear.wav")),
            EventSpec("alarm", _fd("alarm-clock-elapsed.oga")),
        ),
    ),
    MachineSpec(
        "mining",
        "a coal and ore mine's machinery (LinCity-NG's CoalMine and OreMine ambiences)",
        tuple(_lc(f"{n}.wav") for n in ("CoalMine1", "CoalMine2", "CoalMine3", "OreMine1",
                                        "OreMine2")),
        (
            EventSpec("hammer", _lc("Blacksmith1.wav")),
            EventSpec("explosion", _lc("RocketExplosion1.wav")),
            EventSpec("explosion", _st("explosion.wav")),
            EventSpec("jackhammer", _st("jackhammer.wav")),
        ),
    ),
    MachineSpec(
        "power",
        "a coal power station and heavy industry (LinCity-NG's PowerCoal and IndustryHigh "
        "ambiences)",
        tuple(_lc(f"{n}.wav") for n in ("PowerCoalEmpty", "PowerCoalLow", "PowerCoalMed",
                                        "IndustryHigh1", "IndustryHigh2", "IndustryHigh3")),
        (
            EventSpec("horn", _st("boat-horn.wav")),
            EventSpec("bell", _st("crossing.wav")),
            EventSpec("beep", _fd("phone-outgoing-busy.oga")),
            EventSpec("knock", _st("gavel.wav")),
        ),
    ),
)


# ---------------------------------------------------------------------------------------------
# Packages: download, extract, licences
# ---------------------------------------------------------------------------------------------


class RealDataError(Exception):
    """A source could not be fetched or read, or a parameter is out of range."""


def _check_package(package: str) -> None:
    if package in FORBIDDEN_PACKAGES:
        raise RealDataError(
            f"{package} is kept for an independent check of this benchmark and must not be "
            "used to build it"
        )


def _run(cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    except FileNotFoundError:
        raise RealDataError(
            f"{cmd[0]} not found: building the real-recordings datasets needs a Debian or "
            "Ubuntu system (apt-get and dpkg-deb)"
        ) from None


def _deb_field(deb: Path, name: str) -> str:
    out = _run(["dpkg-deb", "-f", str(deb), name])
    if out.returncode != 0:
        raise RealDataError(f"{deb}: dpkg-deb -f failed: {out.stderr.strip()}")
    return out.stdout.strip()


def _cached_deb(debs: Path, package: str) -> Path | None:
    for deb in sorted(debs.glob(f"{package}_*.deb")):
        if _deb_field(deb, "Package") == package:
            return deb
    return None


def fetch_deb(package: str, debs: Path) -> Path:
    """The package's .deb in ``debs``, downloaded with ``apt-get download`` when missing."""
    _check_package(package)
    debs.mkdir(parents=True, exist_ok=True)
    found = _cached_deb(debs, package)
    if found is not None:
        return found
    tmp = fileio.make_temp_dir(debs / package)
    try:
        def download() -> subprocess.CompletedProcess:
            return _run(["apt-get", "download", package], cwd=tmp)

        res = download()
        if res.returncode != 0 and hasattr(os, "geteuid") and os.geteuid() == 0:
            print(f"  apt-get download {package} failed; running apt-get update", flush=True)
            _run(["apt-get", "update", "-qq"])
            res = download()
        got = sorted(tmp.glob("*.deb"))
        if res.returncode != 0 or len(got) != 1:
            raise RealDataError(
                f"apt-get download {package} failed ({res.stderr.strip() or res.returncode}); "
                "is a Debian/Ubuntu package source reachable?"
            )
        target = debs / got[0].name
        os.replace(got[0], target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fileio.atomic_write_bytes(path, data)


def extract(deb: Path, paths: Sequence[str], dest: Path) -> None:
    """Extract ``paths`` (inside the package) from ``deb`` to ``dest/<path>``.

    Streams ``dpkg-deb --fsys-tarfile`` and writes only the wanted members (each atomically).
    """
    wanted = {p.strip("/") for p in paths}
    missing = {p for p in wanted if not (dest / p).is_file()}
    if not missing:
        return
    _deb_field(deb, "Package")  # a readable package (and dpkg-deb is there)
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
            for info in tf:
                name = info.name.removeprefix("./").strip("/")
                if name not in missing:
                    continue
                if not info.isfile():
                    raise RealDataError(f"{deb}: {name} is not a regular file in the package")
                f = tf.extractfile(info)
                assert f is not None
                _write_atomic(dest / name, f.read())
                missing.discard(name)
                if not missing:
                    break
    finally:
        proc.kill()
        proc.wait()
    if missing:
        raise RealDataError(f"{deb}: the package holds no {', '.join(sorted(missing))}")


@dataclass(frozen=True)
class Licence:
    licence: str
    copyright: str
    comment: str = ""


def _dep5_paragraphs(text: str) -> list[dict[str, str]]:
    paragraphs, cur, key = [], {}, None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if cur:
                paragraphs.append(cur)
            cur, key = {}, None
        elif line[0] in " \t":
            if key is not None:
                cur[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            cur[key] = value.strip()
    return paragraphs


def licence_of(copyright_text: str, upstream: str) -> Licence:
    """The licence the DEP-5 copyright file states for ``upstream`` (the last matching
    ``Files:`` paragraph; a pattern naming an archive also covers the files inside it)."""
    match = None
    for p in _dep5_paragraphs(copyright_text):
        if "files" not in p or "license" not in p:
            continue
        for pat in p["files"].split():
            if fnmatch.fnmatchcase(upstream, pat) or upstream.startswith(pat.rstrip("/") + "/"):
                match = p
                break
    if match is None:
        raise RealDataError(f"the copyright file states no licence for {upstream}")
    return Licence(
        licence=match["license"].splitlines()[0].strip(),
        copyright="; ".join(" ".join(s.split()) for s in match.get("copyright", "").splitlines()
                            if s.strip()),
        comment=" ".join(match.get("comment", "").split()),
    )


@dataclass
class Fetched:
    """Local copies of the sources, with their provenance."""

    files: dict[str, Path] = field(default_factory=dict)  # SourceFile.key -> local path
    info: dict[str, dict] = field(default_factory=dict)  # SourceFile.key -> SOURCES.json row
    copyrights: dict[str, Path] = field(default_factory=dict)  # package -> licences/ copy


def fetch_sources(cache: Path, machines: Sequence[MachineSpec]) -> Fetched:
    """Download and extract every recording the machines use; copy the copyright files."""
    out = Fetched()
    by_package: dict[str, list[SourceFile]] = {}
    for m in machines:
        for s in (*m.takes, *(e.source for e in m.events)):
            _check_package(s.package)
            if s not in by_package.setdefault(s.package, []):
                by_package[s.package].append(s)
    for package, sources in sorted(by_package.items()):
        deb = fetch_deb(package, cache / "debs")
        version = _deb_field(deb, "Version")
        src = cache / "src" / f"{package}_{version.replace(':', '%3a')}"
        doc = f"usr/share/doc/{package}/copyright"
        plain = [s.path for s in sources if not s.member]
        zipped = sorted({s.path for s in sources if s.member})
        need_zip = [z for z in zipped if not all(
            (src / s.local).is_file() for s in sources if s.path == z)]
        extract(deb, [doc, *plain, *need_zip], src)
        for z in need_zip:
            with zipfile.ZipFile(src / z) as zf:
                for s in sources:
                    if s.path == z:
                        _write_atomic(src / s.local, zf.read(s.member))
            (src / z).unlink()  # only its members are kept
        text = (src / doc).read_text(encoding="utf-8", errors="replace")
        lic_copy = cache / "licences" / f"{package}.copyright"
        _write_atomic(lic_copy, (src / doc).read_bytes())
        out.copyrights[package] = lic_copy
        for s in sources:
            lic = licence_of(text, s.upstream)
            out.files[s.key] = src / s.local
            out.info[s.key] = {
                "package": package, "version": version, "path": s.path, "member": s.member,
                "upstream_path": s.upstream, "licence": lic.licence,
                "copyright": lic.copyright, "licence_comment": lic.comment,
                "copyright_file": f"licences/{package}.copyright",
                "sha256": fileio.sha256_file(src / s.local),
            }
    return out


# ---------------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------------


def _rng(seed: int, machine: str, purpose: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(machine.encode()), purpose, index])


def _resample(x: np.ndarray, sr_in: float, sr_out: float) -> np.ndarray:
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float64)
    return soxr.resample(np.asarray(x, dtype=np.float64), sr_in, sr_out, quality=_QUALITY)


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """A recording mixed down to mono float64, and its native rate."""
    x, native = sf.read(str(path), dtype="float64", always_2d=True)
    return x.mean(axis=1), int(native)


def to_rate(x: np.ndarray, native: int, sr: int, bandlimit: int | None = None) -> np.ndarray:
    """``x`` at ``sr``, band-limited to ``bandlimit / 2`` Hz by passing through that rate."""
    if bandlimit is not None and bandlimit < native:
        x, native = _resample(x, native, bandlimit), bandlimit
    return _resample(x, native, sr)


def steady_part(x: np.ndarray, sr: int, floor_db: float = STEADY_DB) -> np.ndarray:
    """From the first to the last 50 ms frame within ``floor_db`` of the median frame level
    (drops a take's fade-in, fade-out and silent ends), zero-mean."""
    frame, hop = int(round(0.05 * sr)), int(round(0.01 * sr))
    if len(x) < frame:
        raise RealDataError(f"a take of {len(x)} samples is shorter than one 50 ms frame")
    starts = np.arange(0, len(x) - frame + 1, hop)
    c = np.concatenate(([0.0], np.cumsum(x**2)))
    energy = (c[starts + frame] - c[starts]) / frame
    ok = np.flatnonzero(energy >= np.median(energy) * 10.0 ** (-floor_db / 10.0))
    y = x[starts[ok[0]] : starts[ok[-1]] + frame]
    return y - np.mean(y)


def normalise(x: np.ndarray, rms_db: float = STREAM_RMS_DB) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x**2)))
    if rms <= 0.0:
        raise RealDataError("a take is digitally silent")
    return x * (10.0 ** (rms_db / 20.0) / rms)


@dataclass(frozen=True)
class Segment:
    take: int
    offset: int  # first sample of the excerpt in the take
    length: int
    reverse: bool
    start: int  # first sample of the excerpt in the stream (its crossfade-in begins here)
    rho: float = 0.0  # correlation with the excerpt before it over their crossfade


def plan_stream(lengths: Sequence[int], n_total: int, sr: int, rng: np.random.Generator,
                *, xfade_s: float = XFADE_S, reverse: bool = True) -> list[Segment]:
    """Excerpts of the takes that, chained with ``xfade_s`` crossfades, cover ``n_total``."""
    xf = int(round(xfade_s * sr))
    shortest = min(lengths)
    if shortest < 3 * xf:
        raise RealDataError(
            f"a take is {shortest / sr:.2f} s long after trimming; at least {3 * xfade_s:g} s "
            "is needed to chain it with crossfades"
        )
    plan: list[Segment] = []
    order: list[int] = []
    pos = 0
    while not plan or pos + plan[-1].length < n_total:
        if not order:
            order = [int(i) for i in rng.permutation(len(lengths))]
        take = order.pop(0)
        n = lengths[take]
        lo = min(n, max(int(round(MIN_SEGMENT_S * sr)), 3 * xf))
        length = int(rng.integers(lo, n + 1))
        offset = int(rng.integers(0, n - length + 1))
        rev = bool(reverse and rng.random() < 0.5)
        if plan:
            pos += plan[-1].length - xf
        plan.append(Segment(take, offset, length, rev, pos))
    return plan


def _excerpt(take: np.ndarray, s: Segment) -> np.ndarray:
    x = take[s.offset : s.offset + s.length]
    return x[::-1].copy() if s.reverse else x.copy()


def _align(tail: np.ndarray, take: np.ndarray, s: Segment, search: int) -> tuple[int, float]:
    """The shift (within +-``search`` samples, inside the take) of excerpt ``s`` whose head best
    matches ``tail`` (largest normalised correlation), and that correlation."""
    xf = len(tail)
    src = take[::-1] if s.reverse else take
    off = len(take) - s.offset - s.length if s.reverse else s.offset  # in ``src``
    lo, hi = max(-search, -off), min(search, len(take) - s.length - off)
    region = src[off + lo : off + hi + xf]
    num = fftconvolve(region, tail[::-1], mode="valid")
    c = np.concatenate(([0.0], np.cumsum(region**2)))
    den = np.sqrt((c[xf:] - c[:-xf]) * float(np.sum(tail**2)))
    rho = np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)
    best = int(np.argmax(rho))
    shift = lo + best
    return (-shift if s.reverse else shift), float(rho[best])


def render_stream(takes: Sequence[np.ndarray], plan: Sequence[Segment], n_total: int, sr: int,
                  *, xfade_s: float = XFADE_S, search_s: float = ALIGN_S
                  ) -> tuple[np.ndarray, list[Segment]]:
    """The chained stream (float64) and the plan as rendered.

    Each excerpt is first shifted by up to ``search_s`` (inside its take) to the position where
    its head best matches the tail of the stream so far, then joined by a crossfade of
    ``xfade_s``: gains cos/sin (equal power), divided by ``sqrt(1 + rho * sin(2 theta))`` with
    ``rho`` the two sides' correlation over the crossfade, so that the power stays level even
    where the two sides are alike (a periodic engine would otherwise swell or cancel).
    """
    xf = int(round(xfade_s * sr))
    search = int(round(search_s * sr))
    theta = 0.5 * np.pi * (np.arange(xf) + 0.5) / xf
    fade_in, fade_out = np.sin(theta), np.cos(theta)
    end = plan[-1].start + plan[-1].length
    if end < n_total:
        raise RealDataError("internal error: the stream plan is too short")
    out = np.zeros(end, dtype=np.float64)
    done: list[Segment] = []
    tail = np.zeros(0)
    for i, s in enumerate(plan):
        take = takes[s.take]
        if i > 0:
            shift, rho = _align(tail, take, s, search)
            s = replace(s, offset=s.offset + shift, rho=rho)
        x = _excerpt(take, s)
        tail = x[-xf:].copy()  # unfaded, for the next excerpt to line up with
        if i > 0:
            rho = min(max(s.rho, -0.5), 1.0)
            norm = 1.0 / np.sqrt(1.0 + rho * np.sin(2.0 * theta))
            out[s.start : s.start + xf] *= norm
            x[:xf] *= fade_in * norm
        if i < len(plan) - 1:
            x[-xf:] *= fade_out
        out[s.start : s.start + s.length] += x
        done.append(s)
    return out[:n_total], done


@dataclass(frozen=True)
class ClipCut:
    start: int  # stream samples [start, stop) the clip was resampled from
    stop: int
    speed: float
    gain_db: float

    def describe(self, sr: int) -> str:
        return (f"stream[{self.start / sr:.4f}s:{self.stop / sr:.4f}s] speed {self.speed:.4f} "
                f"gain {self.gain_db:+.3f} dB")


def cut_clip(stream: np.ndarray, lo: int, hi: int, n: int, sr: int,
             rng: np.random.Generator) -> tuple[np.ndarray, ClipCut]:
    """``n`` samples from ``stream[lo:hi]`` at a random offset, speed and gain (float64)."""
    speed = 1.0 + float(rng.uniform(-SPEED, SPEED))
    gain_db = float(rng.uniform(-GAIN_DB, GAIN_DB))
    pad = int(round(_PAD_S * sr))
    m = int(math.ceil(n * speed)) + 2 * pad + 2
    if hi - lo < m:
        raise RealDataError(
            f"a stream part of {(hi - lo) / sr:.1f} s cannot hold a {n / sr:g} s clip; "
            "raise --stream-seconds"
        )
    start = int(rng.integers(lo, hi - m + 1))
    y = _resample(stream[start : start + m], sr * speed, sr)
    p = int(round(pad / speed))
    clip = y[p : p + n] * 10.0 ** (gain_db / 20.0)
    if len(clip) != n:
        raise RealDataError("internal error: the resampled clip is short")
    return clip, ClipCut(start, start + m, speed, gain_db)


def train_slots(split: int, n_train: int) -> list[tuple[int, int]]:
    """The training part ``[0, split)`` in ``n_train`` equal, adjacent slots; training clip
    ``k`` is cut at a random offset inside slot ``k``, so no two training clips share a
    stream sample and held-out calibration clips are as new to a model as test clips."""
    edges = [round(k * split / n_train) for k in range(n_train + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


@dataclass(frozen=True)
class Event:
    signal: np.ndarray  # float64, trimmed, zero-mean, faded
    src_t0: float  # where the trimmed part lies in the source recording (seconds)
    src_t1: float


def trim_event(x: np.ndarray, sr: int, max_len: int, speed: float = 1.0) -> Event | None:
    """EnvMix's event preparation on a signal (:func:`specview.envmix.trim_event`: active
    span, loudest ``max_len`` window, zero mean, raised-cosine fades), with where the trimmed
    part lies in the source played at ``speed``."""
    trimmed = envmix.trim_event(x, sr, max_len)
    if trimmed is None:
        return None
    ev, a, b = trimmed
    return Event(ev, a / sr * speed, b / sr * speed)


def vary_speed(x: np.ndarray, sr: int, speed: float) -> np.ndarray:
    return _resample(x, sr * speed, sr)


@dataclass(frozen=True)
class Mixed:
    mix: np.ndarray  # float32
    anomaly: np.ndarray  # float32
    background: np.ndarray  # float32
    start: int
    stop: int
    scaled: bool


def _peak_scale(peak: float) -> float:
    return 1.0 if peak <= MAX_PEAK else MAX_PEAK / peak * 0.999


def mix_event(bg: np.ndarray, event: np.ndarray, level_db: float, start: int) -> Mixed:
    """``event`` at ``start`` on ``bg``, scaled to ``level_db`` EBR over its span; float32,
    ``mix == background + anomaly`` exactly; scaled down as a whole when the peak would pass
    :data:`MAX_PEAK` (the EBR stays)."""
    n, length = len(bg), len(event)
    stop = start + length
    if start < 0 or stop > n:
        raise RealDataError("internal error: the event does not fit in the clip")
    e_ev = float(np.sum(event**2))
    scale, scaled = 1.0, False
    for _ in range(3):
        bg32 = (bg * scale).astype(np.float32)
        e_bg = float(np.sum(bg32[start:stop].astype(np.float64) ** 2))
        if e_bg <= 0.0:
            raise RealDataError("the background is digitally silent under the event")
        gain = math.sqrt(e_bg / e_ev * 10.0 ** (level_db / 10.0))
        anomaly = np.zeros(n, dtype=np.float32)
        anomaly[start:stop] = (event * gain).astype(np.float32)
        mix = bg32 + anomaly  # float32 sum: mix == background + anomaly exactly
        k = _peak_scale(float(np.max(np.abs(mix))))
        if k == 1.0:
            break
        scale *= k
        scaled = True
    return Mixed(mix, anomaly, bg32, start, stop, scaled)


# ---------------------------------------------------------------------------------------------
# One dataset
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Take:
    name: str  # provenance (SourceFile.key)
    samples: np.ndarray  # float64 at sr, steady part, zero-mean, normalised
    native_sr: int


@dataclass(frozen=True)
class EventSource:
    kind: str
    name: str  # provenance (SourceFile.key)
    samples: np.ndarray  # float64 at sr, band-limited to the machine's bandwidth


@dataclass(frozen=True)
class Params:
    seed: int = 0
    sr: int = 44100
    clip_seconds: float = 5.0
    n_train: int = 60
    n_test_normal: int = 20
    n_per_level: int = 20
    levels_db: tuple[float, ...] = (6.0, 0.0, -6.0)
    stream_seconds: float = 1000.0
    max_event_seconds: float = 2.0

    def check(self) -> None:
        if self.seed < 0 or self.sr < 8000:
            raise RealDataError("seed must be >= 0 and sr >= 8000 Hz")
        if min(self.n_train, self.n_test_normal, self.n_per_level) < 1:
            raise RealDataError("every clip count must be at least 1")
        if not self.levels_db or not all(math.isfinite(x) for x in self.levels_db):
            raise RealDataError("levels must be one or more finite numbers of dB")
        room = self.clip_seconds - 2 * EDGE_S
        if not 0 < self.max_event_seconds <= room:
            raise RealDataError(
                f"events of up to {self.max_event_seconds:g} s do not fit in {self.clip_seconds:g}"
                f" s clips at least {EDGE_S:g} s from both ends"
            )
        slot = self.stream_seconds * TRAIN_SHARE / self.n_train
        need = self.clip_seconds * (1 + SPEED) + 2 * _PAD_S + 0.01  # one clip's slot, at least
        if slot < need:
            raise RealDataError(
                f"{self.n_train} training clips of {self.clip_seconds:g} s that share no sample "
                f"need a stream of at least {self.n_train * need / TRAIN_SHARE:.0f} s"
                " (--stream-seconds)"
            )
        if self.stream_seconds * (1 - TRAIN_SHARE) < self.clip_seconds * (1 + SPEED) + 1:
            raise RealDataError("the stream is too short for its test half to hold a clip")

    def as_json(self) -> dict:
        return {"format": _FORMAT, "seed": self.seed, "sr": self.sr,
                "clip_seconds": self.clip_seconds, "n_train": self.n_train,
                "n_test_normal": self.n_test_normal, "n_per_level": self.n_per_level,
                "levels_db": list(self.levels_db), "stream_seconds": self.stream_seconds,
                "max_event_seconds": self.max_event_seconds}


def prepare_takes(raw: Sequence[tuple[str, np.ndarray, int]], sr: int) -> list[Take]:
    """(name, samples, native rate) -> takes at ``sr``: steady part, zero-mean, normalised."""
    return [Take(name, normalise(steady_part(to_rate(x, native, sr), sr)), native)
            for name, x, native in raw]


@dataclass(frozen=True)
class BuildResult:
    root: Path
    machine: str
    n_train: int
    n_test_normal: int
    n_test_anomalous: int
    n_scaled: int
    kinds: tuple[str, ...]
    train_cuts: tuple[ClipCut, ...]
    test_cuts: tuple[ClipCut, ...]
    split: int  # first stream sample of the test half
    seams: tuple[int, ...]  # stream samples where a crossfade begins


def write_dataset(tmp: Path, machine: str, takes: Sequence[Take], events: Sequence[EventSource],
                  params: Params, *, description: str = "", sources: Sequence[dict] = (),
                  licence_files: dict[str, Path] | None = None) -> BuildResult:
    """Write one machine's dataset into the (empty) folder ``tmp``."""
    params.check()
    if not takes or not events:
        raise RealDataError(f"{machine}: needs at least one take and one event")
    sr = params.sr
    n = int(round(params.clip_seconds * sr))
    n_total = int(round(params.stream_seconds * sr))
    plan = plan_stream([len(t.samples) for t in takes], n_total, sr,
                       _rng(params.seed, machine, _S_STREAM))
    stream, plan = render_stream([t.samples for t in takes], plan, n_total, sr)
    split = int(round(TRAIN_SHARE * n_total))

    (tmp / "train").mkdir(parents=True)
    (tmp / "test" / "sources").mkdir(parents=True)
    n_scaled = 0

    def normal_clip(lo: int, hi: int, rng: np.random.Generator) -> tuple[np.ndarray, ClipCut]:
        nonlocal n_scaled
        clip, cut = cut_clip(stream, lo, hi, n, sr, rng)
        k = _peak_scale(float(np.max(np.abs(clip))))
        if k != 1.0:
            clip, n_scaled = clip * k, n_scaled + 1
        return clip, cut

    train_rows, train_cuts = [], []
    for k, (lo, hi) in enumerate(train_slots(split, params.n_train)):
        clip, cut = normal_clip(lo, hi, _rng(params.seed, machine, _S_TRAIN, k))
        name = f"normal_{k:04d}.wav"
        _write_float(tmp / "train" / name, clip.astype(np.float32), sr)
        train_rows.append((name, machine, cut.describe(sr)))
        train_cuts.append(cut)

    test_rows, test_cuts = [], []
    for k in range(params.n_test_normal):
        clip, cut = normal_clip(split, n_total, _rng(params.seed, machine, _S_TEST_NORMAL, k))
        name = f"normal_{k:04d}.wav"
        _write_float(tmp / "test" / name, clip.astype(np.float32), sr)
        test_rows.append((name, 0, "", "", "", "", "", "", machine, cut.describe(sr), "", "", ""))
        test_cuts.append(cut)

    kinds = list(dict.fromkeys(e.kind for e in events))
    by_kind = {kind: [e for e in events if e.kind == kind] for kind in kinds}
    used = dict.fromkeys(kinds, 0)
    levels = params.levels_db
    max_len = int(round(params.max_event_seconds * sr))
    edge = int(math.ceil(EDGE_S * sr))
    n_anom = params.n_per_level * len(levels)
    for k in range(n_anom):
        rng = _rng(params.seed, machine, _S_ANOMALY, k)
        level = levels[k % len(levels)]
        kind = kinds[(k // len(levels)) % len(kinds)]
        choices = by_kind[kind]
        src = choices[used[kind] % len(choices)]
        used[kind] += 1
        bg, cut = cut_clip(stream, split, n_total, n, sr, rng)
        speed = 1.0 + float(rng.uniform(-SPEED, SPEED))
        event = trim_event(vary_speed(src.samples, sr, speed), sr, max_len, speed)
        if event is None:
            raise RealDataError(f"{src.name}: the event recording is silent")
        start = int(rng.integers(edge, n - len(event.signal) - edge + 1))
        m = mix_event(bg, event.signal, level, start)
        n_scaled += m.scaled
        t0, t1 = m.start / sr, m.stop / sr
        measured = event_to_background_db(m.anomaly, m.background, sr, t0, t1)
        f0, f1 = (round(f, 3) for f in
                  _energy_band(m.anomaly[m.start : m.stop].astype(np.float64), sr))
        stem = f"anomaly_{k:04d}_{kind}_{_level_tag(level)}dB"
        _write_float(tmp / "test" / f"{stem}.wav", m.mix, sr)
        _write_float(tmp / "test" / "sources" / f"{stem}.anomaly.wav", m.anomaly, sr)
        _write_float(tmp / "test" / "sources" / f"{stem}.background.wav", m.background, sr)
        write_raven(sidecar_path(tmp / "test" / f"{stem}.wav"), [Box(t0, t1, f0, f1, kind)])
        test_rows.append((
            f"{stem}.wav", 1, kind, f"{round(measured, 4) + 0.0:.4f}", repr(t0), repr(t1),
            repr(f0), repr(f1), machine, cut.describe(sr), src.name,
            repr(round(event.src_t0, 6)), repr(round(event.src_t1, 6)),
        ))
        test_cuts.append(cut)

    text = {
        "train/" + META_FILE: _csv_text(_TRAIN_COLUMNS, train_rows),
        "test/" + META_FILE: _csv_text(_TEST_COLUMNS, test_rows),
        "stream.csv": _csv_text(
            ("stream_t0", "stream_t1", "take", "take_t0", "take_t1", "reversed", "rho"),
            [(f"{s.start / sr:.6f}", f"{(s.start + s.length) / sr:.6f}", takes[s.take].name,
              f"{s.offset / sr:.6f}", f"{(s.offset + s.length) / sr:.6f}", int(s.reverse),
              f"{s.rho:.4f}")
             for s in plan]),
        "BUILD.json": json.dumps(params.as_json(), indent=1) + "\n",
        "SOURCES.json": json.dumps(list(sources), indent=1) + "\n",
    }
    result = BuildResult(
        tmp, machine, params.n_train, params.n_test_normal, n_anom, n_scaled, tuple(kinds),
        tuple(train_cuts), tuple(test_cuts), split, tuple(s.start for s in plan[1:]),
    )
    text["README.txt"] = _readme(result, params, takes, events, description, sources)
    for rel, body in text.items():
        (tmp / rel).write_text(body, encoding="utf-8", newline="")
    for package, path in sorted((licence_files or {}).items()):
        (tmp / "licences").mkdir(exist_ok=True)
        shutil.copyfile(path, tmp / "licences" / f"{package}.copyright")
    files = {p.relative_to(tmp).as_posix(): fileio.sha256_file(p)
             for p in sorted(tmp.rglob("*")) if p.is_file()}
    (tmp / fileio.MANIFEST_NAME).write_text(fileio.manifest_text(files), encoding="utf-8",
                                            newline="")
    return result


def _readme(r: BuildResult, p: Params, takes: Sequence[Take], events: Sequence[EventSource],
            description: str, sources: Sequence[dict]) -> str:
    levels = ", ".join(_level_tag(x) for x in p.levels_db)
    take_s = sum(len(t.samples) for t in takes) / p.sr
    bands = sorted({t.native_sr for t in takes})
    lines = [
        f"{_MARKER}: {r.machine} (built by bench/realdata.py from recordings in Debian packages)",
        "",
        f"Machine: {description or r.machine}.",
        f"Clips: {p.sr} Hz mono 32-bit float WAV, {p.clip_seconds:g} s; seed {p.seed}.",
        f"train/: {r.n_train} normal clips.",
        f"test/:  {r.n_test_normal} normal + {r.n_test_anomalous} anomalous clips "
        f"({p.n_per_level} per level {levels} dB; events {', '.join(r.kinds)}).",
        "",
        "Background: the machine's takes (" + ", ".join(t.name for t in takes) + f"), {take_s:.1f}"
        " s of steady sound in all after trimming their ends, resampled with soxr, mono, "
        f"zero-mean, each at {STREAM_RMS_DB:g} dBFS RMS, chained into one {p.stream_seconds:g} s "
        f"stream of random excerpts (some time-reversed) with {XFADE_S:g} s equal-power "
        "crossfades, corrected for the two sides' correlation after lining them up (stream.csv "
        "lists the excerpts). train/ clips come from the first "
        f"{TRAIN_SHARE:.0%} of the stream, test/ clips (and the backgrounds of the anomalous "
        f"ones) from the rest, each wholly inside its part, at random offsets, speeds "
        f"(+-{SPEED:.0%}) and gains (+-{GAIN_DB:g} dB). The two parts share no stream sample, "
        f"but both are re-orderings of the same {take_s:.1f} s of recordings: test clips are "
        "new cuts of familiar material, not new recordings.",
        *([f"The takes were recorded at {', '.join(str(b) for b in bands)} Hz, so the "
           f"background holds nothing above {min(bands) / 2:g} Hz; every event is band-limited "
           "the same way (resampled through that rate)."] if min(bands) < p.sr else []),
        "",
        f"Events: one per anomalous clip, played at a random speed (+-{SPEED:.0%}), trimmed to "
        f"the 20 ms frames within {TRIM_DB:g} dB of the loudest (then the samples within "
        f"{TRIM_DB:g} dB of the peak), at most {p.max_event_seconds:g} s (the loudest window), "
        f"zero-mean, {FADE_S * 1000:g} ms fades, at least {EDGE_S:g} s from the clip ends:",
        *(f"  {e.kind:<10s} {e.name}" for e in events),
        "",
        "Level: EBR = 10*log10(E_event / E_background), both summed over the event's span "
        "[t0, t1], full band (specview.demo.event_to_background_db); meta.csv's level_db is the "
        "value measured on the written float sources. mix == background + anomaly exactly in "
        f"float32; {r.n_scaled} clip(s) were scaled down as a whole to keep the peak under "
        f"{MAX_PEAK:g}.",
        f"Box: [t0, t1] in time; in frequency the band holding the central {BAND_ENERGY:.0%} "
        "of the event's energy.",
        "",
        "Sources, by package (version; path in the package, its role and its licence as the "
        "package's copyright file states it; the copyright files are in licences/):",
    ]
    for package in dict.fromkeys(s["package"] for s in sources):
        rows = [s for s in sources if s["package"] == package]
        lines.append(f"  {package} {rows[0]['version']}")
        holders = list(dict.fromkeys(s["copyright"] for s in rows))
        if len(holders) == 1:
            lines.append(f"    (c) {holders[0]}")
        for note in dict.fromkeys(s["licence_comment"] for s in rows if s["licence_comment"]):
            lines.append(f"    note: {note}")
        for s in rows:
            where = s["path"] + (f"/{s['member']}" if s["member"] else "")
            lines.append(f"    {s['role']:<16s} {s['licence']:<12s} {where}")
            if len(holders) > 1:
                lines.append(f"{'':<38s}(c) {s['copyright']}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------


def is_complete(folder: Path, params: Params) -> bool:
    """A finished build of this script with these parameters, unchanged since."""
    readme, build = folder / "README.txt", folder / "BUILD.json"
    try:
        if not readme.read_text(encoding="utf-8").startswith(_MARKER):
            return False
        if json.loads(build.read_text(encoding="utf-8")) != params.as_json():
            return False
    except (OSError, ValueError):
        return False
    manifest = fileio.read_manifest(folder)
    if not manifest:
        return False
    changed, extra = fileio.tree_changes(folder, manifest)
    return not changed and not extra and all((folder / rel).is_file() for rel in manifest)


def _check_target(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise RealDataError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        readme = folder / "README.txt"
        ours = readme.is_file() and readme.read_text(
            encoding="utf-8", errors="replace").startswith(_MARKER)
        if not ours:
            raise RealDataError(
                f"{folder}: not empty and not a realdata build; move it away or choose another "
                "--cache"
            )


def build_machine(cache: Path, spec: MachineSpec, fetched: Fetched, params: Params) -> BuildResult:
    sr = params.sr
    raw = []
    for s in spec.takes:
        x, native = read_mono(fetched.files[s.key])
        raw.append((s.key, x, native))
    takes = prepare_takes(raw, sr)
    band = min(t.native_sr for t in takes)
    events = []
    for e in spec.events:
        if e.source in spec.takes:
            raise RealDataError(f"{spec.name}: {e.source.key} is both a take and an event")
        x, native = read_mono(fetched.files[e.source.key])
        events.append(EventSource(e.kind, e.source.key, to_rate(x, native, sr, bandlimit=band)))
    roles = [(s, "background") for s in spec.takes] + \
            [(e.source, f"event:{e.kind}") for e in spec.events]
    sources = [{"machine": spec.name, "role": role, **fetched.info[s.key]} for s, role in roles]
    packages = sorted({s.package for s, _ in roles})
    out = cache / spec.name
    _check_target(out)
    tmp = fileio.make_temp_dir(out)
    try:
        result = write_dataset(
            tmp, spec.name, takes, events, params, description=spec.description,
            sources=sources, licence_files={p: fetched.copyrights[p] for p in packages},
        )
        _check_target(out)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(**{**result.__dict__, "root": out})


def build_all(cache: Path, params: Params, *, force: bool = False,
              machines: Sequence[MachineSpec] = MACHINES) -> list[BuildResult]:
    """Build (or leave alone, when complete) every machine's dataset under ``cache``."""
    params.check()
    cache = cache.expanduser()
    todo = [m for m in machines if force or not is_complete(cache / m.name, params)]
    for m in machines:
        if m not in todo:
            print(f"{cache / m.name}: complete, left alone (--force rebuilds it)")
    if not todo:
        return []
    for m in todo:
        _check_target(cache / m.name)
    t = time.perf_counter()
    fetched = fetch_sources(cache, machines)
    print(f"sources ready in {time.perf_counter() - t:.1f} s "
          f"({len(fetched.files)} recordings from {len(fetched.copyrights)} packages)",
          flush=True)
    results = []
    for m in todo:
        t = time.perf_counter()
        r = build_machine(cache, m, fetched, params)
        results.append(r)
        print(f"{r.root}: {r.n_train} train + {r.n_test_normal} normal / {r.n_test_anomalous} "
              f"anomalous test clips ({', '.join(r.kinds)}) in {time.perf_counter() - t:.1f} s",
              flush=True)
    # every dataset in the cache, built now or before
    everything = []
    for m in MACHINES:
        listed = cache / m.name / "SOURCES.json"
        if is_complete(cache / m.name, params) and listed.is_file():
            everything.extend(json.loads(listed.read_text(encoding="utf-8")))
    _write_atomic(cache / "SOURCES.json", (json.dumps(everything, indent=1) + "\n").encode())
    return results


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Params()
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                    help=f"where packages and datasets go (default {DEFAULT_CACHE})")
    ap.add_argument("--force", action="store_true", help="rebuild complete datasets too")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--sr", type=int, default=d.sr, help="sample rate, Hz")
    ap.add_argument("--clip-seconds", type=float, default=d.clip_seconds)
    ap.add_argument("--train", type=int, default=d.n_train, help="training clips")
    ap.add_argument("--test-normal", type=int, default=d.n_test_normal, help="normal test clips")
    ap.add_argument("--per-level", type=int, default=d.n_per_level,
                    help="anomalous test clips per level")
    ap.add_argument("--levels", type=float, nargs="+", default=list(d.levels_db),
                    help="event-to-background ratios, dB")
    ap.add_argument("--stream-seconds", type=float, default=d.stream_seconds,
                    help="length of each machine's chained background stream")
    ap.add_argument("--max-event-seconds", type=float, default=d.max_event_seconds)
    ap.add_argument("--machines", nargs="+", choices=[m.name for m in MACHINES],
                    default=[m.name for m in MACHINES])
    a = ap.parse_args(argv)
    params = Params(a.seed, a.sr, a.clip_seconds, a.train, a.test_normal, a.per_level,
                    tuple(a.levels), a.stream_seconds, a.max_event_seconds)
    machines = [m for m in MACHINES if m.name in a.machines]
    t = time.perf_counter()
    try:
        results = build_all(a.cache, params, force=a.force, machines=machines)
    except RealDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"built {len(results)} dataset(s) in {time.perf_counter() - t:.1f} s"
          if results else "nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
