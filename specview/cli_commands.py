"""The command line's commands: ``cmd_<name>(args)`` for each sub-command of
:func:`specview.cli.build_parser`, returning the exit status.

They raise :class:`~specview.errors.SpecviewError` for bad input; :func:`specview.cli.main`
turns it into one line on stderr. This module does not import :mod:`specview.cli`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from specview.errors import SpecviewError
from specview.fileio import atomic_output, check_output_file, check_output_folder, refuse_same_file
from specview.types import DEFAULT_CHANNEL


class _Bar:
    """A tqdm progress bar as a ``progress(done, total)`` callback."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(desc=desc, unit="step", leave=False, file=sys.stderr,
                         disable=not sys.stderr.isatty())
        self.desc = desc

    def __call__(self, done: int, total: int) -> None:
        if self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def set_postfix(self, text: str) -> None:
        self._bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        self._bar.close()


class _AudioBar(_Bar):
    """A progress bar over seconds of audio, showing the real-time factor."""

    def __init__(self, desc: str) -> None:
        import time

        from tqdm import tqdm

        self._bar = tqdm(desc=desc, unit="s audio", leave=False, file=sys.stderr,
                         disable=not sys.stderr.isatty(), bar_format=(
                             "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio "
                             "[{elapsed}<{remaining}{postfix}]"))
        self.desc = desc
        self._t0 = time.perf_counter()

    def __call__(self, done: float, total: float) -> None:  # type: ignore[override]
        import time

        if self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        took = time.perf_counter() - self._t0
        if took > 0 and done > 0:
            self._bar.set_postfix_str(f"{done / took:.0f}x real time", refresh=False)
        self._bar.refresh()


def _with_bar(desc: str, fn: Callable[[Callable[[int, int], None]], object]) -> object:
    bar = _Bar(desc)
    try:
        return fn(bar)
    finally:
        bar.close()


def _set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def cmd_gui(args: argparse.Namespace) -> int:
    from specview.app import run_gui

    paths = [args.path] if getattr(args, "path", None) else []
    compare = getattr(args, "compare", None)
    if compare is not None and not 2 <= len(compare) <= 4:
        raise SpecviewError(f"--compare takes 2 to 4 model files, got {len(compare)}")
    for m in compare or []:
        if not Path(m).is_file():
            raise SpecviewError(f"--compare {m}: no such model file")
    return run_gui(paths, model=getattr(args, "model", None), demo=getattr(args, "demo", False),
                   compare=compare, label_column=getattr(args, "label_column", None))


