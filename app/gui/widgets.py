"""Display widgets: the video, the current action, the top-5 chart, the timing figures, a banner."""
from __future__ import annotations

from collections.abc import Sequence

from PyQt5.QtCore import QRectF, Qt
from PyQt5.QtGui import QColor, QFont, QImage, QPainter, QPen
from PyQt5.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

BACKGROUND = QColor(24, 24, 28)
ACCENT = QColor(64, 160, 255)
MUTED = QColor(120, 120, 130)
ROW_HEIGHT = 44  # one class in the top-k chart: its name above its bar


def _font(size: int, bold: bool = False) -> QFont:
    """A font of `size` points, bold or not, in the application's family."""
    font = QFont()
    font.setPointSize(size)
    font.setBold(bold)
    return font


class VideoView(QWidget):
    """The annotated video frame, scaled to fit with its aspect ratio kept, with a notice line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._notice = "Choose a source and press Start"
        self.setMinimumSize(480, 360)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def set_image(self, image: QImage) -> None:
        """Show a new frame (already annotated by the worker)."""
        self._image = image
        self.update()

    def set_notice(self, text: str) -> None:
        """Show a short line over the video (e.g. 'No person in view'); empty hides it."""
        if text != self._notice:
            self._notice = text
            self.update()

    def notice(self) -> str:
        """The line shown over the video, '' when none."""
        return self._notice

    def has_image(self) -> bool:
        """True once a frame has been shown."""
        return self._image is not None

    def current_image(self) -> QImage | None:
        """The frame on screen (annotated), or None before the first."""
        return self._image

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's naming)
        """Letterbox the frame on a dark background, then draw the notice on top."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self._image is not None and not self._image.isNull():
            size = self._image.size().scaled(self.size(), Qt.KeepAspectRatio)
            x = (self.width() - size.width()) / 2
            y = (self.height() - size.height()) / 2
            painter.setRenderHint(QPainter.SmoothPixmapTransform)
            painter.drawImage(QRectF(x, y, size.width(), size.height()), self._image)
        if self._notice:
            self._draw_notice(painter)
        painter.end()

    def _draw_notice(self, painter: QPainter) -> None:
        """The notice in a translucent strip along the bottom of the view."""
        painter.setFont(_font(14, bold=True))
        height = painter.fontMetrics().height() + 16
        strip = QRectF(0, self.height() - height, self.width(), height)
        painter.fillRect(strip, QColor(0, 0, 0, 170))
        painter.setPen(QColor(255, 220, 120))
        painter.drawText(strip, Qt.AlignCenter, self._notice)


