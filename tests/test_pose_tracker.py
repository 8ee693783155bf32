"""The body tracker: two slots with stable identities, main person in slot 0, gaps, smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from pose_helpers import person_from_world, standing_world

from common.errors import UserError
from pose import BodyTracker, TrackerSettings, to_ntu


def at(x: float, seed: int = 0, noise: float = 0.0, distance: float = 2.5, wave: float = 0.0):
    """A standing person centred at image x, `distance` metres from the camera, with optional
    jitter on the world landmarks and the right hand `wave` metres to the side."""
    world = standing_world()
    if noise:
        world = world + np.random.default_rng(seed).normal(0, noise, world.shape).astype(np.float32)
    world[[16, 18, 20, 22], 0] += wave
    return person_from_world(world, centre_x=x, distance=distance)


PARTNER_GATE = dict(
    partner_frames=6, partner_reach=1.2, partner_speed=0.5, hold_frames=5, partner_hold_frames=45
)
# Every second person fed at once, nobody held, legs as seen: each test turns on what it tests.
OPEN = dict(
    partner_frames=1,
    partner_reach=float("inf"),
    partner_speed=0.0,
    hold_frames=0,
    partner_hold_frames=0,
    leg_visibility=0.0,
)


def open_tracker(**settings) -> BodyTracker:
    """A tracker with OPEN settings, `settings` on top."""
    return BodyTracker(TrackerSettings(**{**OPEN, **settings}))


def fed_frames(tracker: BodyTracker, frames: list[list]) -> list[bool]:
    """Run the tracker over frames of people; whether body slot 1 reached the model in each."""
    return [
        bool(tracker.update(people, timestamp=i / 30)[..., 1].any())
        for i, people in enumerate(frames)
    ]


def test_empty_frames_give_zeros():
    """Nobody seen: the (3, 25, 2) skeleton is all zeros, as NTU samples have where no body is."""
    out = open_tracker().update([])
    assert out.shape == (3, 25, 2) and out.dtype == np.float32 and not out.any()


def test_first_person_is_slot_0_and_newcomer_slot_1():
    """The first person seen is the main one; someone joining takes slot 1."""
    tracker = open_tracker()
    alice = at(0.3)
    out = tracker.update([alice])
    np.testing.assert_allclose(out[:, :, 0], to_ntu(alice), atol=1e-6)
    assert not out[:, :, 1].any()
    bob = at(0.7)
    out = tracker.update([bob, alice])  # order of detection does not matter
    np.testing.assert_allclose(out[:, :, 0], to_ntu(alice), atol=1e-6)
    np.testing.assert_allclose(out[:, :, 1], to_ntu(bob), atol=1e-6)


def test_identities_follow_positions_when_detection_order_swaps():
    """People walking slowly keep their slots whatever order the estimator reports them in."""
    tracker = open_tracker()
    tracker.update([at(0.3), at(0.7)])
    left_slot = 0 if tracker.slots[0].centre[0] < 0.5 else 1
    for step in range(1, 10):
        left, right = at(0.3 + 0.01 * step), at(0.7 - 0.01 * step)
        tracker.update([left, right] if step % 2 else [right, left])
        assert tracker.people[left_slot] is left and tracker.people[1 - left_slot] is right
    assert sorted(tracker.identities) == [0, 1]


def test_short_gap_is_bridged_then_emptied():
    """A person missed for up to hold_frames frames keeps their pose; then the slot is zeros."""
    tracker = open_tracker(hold_frames=2)
    seen = tracker.update([at(0.5)])
    for _ in range(2):
        np.testing.assert_array_equal(tracker.update([]), seen)
    assert tracker.people == [None, None]  # held poses are not drawn as seen
    assert not tracker.update([]).any()


def test_main_slot_is_refilled_by_the_remaining_person():
    """When the main person leaves for good, the other one moves to slot 0 (the model centres
    every frame on body 0)."""
    tracker = open_tracker(hold_frames=1)
    alice, bob = at(0.3), at(0.7)
    tracker.update([alice])
    tracker.update([alice, bob])
    for _ in range(3):
        out = tracker.update([bob])
    np.testing.assert_allclose(out[:, :, 0], to_ntu(bob), atol=1e-6)
    assert not out[:, :, 1].any()
    assert tracker.identities == [1, -1]


def test_a_person_far_away_is_someone_new():
    """A detection far from the tracked person is a new identity, not a jump."""
    tracker = open_tracker(hold_frames=0)
    tracker.update([at(0.1)])
    tracker.update([at(0.9)])
    assert tracker.identities[0] == 1


def test_smoothing_reduces_jitter():
    """The moving average makes frame-to-frame joint changes smaller."""

    def jitter(smoothing: float) -> float:
        tracker = open_tracker(smoothing=smoothing)
        frames = [tracker.update([at(0.5, seed=i, noise=0.01)]) for i in range(20)]
        return float(np.abs(np.diff(np.stack(frames), axis=0)).mean())

    assert jitter(0.6) < 0.6 * jitter(0.0)


def test_bad_smoothing_is_refused():
    """Smoothing must be a weight in [0, 1)."""
    with pytest.raises(UserError, match="smoothing must be in"):
        open_tracker(smoothing=1.0)


def test_hidden_legs_stay_still_while_guesses_jitter():
    """With leg_visibility set, hidden lower legs stop moving relative to the hips."""

    def leg_motion(leg_visibility: float) -> float:
        tracker = open_tracker(leg_visibility=leg_visibility)
        frames = []
        rng = np.random.default_rng(0)
        for _ in range(10):
            world = standing_world()
            world[25:] += rng.normal(0, 0.08, (8, 3))  # guessed legs jitter, the torso does not
            person = person_from_world(world)
            person.visibility[25:] = 0.05
            frames.append(tracker.update([person])[..., 0])
        joints = np.stack(frames)  # (T, 3, 25)
        legs = joints[:, :, [13, 14, 15]] - joints[:, :, [12]]  # left knee, ankle, foot - hip
        return float(np.abs(np.diff(legs, axis=0)).mean())

    assert leg_motion(0.0) > 0.02 and leg_motion(0.5) < 1e-5


def test_a_still_bystander_far_behind_is_not_a_partner():
    """Someone sitting still 2 m behind the main person never becomes NTU's second body."""
    frames = [[at(0.3), at(0.6, seed=i, noise=0.002, distance=4.5)] for i in range(60)]
    assert not any(fed_frames(open_tracker(**PARTNER_GATE), frames))


