"""Preferences that last (``QSettings``): the display settings, the measurement columns, the
window's layout, recent files and models (File ▸ Open Recent).

The heatmap's look, the last folders and the window's geometry are kept by the main window
itself (``view/…``, ``paths/…``, ``window/geometry``).
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

from specview.display import DisplaySettings
from specview.errors import SpecviewError
from specview.gui.fine_view import GUI_DEFAULT
from specview.measure import DEFAULT_SHOWN

RECENT_MAX = 10
RECENT_FILES, RECENT_MODELS = "recent/files", "recent/models"


def _list(settings: QSettings, key: str) -> list[str]:
    v = settings.value(key, [])
    items = [v] if isinstance(v, str) else list(v or [])
    return [str(x) for x in items if str(x)]


def recent(settings: QSettings, key: str) -> list[str]:
    """The paths last opened, newest first."""
    return _list(settings, key)


def remember(settings: QSettings, key: str, path: str | Path | None) -> None:
    if path is None:
        return
    p = str(Path(path).resolve())
    items = [p] + [x for x in _list(settings, key) if x != p]
    settings.setValue(key, items[:RECENT_MAX])


def load_display(settings: QSettings) -> DisplaySettings:
    """The display settings last used (the window's defaults for what is missing or bad; the
    spectrogram colour map of older versions, ``view/spec_colormap``, is read once)."""
    raw = settings.value("display/settings")
    d: dict = {}
    if raw:
        try:
            d = json.loads(str(raw))
        except ValueError:
            d = {}
    elif settings.value("view/spec_colormap") is not None:
        old = str(settings.value("view/spec_colormap"))
        d = {"colormap": {"grey": "gray"}.get(old, old)}
    try:
        return DisplaySettings.from_dict({**GUI_DEFAULT.to_dict(), **(d if isinstance(d, dict)
                                                                      else {})})
    except (SpecviewError, TypeError, ValueError):
        return GUI_DEFAULT


def save_display(settings: QSettings, s: DisplaySettings) -> None:
    settings.setValue("display/settings", json.dumps(s.to_dict()))


def load_measure_keys(settings: QSettings) -> list[str]:
    v = settings.value("boxes/measurements")
    if v is None:
        return list(DEFAULT_SHOWN)
    return [] if v == "" else _list(settings, "boxes/measurements")


def save_measure_keys(settings: QSettings, keys: list[str]) -> None:
    settings.setValue("boxes/measurements", list(keys) if keys else "")


def fill_recent_menu(menu: QMenu, settings: QSettings, open_path) -> None:
    """Rebuild File ▸ Open Recent: recordings and folders, then models; a file that is gone
    is listed greyed out."""
    menu.clear()
    for title, key in (("Recordings and folders", RECENT_FILES), ("Models", RECENT_MODELS)):
        items = recent(settings, key)
        if not items:
            continue
        menu.addSection(title)
        for p in items:
            path = Path(p)
            act = menu.addAction(f"{path.name}   ({path.parent})")
            act.setToolTip(p)
            act.setEnabled(path.exists())
            act.triggered.connect(lambda _c=False, p=path: open_path(p))
    if menu.isEmpty():
        menu.addAction("(nothing opened yet)").setEnabled(False)
        return
    menu.addSeparator()

    def clear() -> None:
        settings.remove(RECENT_FILES)
        settings.remove(RECENT_MODELS)

    menu.addAction("Clear the list").triggered.connect(clear)


def track_recent(state, settings: QSettings) -> None:
    """Keep the recordings, folders and models ``state`` opens in the recent lists."""
    state.clip_loaded.connect(lambda p: remember(
        settings, RECENT_FILES, state.long.path if state.long is not None else p))
    state.dataset_opened.connect(lambda: state.dataset is not None and remember(
        settings, RECENT_FILES, state.dataset.root))
    for sig in (state.model_changed, state.model_saved):
        sig.connect(lambda *_a: remember(settings, RECENT_MODELS, state.model_path))
