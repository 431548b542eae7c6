"""A dub and ``minerf render`` of the same frames give the same pixels, held-out frames
included: both take latent codes by one rule (held-out frames, whose codes never trained,
use the mean trained code of their clip)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

FRAMES = 20
SIZE = 32


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from minerf.synthetic import write_synthetic_clip
    from minerf.train.trainer import TrainOptions, train

    root = tmp_path_factory.mktemp("render_rule")
    clips = [write_synthetic_clip(root / f"head{i}", i, FRAMES, SIZE, source_frame=(48, 40, 10, 4)) for i in range(2)]
    train(clips, root / "run", TrainOptions(preset="tiny", iterations=20, checkpoint_every=20, validate_every=0, evaluate=False, progress=False, config_overrides={"head_margin": 0.0, "rays_per_step": 128}))
    return root / "run"


def test_dub_renders_the_same_pixels_as_minerf_render(run_dir):
    from minerf.render.composite import ping_pong, render_region
    from minerf.render.video import FrameSequence, RunRenderer, render_frames
    from minerf_dub.identity import frame_latents, known_identity
    from minerf_base.timebase import FPS
    from minerf_dub.pipeline import DubRender
    from minerf_dub.timing import OutputTiming

    renderer = RunRenderer.open(run_dir, "cpu")
    run = renderer.run
    identity = run.identities[1]
    ci = renderer.data.clips_of_identity(1)[0]
    clip = renderer.data.clips[ci]
    found = known_identity(run, clip)
    assert found is not None and found[0] == identity and found[1] == FRAMES  # the second clip's codes follow the first's
    offset = found[1]
    train, test = clip.split(float(run.meta["holdout"]))
    assert len(test) == 2
    # held-out codes never trained; make them far from the trained ones so a wrong rule shows
    with torch.no_grad():
        run.model.latent_codes[offset + test] = 3.0

    expressions = clip.expression[::-1].copy()  # (FRAMES, d): other expressions than the clip's own
    _, frames, _, crops = renderer.clip_sequence(identity, expressions)
    rendered = [crop for crop, _ in crops]
    assert frames.tolist() == list(range(FRAMES))

    timing = OutputTiming.plan(FRAMES, clip.num_frames, clip.num_frames, Fraction(FPS))  # at 25 fps: the clip's own frames
    timeline = timing.clip_frame
    assert timeline.tolist() == ping_pong(FRAMES, clip.num_frames).tolist()
    dub = DubRender(run, clip, identity, timing, frame_latents(run, clip, offset, timeline), None, None, (SIZE, SIZE), full_head=True)
    dubbed = [crop for crop, _ in dub.crops(expressions, slice(0, FRAMES))]
    assert len(dubbed) == len(rendered) == FRAMES
    for k in range(FRAMES):
        np.testing.assert_array_equal(dubbed[k], rendered[k], err_msg=f"frame {k}")

    # the raw codes of held-out frames (the rule the dub used to follow) give other pixels there
    raw = run.model.latent_codes.detach()[offset + torch.as_tensor(timeline)]
    code = run.model.identity_codes[1].detach()
    regions = (render_region(clip.mask(int(j))) for j in timeline)
    sequence = FrameSequence(expressions, clip.pose[timeline], clip.intrinsics, raw, (clip.background(int(j)) for j in timeline), regions)
    old = [crop for crop, _ in render_frames(run.model, code, sequence, run.smoothing_active)]
    assert all(np.array_equal(old[k], rendered[k]) for k in train)
    assert all(np.abs(old[k].astype(int) - rendered[k].astype(int)).max() > 0 for k in test)


def test_the_default_dub_renders_only_the_lower_face_and_keeps_the_source_elsewhere(run_dir):
    from minerf.render.composite import lower_face_masks, paste_into_frame, render_region
    from minerf_base.timebase import FPS
    from minerf_dub.timing import OutputTiming
    from minerf.render.video import RunRenderer
    from minerf_dub.identity import frame_latents, known_identity
    from minerf_dub.pipeline import DubRender

    renderer = RunRenderer.open(run_dir, "cpu")
    run = renderer.run
    clip = renderer.data.clips[renderer.data.clips_of_identity(1)[0]]
    offset = known_identity(run, clip)[1]
    timing = OutputTiming.plan(4, clip.num_frames, clip.num_frames, Fraction(FPS))
    timeline = timing.clip_frame
    lower = DubRender(run, clip, run.identities[1], timing, frame_latents(run, clip, offset, timeline), None, None, (SIZE, SIZE))
    full = DubRender(run, clip, run.identities[1], timing, frame_latents(run, clip, offset, timeline), None, None, (SIZE, SIZE), full_head=True)
    expressions = clip.expression[: len(timeline)]
    for k, ((crop, acc), (full_crop, _)) in enumerate(zip(lower.crops(expressions, slice(0, 4)), full.crops(expressions, slice(0, 4)))):
        region, alpha = lower_face_masks(clip.landmarks2d[int(timeline[k])], clip.resolution)
        assert 0 < region.sum() < region.size and alpha.max() == 1.0 and (alpha[~region] == 0).all()
        assert (acc[~region] == 0).all() and acc[region].max() > 0  # the field ran only in the region
        both = region & render_region(clip.mask(int(timeline[k])))
        source, background = clip.frame(int(timeline[k])), clip.background(int(timeline[k]))
        # same field where both ran, composited over the frame itself in the lower face and
        # over the head-less background for the whole head: the crops differ by (1 - opacity)
        # x (frame - background), to the uint8 rounding of each
        expected = (1 - acc[both, None]) * (source[both].astype(float) - background[both].astype(float))
        np.testing.assert_allclose(crop[both].astype(float) - full_crop[both].astype(float), expected, atol=1.01)
        assert (acc[both] < 0.9).any() and np.abs(expected).max() > 5  # the test sees thin pixels where the two differ
        pasted = paste_into_frame(source, crop, lower._blend(int(timeline[k]), acc), (0, 0, SIZE))
        np.testing.assert_array_equal(pasted[alpha == 0], source[alpha == 0])  # upper face, hair, background: the source's
        assert np.abs(pasted[alpha == 1].astype(int) - source[alpha == 1].astype(int)).max() > 0
