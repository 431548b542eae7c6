"""Each scored track reports its distance at offset 0: the sync of the video as it plays."""

from __future__ import annotations

import numpy as np

import lipsync
from lipsync.sync import score_track
from lipsync.weights import load_syncnet
from minerf_base.timebase import SAMPLES_PER_FRAME
from tests.lipsync.conftest import generated_audio, generated_crops


def test_distance_at_zero_is_the_zero_offset_point_of_the_curve(random_weights):
    crops = generated_crops(14, seed=4)
    audio = generated_audio(14 * SAMPLES_PER_FRAME, seed=4)
    (track,) = lipsync.score(crops, audio, weights=random_weights, faces_cropped=True).tracks
    direct = score_track(load_syncnet(random_weights, "cpu").net, crops, audio)
    assert track.distance_at_zero == float(direct.distances[15])  # offsets +15..-15: index 15 is offset 0
    assert track.distance_at_zero >= track.lse_d
    median = float(np.median(direct.distances))
    assert abs((track.lse_c + track.lse_d - track.distance_at_zero) - (median - float(direct.distances[15]))) < 1e-4
