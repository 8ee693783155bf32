"""Two NTU body slots with stable identities across frames; the main person stays in slot 0."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

from common.errors import UserError
from common.limits import check_number
from common.smoothing import exponential_average
from ntu.joints import NUM_BODIES, NUM_JOINTS
from ntu.recording import FPS

from .landmarks import Person
from .ntu import person_to_ntu

# A person whose torso moved more than this fraction of the frame since the slot's last
# sighting is someone else.
MAX_JUMP = 0.35
# The frame interval assumed when the caller gives no timestamps (NTU's frame rate).
DEFAULT_STEP_S = 1 / FPS
# Weight of the past in the moving average of a slot's activity.
ACTIVITY_MEMORY = 0.8
NTU_SPINE_MID = 1  # NTU joint (0-based) between which two people's distance is taken
FASTEST_JOINT = 22  # the 23rd slowest of 25 joints: the 90th percentile of their speeds


@dataclass
class TrackerSettings:
    """The body tracker's settings (see BodyTracker); the defaults are the product's, a YAML
    `tracker:` section overrides them (pipeline.load_settings)."""

    hold_frames: int = 5  # keep a lost person's last pose this many frames before zeros
    smoothing: float = 0.0  # moving-average weight of the past on joints (0 = off)
    leg_visibility: float = 0.5  # lower legs less visible become still, straight legs (0 = off)
    # the frames are mirror images (NTU's own videos, a mirrored camera view): exchange left and
    # right so that a person's right hand is NTU's right hand
    mirror: bool = False
    # NTU's second body is an interacting partner: a second person is fed to the model once seen
    # in partner_frames frames and either within partner_reach metres of the main person or
    # moving their limbs at partner_speed m/s or more (a still bystander is neither; a phantom is
    # brief); 1, .inf and 0 leave the gate open
    partner_frames: int = 6
    partner_reach: float = 1.2
    partner_speed: float = 0.5
    # a partner lost within reach is hidden by the main person (a hug): keep their last pose
    # this many frames
    partner_hold_frames: int = 45

    def __post_init__(self) -> None:
        if not 0.0 <= self.smoothing < 1.0:  # NaN fails too
            raise UserError(f"tracker smoothing must be in [0, 1), got {self.smoothing}")
        check_number("tracker leg_visibility", self.leg_visibility, 0.0, 1.0)
        for name in ("partner_reach", "partner_speed"):  # .inf is allowed: the gate open
            if not getattr(self, name) >= 0:  # NaN fails too
                raise UserError(f"tracker {name} must be 0 or more, got {getattr(self, name)}")
        counts = {
            "hold_frames": self.hold_frames,
            "partner_frames": self.partner_frames,
            "partner_hold_frames": self.partner_hold_frames,
        }
        negative = [name for name, value in counts.items() if value < 0]
        if negative:
            raise UserError(f"tracker {negative[0]} must be 0 or more, got {counts[negative[0]]}")


@dataclass
class _Slot:
    """One body slot: who is in it, where they were last seen, and for how many frames not."""

    person: Person | None = None
    skeleton: np.ndarray | None = None  # (3, 25), smoothed
    centre: np.ndarray | None = None  # normalised image position of the torso
    missed: int = 0
    identity: int = -1
    held: bool = False
    sightings: int = 0  # frames seen since they arrived
    activity: float = 0.0  # moving average of how fast their limbs move, metres per second
    partner: bool = False  # slot 1 only: taken as the main person's partner (see BodyTracker)

    @property
    def active(self) -> bool:
        """Whether the slot holds someone."""
        return self.skeleton is not None


def _limb_speed(before: np.ndarray, after: np.ndarray, step: float) -> float:
    """How fast a body's fastest joints moved between two (3, 25) poses: about the 90th
    percentile of the joint speeds in metres per second (a wave moves few joints; jitter moves
    all a little)."""
    speeds = np.linalg.norm(after - before, axis=0)
    return float(np.partition(speeds, FASTEST_JOINT)[FASTEST_JOINT] / step)


def _prominence(person: Person) -> float:
    """Box area times torso visibility: who is the main person among several."""
    x0, y0, x1, y1 = person.bbox(pad=0.0)
    return float((x1 - x0) * (y1 - y0)) * person.score


class BodyTracker:
    """Keeps two body slots with stable identities and turns people into a (3, 25, 2) skeleton.

    Each person seen becomes NTU joints (pose.ntu.person_to_ntu: mirrored for a mirror-image
    source, hidden lower legs steadied), averaged over time with a continuing person's past ones
    (settings.smoothing). A slot whose person is not seen keeps their last pose for
    `hold_frames` frames (bridging missed detections), then is emptied to zeros, as NTU samples
    have zeros where no body is. When slot 0 empties while slot 1 is tracked, slot 1 moves to
    slot 0: the model centres every frame on body 0.

    NTU's second body is the main person's partner in an interaction, so someone in slot 1 is
    fed to the model only once seen in `partner_frames` frames (a phantom detection lasts less)
    and either within `partner_reach` metres of the main person or moving their limbs at
    `partner_speed` metres per second or more (a still bystander is neither). A partner lost
    within reach of the main person is taken to be hidden by them (a hug) and held
    `partner_hold_frames` frames instead of hold_frames.
    """

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self.slots = [_Slot() for _ in range(NUM_BODIES)]
        self._next_identity = 0
        self._last_time: float | None = None

    def reset(self) -> None:
        """Forget everyone (a new video or camera)."""
        self.slots = [_Slot() for _ in range(NUM_BODIES)]
        self._last_time = None

    @property
    def people(self) -> list[Person | None]:
        """The person seen in each slot this frame (None when not seen or not a partner)."""
        return [
            s.person if self._counts(i) and not s.held else None for i, s in enumerate(self.slots)
        ]

    @property
    def identities(self) -> list[int]:
        """A stable number per slot's occupant (-1 for an empty slot or one not a partner)."""
        return [s.identity if self._counts(i) else -1 for i, s in enumerate(self.slots)]

    def update(self, people: list[Person], timestamp: float | None = None) -> np.ndarray:
        """Assign this frame's people to slots; return the (3, 25, 2) NTU skeleton. `timestamp`
        (seconds) times how fast people move; without it frames are taken 1/30 s apart."""
        step = (
            DEFAULT_STEP_S
            if timestamp is None or self._last_time is None
            else max(timestamp - self._last_time, 1e-3)
        )
        self._last_time = timestamp
        people = sorted(people, key=_prominence, reverse=True)[:NUM_BODIES]
        matched = self._match(people)
        for index, slot in enumerate(self.slots):
            if index in matched:
                self._see(slot, *matched[index], step)
            else:
                self._miss(slot)
        if not self.slots[0].active and self.slots[1].active:
            self.slots.reverse()
        self.slots[0].partner = False
        second = self.slots[1]
        if second.active and not second.partner:
            gate = self.settings
            second.partner = second.sightings >= gate.partner_frames and (
                self._partner_distance() <= gate.partner_reach
                or second.activity >= gate.partner_speed
            )
        return self.skeleton()

    def skeleton(self) -> np.ndarray:
        """The current (3, 25, 2) skeleton: each slot's pose, zeros for an empty slot."""
        out = np.zeros((3, NUM_JOINTS, NUM_BODIES), dtype=np.float32)
        for index, slot in enumerate(self.slots):
            if self._counts(index):
                out[:, :, index] = slot.skeleton
        return out

    def _counts(self, index: int) -> bool:
        """Whether slot `index` is fed to the model: the main person, or an accepted partner."""
        slot = self.slots[index]
        return slot.active and (index == 0 or slot.partner)

    def _partner_distance(self) -> float:
        """Metres between the two slots' spines (infinite while either is empty)."""
        first, second = self.slots
        if not (first.active and second.active):
            return float("inf")
        gap = first.skeleton[:, NTU_SPINE_MID] - second.skeleton[:, NTU_SPINE_MID]
        return float(np.linalg.norm(gap))

    def _match(self, people: list[Person]) -> dict[int, tuple[Person, bool]]:
        """Slot index -> (person, newcomer?) at the least cost over all assignments.

        Continuing a tracked slot costs the distance moved (allowed up to MAX_JUMP); a newcomer
        costs MAX_JUMP in an empty slot, more when it displaces someone (most when that someone
        was seen last frame); the first person seen, or the most prominent of several, is main.
        """
        best: dict[int, tuple[Person, bool]] = {}
        best_cost = np.inf
        for order in permutations(range(NUM_BODIES), len(people)):
            # ties go to the more prominent person in the lower slot
            assignment = {}
            cost = 1e-6 * sum(index * (len(order) - rank) for rank, index in enumerate(order))
            for person, index in zip(people, order):
                slot = self.slots[index]
                dist = (
                    float(np.linalg.norm(person.torso_centre - slot.centre))
                    if slot.active
                    else np.inf
                )
                if dist <= MAX_JUMP:
                    cost += dist
                    assignment[index] = (person, False)
                else:
                    cost += MAX_JUMP * (1 if not slot.active else 3 if slot.held else 5)
                    assignment[index] = (person, True)
            if cost < best_cost:
                best, best_cost = assignment, cost
        return best

    def _see(self, slot: _Slot, person: Person, newcomer: bool, step: float) -> None:
        """Update a slot with a sighting, smoothing the joints of a continuing person."""
        skeleton = person_to_ntu(
            person, mirror=self.settings.mirror, leg_visibility=self.settings.leg_visibility
        )
        if newcomer:
            slot.identity = self._next_identity
            self._next_identity += 1
            slot.sightings, slot.activity, slot.partner = 0, 0.0, False
        else:
            skeleton = exponential_average(slot.skeleton, skeleton, self.settings.smoothing)
            slot.activity = exponential_average(
                slot.activity, _limb_speed(slot.skeleton, skeleton, step), ACTIVITY_MEMORY
            )
        slot.person, slot.skeleton, slot.centre = person, skeleton, person.torso_centre
        slot.missed, slot.held = 0, False
        slot.sightings += 1

    def _miss(self, slot: _Slot) -> None:
        """A slot not seen this frame keeps its last pose for a while, then empties; a partner
        last seen within reach of the main person is held longer (hidden by them)."""
        if not slot.active:
            return
        slot.missed += 1
        slot.held = True
        settings = self.settings
        hidden = slot.partner and self._partner_distance() <= settings.partner_reach
        if slot.missed > max(settings.hold_frames, settings.partner_hold_frames if hidden else 0):
            slot.person = slot.skeleton = slot.centre = None
            slot.held = slot.partner = False
