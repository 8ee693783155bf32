"""Display widgets: the video, the current action, the top-5 chart, the timing figures, a banner,
the action events."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from PyQt5.QtCore import QEvent, QRectF, QSize, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QFontMetrics, QIcon, QImage, QPainter, QPen, QPixmap
from PyQt5.QtWidgets import (
    QApplication,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.gui.workers import to_qimage

if TYPE_CHECKING:
    from app.events import Event
    from pipeline import Prediction

BACKGROUND = QColor(24, 24, 28)
ACCENT = QColor(64, 160, 255)
MUTED = QColor(120, 120, 130)
ROW_HEIGHT = 38  # one class in the top-k chart: its name above its bar
LEGEND_HEIGHT = 18  # the chart's last line: what the red line is
THRESHOLD_COLOUR = QColor(200, 60, 60)


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
        self.setMinimumSize(320, 240)
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


def elide_lines(text: str, metrics: QFontMetrics, width: int, max_lines: int) -> str:
    """`text` wrapped at spaces to `width` pixels in at most `max_lines` lines, the last one
    elided with an ellipsis when the rest does not fit."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < max_lines - 1:
        line = words.pop(0)
        while words and metrics.horizontalAdvance(f"{line} {words[0]}") <= width:
            line = f"{line} {words.pop(0)}"
        if metrics.horizontalAdvance(line) > width:  # one word too long for a line: the rest
            words.insert(0, line)
            break
        lines.append(line)
    if words:
        lines.append(metrics.elidedText(" ".join(words), Qt.ElideRight, width))
    return "\n".join(lines)


class FittedLabel(QLabel):
    """A label of at most `lines` lines at a fixed height: longer text is wrapped and elided
    to the width it has, and the tooltip keeps it whole."""

    def __init__(self, text: str, lines: int, font: QFont, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lines = lines
        self._whole = text
        self.setFont(font)
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 2)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        self.set_whole_text(text)

    def set_whole_text(self, text: str) -> None:
        """Show `text`, fitted."""
        self._whole = text
        self._fit()

    def whole_text(self) -> str:
        """The text before fitting."""
        return self._whole

    def _fit(self) -> None:
        """Wrap and elide to the current width; a tooltip only when something was cut."""
        shown = elide_lines(self._whole, self.fontMetrics(), max(self.width(), 1), self.lines)
        self.setText(shown)
        self.setToolTip(self._whole if shown.replace("\n", " ") != self._whole else "")

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's naming)
        """A new width fits the text anew."""
        super().resizeEvent(event)
        self._fit()


class ElidedLabel(QLabel):
    """One line of text (a path) elided in the middle to the width it has, never wrapped; the
    tooltip keeps it whole and the whole text is what is copied."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._whole = text
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.set_whole_text(text)

    def set_whole_text(self, text: str) -> None:
        """Show `text`, elided to fit."""
        self._whole = text
        self.setToolTip(text)
        self._fit()

    def whole_text(self) -> str:
        """The text before eliding."""
        return self._whole

    def _fit(self) -> None:
        self.setText(self.fontMetrics().elidedText(self._whole, Qt.ElideMiddle, self.width()))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's naming)
        """A new width elides the text anew."""
        super().resizeEvent(event)
        self._fit()


class ActionLabel(QWidget):
    """The current action in large type (two lines at most, so that a long NTU label never
    pushes the panels below out of sight), with its confidence underneath."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._action = FittedLabel("—", 2, _font(20, bold=True))
        self._confidence = FittedLabel("no prediction yet", 1, _font(12))
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._action, 0, 0)
        layout.addWidget(self._confidence, 1, 0)

    def show_prediction(self, prediction: Prediction, threshold: float) -> None:
        """Show the best class, or 'no known action' with the best guess under the threshold."""
        best = prediction.top(1)[0]
        name, confidence = best["label"], best["score"]
        if confidence >= threshold:
            self._action.set_whole_text(name)
            self._action.setStyleSheet("color: #1a7f37;")
            self._confidence.set_whole_text(f"confidence {confidence:.0%}")
        else:
            self._action.set_whole_text("no known action")
            self._action.setStyleSheet("color: #8a8a8a;")
            self._confidence.set_whole_text(
                f"best guess {name} ({confidence:.0%}), below the {threshold:.0%} threshold"
            )

    def clear(self, reason: str) -> None:
        """No prediction: a dash and the reason."""
        self._action.set_whole_text("—")
        self._action.setStyleSheet("")
        self._confidence.set_whole_text(reason)

    def text(self) -> str:
        """The action shown, whole (for tests and screenshots)."""
        return self._action.whole_text()


