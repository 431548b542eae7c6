"""The dark-mouth measure: how much of the lip box is the open mouth's dark interior."""

from __future__ import annotations

import numpy as np

from minerf.demo_media import DemoSpec, envelope_at_frames, speech
from minerf.eval.mouth import DARK_GREY, dark_share, lips_union_box
from minerf_base.clip import load_clip
from minerf_base.video_in import iter_frames


def test_dark_share_counts_the_dark_pixels_inside_the_box_only():
    frame = np.full((40, 60, 3), 200, np.uint8)
    frame[10:20, 10:30] = 20  # dark: the left half of the box below
    frame[0:5, 0:5] = 0  # dark but outside the box
    frame[20:30, 10:30] = DARK_GREY  # at the threshold: not dark
    shares = dark_share([frame, np.full_like(frame, 200)], (10, 10, 50, 30))
    np.testing.assert_allclose(shares, [200 / 800, 0.0])


def test_the_demo_portraits_dark_mouth_follows_its_own_speech(demo_video, demo_clip):
    clip = load_clip(demo_clip)
    box = lips_union_box(clip)
    x0, y0, side = clip.crop_box
    assert x0 <= box[0] < box[2] <= x0 + side and y0 <= box[1] < box[3] <= y0 + side
    spec = DemoSpec()  # what the demo_video fixture is made with
    envelope = envelope_at_frames(speech(spec.seconds, spec.seed)[1], clip.num_frames, spec.fps)
    dark = dark_share(iter_frames(demo_video), box)
    assert len(dark) == clip.num_frames and dark.max() > 2 * np.median(dark)
    assert np.corrcoef(dark, envelope)[0, 1] > 0.7  # the portrait's mouth opens with its speech (0.83 measured)
    other = envelope_at_frames(speech(spec.seconds, spec.seed + 1)[1], clip.num_frames, spec.fps)
    assert abs(np.corrcoef(dark, other)[0, 1]) < 0.4  # and not with another speech (-0.10 measured)