def cmd_boxes(args: argparse.Namespace) -> int:
    """List the boxes of an annotation file (one recording's, with --audio), or convert it."""
    from specview import annotations as A
    from specview.fileio import check_output_file

    if (args.to is None) != (args.out is None):
        raise SpecviewError("--to and --out go together: --to raven|audacity|json --out FILE")
    if args.out is not None:
        check_output_file(args.out, inputs=[args.table, *([args.audio] if args.audio else [])])
    nyquist = args.nyquist
    if nyquist is None and args.audio:
        from specview.audio import audio_info

        nyquist = audio_info(args.audio)[0] / 2
    imp = A.import_table(args.table, audio=args.audio, nyquist=nyquist,
                         label_column=args.label_column)
    col = f", labels from column {imp.label_column!r}" if imp.format == "raven" else ""
    print(f"{args.table}: {imp.format}, {len(imp.boxes)} box(es){col}")
    for b in imp.boxes:
        sel = f"#{b.selection} " if b.selection is not None else ""
        print(f"  {sel}{b.t0:.6g}-{b.t1:.6g} s  {b.f0:.6g}-{b.f1:.6g} Hz  {b.label}")
    if imp.other_files:
        n = sum(imp.other_files.values())
        print(f"{n} more box(es) belong to other recordings: "
              + ", ".join(f"{k} ({v})" for k, v in sorted(imp.other_files.items())))
    if args.out is not None:
        A.export_boxes(args.out, imp.boxes, fmt=args.to)
        print(f"{args.out}: {len(imp.boxes)} box(es) written as {args.to}")
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from specview.demo import make_demo_data

    machines = args.machines or None
    out = _with_bar("generating", lambda p: make_demo_data(args.out, seed=args.seed,
                                                             machines=machines, progress=p,
                                                             force=args.force))
    for path in out:  # type: ignore[union-attr]
        print(path)
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from specview import pipeline
    from specview.params import parse_overrides

    _set_threads(args.threads)
    overrides = parse_overrides(args.set)
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise SpecviewError(f"--out {out}: model files end in .safetensors")
    check_output_file(out, inputs=[args.train])  # before the fit, not after it
    model = pipeline.build(args.method, args.encoder, overrides, device=args.device)
    bar = _Bar(f"fitting {args.method}")

    def on_epoch(entry: dict) -> None:
        # trained methods (CFA, STFPM) report each epoch's losses: show them as they come
        val = "" if entry.get("val_loss") is None else f", validation {entry['val_loss']:.5g}"
        line = f"epoch {entry['epoch']}: loss {entry['train_loss']:.5g}{val}"
        if sys.stderr.isatty():
            bar.set_postfix(line)
        else:
            print(line, file=sys.stderr, flush=True)

    train, channel = args.train, _dataset_channel(args)
    from specview.datasets import is_dataset, load_dataset

    if is_dataset(args.train):
        ds = load_dataset(args.train, subset=args.subset, channel=channel)
        train, channel = ds.train, ds.channel
    elif channel == DEFAULT_CHANNEL:  # a folder of recordings: the mean of their channels
        channel = None
    try:
        pipeline.fit(train, channel=channel, progress=bar, on_epoch=on_epoch, model=model,
                     resample=args.resample)
    finally:
        bar.close()
    model.save(out)
    info = model.info
    print(f"{out}: {args.method} on {args.encoder}, {info['n_train_clips']} clips "
          f"({info['train_seconds']:.1f} s of audio) in {info['fit_seconds']:.1f} s")
    history = getattr(model.detector, "history", None)
    if history:
        best = getattr(model.detector, "best_epoch", None)
        print(f"trained {len(history)} epochs, final loss {history[-1]['train_loss']:.5g}"
              + (f", kept epoch {best} (validation loss)" if best and any(
                  h.get("val_loss") is not None for h in history) else ""))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from specview import pipeline, scoring

    resume = getattr(args, "resume", False)
    if resume and (args.cluster is not None or args.workers is not None):
        raise SpecviewError("--resume works in a single-process run only: leave out --cluster/"
                            "--workers to resume, or score afresh on the cluster without "
                            "--resume")
    _set_threads(args.threads)
    check_output_folder(args.out, inputs=[args.model, *args.inputs])
    if args.cluster is not None or args.workers is not None:  # issue 17: on a Dask cluster
        from specview.cluster_cli import cmd_score_cluster

        return cmd_score_cluster(args, _dataset_channel(args))
    model = pipeline.load_model(args.model, device=args.device)
    ch = _dataset_channel(args)
    from specview import longscore

    def said(path: Path, seconds: float, took: float) -> None:
        if seconds > longscore.LONG_SECONDS:  # a long recording: one line when it is done
            print(f"{path}: {seconds / 3600:.2f} h scored in {took:.0f} s "
                  f"({seconds / max(took, 1e-9):.0f}x real time)", file=sys.stderr)

    bar = _AudioBar("scoring")
    stop = _GracefulStop()
    try:
        with stop:
            rows = scoring.score_files(model, args.inputs, args.out, channel=ch, progress=bar,
                                       subset=args.subset, per_hour=args.false_flags_per_hour,
                                       on_file=said, resume=resume, should_stop=stop)
    except InterruptedError:  # the first Ctrl+C: stopped at a window, its work kept
        if not stop.requested:
            raise
        rows = None
    finally:
        bar.close()
    if rows is None:
        print(f"specview: stopped; the work done is kept in {Path(args.out) / 'long'}: run "
              "the same command with --resume to continue", file=sys.stderr)
        return 130
    print(f"{Path(args.out) / 'scores.csv'}: {len(rows)} clip(s) scored")
    for r in rows:
        if "events" in r:
            print(f"{r['file']}: {r['events']} flagged event(s) "
                  f"({r['events_per_hour']:.1f} per hour), {Path(args.out) / r['map']}")
    return 0


class _GracefulStop:
    """``should_stop`` of ``specview score``: while installed (``with``), the first Ctrl+C
    asks the run to stop at the next window (it keeps its work for ``--resume``); a second
    one raises :class:`KeyboardInterrupt` as usual. The previous handler is restored after."""

    def __init__(self) -> None:
        self.requested = False
        self._old: object = None
        self._installed = False

    def __call__(self) -> bool:
        return self.requested

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nspecview: stopping after the current window (Ctrl+C again to stop now); run "
              "the same command with --resume to continue from there", file=sys.stderr)

    def __enter__(self) -> _GracefulStop:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():  # (signals: main only)
            self._old = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        import signal

        if self._installed:  # (None: a handler not set from Python; the default then)
            signal.signal(signal.SIGINT, signal.SIG_DFL if self._old is None else self._old)
            self._installed = False


