"""minerf prepare VIDEO... --jobs 2: the same clips, byte for byte, as one video at a time; a
failing video is reported (exit status 1) and the others are finished; one video keeps the
one-clip form of the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from minerf.demo_media import DemoSpec, make_demo_video
from minerf_base.clip import is_complete
from minerf_dub.cli import minerf


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    """Two short talking portraits and a file that is not a video."""
    folder = tmp_path_factory.mktemp("videos")
    make_demo_video(folder / "a_first.mp4", DemoSpec(seconds=0.8, size=160, seed=0))
    make_demo_video(folder / "b_second.mp4", DemoSpec(seconds=0.8, size=160, seed=3))
    (folder / "c_broken.mp4").write_text("not a video\n" * 20)
    return [folder / "a_first.mp4", folder / "b_second.mp4", folder / "c_broken.mp4"]


def _files(clip: Path) -> dict[str, bytes]:
    """Every file of a clip folder; clip.json without the seconds the preparation took."""
    files = {str(p.relative_to(clip)): p.read_bytes() for p in sorted(clip.rglob("*")) if p.is_file()}
    meta = json.loads(files.pop("clip.json"))
    meta["stats"].pop("seconds")
    files["clip.json"] = json.dumps(meta, sort_keys=True).encode()
    return files


def _prepare(*args: str):
    return CliRunner().invoke(minerf, ["prepare", *args, "--resolution", "64", "--json", "-q"])


def test_jobs_2_gives_the_clips_of_one_at_a_time(videos, tmp_path):
    one_by_one = tmp_path / "serial"
    for video in videos[:2]:
        single = _prepare(str(video), "-o", str(one_by_one / video.stem))  # the one-clip form
        assert single.exit_code == 0, single.output
        assert json.loads(single.output)["frames"] == 20
    result = _prepare(*map(str, videos), "-o", str(tmp_path / "parallel"), "--jobs", "2")
    assert result.exit_code == 1, result.output  # one video failed
    report = json.loads(result.output)
    assert report["prepared"] == [str(tmp_path / "parallel" / v.stem) for v in videos[:2]]
    assert list(report["failed"]) == [str(videos[2])] and "not a readable video" in report["failed"][str(videos[2])]
    assert not is_complete(tmp_path / "parallel" / "c_broken")
    for video in videos[:2]:
        serial, parallel = _files(one_by_one / video.stem), _files(tmp_path / "parallel" / video.stem)
        assert len(serial) > 20 and set(serial) == set(parallel)
        assert [name for name in serial if serial[name] != parallel[name]] == []
    # the two clips differ (the comparison can fail)
    assert _files(one_by_one / "a_first")["tracks.npz"] != _files(one_by_one / "b_second")["tracks.npz"]


def test_a_second_batch_keeps_finished_clips(videos, tmp_path):
    first = _prepare(*map(str, videos[:2]), "-o", str(tmp_path / "clips"), "--jobs", "2")
    assert first.exit_code == 0, first.output
    written = {v.stem: (tmp_path / "clips" / v.stem / "clip.json").stat().st_mtime_ns for v in videos[:2]}
    again = _prepare(*map(str, videos[:2]), "-o", str(tmp_path / "clips"), "--jobs", "2")
    assert again.exit_code == 0 and json.loads(again.output)["failed"] == {}
    assert {v.stem: (tmp_path / "clips" / v.stem / "clip.json").stat().st_mtime_ns for v in videos[:2]} == written
