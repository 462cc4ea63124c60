"""Command line: ``specview [gui|demo-data|fit|score|methods] ...``.

Headless commands call the same functions as the GUI. Bad input ends in one clear line on
stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from specview import __version__
from specview.errors import Cancelled, SpecviewError

EXIT_ERROR = 2


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
    return run_gui(paths, model=getattr(args, "model", None), demo=getattr(args, "demo", False))


def cmd_demo_data(args: argparse.Namespace) -> int:
    from specview.demo import make_demo_data

    machines = args.machines or None
    out = _with_bar("generating", lambda p: make_demo_data(args.out, seed=args.seed,
                                                             machines=machines, progress=p))
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
    model = pipeline.build(args.method, args.encoder, overrides, device=args.device)
    bar = _Bar(f"fitting {args.method}")
    shown = 0

    def progress(done: int, total: int) -> None:
        # trained methods (CFA, STFPM) keep per-epoch losses: show epoch and loss as they come
        nonlocal shown
        bar(done, total)
        history = getattr(model.detector, "history", None)
        if history and history[-1]["epoch"] != shown:
            last = history[-1]
            shown = last["epoch"]
            val = "" if last.get("val_loss") is None else f", validation {last['val_loss']:.5g}"
            line = f"epoch {shown}: loss {last['train_loss']:.5g}{val}"
            if sys.stderr.isatty():
                bar.set_postfix(line)
            else:
                print(line, file=sys.stderr, flush=True)

    try:
        pipeline.fit(args.train, channel=args.channel, progress=progress, model=model)
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
    model = pipeline.load_model(args.model, device=args.device)
    rows = _with_bar("scoring", lambda p: pipeline.score_files(
        model, args.inputs, args.out, channel=args.channel, progress=p))
    print(f"{Path(args.out) / 'scores.csv'}: {len(rows)} clip(s) scored")  # type: ignore[arg-type]
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
    p = argparse.ArgumentParser(
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
    g.set_defaults(func=cmd_gui)

    d = sub.add_parser("demo-data", help="write the synthetic demo datasets")
    d.add_argument("out", help="output folder (one dataset per machine type inside)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--machines", nargs="*", help="machine types (default: all)")
    d.set_defaults(func=cmd_demo_data)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda")
    common.add_argument("--channel", type=int, default=None,
                        help="audio channel to use (default: average of all channels)")
    common.add_argument("--threads", type=int, default=None, help="CPU threads for torch")

    f = sub.add_parser("fit", parents=[common], help="fit a detector on normal recordings")
    f.add_argument("train", help="dataset folder (its train/), folder of audio files, or a file")
    f.add_argument("--method", default="patchcore")
    f.add_argument("--encoder", default="aisfx")
    f.add_argument("--out", required=True, help="model file to write (.safetensors)")
    f.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a method or encoder parameter (see `specview methods`)")
    f.set_defaults(func=cmd_fit)

    s = sub.add_parser("score", parents=[common], help="score recordings with a fitted model")
    s.add_argument("model", help="model file (.safetensors)")
    s.add_argument("inputs", nargs="+", help="files, folders, or a dataset folder (its test/)")
    s.add_argument("--out", required=True, help="output folder (scores.csv, maps/*.npz)")
    s.set_defaults(func=cmd_score)

    m = sub.add_parser("methods", help="list methods, encoders and their parameters")
    m.set_defaults(func=cmd_methods)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
