"""Command line: ``specview [gui|demo-data|build-envmix|fit|score|evaluate|compare|methods] ...``.

Headless commands call the same functions as the GUI. Bad input ends in one clear line on
stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from specview import __version__
from specview.errors import Cancelled, SpecviewError, SpecviewWarning
from specview.fileio import atomic_output, check_output_file, check_output_folder, refuse_same_file

EXIT_ERROR = 2


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``specview: error: ...``, exit status 2
    (argparse's own prints the usage block first). Sub-command parsers are of this class too,
    and name their command in the message."""

    def error(self, message: str):  # type: ignore[override]
        command = self.prog.removeprefix("specview").strip()
        where = f"{command}: " if command else ""
        hint = f" (see specview {command} --help)" if command else " (see specview --help)"
        print(f"specview: error: {where}{message}{hint}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def number(kind: type = float, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, what: str = ""):
    """An argparse ``type`` for a finite number (``kind`` int or float) in a range; the error
    names the range. ``low_open``/``high_open`` exclude the bound itself."""

    def convert(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number")
        if (low is not None and (v < low or (low_open and v == low))) or (
                high is not None and (v > high or (high_open and v == high))):
            lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
            hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
            raise argparse.ArgumentTypeError(
                f"{text}: must be {' and '.join(x for x in (lo, hi) if x)}{what}")
        return v

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the CLI: a SpecviewWarning is one ``specview: warning:``
    line; any other warning keeps Python's format."""
    if issubclass(category, SpecviewWarning):
        text = " ".join(str(message).split())
        print(f"specview: warning: {text}", file=sys.stderr if file is None else file)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line).rstrip(),
              file=sys.stderr if file is None else file)


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
        kw = {} if channel == "default" else {"channel": channel}
        ds = load_dataset(args.train, subset=args.subset, **kw)
        train, channel = ds.train, ds.channel
    elif channel == "default":
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
    from specview import pipeline

    _set_threads(args.threads)
    check_output_folder(args.out, inputs=[args.model, *args.inputs])
    model = pipeline.load_model(args.model, device=args.device)
    ch = _dataset_channel(args)
    rows = _with_bar("scoring", lambda p: pipeline.score_files(
        model, args.inputs, args.out, channel="fitted" if ch == "default" else ch, progress=p,
        subset=args.subset))
    print(f"{Path(args.out) / 'scores.csv'}: {len(rows)} clip(s) scored")  # type: ignore[arg-type]
    return 0


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
    """``--channel`` as given; ``mean`` -> None; unset -> the dataset's own default."""
    raw = getattr(args, "channel", None)
    if raw is None:
        return "default"
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
    model = pipeline.load_model(args.model, device=args.device)
    ch = _dataset_channel(args)
    kw = {} if ch == "default" else {"channel": ch}
    ds = load_dataset(args.dataset, subset=args.subset, **kw)
    report, _ = _with_bar("evaluating", lambda p: evaluate(  # type: ignore[misc]
        model, ds, args.out, min_iou=args.iou, flag_rate=args.flag_rate,
        faithfulness=not args.no_faithfulness, figures=not args.no_figures, progress=p))
    _print_summary(report)
    print(f"{Path(args.out) / 'metrics.json'}: {report['n_clips']['test']} clips evaluated")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from specview.comparison import compare
    from specview.params import parse_overrides

    _set_threads(args.threads)
    check_output_folder(args.out, inputs=[args.dataset])
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


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="specview",
        description="Explainable audio anomaly detection: anomaly heatmaps over spectrograms.",
    )
    p.add_argument("--version", action="version", version=f"specview {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("gui", help="open the window (the default without a command)")
    g.add_argument("path", nargs="?", help="recording, folder or dataset to open")
    g.add_argument("--model", help="model file (.safetensors) to load")
    g.add_argument("--demo", action="store_true",
                   help="open the built-in demo (generated and fitted on first use)")
    g.add_argument("--compare", nargs="+", metavar="MODEL",
                   help="open straight into the side-by-side comparison of 2-4 model files")
    g.add_argument("--label-column", default=None, metavar="COLUMN",
                   help="Raven column that holds the labels (default: Annotation, then "
                        "Species, Class, Label, Type, ... as the README says)")
    g.set_defaults(func=cmd_gui)

    bx = sub.add_parser("boxes", help="list the boxes of a Raven, Audacity or JSON file, or "
                                      "convert it (every column of a Raven table kept)")
    bx.add_argument("table", help="annotation file")
    bx.add_argument("--audio", default=None,
                    help="the recording: only its rows of a multi-recording table are taken")
    bx.add_argument("--label-column", default=None, metavar="COLUMN",
                    help="Raven column that holds the labels (default: the documented rule)")
    bx.add_argument("--nyquist", type=number(float, low=0, low_open=True), default=None,
                    help="upper edge (Hz) of Audacity labels without a band (default: from "
                         "--audio)")
    bx.add_argument("--to", choices=("raven", "audacity", "json"), default=None,
                    help="convert to this format (with --out)")
    bx.add_argument("--out", default=None, help="file to write (refused if it is an input)")
    bx.set_defaults(func=cmd_boxes)

    d = sub.add_parser("demo-data", help="write the synthetic demo datasets")
    d.add_argument("out", help="output folder (one dataset per machine type inside)")
    d.add_argument("--seed", type=number(int, low=0), default=0)
    d.add_argument("--machines", nargs="*", help="machine types (default: all)")
    d.add_argument("--force", action="store_true",
                   help="regenerate over a folder holding a demo dataset whose files were "
                        "changed, or other files (the demo's files are overwritten, files of "
                        "other names are left alone); without it such a folder is refused")
    d.set_defaults(func=cmd_demo_data)

    common = Parser(add_help=False)
    common.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda")
    common.add_argument("--channel", default=None,
                        help="audio channel: a number (0 = first) or mean (default: mean, or "
                             "the dataset's own choice, channel 0 for MIMII)")
    common.add_argument("--threads", type=number(int, low=1), default=None,
                        help="CPU threads for torch (>= 1)")

    f = sub.add_parser("fit", parents=[common], help="fit a detector on normal recordings")
    f.add_argument("train", help="dataset folder (its train/), folder of audio files, or a file")
    f.add_argument("--method", default="patchcore")
    f.add_argument("--encoder", default="aisfx")
    f.add_argument("--out", required=True, help="model file to write (.safetensors)")
    f.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a method or encoder parameter (see `specview methods`)")
    f.add_argument("--subset", default=None,
                   help="which subset of a multi-part dataset (MIMII/DCASE machine id)")
    f.add_argument("--resample", action="store_true",
                   help="accept training clips of different sample rates by resampling them "
                        "all to the lowest (without it they are refused)")
    f.set_defaults(func=cmd_fit)

    s = sub.add_parser("score", parents=[common], help="score recordings with a fitted model")
    s.add_argument("model", help="model file (.safetensors)")
    s.add_argument("inputs", nargs="+", help="files, folders, or a dataset folder (its test/)")
    s.add_argument("--out", required=True, help="output folder (scores.csv, maps/*.npz)")
    s.add_argument("--subset", default=None,
                   help="which subset of a multi-part dataset (MIMII/DCASE machine id)")
    s.set_defaults(func=cmd_score)

    pl = sub.add_parser("play", help="listen to a recording: a span, a band, slowed down, or "
                                     "only (or without) its anomaly")
    pl.add_argument("audio", help="audio file")
    pl.add_argument("--start", type=number(low=0), default=None,
                    help="start (s; default: clip start)")
    pl.add_argument("--end", type=number(low=0, low_open=True), default=None,
                    help="end (s; default: clip end)")
    pl.add_argument("--band", type=number(low=0), nargs=2, metavar=("F0", "F1"),
                    help="keep only F0..F1 Hz (F0 = 0: low-pass)")
    pl.add_argument("--model", help="model file (.safetensors) whose anomaly map masks the sound")
    pl.add_argument("--anomaly-only", action="store_true",
                    help="play only what the model's map marks as anomalous (needs --model)")
    pl.add_argument("--without-anomaly", action="store_true",
                    help="play the clip with the anomalous part removed (needs --model)")
    pl.add_argument("--speed", type=number(low=0.25, high=2.0), default=1.0,
                    help="0.25-2; below 1 slower and lower in pitch (default 1)")
    pl.add_argument("--out", help="write the signal to this WAV (32-bit float) instead of "
                                  "playing it")
    pl.set_defaults(func=cmd_play)

    ev_common = Parser(add_help=False)
    ev_common.add_argument("--subset", default=None,
                           help="which subset of a multi-part dataset (MIMII/DCASE machine id)")
    ev_common.add_argument("--no-faithfulness", action="store_true",
                           help="skip the deletion test (re-scores each anomalous clip 16 times)")
    ev_common.add_argument("--no-figures", action="store_true", help="write no PNG figures")

    e = sub.add_parser("evaluate", parents=[common, ev_common],
                       help="score a dataset's test clips and measure clip, spectrogram, "
                            "temporal and box metrics")
    e.add_argument("model", help="model file (.safetensors)")
    e.add_argument("dataset", help="dataset folder (generic, MIMII, DCASE or EnvMix layout)")
    e.add_argument("--out", required=True, help="report folder (metrics.json, per_clip.csv, "
                                                "maps/, figures)")
    e.add_argument("--iou", type=number(low=0, high=1, low_open=True), default=0.3,
                   help="IoU at which a flagged region matches a truth box (default 0.3)")
    e.add_argument("--flag-rate", type=number(low=0, high=1, low_open=True, high_open=True),
                   default=None,
                   help="share of normal clips the flag threshold may flag, estimated on the "
                        "model's held-out normal clips (default 0.05)")
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("compare", parents=[common, ev_common],
                       help="fit and evaluate several methods x encoders on one dataset")
    c.add_argument("dataset", help="dataset folder")
    c.add_argument("--methods", nargs="+", default=["patchcore", "padim", "cfa", "stfpm", "zscore"],
                   help="methods to compare (default: the four and the zscore baseline)")
    c.add_argument("--encoders", nargs="+", default=["aisfx"])
    c.add_argument("--out", required=True, help="output folder")
    c.add_argument("--set", action="append", metavar="NAME.KEY=VALUE",
                   help="override a parameter of one method or encoder, e.g. stfpm.epochs=20")
    c.set_defaults(func=cmd_compare)

    b = sub.add_parser("build-envmix",
                       help="mix ESC-50 events into UrbanSound8K backgrounds (EnvMix dataset)")
    b.add_argument("--urbansound8k", required=True, help="UrbanSound8K folder (audio/, metadata/)")
    b.add_argument("--esc50", required=True, help="ESC-50 folder (audio/, meta/)")
    b.add_argument("--background", required=True,
                   help="UrbanSound8K class used as background, e.g. engine_idling")
    b.add_argument("--out", required=True, help="dataset folder to write")
    b.add_argument("--seed", type=number(int, low=0), default=0)
    b.add_argument("--levels", type=number(low=-60, high=60, what=" dB"), nargs="+",
                   default=[6.0, 0.0, -6.0],
                   help="event-to-background ratios in dB (default 6 0 -6)")
    b.add_argument("--clip-seconds", type=number(low=0.1, high=3600), default=4.0,
                   help="clip length (default 4)")
    b.add_argument("--sr", type=number(int, low=1000, high=1_000_000), default=44100,
                   help="sample rate written (default 44100)")
    b.add_argument("--train-fraction", type=number(low=0, high=1, low_open=True, high_open=True),
                   default=0.75,
                   help="share of background clips used for training (default 0.75)")
    b.set_defaults(func=cmd_build_envmix)

    m = sub.add_parser("methods", help="list methods, encoders and their parameters")
    m.set_defaults(func=cmd_methods)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error is one ``specview: error: ...`` line and exit status 2,
    every :class:`~specview.errors.SpecviewWarning` one ``specview: warning: ...`` line."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", SpecviewWarning)
        warnings.showwarning = _print_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a refused command line (2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if args.command is None:
        return cmd_gui(args)
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        print("specview: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("specview: interrupted", file=sys.stderr)
        return 130
    except SpecviewError as exc:
        print(f"specview: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"specview: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print("specview: error: out of memory: use shorter or fewer recordings, or a machine "
              "with more memory", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
