"""minerf.eval.mouth.mouth_follow on the tiny run, with a stand-in tracker whose "inner-lip
opening" is a known function of the image (so every reported r can be recomputed)."""

from __future__ import annotations

import numpy as np
import pytest

from minerf.prepare.expression_space import EYE_OUTER_RIGHT, LOWER_INNER_LIP


class BrightnessTracker:
    """One face whose inner-lip gap over the eye distance is the image's mean grey level / 255."""

    def __init__(self):
        self.images: list[np.ndarray] = []

    def detect(self, rgb: np.ndarray) -> list[np.ndarray]:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3
        self.images.append(rgb)
        points = np.zeros((468, 3))
        points[EYE_OUTER_RIGHT, 0] = 1.0
        points[LOWER_INNER_LIP, 1] = float(rgb.mean()) / 255.0
        return [points]


def _pearson(a, b) -> float:
    return float(np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1])


@pytest.fixture(scope="module")
def measured(tiny_run):
    from minerf.eval.mouth import mouth_follow
    from minerf.render.video import RunRenderer

    renderer = RunRenderer.open(tiny_run[0], "cpu")
    tracker = BrightnessTracker()
    result = mouth_follow(renderer.run.model, renderer.data, renderer.run.smoothing_active, tracker, frames_per_clip=None, heldout=False)
    return renderer.data, tracker, result


def test_each_frame_is_tracked_on_its_render_and_on_its_real_frame(measured):
    data, tracker, result = measured
    train_frames = [t for ci, (train, _) in enumerate(data.splits) for t in train]
    assert result["frames"] == len(train_frames) and len(tracker.images) == 2 * len(train_frames)
    assert result["frames_kind"] == "training" and result["renders_without_face"] == 0
    reals = [data.clips[ci].frame(t) for ci, (train, _) in enumerate(data.splits) for t in train]
    for seen, real in zip(tracker.images[1::2], reals):
        np.testing.assert_array_equal(seen, real)  # the second detection of each frame is the real frame as stored


def test_the_reported_correlations_are_the_ones_of_the_openings(measured):
    from minerf.prepare.expression_space import mouth_opening

    data, tracker, result = measured
    tracked = [float(mouth_opening(data.clips[ci].landmarks2d[t])) for ci, (train, _) in enumerate(data.splits) for t in train]
    rendered = [img.mean() / 255.0 for img in tracker.images[0::2]]
    real = [img.mean() / 255.0 for img in tracker.images[1::2]]
    assert result["pooled_r"] == pytest.approx(_pearson(tracked, rendered), abs=1e-9)
    assert result["real_frame_pooled_r"] == pytest.approx(_pearson(tracked, real), abs=1e-9)
    assert result["vs_real_frame_pooled_r"] == pytest.approx(_pearson(real, rendered), abs=1e-9)
    assert result["rendered_vs_tracked_std"] == pytest.approx(np.std(rendered) / np.std(tracked), rel=1e-9)
    # the tiny run renders its training frames close to the real ones: their brightness agrees
    assert result["vs_real_frame_pooled_r"] > 0.9
    first = data.identity_names[data.identity_of_clip[0]]
    n = len(data.splits[0][0])
    assert result["vs_real_frame_per_identity_r"][first] == pytest.approx(_pearson(real[:n], rendered[:n]), abs=1e-9)