def cmd_render(args: argparse.Namespace) -> int:
    """A figure of the view (:mod:`specview.render`)."""
    from specview.annotations import load_sidecar
    from specview.audio import audio_info, load_audio
    from specview.display import DisplaySettings
    from specview.render import FORMATS, view_figure, write_figure

    out = Path(args.out)
    if out.suffix.lower() not in FORMATS:
        raise SpecviewError(f"--out {out}: write the figure as {', '.join(FORMATS)}")
    check_output_file(out, inputs=[args.audio, args.model])
    settings = DisplaySettings(
        n_fft=args.fft, window=args.window, overlap=args.overlap, zero_padding=args.zero_padding,
        scale=args.scale, fmin=args.fmin or 0.0, fmax=args.fmax, gain_db=args.gain,
        db_range=args.db_range, db_ceiling=args.db_ceiling, colormap=args.colormap)
    sr, _, duration = audio_info(args.audio)
    t0 = args.start or 0.0
    t1 = min(duration, args.end) if args.end is not None else duration
    if t1 <= t0:
        raise SpecviewError(f"--start {t0:g} --end {t1:g}: an empty span (the recording is "
                            f"{duration:.3f} s long)")
    model = None
    channel = None
    if args.model:
        from specview import pipeline

        model = pipeline.load_model(args.model, device="cpu")
        channel = model.info.get("channel")
    audio = load_audio(args.audio, channel=channel, start=t0, end=t1)
    heat = flagged = None
    heat_t = heat_f = None
    if model is not None:
        result = _score_span(model, Path(args.audio), t0, t1, duration)
        cal = model.calibration
        heat = cal.calibrated(result.map) if cal is not None else result.map
        heat_t, heat_f = result.times, result.freqs
        from specview.types import FlaggedRegion

        flagged = [FlaggedRegion(r.box, float(cal.calibrated([[r.score]])[0, 0]), r.n_cells)
                   for r in model.flagged(result)] if cal is not None else []
    boxes = load_sidecar(args.audio).boxes if args.boxes else []
    fig = view_figure(audio.samples, audio.sr, start=t0, settings=settings, heat=heat,
                      heat_times=heat_t, heat_freqs=heat_f, boxes=boxes, flagged=flagged or (),
                      span=(t0, t1), size_px=(args.width, args.height), dpi=args.dpi,
                      title=f"{Path(args.audio).name}" + (f" - {model.method}" if model else ""))
    write_figure(fig, out)
    print(f"{out}: {args.width}x{args.height} px, {t0:g}-{t1:g} s")
    return 0


def _score_span(model, path: Path, t0: float, t1: float, duration: float):
    """The model's result over ``t0``-``t1`` s with times in seconds of the recording: the whole
    file when it is short, else the span with 30 s of context each side."""
    from specview.longscore import LONG_SECONDS
    from specview.types import AnomalyResult

    if duration <= LONG_SECONDS:
        return model.score_file(path).result
    from specview.audio import load_audio, resample
    from specview.types import Audio

    model.check_recording(path)
    a, b = max(0.0, t0 - 30.0), min(duration, t1 + 30.0)
    fe = model.encoder.front_end
    rate = model.band_sr or fe.sr
    audio = load_audio(path, sr=rate, channel=model.info.get("channel"), start=a, end=b)
    if rate != fe.sr:
        audio = Audio(resample(audio.samples, rate, fe.sr), fe.sr, path)
    r = model.score_audio(audio).result
    return AnomalyResult(r.map, r.times + a, r.freqs, r.clip_score, r.frame_scores,
                         extras=r.extras)