def test_a_brief_phantom_is_not_a_partner():
    """A second detection that lasts fewer than partner_frames frames never reaches the model,
    even beside the main person."""
    frames = [[at(0.3), at(0.5)]] * 4 + [[at(0.3)]] * 20
    assert not any(fed_frames(open_tracker(**PARTNER_GATE), frames))


def test_a_partner_is_fed_when_near_or_moving():
    """Within reach, or moving though far away (walking towards each other), after
    partner_frames frames."""
    near = [[at(0.3), at(0.6)]] * 20  # 0.75 m apart, both still
    fed = fed_frames(open_tracker(**PARTNER_GATE), near)
    assert not any(fed[:5]) and all(fed[6:])
    waving = [[at(0.3), at(0.6, distance=4.5, wave=0.3 * (i % 2))] for i in range(20)]
    fed = fed_frames(open_tracker(**PARTNER_GATE), waving)
    assert not any(fed[:5]) and all(fed[10:])


def test_a_partner_hidden_in_a_hug_is_held():
    """A partner lost beside the main person (a hug) keeps their last pose for 36 frames; one lost
    far away is emptied after hold_frames as before."""
    hug = [[at(0.3), at(0.6)]] * 10 + [[at(0.3)]] * 36 + [[at(0.3), at(0.6)]] * 5
    assert all(fed_frames(open_tracker(**PARTNER_GATE), hug)[6:])
    away = [[at(0.3), at(0.6, distance=4.5, wave=0.3 * (i % 2))] for i in range(20)] + [
        [at(0.3)]
    ] * 20
    fed = fed_frames(open_tracker(**PARTNER_GATE), away)
    assert all(fed[10:25]) and not any(fed[26:])


def test_the_default_settings_gate_partners():
    """The tracker's defaults are the product's (the partner gate on, hidden legs steadied), and
    the pipeline's settings are those defaults."""
    from pipeline import load_settings

    defaults = TrackerSettings()
    assert {k: getattr(defaults, k) for k in PARTNER_GATE} == PARTNER_GATE
    assert defaults.leg_visibility > 0 and BodyTracker().settings == defaults
    assert load_settings().tracker == defaults


def test_the_tracker_maps_people_through_person_to_ntu():
    """A mirrored source gives the mirrored person's NTU joints, as pose.ntu maps them."""
    from pose import person_to_ntu

    person = at(0.4, wave=0.3)
    out = open_tracker(mirror=True).update([person])[..., 0]
    np.testing.assert_allclose(out, person_to_ntu(person, mirror=True, leg_visibility=0.0))
    assert np.abs(out - to_ntu(person)).max() > 0.05
