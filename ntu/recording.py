"""How NTU RGB+D was recorded and sampled: the frame rate the models expect, and the length the
released models' training samples were looped to."""

from __future__ import annotations

FPS = 30.0  # Kinect v2's frame rate: the rate a window is resampled to for the model
SAMPLE_LENGTH = 300  # frames per training sample (shorter recordings looped to this length)