def cmd_play(args: argparse.Namespace) -> int:
    from specview.audio import load_audio
    from specview.playback import Player, render

    if args.anomaly_only and args.without_anomaly:
        raise SpecviewError("--anomaly-only and --without-anomaly exclude each other: give one")
    mask = "anomaly" if args.anomaly_only else "without" if args.without_anomaly else None
    if mask and not args.model:
        flag = "--anomaly-only" if args.anomaly_only else "--without-anomaly"
        raise SpecviewError(f"{flag} needs --model M: the mask comes from the model's anomaly map")
    if args.model and not mask:
        raise SpecviewError(f"--model {args.model}: say what to hear with it, --anomaly-only or "
                            "--without-anomaly")
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() != ".wav":
        raise SpecviewError(f"--out {out}: the rendered signal is written as a float WAV (.wav)")
    if out is not None:
        check_output_file(out, inputs=[args.audio, args.model])
    result = calibration = model = None
    channel = None
    if args.model:
        from specview import pipeline

        model = pipeline.load_model(args.model, device="cpu")
        channel = model.info.get("channel")
    audio = load_audio(args.audio, channel=channel)
    _check_listening(audio, args)  # span and band against the clip, before any scoring
    if model is not None:
        result = model.score_file(args.audio).result
        calibration = model.calibration
    signal = render(audio.samples, audio.sr, start=args.start, end=args.end,
                    band=tuple(args.band) if args.band else None, mask=mask, result=result,
                    calibration=calibration, speed=args.speed)
    if out is not None:
        import soundfile as sf

        with atomic_output(out, protect=[args.audio, args.model]) as tmp:  # tmp ends in .wav
            sf.write(str(tmp), signal, audio.sr, subtype="FLOAT", format="WAV")
        print(f"{out}: {len(signal) / audio.sr:.3f} s at {audio.sr} Hz")
        return 0
    ok, why = Player.available()
    if not ok:
        raise SpecviewError(f"cannot play: {why}; use --out OUT.wav to write the signal instead")
    player = Player()
    print(f"playing {len(signal) / audio.sr:.3f} s of {args.audio} (Ctrl+C stops)", flush=True)
    player.play(signal, audio.sr)
    try:
        while not player.wait(0.1):
            pass
    finally:
        player.close()
    return 0


def _check_listening(audio, args: argparse.Namespace) -> None:
    """Refuse a ``play`` span or band that does not fit the clip (one line, before work)."""
    from specview.errors import ParameterError

    dur, nyq = audio.duration, audio.sr / 2
    if args.start is not None and args.start >= dur:
        raise ParameterError(f"--start {args.start:g}: the clip is {dur:.3f} s long")
    if args.start is not None and args.end is not None and args.end <= args.start:
        raise ParameterError(f"--end {args.end:g} must come after --start {args.start:g}")
    if args.band:
        f0, f1 = args.band
        if f1 <= f0:
            raise ParameterError(f"--band {f0:g} {f1:g}: the second edge must be above the first")
        if f0 >= nyq:
            raise ParameterError(f"--band {f0:g} {f1:g}: starts at or above the clip's Nyquist "
                                 f"frequency ({nyq:g} Hz at {audio.sr} Hz)")


def _print_summary(report: dict) -> None:
    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    c, sp, t, b = report["clip"], report["spectrogram"], report["temporal"], report["boxes"]
    print(f"clip:        AUROC {f(c['auroc'])}  pAUC {f(c['pauc'])}  AP {f(c['ap'])}  "
          f"F1max {f(c['f1_max'])}")
    print(f"spectrogram: AUROC {f(sp['auroc'])}  AP {f(sp['ap'])}  F1max {f(sp['f1_max'])}  "
          f"AU-PRO {f(sp['aupro'])}  AUPIMO {f(sp.get('aupimo'))}  (truth: {sp['gt'] or 'none'})")
    if report.get("spectrogram_energy") and sp.get("gt") != "energy":
        e = report["spectrogram_energy"]
        print(f"energy mask: AUROC {f(e['auroc'])}  AU-PRO {f(e['aupro'])}  MSE {f(e.get('mse'))}")
    print(f"temporal:    AUROC {f(t['auroc'])}  AP {f(t['ap'])}  F1max {f(t['f1_max'])}")
    print(f"boxes:       precision {f(b['precision'])}  recall {f(b['recall'])}  F1 {f(b['f1'])}  "
          f"(IoU >= {b['min_iou']:g})")
    fa = report.get("faithfulness")
    if fa:
        print(f"faithfulness: deletion AUC {f(fa['map_auc'])} (random order {f(fa['random_auc'])})"
              f" over {fa['n_clips']} clips")
    for lv, entry in report.get("by_level", {}).items():
        cl = entry.get("clip") or {}
        spl = entry.get("spectrogram") or {}
        print(f"  at {lv} dB: clip AUROC {f(cl.get('auroc'))}, spectrogram AUROC "
              f"{f(spl.get('auroc'))} ({entry['n_anomalous']} anomalous clips)")


