"""“Fit on folder…”: folder, method, encoder and their parameters, the form built from the
parameter dataclasses, so a new registered method or parameter appears here by itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from specview.detectors import DEFAULT_DETECTOR, DETECTORS
from specview.encoders import DEFAULT_ENCODER, ENCODERS
from specview.methods import encoder_params


def value_text(value: object) -> str:
    """A parameter value as the ``key=value`` override text the core parses back."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ParamsForm(QGroupBox):
    """One line edit per field of a parameter dataclass (filled from ``values``, a Params
    instance, when given: a method's own defaults for an encoder); reports only the changed
    ones."""

    def __init__(self, title: str, params_cls: type, parent: QWidget | None = None, *,
                 values: object = None) -> None:
        super().__init__(title, parent)
        self.defaults: dict[str, str] = {}
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout(self)
        for f in dataclasses.fields(params_cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            if values is not None:
                default = getattr(values, f.name)
            text = value_text(default)
            edit = QLineEdit(text)
            edit.setPlaceholderText("(empty)")
            edit.setToolTip(f.metadata.get("help", ""))
            self.defaults[f.name], self.edits[f.name] = text, edit
            form.addRow(f.name, edit)

    def overrides(self) -> dict[str, str]:
        return {k: e.text().strip() for k, e in self.edits.items()
                if e.text().strip() != self.defaults[k]}


class FitDialog(QDialog):
    """Ask what to fit on and how; :meth:`choice` returns it after ``exec()``."""

    def __init__(self, folder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fit on folder")
        self.setMinimumWidth(560)
        self.resize(620, 680)
        self.folder = QLineEdit(folder)
        self.folder.setPlaceholderText("a dataset (its train/ is used) or a folder of normal clips")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.method = QComboBox()
        self.method.addItems(list(DETECTORS))
        self.method.setCurrentText(DEFAULT_DETECTOR)
        self.encoder = QComboBox()
        self.encoder.addItems(list(ENCODERS))
        self.encoder.setCurrentText(DEFAULT_ENCODER)
        top = QFormLayout()
        top.addRow("Normal recordings", row)
        top.addRow("Method", self.method)
        top.addRow("Encoder", self.encoder)
        # long parameter lists (CFA has ~18) scroll instead of growing past the screen
        holder = QWidget()
        self._forms = QVBoxLayout(holder)
        self._forms.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        scroll.setMinimumHeight(420)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Fit")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(scroll, 1)
        lay.addWidget(buttons)
        self.method_form: ParamsForm | None = None
        self.encoder_form: ParamsForm | None = None
        self.method.currentTextChanged.connect(self._rebuild_forms)
        self.encoder.currentTextChanged.connect(self._rebuild_forms)
        self._rebuild_forms()

    def _rebuild_forms(self) -> None:
        for form in (self.method_form, self.encoder_form):
            if form is not None:
                self._forms.removeWidget(form)
                form.setParent(None)
                form.deleteLater()
        m, e = self.method.currentText(), self.encoder.currentText()
        self.method_form = ParamsForm(f"{m} parameters", DETECTORS[m].Params)
        self.encoder_form = ParamsForm(f"{e} parameters", ENCODERS[e].Params,
                                       values=encoder_params(m, e))
        self._forms.insertWidget(0, self.method_form)
        self._forms.insertWidget(1, self.encoder_form)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of normal recordings", self.folder.text())
        if d:
            self.folder.setText(d)

    def choice(self) -> tuple[Path, str, str, dict[str, str]]:
        """``(folder, method, encoder, overrides)`` with ``detector.``/``encoder.`` prefixes."""
        assert self.method_form is not None and self.encoder_form is not None
        over = {f"detector.{k}": v for k, v in self.method_form.overrides().items()}
        over.update({f"encoder.{k}": v for k, v in self.encoder_form.overrides().items()})
        return Path(self.folder.text().strip()), self.method.currentText(), \
            self.encoder.currentText(), over
