"""Fixtures for the GUI tests: headless Qt, a tiny synthetic dataset, a quickly fitted model."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SR = 44100
TONE_HZ = 4000.0
TONE_T0, TONE_T1 = 0.8, 1.4
RAVEN_HEADER = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
                "High Freq (Hz)\tAnnotation\n")


def machine_tone(rng: np.random.Generator, seconds: float = 2.0) -> np.ndarray:
    """A 120 Hz machine hum with harmonics and a little noise: the "normal" sound."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(0.2 / k * np.sin(2 * np.pi * 120 * k * t + rng.uniform(0, 2 * np.pi)) for k in range(1, 8))
    return (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="session")
def burst() -> tuple[float, float, float]:
    """``(t0 s, t1 s, Hz)`` of the tone burst injected into ``test/anomaly_000.wav``."""
    return TONE_T0, TONE_T1, TONE_HZ


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``train/`` 4 normal clips; ``test/`` one normal clip and one with a 4 kHz burst in
    0.8-1.4 s (with its Raven ground-truth box)."""
    from specview.audio import write_audio

    root = tmp_path_factory.mktemp("data") / "tiny"
    rng = np.random.default_rng(0)
    for i in range(4):
        write_audio(root / "train" / f"normal_{i:03d}.wav", machine_tone(rng), SR)
    x = machine_tone(rng)
    t = np.arange(len(x)) / SR
    burst = (t >= TONE_T0) & (t < TONE_T1)
    x[burst] += 0.3 * np.sin(2 * np.pi * TONE_HZ * t[burst])
    write_audio(root / "test" / "anomaly_000.wav", x, SR)
    write_audio(root / "test" / "normal_000.wav", machine_tone(rng), SR)
    (root / "test" / "anomaly_000.Table.1.selections.txt").write_text(
        RAVEN_HEADER + f"1\tSpectrogram 1\t1\t{TONE_T0}\t{TONE_T1}\t3500\t4500\ttone\n")
    return root


@pytest.fixture(scope="session")
def model_path(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PatchCore model fitted on the tiny dataset's train/ (small coreset: fast)."""
    from specview import pipeline

    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    pipeline.fit(tiny_dataset, overrides={"coreset_ratio": "0.05"}).save(path)
    return path


@pytest.fixture
def settings(tmp_path: Path):
    """Preferences in a throw-away file, never the user's."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "specview.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    """A shown main window; closed (and its workers stopped) at teardown by pytest-qt."""
    from specview.gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win
