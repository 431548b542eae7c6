"""prepare_many: a folder or list of videos into clips, one failure reported and the rest
prepared, resumable video by video."""

from __future__ import annotations

import json

import pytest

from minerf.demo_media import DemoSpec, make_demo_video
from minerf.prepare import batch
from minerf.prepare.batch import prepare_many, video_files
from minerf.prepare.pipeline import PrepareOptions
from minerf_base.clip import is_complete, load_clip
from minerf_base.errors import InputError

OPTIONS = PrepareOptions(resolution=64)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A folder with two short talking portraits, a broken "video" and a text file."""
    folder = tmp_path_factory.mktemp("videos")
    make_demo_video(folder / "b_second.mp4", DemoSpec(seconds=0.8, size=160, seed=1))
    make_demo_video(folder / "a_first.mp4", DemoSpec(seconds=0.8, size=160, seed=0))
    (folder / "c_broken.mpg").write_text("not a video\n" * 20)
    (folder / "notes.txt").write_text("not a video either")
    return folder


def test_video_files_lists_the_videos_by_name(videos, tmp_path):
    assert [p.name for p in video_files(videos)] == ["a_first.mp4", "b_second.mp4", "c_broken.mpg"]
    with pytest.raises(InputError, match="holds no video file"):
        video_files(tmp_path)
    with pytest.raises(InputError, match="is not a folder"):
        video_files(videos / "notes.txt")


def test_one_bad_video_is_reported_and_the_others_are_prepared(videos, tmp_path):
    result = prepare_many(videos, tmp_path / "clips", OPTIONS, progress=False)
    assert result.clips == [tmp_path / "clips" / "a_first", tmp_path / "clips" / "b_second"]
    for clip in result.clips:
        loaded = load_clip(clip)
        assert loaded.resolution == 64 and loaded.num_frames == 20
    assert list(result.failures) == [str(videos / "c_broken.mpg")]
    assert "not a readable video" in result.failures[str(videos / "c_broken.mpg")]
    assert not is_complete(tmp_path / "clips" / "c_broken")
    assert json.loads(json.dumps(result.to_json()))["failed"] == result.failures

    # a second run keeps the finished clips (clip.json not rewritten) and reports the same failure
    written = {c.name: (c / "clip.json").stat().st_mtime_ns for c in result.clips}
    again = prepare_many(videos, tmp_path / "clips", OPTIONS, progress=False)
    assert again.clips == result.clips and again.failures == result.failures
    assert {c.name: (c / "clip.json").stat().st_mtime_ns for c in again.clips} == written


def test_a_stopped_batch_resumes_with_the_video_it_stopped_at(videos, tmp_path, monkeypatch):
    real_prepare = batch.prepare
    calls = []

    def stopped_at_second(video, out, options, progress):
        calls.append(video.name)
        if video.name == "b_second.mp4":
            raise KeyboardInterrupt  # the user stops the batch: not a failure of the video
        return real_prepare(video, out, options, progress)

    monkeypatch.setattr(batch, "prepare", stopped_at_second)
    listed = [videos / "a_first.mp4", videos / "b_second.mp4"]
    with pytest.raises(KeyboardInterrupt):
        prepare_many(listed, tmp_path / "clips", OPTIONS, progress=False)
    assert calls == ["a_first.mp4", "b_second.mp4"]
    assert is_complete(tmp_path / "clips" / "a_first") and not is_complete(tmp_path / "clips" / "b_second")
    first = (tmp_path / "clips" / "a_first" / "clip.json").stat().st_mtime_ns

    monkeypatch.setattr(batch, "prepare", real_prepare)
    result = prepare_many(listed, tmp_path / "clips", OPTIONS, progress=False)
    assert result.failures == {} and [c.name for c in result.clips] == ["a_first", "b_second"]
    assert (tmp_path / "clips" / "a_first" / "clip.json").stat().st_mtime_ns == first


def test_videos_of_the_same_name_are_refused_before_any_work(tmp_path):
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "talk.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="same name") as err:
        prepare_many([tmp_path / "one" / "talk.mp4", tmp_path / "two" / "talk.mpg"], tmp_path / "clips", OPTIONS, progress=False)
    assert "rename" in str(err.value)
    assert not (tmp_path / "clips").exists()


def test_an_unexpected_error_is_reported_with_its_type(tmp_path, monkeypatch):
    def broken(video, out, options, progress):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(batch, "prepare", broken)
    (tmp_path / "x.mp4").write_bytes(b"")
    result = prepare_many([tmp_path / "x.mp4"], tmp_path / "clips", OPTIONS, progress=False)
    assert result.clips == [] and result.failures == {str(tmp_path / "x.mp4"): "ZeroDivisionError: division by zero"}
