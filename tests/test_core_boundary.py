"""The core is Qt-free and torch-free; the ML ring is Qt-free."""

import subprocess
import sys

CORE = ["types", "errors", "fileio", "audio", "spectrogram", "annotations", "datasets", "params", "demo",
        "metrics", "envmix", "playback", "windows", "calibration", "raven", "results", "sidebyside"]


def _loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_imports_neither_torch_nor_qt():
    imports = "; ".join(f"import specview.{m}" for m in CORE)
    mods = _loaded(f"{imports}; import sys; print(' '.join(sys.modules))")
    assert "torch" not in mods
    assert not {m for m in mods if m.startswith(("PySide6", "pyqtgraph"))}


def test_ml_ring_imports_no_qt():
    mods = _loaded(
        "import specview.detectors, specview.encoders, specview.pipeline, specview.cli; "
        "import sys; print(' '.join(sys.modules))"
    )
    assert "torch" in mods
    assert not {m for m in mods if m.startswith(("PySide6", "pyqtgraph"))}
