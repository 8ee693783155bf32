"""A checkpoint's model card: what the network recognises and the input it expects.

In the spirit of torchvision's `Weights.meta`: one typed record, stored in every project
checkpoint (`save_checkpoint`), built by the registry for the released files and from what is
known for older ones, returned by `load_model` beside the network. Every consumer (the live
classifier, video classification, own-action training data, export, the GUI) reads it and
refuses an input it does not fit, in one line (`ModelCard.require`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from common.errors import UserError, excerpt, printable
from common.limits import MAX_PAD, MAX_WINDOW
from ntu.labels import class_names as ntu_class_names
from ntu.labels import dataset_of
from ntu.recording import FPS, SAMPLE_LENGTH

from .preprocess import STREAMS

CARD_VERSION = 1
# The skeletons of NTU RGB+D's own recordings (Kinect v2, 25 joints): what the released models
# and train.run saw. Skeletons made from video are pose.SKELETON_FORMAT (its mapping's version).
KINECT_SKELETONS = "ntu-kinect-v2"
# Left and right are the person's own (Kinect's convention; pose/ maps a mirrored source to it).
SUBJECT_LEFT = "subject-left"
SOURCES = ("released", "trained", "fine-tuned", "unknown")


@dataclass(frozen=True)
class ModelCard:
    """What a checkpoint recognises and how its input is made.

    A window of `window` frames at `fps` (None: whole recordings of any length, NTU's samples)
    is placed at the start of `loop_to` empty frames so that the normalisation loops it to that
    length (0: used as it is): model.preprocess.prepare_window(frames, loop_to, stream).
    """

    num_class: int
    class_names: tuple[str, ...] | None = None  # one per output, None: unnamed
    stream: str = "joint"  # one of model.preprocess.STREAMS
    window: int | None = None  # frames a training window; None: whole recordings
    loop_to: int = SAMPLE_LENGTH  # how a shorter window is filled: looped to this length
    fps: float = FPS  # the frame rate windows are resampled to
    skeleton_format: str = KINECT_SKELETONS  # NTU's Kinect skeletons, or pose.SKELETON_FORMAT
    mirror: str = SUBJECT_LEFT  # what left and right mean in the joints
    source: str = "trained"  # one of SOURCES
    dataset: str = ""  # ntu60, ntu120, own, ...
    benchmark: str = ""  # xsub, xview, xset, ... (NTU's evaluation protocols)
    base: str | None = None  # the checkpoint it was fine-tuned from
    accuracy: float | None = None  # top-1 (%), where measured
    accuracy_note: str = ""  # what that figure is

    def __post_init__(self) -> None:
        """A card that contradicts itself is refused here, not in a later consumer."""
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(self.class_names))
        problem = self._problem()
        if problem:
            raise UserError(f"model card: {problem}; save the checkpoint again")

    def _problem(self) -> str | None:
        if not _is_int(self.num_class) or self.num_class < 1:
            return f"num_class {excerpt(self.num_class)} is not a positive count"
        names = self.class_names
        if names is not None and not all(isinstance(n, str) for n in names):
            return "class_names are not a list of strings"
        if names is not None and len(names) != self.num_class:
            return f"it has {self.num_class} classes but names {len(names)}"
        if self.stream not in STREAMS:
            return f"stream {excerpt(self.stream)} is not one of {', '.join(STREAMS)}"
        if self.window is not None and not (
            _is_int(self.window) and 1 <= self.window <= MAX_WINDOW
        ):
            return f"window {excerpt(self.window)} is not a frame count up to {MAX_WINDOW}"
        if not _is_int(self.loop_to) or not 0 <= self.loop_to <= MAX_PAD:
            return f"loop_to {excerpt(self.loop_to)} is not a frame count up to {MAX_PAD}"
        if not _is_number(self.fps) or not 0 < self.fps <= 1000:
            return f"fps {excerpt(self.fps)} is not a frame rate in (0, 1000]"
        if self.source not in SOURCES:
            return f"source {excerpt(self.source)} is not one of {', '.join(SOURCES)}"
        if self.accuracy is not None and not _is_number(self.accuracy):
            return f"accuracy {excerpt(self.accuracy)} is not a number"
        texts = ("skeleton_format", "mirror", "dataset", "benchmark", "accuracy_note")
        wrong = [k for k in texts if not isinstance(getattr(self, k), str)]
        if wrong or not isinstance(self.base, (str, type(None))):
            return f"{(wrong or ['base'])[0]} is not text"
        return None

    @classmethod
    def known(
        cls,
        num_class: int,
        class_names: Any = None,
        stream: str = "joint",
        source: str = "trained",
    ) -> ModelCard:
        """A card from the little that is known of a checkpoint (a released state_dict, a file
        written before cards): NTU's names for an NTU class count, NTU's input (whole
        recordings looped to 300 frames at 30 fps, Kinect skeletons), which is what the live
        classifier always gave such a checkpoint."""
        if class_names is None:
            dataset = dataset_of(num_class)
            class_names = ntu_class_names(dataset) if dataset else None
        return cls(num_class, class_names, stream, source=source)

    # ------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """Plain types for a checkpoint (torch.load(weights_only=True) reads them back)."""
        data = dataclasses.asdict(self)
        data["class_names"] = list(self.class_names) if self.class_names is not None else None
        return {"version": CARD_VERSION, **data}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ModelCard:
        """The card stored by to_dict; one UserError line naming `where` when it is not one."""
        if not isinstance(data, dict):
            raise UserError(f"{where}: its model card is not a mapping; save it again")
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k != "version"}
        unknown = sorted(set(values) - fields)
        if data.get("version") != CARD_VERSION or unknown:
            raise UserError(
                f"{where}: its model card is of another version ({excerpt(data.get('version'))}"
                f"{', key ' + excerpt(unknown[0]) if unknown else ''}); use the program that "
                "wrote it, or save it again"
            )
        try:
            return cls(**values)
        except TypeError:  # a required field missing
            raise UserError(f"{where}: its model card lacks num_class; save it again") from None
        except UserError as err:
            raise UserError(f"{where}: {err}") from None

    # ------------------------------------------------------------ reading
    def labels(self) -> list[str]:
        """The label of each output, printable on a terminal or in the GUI ('class i' unnamed)."""
        if self.class_names is None:
            return [f"class {i}" for i in range(self.num_class)]
        return [printable(name) for name in self.class_names]

    def fill(self) -> str:
        """How a short window is filled, in words."""
        return f"looped to {self.loop_to} frames" if self.loop_to else "as they are (not looped)"

    def origin(self) -> str:
        """Where the checkpoint came from and its accuracy, in words ('' when unknown)."""
        data = " ".join(p for p in (self.dataset, self.benchmark) if p)
        if self.source == "released":
            text = f"{self.dataset.upper()} {self.benchmark}".strip() or "released"
        elif self.source == "fine-tuned":
            text = f"fine-tuned on {data or 'own data'}"
            text += f" from {self.base}" if self.base else ""
        elif self.source == "trained":
            text = f"trained on {data}" if data else "trained"
        else:
            return ""
        if self.accuracy is not None:
            reported = " reported" if self.source == "released" else ""
            text += f" · top-1 {self.accuracy:.1f} %{reported}"
        return text

    def summary(self) -> list[str]:
        """The card's key facts, a few short lines (the GUI's model panel)."""
        trained = f" (trained on {self.window}-frame windows)" if self.window else ""
        return [line for line in [self.origin()] if line] + [
            f"{self.num_class} classes · {self.stream} stream",
            f"windows {self.fill()} at {self.fps:g} fps{trained}",
            f"skeletons: {self.skeleton_format} ({self.mirror})",
        ]

    def require(
        self, checkpoint: str, where: str, *, hint: str | None = None, **expected: Any
    ) -> None:
        """Refuse, in one line, input that this card does not fit: each keyword names a card
        field (stream, loop_to, fps, skeleton_format) and the value `where` (a setting, a
        pipeline, an ensemble member) would give the network; `hint` replaces the field's
        usual what-to-do."""
        for key, given in expected.items():
            wanted = getattr(self, key)
            if key == "fps" and _is_number(given) and math.isclose(given, wanted):
                continue
            if given != wanted:
                raise UserError(
                    f"{checkpoint} was trained with {key} {excerpt(wanted)} (its model card) but "
                    f"{where} gives {excerpt(given)}; {hint or _HINTS[key]}"
                )


_HINTS = {  # what to do when a field does not fit
    "stream": "use a base checkpoint of that stream, or set the config's stream to the card's",
    "loop_to": "set classifier.pad_to to the card's loop_to, or train again with this fill",
    "fps": "set classifier.fps to the card's, or train again at this rate",
    "skeleton_format": "train it again on skeletons of this version (python -m train.from_videos)",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float) and math.isfinite(value)
