"""*Live ▸ Monitor…*: choose what to listen to (a PortAudio input device, or a recording
replayed at a speed), the model, the events folder and, optionally, where alerts go (an MQTT
broker and topic, a webhook URL: ``specview monitor``'s ``--mqtt``, ``--topic`` and
``--webhook``), then open the Live window. The choices are remembered (``QSettings``, keys
under ``live/``) when a run starts."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from specview.gui.live_session import LiveInput

#: Where events go unless the user picks another folder.
DEFAULT_EVENTS = Path.home() / "specview-events"
#: ``QSettings`` group of the dialog's choices.
SETTINGS_GROUP = "live"


def mqtt_problem(broker: str, topic: str) -> str:
    """Why an MQTT choice cannot be used (empty when it can, or when both are empty)."""
    from specview.alerts import parse_host_port
    from specview.errors import ParameterError

    if not broker and not topic:
        return ""
    if not broker or not topic:
        return ("MQTT needs both the broker (HOST:PORT) and a topic; leave both empty for no "
                "MQTT alerts.")
    try:
        parse_host_port(broker)
    except ParameterError:
        return f"MQTT broker {broker!r}: give HOST:PORT, e.g. localhost:1883."
    if any(c in topic for c in "+#") or any(c.isspace() for c in topic):
        return f"MQTT topic {topic!r}: give a topic without wildcards (+, #) or spaces."
    return ""


def webhook_problem(url: str) -> str:
    """Why a webhook URL cannot be used (empty when it can, or when it is empty)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname \
            or any(c.isspace() for c in url):
        return f"Webhook {url!r}: give an http:// or https:// URL, e.g. http://host:8080/alerts."
    return ""


def input_devices() -> tuple[list[tuple[int, str, int, int]], str]:
    """PortAudio input devices ``[(index, name, channels, default rate)]`` and, where there are
    none, why."""
    try:
        import sounddevice as sd

        devices = sd.query_devices()
    except Exception as exc:  # noqa: BLE001 - ImportError, OSError (no PortAudio), PortAudioError
        return [], f"no audio input: {exc}"
    out = [(i, d["name"], int(d["max_input_channels"]), int(round(d["default_samplerate"])))
           for i, d in enumerate(devices) if int(d.get("max_input_channels", 0)) > 0]
    return out, "" if out else "no input devices found"


def _path_row(edit: QLineEdit, browse) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    b = QPushButton("Browse…")
    b.clicked.connect(browse)
    lay.addWidget(b)
    return w


def _pair(a: QWidget, b: QWidget) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(a)
    lay.addWidget(b)
    return w


