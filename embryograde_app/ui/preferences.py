"""Preferences (QSettings): grading scheme, mask colours, overlay opacity, inference device."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
)

from embryograde_app.core.domain.schemes import DEFAULT_SCHEME, GradingScheme, get_scheme, load_schemes
from embryograde_app.core.project.records import login_name
from embryograde_app.core.view.overlays import CLASS_COLOURS

DEVICES = ["auto", "cpu", "cuda", "mps"]


def read_scheme(settings: QSettings) -> GradingScheme:
    """The grading scheme chosen in Preferences; one no longer in grading_schemes.json falls back to the default
    (a settings file outlives an edited scheme file: the window must still open)."""
    try:
        return get_scheme(str(settings.value("scheme", DEFAULT_SCHEME)))
    except ValueError:
        return get_scheme(DEFAULT_SCHEME)


def read_colours(settings: QSettings) -> dict[int, tuple[int, int, int]]:
    colours = {}
    for cls, default in CLASS_COLOURS.items():
        colour = QColor(str(settings.value(f"colour_{cls}", QColor(*default).name())))
        colours[cls] = (colour.red(), colour.green(), colour.blue()) if colour.isValid() else default
    return colours


class PreferencesDialog(QDialog):
    def __init__(self, settings: QSettings, parent=None):
        super().__init__(parent)
        self.setObjectName("preferences_dialog")
        self.setWindowTitle("Preferences")
        self.settings = settings
        form = QFormLayout(self)
        self.scheme_combo = QComboBox(objectName="pref_scheme")
        schemes = load_schemes()
        for key, scheme in schemes.items():
            self.scheme_combo.addItem(scheme.title, key)
        self.scheme_combo.setCurrentIndex(list(schemes).index(read_scheme(settings).key))
        self.colours = read_colours(settings)
        self.colour_buttons = {}
        for cls, name in ((1, "Blastomere colour"), (2, "Fragment colour")):
            button = QPushButton(objectName=f"pref_colour_{cls}")
            button.clicked.connect(lambda _=False, c=cls: self._pick_colour(c))
            self.colour_buttons[cls] = button
            form.addRow(name, button)
            self._paint(cls)
        self.opacity_spin = QSpinBox(objectName="pref_opacity")
        self.opacity_spin.setRange(0, 100)
        self.opacity_spin.setSuffix(" %")
        self.opacity_spin.setValue(int(float(settings.value("overlay_opacity", 45))))
        self.device_combo = QComboBox(objectName="pref_device")
        self.device_combo.addItems(DEVICES)
        self.device_combo.setCurrentText(str(settings.value("device", "auto")))
        self.device_combo.setToolTip("auto: CUDA GPU, then Apple MPS, then CPU")
        self.reviewer_edit = QLineEdit(str(settings.value("reviewer_name", "") or ""), objectName="pref_reviewer")
        self.reviewer_edit.setPlaceholderText(login_name())
        self.reviewer_edit.setToolTip("Recorded with your reviews, range labels and mask corrections")
        form.insertRow(0, "Your name", self.reviewer_edit)
        form.insertRow(1, "Grading scheme", self.scheme_combo)
        form.addRow("Mask opacity", self.opacity_spin)
        form.addRow("Inference device", self.device_combo)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _paint(self, cls: int) -> None:
        r, g, b = self.colours[cls]
        self.colour_buttons[cls].setText(QColor(r, g, b).name())
        self.colour_buttons[cls].setStyleSheet(f"background: rgb({r},{g},{b}); color: black;")

    def _pick_colour(self, cls: int) -> None:
        colour = QColorDialog.getColor(QColor(*self.colours[cls]), self, "Mask colour")
        if colour.isValid():
            self.set_colour(cls, (colour.red(), colour.green(), colour.blue()))

    def set_colour(self, cls: int, rgb: tuple[int, int, int]) -> None:
        self.colours[cls] = rgb
        self._paint(cls)

    def save(self) -> None:
        """Write the choices to QSettings (the window applies them)."""
        self.settings.setValue("scheme", self.scheme_combo.currentData())
        for cls, rgb in self.colours.items():
            self.settings.setValue(f"colour_{cls}", QColor(*rgb).name())
        self.settings.setValue("overlay_opacity", self.opacity_spin.value())
        self.settings.setValue("device", self.device_combo.currentText())
        self.settings.setValue("reviewer_name", self.reviewer_edit.text().strip())
