"""Session files: File ▸ Save Session / Open Session (JSON).

A session holds the recording (or dataset) on screen, the model file, the view (a long
recording's span, the seconds and Hz shown), the display settings and the heatmap's look, so
reopening it puts the user where they left off. The file is plain JSON, written atomically
(:func:`specview.fileio.atomic_write_text`); reading it runs no code: unknown keys are ignored,
a value of the wrong kind or out of range is refused with a message naming it, and so is a
file the session names that is not there any more. Relative paths are read from the session
file's folder.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject

from specview.display import DisplaySettings
from specview.errors import SpecviewError
from specview.fileio import atomic_write_text
from specview.gui.fine_view import GUI_DEFAULT
from specview.gui.view_items import HEAT_COLORMAPS, SCALE_MODES

FORMAT_KEY, VERSION = "specview_session", 1
SESSION_SUFFIX = ".specview-session.json"
SESSION_FILTER = "specview sessions (*.json);;All files (*)"


class SessionError(SpecviewError):
    """A session file that cannot be read, or names files that are gone."""


@dataclass
class Session:
    clip: Path | None = None
    dataset: Path | None = None
    models: list[Path] = field(default_factory=list)
    span: tuple[float, float] | None = None
    time: tuple[float, float] | None = None
    freq: tuple[float, float] | None = None
    display: DisplaySettings = GUI_DEFAULT
    heatmap: dict = field(default_factory=dict)
    label_column: str | None = None

    def to_json(self) -> str:
        def p(x):
            return str(Path(x).resolve()) if x is not None else None

        return json.dumps({
            FORMAT_KEY: VERSION, "clip": p(self.clip), "dataset": p(self.dataset),
            "models": [p(m) for m in self.models],
            "view": {"span": list(self.span) if self.span else None,
                     "time": list(self.time) if self.time else None,
                     "freq": list(self.freq) if self.freq else None},
            "display": self.display.to_dict(), "heatmap": dict(self.heatmap),
            "label_column": self.label_column}, indent=2) + "\n"


def write_session(path: str | Path, session: Session) -> Path:
    return atomic_write_text(Path(path), session.to_json())


def _pair(v, what: str, *, lo: float = 0.0) -> tuple[float, float] | None:
    if v is None:
        return None
    ok = isinstance(v, list) and len(v) == 2 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
    if not ok or not lo <= v[0] < v[1]:
        raise SessionError(f"{what}: {v!r} is not a range [from, to] of numbers >= {lo:g}")
    return float(v[0]), float(v[1])


def read_session(path: str | Path) -> Session:
    """Parse a session file (see the module docstring for what is refused)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise SessionError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or FORMAT_KEY not in data:
        raise SessionError(f"{path}: not a specview session (no “{FORMAT_KEY}” key)")
    if data[FORMAT_KEY] != VERSION:
        raise SessionError(f"{path}: session format {data[FORMAT_KEY]!r}; this specview reads "
                           f"format {VERSION}")

    def where(key: str) -> str:
        return f"{path.name}, “{key}”"

    def a_path(v, key: str) -> Path | None:
        if v is None:
            return None
        if not isinstance(v, str) or not v:
            raise SessionError(f"{where(key)}: {v!r} is not a file name")
        p = Path(v)
        p = p if p.is_absolute() else path.parent / p
        if not p.exists():
            raise SessionError(f"{where(key)}: {p} is not there any more")
        return p

    models = data.get("models") or []
    if not isinstance(models, list):
        raise SessionError(f"{where('models')}: {models!r} is not a list of files")
    view = data.get("view") or {}
    if not isinstance(view, dict):
        raise SessionError(f"{where('view')}: {view!r} is not an object")
    disp = data.get("display") or {}
    if not isinstance(disp, dict):
        raise SessionError(f"{where('display')}: {disp!r} is not an object")
    try:
        display = DisplaySettings.from_dict({**GUI_DEFAULT.to_dict(), **disp})
    except (SpecviewError, TypeError, ValueError) as exc:
        raise SessionError(f"{where('display')}: {exc}") from None
    heat = data.get("heatmap") or {}
    if not isinstance(heat, dict):
        raise SessionError(f"{where('heatmap')}: {heat!r} is not an object")
    checks = {"visible": lambda v: isinstance(v, bool),
              "opacity": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
              and 0.0 <= v <= 1.0,
              "colormap": lambda v: v in HEAT_COLORMAPS, "scale": lambda v: v in SCALE_MODES}
    for k, ok in checks.items():
        if k in heat and not ok(heat[k]):
            raise SessionError(f"{where('heatmap.' + k)}: {heat[k]!r} is not allowed")
    label = data.get("label_column")
    if label is not None and not isinstance(label, str):
        raise SessionError(f"{where('label_column')}: {label!r} is not a column name")
    return Session(
        clip=a_path(data.get("clip"), "clip"), dataset=a_path(data.get("dataset"), "dataset"),
        models=[a_path(m, "models") for m in models],
        span=_pair(view.get("span"), where("view.span")),
        time=_pair(view.get("time"), where("view.time"), lo=-math.inf),
        freq=_pair(view.get("freq"), where("view.freq")), display=display,
        heatmap={k: heat[k] for k in checks if k in heat}, label_column=label or None)


