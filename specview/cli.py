"""Command line: ``specview [gui|demo-data|build-envmix|fit|score|evaluate|compare|monitor|methods] ...``.

Headless commands call the same functions as the GUI. Bad input ends in one clear line on
stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

from specview import __version__
from specview.cli_commands import (
    cmd_boxes,
    cmd_build_envmix,
    cmd_compare,
    cmd_demo_data,
    cmd_evaluate,
    cmd_fit,
    cmd_gui,
    cmd_methods,
    cmd_play,
    cmd_render,
    cmd_score,
)
from specview.errors import Cancelled, SpecviewError, SpecviewWarning
from specview.monitor_cli import cmd_monitor

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
    s.add_argument("--false-flags-per-hour", type=number(low=0, low_open=True), default=None,
                   metavar="R",
                   help="flag threshold of recordings over 5 minutes (scored in a stream into "
                        "long/<name>.zarr): R false flags per hour of normal audio (default: "
                        "the model's calibrated rate, e.g. 36 for 5 %% of 5-s clips)")
    s.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="score on the Dask scheduler at ADDRESS (e.g. tcp://10.0.0.5:8786; "
                        "pip install specview[cluster])")
    s.add_argument("--workers", type=number(int, low=1), default=None, metavar="N",
                   help="score on a local Dask cluster of N single-threaded worker processes")
    s.add_argument("--resume", action="store_true",
                   help="go on from where an interrupted run on the same --out stopped: long "
                        "recordings continue from their last window (Ctrl+C stops a run at "
                        "the next window and keeps its work in <out>/long/.<name>.zarr.partial)")
    s.set_defaults(func=cmd_score)

    rn = sub.add_parser("render", help="a figure of the view: spectrogram, heatmap, boxes")
    rn.add_argument("audio", help="audio file")
    rn.add_argument("--model", default=None, help="model file: draw its heatmap and flags")
    rn.add_argument("--start", type=number(low=0), default=None, help="start (s)")
    rn.add_argument("--end", type=number(low=0, low_open=True), default=None, help="end (s)")
    rn.add_argument("--fmin", type=number(low=0), default=None, help="lowest frequency (Hz)")
    rn.add_argument("--fmax", type=number(low=0, low_open=True), default=None,
                    help="highest frequency (Hz)")
    rn.add_argument("--fft", type=number(int, low=256, high=16384), default=2048,
                    help="FFT window length (samples, 256-16384; default 2048)")
    rn.add_argument("--window", default="hann", help="window function (default hann)")
    rn.add_argument("--overlap", type=number(low=0, high=0.95), default=0.75,
                    help="window overlap (0-0.95; default 0.75)")
    rn.add_argument("--zero-padding", type=number(int, low=1, high=8), default=1,
                    help="FFT length = window x this (1, 2, 4, 8)")
    rn.add_argument("--scale", choices=["linear", "log", "mel"], default="linear",
                    help="frequency scale (default linear)")
    rn.add_argument("--db-range", type=number(low=0, low_open=True), default=80.0,
                    help="dB shown below the ceiling (default 80)")
    rn.add_argument("--db-ceiling", type=number(), default=None,
                    help="top of the colour range (dB re full-scale sine; default automatic)")
    rn.add_argument("--gain", type=number(), default=0.0, help="gain (dB)")
    rn.add_argument("--colormap", default="viridis", help="colour map (default viridis)")
    rn.add_argument("--boxes", action="store_true",
                    help="draw the recording's boxes (its Raven sidecar)")
    rn.add_argument("--width", type=number(int, low=200, high=20000), default=1600,
                    help="figure width (px; default 1600)")
    rn.add_argument("--height", type=number(int, low=150, high=20000), default=900,
                    help="figure height (px; default 900)")
    rn.add_argument("--dpi", type=number(int, low=50, high=1200), default=100)
    rn.add_argument("--out", required=True, help="figure file: .png, .pdf or .svg")
    rn.set_defaults(func=cmd_render)

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
    ev_common.add_argument("--cluster", default=None, metavar="ADDRESS",
                           help="run on the Dask scheduler at ADDRESS (e.g. tcp://10.0.0.5:8786; "
                                "pip install specview[cluster])")
    ev_common.add_argument("--workers", type=number(int, low=1), default=None, metavar="N",
                           help="run on a local Dask cluster of N single-threaded worker "
                                "processes")

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

    mo = sub.add_parser("monitor", help="score live audio (an input device, or a recording "
                                         "replayed), save its events as a dataset and alert "
                                         "on them (MQTT, webhook)")
    mo.add_argument("--model", default=None, help="model file (.safetensors)")
    mo.add_argument("--input", default=None, metavar="DEVICE_OR_FILE",
                    help="a recording to replay, or a PortAudio input device: its number or "
                         "(part of) its name, or default (see --list-devices)")
    mo.add_argument("--out", default=None, metavar="EVENTS_DIR",
                    help="events folder: test/<event>.wav clips with Raven sidecars, "
                         "events.jsonl")
    mo.add_argument("--speed", default=None, metavar="X",
                    help="replay speed of a file: 1 real time (default), 4 four times as fast, "
                         "0 or max as fast as possible")
    mo.add_argument("--mqtt", default=None, metavar="HOST:PORT", help="MQTT broker for alerts")
    mo.add_argument("--topic", default=None, metavar="T",
                    help="MQTT topic: an alert per event as it opens; its final record on "
                         "T/closed")
    mo.add_argument("--mqtt-qos", type=int, choices=(0, 1, 2), default=1,
                    help="MQTT quality of service (default 1: acknowledged by the broker)")
    mo.add_argument("--webhook", default=None, metavar="URL",
                    help="POST each alert and final record as JSON here (retried with backoff)")
    mo.add_argument("--false-flags-per-hour", type=number(low=0, low_open=True), default=None,
                    metavar="R", help="flag threshold: R false flags per hour of normal audio "
                                      "(default: the model's calibrated rate)")
    mo.add_argument("--pre-roll", type=number(low=0, high=60), default=5.0,
                    help="seconds kept before an event in its clip (default 5)")
    mo.add_argument("--post-roll", type=number(low=0, high=60), default=5.0,
                    help="seconds kept after an event in its clip (default 5)")
    mo.add_argument("--hold", type=number(low=0, low_open=True, high=60), default=1.0,
                    help="an event closes this many seconds after its last cell above the "
                         "release level (default 1)")
    mo.add_argument("--release", type=number(low=0, low_open=True, high=1), default=0.8,
                    help="release level, in multiples of the flag threshold: an open event "
                         "stays open while a cell reaches it (default 0.8)")
    mo.add_argument("--min-duration", type=number(low=0, high=60), default=0.0,
                    help="seconds a flagged region must last before an event opens (default 0)")
    mo.add_argument("--max-event", type=number(low=1, high=3600), default=60.0,
                    help="an event open this long is closed and a new one opens (default 60 s)")
    mo.add_argument("--max-events-per-hour", type=number(low=0, low_open=True), default=60.0,
                    metavar="N", help="rate limit: events beyond N in an hour are counted, not "
                                      "saved or alerted (default 60)")
    mo.add_argument("--core", type=number(low=0.05, high=10), default=0.4, metavar="S",
                    help="seconds of a live window's core (default 0.4: two aisfx cells)")
    mo.add_argument("--right-cells", type=number(int, low=0, high=64), default=5, metavar="N",
                    help="feature cells of audio scored ahead of a core (default 5: the live "
                         "map equals the whole-file map; fewer cut latency)")
    mo.add_argument("--record", default=None, metavar="DIR",
                    help="also keep a rolling recording of the input here (16-bit WAV files)")
    mo.add_argument("--record-max-mb", type=number(low=1), default=None, metavar="N",
                    help="size cap of the rolling recording; the oldest files go first")
    mo.add_argument("--samplerate", type=number(int, low=1000, high=1_000_000), default=None,
                    help="device sample rate (default: the device's own)")
    mo.add_argument("--channels", type=number(int, low=1, high=256), default=None,
                    help="device channels to open (default: all its inputs)")
    mo.add_argument("--channel", default=None,
                    help="channel scored: a number (0 = first) or mean (default: the model's)")
    mo.add_argument("--threads", type=number(int, low=1), default=None,
                    help="CPU threads for torch (default 1: the short windows gain little "
                         "from more, and the audio keeps a core)")
    mo.add_argument("--status-every", type=number(low=0), default=60.0, metavar="S",
                    help="log a status line every S seconds (default 60; 0: never)")
    mo.add_argument("--list-devices", action="store_true", help="list PortAudio devices and exit")
    mo.set_defaults(func=cmd_monitor)

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
