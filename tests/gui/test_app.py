"""Entry points: the window opened from paths, a model, or the demo."""

from __future__ import annotations

import pytest

from specview import demo_cache
from specview.app import make_main_window

TIMEOUT = 60000


def test_paths_and_model_from_the_command_line(qtbot, settings, tiny_dataset, model_path) -> None:
    clip = tiny_dataset / "test" / "anomaly_000.wav"
    win = make_main_window([str(tiny_dataset), str(clip)], model=str(model_path), settings=settings)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.state.result is not None, timeout=TIMEOUT)
    assert win.state.clip_path == clip and win.state.dataset.root == tiny_dataset
    assert win.view.heat_item.isVisible()


def test_demo_opens_the_first_anomaly_with_its_heatmap(
    qtbot, settings, tiny_dataset, model_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []

    def fake_ensure_demo(root=None, *, device="cpu", progress=None):
        for i in range(1, 4):  # as the real one does while generating and fitting
            calls.append((i, 3))
            if progress is not None:
                progress(i, 3)
        return tiny_dataset, model_path

    monkeypatch.setattr(demo_cache, "ensure_demo", fake_ensure_demo)
    win = make_main_window(demo=True, settings=settings)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.state.result is not None, timeout=TIMEOUT)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert win.state.clip_path.name == "anomaly_000.wav"
    assert win.state.model_path == model_path and win.view.heat_item.isVisible()
    assert win.file_panel.tree.currentItem().text(0) == "anomaly_000.wav"
    # then every test clip is scored in the background, ranking the list
    qtbot.waitUntil(lambda: len(win.state.scores) == 2 and win.controller.task is None,
                    timeout=TIMEOUT)
    assert win.file_panel._items[tiny_dataset / "test" / "normal_000.wav"].text(2) != ""


def test_demo_failure_is_reported(qtbot, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from specview.errors import DatasetError

    def broken(root=None, *, device="cpu", progress=None):
        raise DatasetError("demo generator unavailable")

    monkeypatch.setattr(demo_cache, "ensure_demo", broken)
    win = make_main_window(demo=True, settings=settings)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.controller.task_ended, timeout=TIMEOUT) as blocker:
        pass
    assert blocker.args[0] == "failed"
    assert "demo generator unavailable" in win.last_error[1]