class TopKChart(QWidget):
    """Horizontal bars of the k most probable classes (fewer when the model has fewer), with the
    confidence threshold as a red line across them, named in a legend underneath."""

    def __init__(self, k: int = 5, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.k = k
        self._items: list[dict[str, Any]] = []  # the prediction's top k, best first
        self._threshold = 0.0
        self._placeholder = ""
        self.setFixedHeight(ROW_HEIGHT * k + LEGEND_HEIGHT)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_prediction(self, prediction: Prediction | None) -> None:
        """Draw a prediction's k most probable classes (None: empty bars)."""
        self._items = [] if prediction is None else prediction.top(self.k)
        self.update()

    def set_threshold(self, threshold: float) -> None:
        """Where to draw the confidence threshold line (0..1)."""
        self._threshold = threshold
        self.setToolTip(self.legend())
        self.update()

    def set_placeholder(self, text: str) -> None:
        """A line to show instead of empty bars while there are no items ('' for empty bars)."""
        self._placeholder = text
        self.update()

    def placeholder(self) -> str:
        """The line shown instead of empty bars, '' when none."""
        return self._placeholder if not self._items else ""

    def legend(self) -> str:
        """What the red line means, as the legend under the bars says it."""
        if self._threshold <= 0:
            return "no confidence threshold (0 %)"
        return f"red line: confidence threshold {self._threshold:.0%}"

    def rows(self) -> int:
        """Rows drawn: the prediction's classes (a two-class model: two), k empty bars before."""
        return len(self._items) or self.k

    def event(self, event: QEvent) -> bool:
        """A row's tooltip: its whole class name (the drawn one may be elided); elsewhere, what
        the red line is."""
        if event.type() == QEvent.ToolTip:
            row = int(event.pos().y() // ROW_HEIGHT)
            if row < len(self._items):
                item = self._items[row]
                text = f"{item['label']}: {item['score']:.1%} ({self.legend()})"
            else:
                text = self.legend()
            QToolTip.showText(event.globalPos(), text, self)
            return True
        return super().event(event)

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's naming)
        """One row per class: its name above a bar as long as its probability, and the percent;
        the legend of the threshold line under them."""
        painter = QPainter(self)
        if self.placeholder():
            painter.setPen(MUTED)
            painter.setFont(_font(11))
            painter.drawText(
                QRectF(self.rect()), Qt.AlignCenter | Qt.TextWordWrap, self._placeholder
            )
            painter.end()
            return
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setFont(_font(10))
        text_h = painter.fontMetrics().height()
        bar_h = max(6.0, ROW_HEIGHT - text_h - 8)
        width = self.width() - 56
        for i in range(self.rows()):
            top = i * ROW_HEIGHT
            item = self._items[i] if i < len(self._items) else {"label": "", "score": 0.0}
            name, prob = item["label"], item["score"]
            painter.setPen(self.palette().windowText().color() if name else MUTED)
            elided = painter.fontMetrics().elidedText(name or "—", Qt.ElideRight, int(width))
            painter.drawText(QRectF(0, top, width, text_h), Qt.AlignLeft | Qt.AlignVCenter, elided)
            bar = QRectF(0, top + text_h + 2, width, bar_h)
            painter.fillRect(bar, QColor(0, 0, 0, 25))
            painter.fillRect(
                QRectF(bar.x(), bar.y(), width * prob, bar_h),
                ACCENT if i == 0 else ACCENT.lighter(140),
            )
            painter.drawText(
                QRectF(width + 4, bar.y(), 52, bar_h),
                Qt.AlignRight | Qt.AlignVCenter,
                f"{prob:.0%}" if name else "",
            )
            self._draw_threshold(painter, bar)
        self._draw_legend(painter)
        painter.end()

    def _draw_threshold(self, painter: QPainter, bar: QRectF) -> None:
        """A red tick across one bar where the confidence threshold lies."""
        if self._threshold <= 0:
            return
        painter.save()
        painter.setPen(QPen(THRESHOLD_COLOUR, 2))
        x = bar.x() + bar.width() * self._threshold
        painter.drawLine(int(x), int(bar.top()) - 2, int(x), int(bar.bottom()) + 2)
        painter.restore()

    def _draw_legend(self, painter: QPainter) -> None:
        """A short red tick and the words 'confidence threshold N %' along the bottom."""
        top = self.height() - LEGEND_HEIGHT
        painter.save()
        painter.setFont(_font(9))
        if self._threshold > 0:
            painter.setPen(QPen(THRESHOLD_COLOUR, 2))
            painter.drawLine(4, top + 4, 4, top + LEGEND_HEIGHT - 4)
        painter.setPen(MUTED)
        painter.drawText(
            QRectF(12, top, self.width() - 12, LEGEND_HEIGHT),
            Qt.AlignLeft | Qt.AlignVCenter,
            self.legend().removeprefix("red line: "),
        )
        painter.restore()


class StatsPanel(QWidget):
    """Frames per second of capture, pose and inference, and the frame-to-prediction latency."""

    FIELDS = (  # key, title, tooltip; two to a row
        ("capture", "capture fps", "frames read from the source per second"),
        ("pose", "pose fps", "frames through the pose estimator per second"),
        ("inference", "inference fps", "predictions of the action model per second"),
        ("people", "people", "people in view in the latest frame"),
        ("latency", "latency ms", "from a frame's capture to the prediction that includes it"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(8)
        self._values: dict[str, QLabel] = {}
        for i, (key, title, tip) in enumerate(self.FIELDS):
            name = QLabel(title)
            value = QLabel("—")
            value.setFont(_font(11, bold=True))
            value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            for label in (name, value):
                label.setToolTip(tip)
            row, column = divmod(i, 2)
            layout.addWidget(name, row, 3 * column)
            layout.addWidget(value, row, 3 * column + 1)
            self._values[key] = value
        layout.setColumnMinimumWidth(2, 16)

    def set_value(self, key: str, value: float | None, digits: int = 1) -> None:
        """Show one figure; None shows a dash."""
        self._values[key].setText("—" if value is None else f"{value:.{digits}f}")

    def value(self, key: str) -> str:
        """The text shown for one figure (for tests)."""
        return self._values[key].text()


class Banner(QFrame):
    """A visible box for faults (no camera, video ended, bad checkpoint); hidden when empty.

    The message is selectable; for a checkpoint to fetch by hand it also shows the URL and the
    file to save it as in read-only fields with Copy buttons; Retry asks for the run again, and
    where no camera opened, "Play the demo clip" asks for a run on the demo clip.
    """

    retry = pyqtSignal()
    play_demo = pyqtSignal()

    STYLES = {
        "error": ("#fde7e9", "#8b0000", "#e5a0a6"),
        "info": ("#e8f1fd", "#0b3d91", "#a6c4ee"),
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self._message = QLabel()
        self._message.setWordWrap(True)
        self._message.setTextInteractionFlags(
            Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard
        )
        self._message.setFont(_font(11))
        self._url, self._dest = self._copy_field(), self._copy_field()
        self._fetch = QWidget()
        grid = QGridLayout(self._fetch)
        grid.setContentsMargins(0, 0, 0, 0)
        for row, (title, field) in enumerate(
            (("File to fetch", self._url), ("Save it as", self._dest))
        ):
            copy = QPushButton("Copy")
            copy.clicked.connect(functools.partial(self._copy, field))
            grid.addWidget(QLabel(title), row, 0)
            grid.addWidget(field, row, 1)
            grid.addWidget(copy, row, 2)
        self.retry_button = QPushButton("Retry")
        self.retry_button.clicked.connect(self.retry)
        self.demo_button = QPushButton("Play the demo clip")
        self.demo_button.setToolTip("no webcam? a 2.6 s clip of two people hugging (fetched once)")
        self.demo_button.clicked.connect(self.play_demo)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.retry_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self._message)
        layout.addWidget(self._fetch)
        layout.addLayout(buttons)
        self.clear_message()

    @staticmethod
    def _copy_field() -> QLineEdit:
        """A read-only, selectable one-line field."""
        field = QLineEdit()
        field.setReadOnly(True)
        field.setFont(_font(10))
        return field

    @staticmethod
    def _copy(field: QLineEdit) -> None:
        """Put a field's whole text on the clipboard."""
        QApplication.clipboard().setText(field.text())

    def show_message(self, text: str, kind: str = "error") -> None:
        """Show `text` styled as an error or an info (no fetch fields, no Retry)."""
        background, colour, border = self.STYLES[kind]
        self.setStyleSheet(
            f"#banner {{ background: {background}; border: 1px solid {border}; "
            f"border-radius: 4px; }} #banner > QLabel {{ color: {colour}; }}"
        )
        self._message.setText(text)
        self._fetch.hide()
        self.retry_button.hide()
        self.show()

    def show_fetch(self, url: str, dest: str) -> None:
        """Add the file to download by hand and where to save it."""
        self._url.setText(url)
        self._dest.setText(dest)
        for field in (self._url, self._dest):
            field.setCursorPosition(0)
        self._fetch.show()

    def offer_retry(self, demo: bool = False) -> None:
        """Show the Retry button, and with `demo` the one that plays the demo clip instead."""
        self.retry_button.show()
        self.demo_button.setVisible(demo)

    def fetch_fields(self) -> tuple[str, str]:
        """The URL and the destination shown ('' when hidden): for tests."""
        if self._fetch.isHidden():
            return "", ""
        return self._url.text(), self._dest.text()

    def text(self) -> str:
        """The message shown."""
        return self._message.text()

    def clear_message(self) -> None:
        """Hide the banner."""
        self._message.setText("")
        self._fetch.hide()
        self.retry_button.hide()
        self.demo_button.hide()
        self.hide()


class EventList(QListWidget):
    """The run's action events, newest first: time, class, peak score and person, with a
    thumbnail of the frame where the score peaked (the full picture's path in the tooltip)."""

    THUMBNAIL = QSize(112, 72)
    MAX_ITEMS = 200  # older events leave the list (the log keeps them)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIconSize(self.THUMBNAIL)
        self.setMinimumHeight(2 * self.THUMBNAIL.height())

    def add_event(self, event: Event) -> None:
        """Show one event at the top of the list."""
        item = QListWidgetItem(
            f"{event.label} {event.peak_score * 100:.0f}%\n"
            f"{event.start:.1f}-{event.end:.1f} s · person {event.person}"
        )
        item.setToolTip(event.snapshot or "no snapshot")
        if event.peak_frame is not None:
            pixmap = QPixmap.fromImage(to_qimage(event.peak_frame))
            item.setIcon(QIcon(pixmap.scaled(self.THUMBNAIL, Qt.KeepAspectRatio)))
        self.insertItem(0, item)
        while self.count() > self.MAX_ITEMS:
            self.takeItem(self.count() - 1)