def current_session(window) -> Session:
    """What the window shows, as a session."""
    st, view, o = window.state, window.view, window.overlay_panel
    clip = st.long.path if st.long is not None else st.clip_path
    t0, t1, f0, f1 = view.visible_region() if st.display is not None else (None,) * 4
    return Session(
        clip=clip, dataset=st.dataset.root if st.dataset is not None else None,
        models=[st.model_path] if st.model_path is not None else [], span=st.span,
        time=(t0, t1) if t0 is not None else None,
        freq=(f0, f1) if f0 is not None else None, display=window.fine.settings,
        heatmap={"visible": o.heat_check.isChecked(), "opacity": o.opacity,
                 "colormap": o.heat_cmap.currentText(), "scale": o.scale_combo.currentData()},
        label_column=st.label_column)


class Restorer(QObject):
    """Puts a window where a session left it: settings at once; the dataset; the model (in the
    background), then the recording, a long recording's span, and the view's seconds and Hz."""

    def __init__(self, window, session: Session) -> None:
        super().__init__(window)
        self.w, self.s = window, session
        self._span_asked = False
        self.done = False

    def start(self) -> None:
        w, s = self.w, self.s
        w.fine.set_settings(s.display)
        o, h = w.overlay_panel, s.heatmap
        if "colormap" in h:
            o.heat_cmap.setCurrentText(h["colormap"])
        if "opacity" in h:
            o.opacity_slider.setValue(int(round(100 * h["opacity"])))
        if "scale" in h:
            o.scale_combo.setCurrentIndex(max(0, o.scale_combo.findData(h["scale"])))
        if "visible" in h:
            o.heat_check.setChecked(h["visible"])
        w.state.label_column = s.label_column
        if s.dataset is not None:
            w.controller.open_folder(s.dataset)
        model = s.models[0] if s.models else None
        if model is not None and model != w.state.model_path:
            job = w.controller.load_model(model)
            if job is not None:
                job.finished.connect(self._open_clip)  # loaded or not: then the recording
                return
        self._open_clip()

    def _open_clip(self) -> None:
        if self.s.clip is None:
            self._finish()
            return
        self.w.state.clip_loaded.connect(self._clip_loaded)
        self.w.controller.open_clip(self.s.clip)

    def _clip_loaded(self, path) -> None:
        w, s, st = self.w, self.s, self.w.state
        if Path(path) != Path(s.clip):
            return
        if st.long is not None and s.span is not None and not self._span_asked:
            self._span_asked = True
            if st.span is None or any(abs(a - b) > 1e-6 for a, b in zip(st.span, s.span,
                                                                         strict=True)):
                w.controller.long.request_span(*s.span)
                return
        st.clip_loaded.disconnect(self._clip_loaded)
        if s.time is not None:
            w.view.show_region(s.time[0], s.time[1], *(s.freq or (None, None)))
        self._finish()

    def _finish(self) -> None:
        self.done = True
        self.w.statusBar().showMessage("Session restored", 8000)


def save(window, path: str | Path) -> Path | None:
    """Write ``window``'s session to ``path`` (File ▸ Save session…)."""
    st = window.state
    if st.clip_path is None and st.dataset is None:
        window.show_error("Nothing to save", "Open a recording or a dataset first.")
        return None
    note = ""
    if st.model is not None and st.model_path is None:
        note = " (without the model: it is not saved as a file, File ▸ Save model as…)"
    try:
        out = write_session(path, current_session(window))
    except (SpecviewError, OSError) as exc:
        window.show_error("Cannot save the session", str(exc))
        return None
    window.statusBar().showMessage(f"Session saved to {out}{note}", 10000)
    return out


def open_file(window, path: str | Path) -> Restorer | None:
    """Reopen a session file in ``window`` (File ▸ Open session…)."""
    try:
        session = read_session(path)
    except SpecviewError as exc:
        window.show_error("Cannot open the session", str(exc))
        return None
    window.restorer = Restorer(window, session)
    window.restorer.start()
    return window.restorer


def save_dialog(window) -> None:
    from PySide6.QtWidgets import QFileDialog

    clip = window.state.clip_path
    name = (clip.stem if clip is not None else "session") + SESSION_SUFFIX
    path, _ = QFileDialog.getSaveFileName(window, "Save session", str(
        Path(window._last_dir("session")) / name), SESSION_FILTER)
    if path:
        window._remember_dir("session", path)
        save(window, path)


def open_dialog(window) -> None:
    from PySide6.QtWidgets import QFileDialog

    path, _ = QFileDialog.getOpenFileName(window, "Open session", window._last_dir("session"),
                                          SESSION_FILTER)
    if path:
        window._remember_dir("session", path)
        open_file(window, path)
