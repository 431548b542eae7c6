"""A killed dub, run again with the same command, continues from the frames it had rendered,
and an interrupted dub never leaves an output that looks complete."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import minerf.render.video as render_video
from minerf.demo_media import speech
from minerf_base.video_in import iter_frames
from minerf_dub.pipeline import DubOptions, dub
from minerf_dub.work import WORK_TAG


RENDER_FRAMES = render_video.render_frames


class Killed(Exception):
    """Stands for the process being killed in the middle of rendering."""


def _counting_renderer(monkeypatch, kill_after: int | None = None) -> list[int]:
    """Patch the renderer to count the frames it renders (and fail after ``kill_after``)."""
    count = [0]

    def counted(*args, **kwargs):
        for item in RENDER_FRAMES(*args, **kwargs):
            if kill_after is not None and count[0] >= kill_after:
                raise Killed()
            count[0] += 1
            yield item

    monkeypatch.setattr(render_video, "render_frames", counted)
    return count


def _work_folders(folder):
    return [p for p in folder.iterdir() if WORK_TAG in p.name]


def test_killed_dub_resumes_without_rendering_again(tmp_path, models, demo_video, monkeypatch):
    sf.write(tmp_path / "speech.wav", speech(1.2, seed=21)[0], 16000)
    options = DubOptions(run=models[0], audio2exp=models[1], score=False, report=False, personalize_steps=4)
    out = tmp_path / "out" / "dubbed.mp4"
    out.parent.mkdir()

    killed = _counting_renderer(monkeypatch, kill_after=12)
    with pytest.raises(Killed):
        dub(demo_video, tmp_path / "speech.wav", out, options, progress=False)
    assert killed[0] == 12
    # nothing that looks like an output: only the hidden work folder with the frames done so far
    entries = list(out.parent.iterdir())
    assert not out.exists() and len(entries) == 1 and entries[0].name.startswith(".dubbed.mp4" + WORK_TAG)
    stored = sorted(p.name for p in entries[0].iterdir())
    assert len(stored) == 12 and stored[0] == "crop_0000000.png" and stored[-1] == "crop_0000011.png"

    again = _counting_renderer(monkeypatch)
    result = dub(demo_video, tmp_path / "speech.wav", out, options, progress=False)
    assert result.frames == 30 and again[0] == 30 - 12  # only the frames the killed run had not rendered
    assert result.estimate["frames"] == 30 - 12
    assert out.exists() and not _work_folders(out.parent)  # the work folder goes once the output is complete

    # the resumed output is the uninterrupted one, frame for frame
    whole = _counting_renderer(monkeypatch)
    dub(demo_video, tmp_path / "speech.wav", tmp_path / "whole.mp4", options, progress=False)
    assert whole[0] == 30
    resumed, uninterrupted = list(iter_frames(out)), list(iter_frames(tmp_path / "whole.mp4"))
    assert len(resumed) == len(uninterrupted) == 30
    assert all(np.array_equal(a, b) for a, b in zip(resumed, uninterrupted))


def test_other_request_does_not_reuse_frames_and_no_resume_keeps_nothing(tmp_path, models, demo_video, monkeypatch):
    sf.write(tmp_path / "a.wav", speech(0.8, seed=1)[0], 16000)
    sf.write(tmp_path / "b.wav", speech(0.8, seed=2)[0], 16000)
    options = DubOptions(run=models[0], audio2exp=models[1], score=False, report=False)
    out = tmp_path / "o" / "d.mp4"
    out.parent.mkdir()
    _counting_renderer(monkeypatch, kill_after=5)
    with pytest.raises(Killed):
        dub(demo_video, tmp_path / "a.wav", out, options, progress=False)
    assert len(_work_folders(out.parent)) == 1
    other = _counting_renderer(monkeypatch)
    dub(demo_video, tmp_path / "b.wav", out, options, progress=False)  # other speech: other frames
    assert other[0] == 20 and not _work_folders(out.parent)  # and the stale work folder of d.mp4 is gone too

    _counting_renderer(monkeypatch, kill_after=5)
    with pytest.raises(Killed):
        dub(demo_video, tmp_path / "a.wav", tmp_path / "o" / "e.mp4", DubOptions(**{**vars(options), "resume": False}), progress=False)
    assert sorted(p.name for p in out.parent.iterdir()) == ["d.mp4"]