class ActionLabel(QWidget):
    """The current action in large type, with its confidence underneath."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._action = QLabel("—")
        self._action.setFont(_font(24, bold=True))
        self._action.setWordWrap(True)
        self._action.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        self._confidence = QLabel("no prediction yet")
        self._confidence.setFont(_font(12))
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._action, 0, 0)
        layout.addWidget(self._confidence, 1, 0)

    def show_prediction(self, name: str, confidence: float, threshold: float) -> None:
        """Show the best class, or 'uncertain' with the best guess when under the threshold."""
        if confidence >= threshold:
            self._action.setText(name)
            self._action.setStyleSheet("color: #1a7f37;")
            self._confidence.setText(f"confidence {confidence:.0%}")
        else:
            self._action.setText("uncertain")
            self._action.setStyleSheet("color: #8a8a8a;")
            self._confidence.setText(f"best guess {name} ({confidence:.0%}), "
                                     f"below the {threshold:.0%} threshold")

    def clear(self, reason: str) -> None:
        """No prediction: a dash and the reason."""
        self._action.setText("—")
        self._action.setStyleSheet("")
        self._confidence.setText(reason)

    def text(self) -> str:
        """The action shown (for tests and screenshots)."""
        return self._action.text()


class TopKChart(QWidget):
    """Horizontal bars of the k most probable classes, with the threshold as a dashed line."""

    def __init__(self, k: int = 5, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.k = k
        self._items: list[tuple[str, float]] = []
        self._threshold = 0.0
        self.setFixedHeight(ROW_HEIGHT * k)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_items(self, items: Sequence[tuple[str, float]]) -> None:
        """The (class name, probability) pairs to draw, most probable first."""
        self._items = list(items)[: self.k]
        self.update()

    def set_threshold(self, threshold: float) -> None:
        """Where to draw the confidence threshold line (0..1)."""
        self._threshold = threshold
        self.update()

    def items(self) -> list[tuple[str, float]]:
        """The pairs currently drawn (for tests)."""
        return list(self._items)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's naming)
        """One row per class: its name above a bar as long as its probability, and the percent."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        row = self.height() / self.k
        metrics_font = _font(10)
        painter.setFont(metrics_font)
        text_h = painter.fontMetrics().height()
        bar_h = max(6.0, row - text_h - 8)
        width = self.width() - 56
        for i in range(self.k):
            top = i * row
            name, prob = self._items[i] if i < len(self._items) else ("", 0.0)
            painter.setPen(self.palette().windowText().color() if name else MUTED)
            elided = painter.fontMetrics().elidedText(name or "—", Qt.ElideRight, int(width))
            painter.drawText(QRectF(0, top, width, text_h), Qt.AlignLeft | Qt.AlignVCenter, elided)
            bar = QRectF(0, top + text_h + 2, width, bar_h)
            painter.fillRect(bar, QColor(0, 0, 0, 25))
            painter.fillRect(QRectF(bar.x(), bar.y(), width * prob, bar_h),
                             ACCENT if i == 0 else ACCENT.lighter(140))
            painter.drawText(QRectF(width + 4, bar.y(), 52, bar_h), Qt.AlignRight | Qt.AlignVCenter,
                             f"{prob:.0%}" if name else "")
            self._draw_threshold(painter, bar)
        painter.end()

    def _draw_threshold(self, painter: QPainter, bar: QRectF) -> None:
        """A red tick across one bar where the confidence threshold lies."""
        if self._threshold <= 0:
            return
        painter.save()
        painter.setPen(QPen(QColor(200, 60, 60), 2))
        x = bar.x() + bar.width() * self._threshold
        painter.drawLine(int(x), int(bar.top()) - 2, int(x), int(bar.bottom()) + 2)
        painter.restore()


class StatsPanel(QWidget):
    """Frames per second of capture, pose and inference, and the frame-to-prediction latency."""

    FIELDS = (("capture", "capture fps"), ("pose", "pose fps"), ("inference", "inference fps"),
              ("latency", "frame → prediction (ms)"), ("people", "people in view"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(12)
        self._values: dict[str, QLabel] = {}
        for row, (key, title) in enumerate(self.FIELDS):
            name = QLabel(title)
            value = QLabel("—")
            value.setFont(_font(11, bold=True))
            value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            layout.addWidget(name, row, 0)
            layout.addWidget(value, row, 1)
            self._values[key] = value

    def set_value(self, key: str, value: float | None, digits: int = 1) -> None:
        """Show one figure; None shows a dash."""
        self._values[key].setText("—" if value is None else f"{value:.{digits}f}")

    def value(self, key: str) -> str:
        """The text shown for one figure (for tests)."""
        return self._values[key].text()


class Banner(QLabel):
    """A visible line for faults (no camera, video ended, bad checkpoint); hidden when empty."""

    STYLES = {
        "error": "background: #fde7e9; color: #8b0000; border: 1px solid #e5a0a6;",
        "info": "background: #e8f1fd; color: #0b3d91; border: 1px solid #a6c4ee;",
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.setFont(_font(11))
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        """Show `text` styled as an error or an info."""
        self.setStyleSheet(f"QLabel {{ {self.STYLES[kind]} padding: 6px; border-radius: 4px; }}")
        self.setText(text)
        self.show()

    def clear_message(self) -> None:
        """Hide the banner."""
        self.setText("")
        self.hide()