def _dataset_channel(args: argparse.Namespace):
    """``--channel`` as given; ``mean`` -> None; unset -> :data:`DEFAULT_CHANNEL` (the
    dataset's or the model's own)."""
    raw = getattr(args, "channel", None)
    if raw is None:
        return DEFAULT_CHANNEL
    if str(raw).lower() == "mean":
        return None
    try:
        return int(raw)
    except ValueError:
        raise SpecviewError(f"--channel {raw!r}: give a channel number (0 = first) or mean") from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from specview import pipeline
    from specview.datasets import load_dataset
    from specview.evaluation import evaluate

    _set_threads(args.threads)
    check_output_folder(args.out, inputs=[args.model, args.dataset])
    if args.cluster is not None or args.workers is not None:  # issue 17: on a Dask cluster
        from specview.cluster_cli import cmd_evaluate_cluster

        return cmd_evaluate_cluster(args, _dataset_channel(args), _print_summary)
    model = pipeline.load_model(args.model, device=args.device)
    ds = load_dataset(args.dataset, subset=args.subset, channel=_dataset_channel(args))
    from specview.audio import audio_info

    # the bar counts seconds of audio, with the real-time factor (a header read per clip)
    ends = [0.0]
    for clip in ds.test:
        try:
            ends.append(ends[-1] + audio_info(clip.path)[2])
        except SpecviewError:
            ends.append(ends[-1])  # evaluate refuses it with its own message
    bar = _AudioBar("evaluating")
    try:
        report, _ = evaluate(  # type: ignore[misc]
            model, ds, args.out, min_iou=args.iou, flag_rate=args.flag_rate,
            faithfulness=not args.no_faithfulness, figures=not args.no_figures,
            progress=lambda i, n: bar(ends[min(i, len(ends) - 1)], ends[-1]))
    finally:
        bar.close()
    _print_summary(report)
    print(f"{Path(args.out) / 'metrics.json'}: {report['n_clips']['test']} clips evaluated")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from specview.comparison import compare
    from specview.params import parse_overrides

    _set_threads(args.threads)
    check_output_folder(args.out, inputs=[args.dataset])
    if args.cluster is not None or args.workers is not None:  # issue 17: on a Dask cluster
        from specview.cluster_cli import cmd_compare_cluster

        return cmd_compare_cluster(args)
    rows = compare(args.dataset, args.out, methods=args.methods, encoders=args.encoders,
                   subset=args.subset, overrides=parse_overrides(args.set), device=args.device,
                   faithfulness=not args.no_faithfulness, figures=not args.no_figures,
                   log=lambda line: print(line, flush=True))
    print((Path(args.out) / "comparison.md").read_text(encoding="utf-8"))
    print(f"{Path(args.out) / 'comparison.csv'}: {len(rows)} row(s)")
    return 0


def cmd_build_envmix(args: argparse.Namespace) -> int:
    from specview.envmix import build_envmix

    refuse_same_file(args.out, [args.urbansound8k, args.esc50])
    summary = _with_bar("mixing", lambda p: build_envmix(
        args.urbansound8k, args.esc50, args.background, args.out, seed=args.seed,
        levels_db=tuple(args.levels), clip_seconds=args.clip_seconds, sr=args.sr,
        train_fraction=args.train_fraction, progress=p))
    s = summary  # type: ignore[assignment]
    print(f"{s.root}: {s.n_train} training clips, {s.n_test_normal} normal and "
          f"{s.n_test_anomalous} anomalous test clips of {s.clip_seconds:g} s "
          f"({s.n_short_skipped} background slices shorter than that skipped)")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from specview.detectors import DETECTORS
    from specview.encoders import ENCODERS
    from specview.params import describe

    print("Methods (--method NAME, parameters via --set key=value):")
    for name, cls in DETECTORS.items():
        print(f"\n  {name}: {cls.description}")
        for field_name, tp, default, help_ in describe(cls.Params):
            print(f"    {field_name} ({tp}, default {default!r}): {help_}")
    print("\nEncoders (--encoder NAME):")
    for name, cls in ENCODERS.items():
        print(f"\n  {name}: {cls.provenance}")
        try:
            d = cls(cls.Params()).describe()
        except SpecviewError as exc:
            print(f"    (not available here: {str(exc).splitlines()[0]})")
        else:
            print(f"    front end: {d['front_end']}")
            for layer in d["layers"]:
                print(f"    layer {layer}")
        for field_name, tp, default, help_ in describe(cls.Params):
            print(f"    {field_name} ({tp}, default {default!r}): {help_}")
    return 0