class LiveDialog(QDialog):
    """The choices of a live run; :meth:`choice` returns them."""

    def __init__(self, *, model_path: Path | None = None, recording: Path | None = None,
                 out: Path | None = None, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prefs = settings
        self.setWindowTitle("Live monitor")
        self.setMinimumWidth(600)  # room for the paths
        self.model_edit = QLineEdit(str(model_path) if model_path else "")
        self.device_radio = QRadioButton("Input device")
        self.file_radio = QRadioButton("Recording, replayed")
        group = QButtonGroup(self)
        group.addButton(self.device_radio)
        group.addButton(self.file_radio)
        self.device_combo = QComboBox()
        self.device_combo.addItem("default input", None)
        devices, why = input_devices()
        for i, name, ch, sr in devices:
            self.device_combo.addItem(f"{i}: {name} ({ch} ch, {sr} Hz)", i)
        self.device_reason = QLabel(why)
        self.device_reason.setWordWrap(True)
        self.file_edit = QLineEdit(str(recording) if recording else "")
        self.speed = QDoubleSpinBox()
        self.speed.setRange(0.0, 100.0)
        self.speed.setDecimals(2)
        self.speed.setValue(1.0)
        self.speed.setSuffix("×")
        self.speed.setSpecialValueText("as fast as it goes")
        self.speed.setToolTip("1× real time; faster to replay an incident; 0: as fast as the "
                              "scoring goes")
        self.out_edit = QLineEdit(str(out or DEFAULT_EVENTS))
        self.per_hour = QDoubleSpinBox()
        self.per_hour.setRange(0.0, 3600.0)
        self.per_hour.setDecimals(2)
        self.per_hour.setSpecialValueText("the model's calibrated rate")
        self.per_hour.setToolTip("False flags per hour of normal sound the threshold allows "
                                 "(--false-flags-per-hour)")
        self.pre_roll, self.post_roll = QDoubleSpinBox(), QDoubleSpinBox()
        for w, what in ((self.pre_roll, "before"), (self.post_roll, "after")):
            w.setRange(0.0, 60.0)
            w.setValue(5.0)
            w.setSuffix(" s")
            w.setToolTip(f"Seconds of input each event clip keeps {what} the event")
        self.mqtt_edit = QLineEdit()
        self.mqtt_edit.setPlaceholderText("none, or HOST:PORT, e.g. localhost:1883")
        self.mqtt_edit.setToolTip("MQTT broker the alerts are published to (--mqtt)")
        self.topic_edit = QLineEdit()
        self.topic_edit.setPlaceholderText("e.g. plant/fan1")
        self.topic_edit.setToolTip("Topic of the alerts; final records go to <topic>/closed "
                                   "(--topic)")
        self.webhook_edit = QLineEdit()
        self.webhook_edit.setPlaceholderText("none, or http(s)://host:port/path")
        self.webhook_edit.setToolTip("URL each alert and final record is POSTed to as JSON "
                                     "(--webhook)")
        form = QFormLayout()
        form.addRow("Model", _path_row(self.model_edit, self._browse_model))
        form.addRow(self.device_radio, self.device_combo)
        form.addRow("", self.device_reason)
        form.addRow(self.file_radio, _path_row(self.file_edit, self._browse_file))
        form.addRow("Speed", self.speed)
        form.addRow("Events folder", _path_row(self.out_edit, self._browse_out))
        form.addRow("False flags / hour", self.per_hour)
        form.addRow("Clip before / after", _pair(self.pre_roll, self.post_roll))
        form.addRow("MQTT broker / topic", _pair(self.mqtt_edit, self.topic_edit))
        form.addRow("Webhook URL", self.webhook_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #d04040")
        self.error.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        use_file = bool(recording) or not devices
        (self.file_radio if use_file else self.device_radio).setChecked(True)
        self.device_radio.setEnabled(bool(devices))
        self.device_combo.setEnabled(bool(devices))
        self._restore(keep_out=out is not None)

    # -- remembered choices -----------------------------------------------------------------
    def _restore(self, *, keep_out: bool) -> None:
        s = self.prefs
        if s is None:
            return
        s.beginGroup(SETTINGS_GROUP)
        try:
            for key, edit in (("mqtt", self.mqtt_edit), ("topic", self.topic_edit),
                              ("webhook", self.webhook_edit),
                              *(() if keep_out else (("out", self.out_edit),))):
                v = s.value(key)
                if v:
                    edit.setText(str(v))
            for key, box in (("speed", self.speed), ("per_hour", self.per_hour),
                             ("pre_roll", self.pre_roll), ("post_roll", self.post_roll)):
                v = s.value(key)
                try:
                    if v is not None:
                        box.setValue(float(v))
                except (TypeError, ValueError):
                    pass  # a hand-edited file: keep the default
        finally:
            s.endGroup()

    def remember(self) -> None:
        """Keep the choices in the settings (done when a run starts)."""
        s = self.prefs
        if s is None:
            return
        s.beginGroup(SETTINGS_GROUP)
        for key, edit in (("mqtt", self.mqtt_edit), ("topic", self.topic_edit),
                          ("webhook", self.webhook_edit), ("out", self.out_edit)):
            s.setValue(key, edit.text().strip())
        for key, box in (("speed", self.speed), ("per_hour", self.per_hour),
                         ("pre_roll", self.pre_roll), ("post_roll", self.post_roll)):
            s.setValue(key, box.value())
        s.endGroup()
        s.sync()

    def _browse_model(self) -> None:
        p, _ = QFileDialog.getOpenFileName(self, "Model", self.model_edit.text(),
                                           "specview models (*.safetensors);;All files (*)")
        if p:
            self.model_edit.setText(p)

    def _browse_file(self) -> None:
        from specview.audio import AUDIO_SUFFIXES

        audio = "Audio (" + " ".join(f"*{s}" for s in AUDIO_SUFFIXES) + ");;All files (*)"
        p, _ = QFileDialog.getOpenFileName(self, "Recording to replay", self.file_edit.text(),
                                           audio)
        if p:
            self.file_edit.setText(p)
            self.file_radio.setChecked(True)

    def _browse_out(self) -> None:
        p = QFileDialog.getExistingDirectory(self, "Events folder", self.out_edit.text())
        if p:
            self.out_edit.setText(p)

    def problem(self) -> str:
        """Why the choices cannot start (empty when they can)."""
        model = self.model_edit.text().strip()
        if not model or not Path(model).is_file():
            return "Choose a model file (.safetensors): load or fit one first."
        if self.file_radio.isChecked():
            f = self.file_edit.text().strip()
            if not f or not Path(f).is_file():
                return "Choose the recording to replay."
        if not self.out_edit.text().strip():
            return "Choose the events folder."
        return (mqtt_problem(self.mqtt_edit.text().strip(), self.topic_edit.text().strip())
                or webhook_problem(self.webhook_edit.text().strip()))

    def _accept(self) -> None:
        why = self.problem()
        if why:
            self.error.setText(why)
            return
        self.remember()
        self.accept()

    def choice(self) -> tuple[Path, LiveInput, Path]:
        """``(model file, input, events folder)``."""
        if self.file_radio.isChecked():
            inp = LiveInput(path=Path(self.file_edit.text().strip()), speed=self.speed.value())
        else:
            inp = LiveInput(device=self.device_combo.currentData())
        return Path(self.model_edit.text().strip()), inp, Path(self.out_edit.text().strip())

    def settings(self):
        """The :class:`~specview.monitor.MonitorSettings` chosen (the rest as ``specview
        monitor``'s defaults)."""
        from specview.monitor import MonitorSettings

        return MonitorSettings(per_hour=self.per_hour.value() or None,
                               pre_roll=self.pre_roll.value(), post_roll=self.post_roll.value())

    def alerts(self) -> tuple[tuple[str, int, str] | None, str | None]:
        """``((host, port, topic) or None, webhook URL or None)``, as checked by
        :meth:`problem`."""
        from specview.alerts import parse_host_port

        broker, topic = self.mqtt_edit.text().strip(), self.topic_edit.text().strip()
        mqtt = (*parse_host_port(broker), topic) if broker and topic else None
        return mqtt, self.webhook_edit.text().strip() or None

    def sinks(self, log=None) -> list:
        """The alert sinks of the choice (:mod:`specview.alerts`), started; the caller closes
        them (the Live session does when its run ends)."""
        from specview import alerts

        mqtt, url = self.alerts()
        out: list = []
        try:
            if mqtt is not None:
                out.append(alerts.MqttSink(*mqtt, log=log))
            if url is not None:
                out.append(alerts.WebhookSink(url, log=log))
        except BaseException:
            for sink in out:
                sink.close(timeout=1.0)
            raise
        return out


def open_live(main):
    """The dialog, then the Live window monitoring the choice (one at a time per main window:
    a running one is stopped first). Returns the window, or None when cancelled."""
    from specview.fileio import check_output_folder
    from specview.gui.live_window import LiveWindow

    st = main.state
    dlg = LiveDialog(model_path=st.model_path,
                     recording=st.clip_path if st.clip_path is not None else None,
                     settings=getattr(main, "settings", None), parent=main)
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    model_path, inp, out = dlg.choice()
    try:
        check_output_folder(out, inputs=[model_path, *([inp.path] if inp.path else [])],
                            what="events folder")
    except Exception as exc:  # noqa: BLE001 - told to the user
        main.show_error("Cannot monitor into that folder", str(exc))
        return None
    old = getattr(main, "live_window", None)
    if old is not None:
        old.shutdown()
        old.close()
    win = LiveWindow(main)
    try:
        sinks = dlg.sinks(log=win.session.message.emit)
    except Exception as exc:  # noqa: BLE001 - told to the user
        win.deleteLater()
        main.show_error("Cannot send alerts there", str(exc))
        return None
    main.live_window = win
    win.show()
    win.start(inp, out, model_path=model_path, settings=dlg.settings(), sinks=sinks)
    return win
