"""The built-in demo, generated and fitted once into specview's cache folder."""

from __future__ import annotations

import warnings
from pathlib import Path

from specview.errors import ModelFileError, SpecviewWarning
from specview.fileio import atomic_write_text
from specview.pipeline import fit, load_model
from specview.types import Progress


def cache_dir() -> Path:
    """Where specview keeps generated data: ``$SPECVIEW_CACHE`` or ``~/.cache/specview``."""
    import os

    env = os.environ.get("SPECVIEW_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "specview"


DEMO_MACHINE = "fan"
DEMO_SEED = 0
#: Raised whenever new fits' defaults change, so that a demo model fitted before is fitted
#: again (1: flagged regions grow down to a floor; 2: flagged frames focus across bands).
DEMO_FIT = 2


def demo_paths(root: str | Path | None = None) -> tuple[Path, Path]:
    """``(dataset folder, model file)`` of the built-in demo."""
    root = Path(root) if root is not None else cache_dir() / "demo"
    return root / DEMO_MACHINE, root / f"{DEMO_MACHINE}-patchcore-aisfx.safetensors"


def ensure_demo(
    root: str | Path | None = None, *, device: str | None = "cpu", progress: Progress | None = None
) -> tuple[Path, Path]:
    """Generate the demo dataset and fit the default model on it, unless already cached.

    Returns ``(dataset folder, model file)``. Progress runs over generation then fitting.
    """
    from specview.demo import make_demo_dataset

    data, model_path = demo_paths(root)
    done_flag = data / ".complete"
    if not done_flag.is_file():
        # keep_changed: a clip or sidecar the user edited in the cached demo is never replaced
        make_demo_dataset(data, machine=DEMO_MACHINE, seed=DEMO_SEED, keep_changed=True,
                          progress=(lambda i, n: progress(i, 2 * n)) if progress else None)
        atomic_write_text(done_flag, "ok\n")
    if model_path.is_file():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SpecviewWarning)  # an old cache is refitted
                cached = load_model(model_path, device=device)
            if (cached.calibration is not None and "train_nyquist_hz" in cached.info
                    and cached.info.get("demo_fit") == DEMO_FIT):
                return data, model_path
        except ModelFileError:
            pass  # stale (e.g. other weights, no calibration or band yet): refit below
    model = fit(data, device=device,
                progress=(lambda i, n: progress(n + i, 2 * n)) if progress else None)
    model.info["demo_fit"] = DEMO_FIT
    model.save(model_path)
    return data, model_path
