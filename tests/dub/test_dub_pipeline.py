"""minerf-dub end to end on generated media: output format, timeline, watermark, tags,
head-only compositing, personalization cache, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from minerf.demo_media import DemoSpec, make_demo_video, speech
from minerf_base.errors import InputError
from minerf_base.video_in import iter_frames, probe, read_audio
from minerf_dub.pipeline import DubOptions, dub
from minerf_dub.watermark import detect_file

RES = 64  # the resolution the `models` fixture was trained at


def _wav(path, seconds, seed=5):
    sf.write(path, speech(seconds, seed=seed)[0], 16000)
    return path


def _options(models, **kw):
    return DubOptions(run=models[0], audio2exp=models[1], score=False, personalize_steps=8, **kw)


def test_dub_longer_audio_plays_the_video_back_and_forth(tmp_path, models, demo_video):
    audio = _wav(tmp_path / "long.wav", 5.0)
    out = tmp_path / "dubbed.mp4"
    result = dub(demo_video, audio, out, _options(models), progress=False)
    assert not result.personalized and result.identity == "demo"
    info = probe(out)
    assert (info.width, info.height) == (384, 384) and info.fps == pytest.approx(25)
    frames = list(iter_frames(out))
    assert abs(len(frames) - 125) <= 1 and result.frames == 125
    assert info.has_audio and abs(len(read_audio(out)) / 16000 - 5.0) <= 0.04
    assert any("forwards and backwards" in n for n in result.notes)
    import av

    with av.open(str(out)) as container:
        assert container.metadata.get("synthetic_media") == "true"
        assert "minerf-dub" in container.metadata.get("comment", "")
    assert detect_file(out).watermarked
    # outside the re-rendered head the frames are the source frames (up to video coding)
    source = list(iter_frames(demo_video))
    from minerf.render.composite import ping_pong

    timeline = ping_pong(len(frames), len(source))
    from minerf_base.clip import load_clip
    from minerf_dub.sources import cached_clip

    clip = cached_clip(demo_video, RES, progress=False)
    x0, y0, side = clip.crop_box
    for k in (3, 60, 110):
        diff = np.abs(frames[k].astype(int) - source[timeline[k]].astype(int)).mean(-1)
        outside = np.ones(diff.shape, bool)
        outside[y0 : y0 + side, x0 : x0 + side] = False
        assert diff[outside].mean() < 2.5, k
        assert diff[y0 : y0 + side, x0 : x0 + side].mean() > diff[outside].mean()
    assert load_clip(clip.path).num_frames == 100


def test_dub_shorter_audio_cuts_and_unknown_person_is_personalized_once(tmp_path, models, monkeypatch):
    import minerf.train.personalize as personalize_module

    calls = []
    real = personalize_module.personalize
    monkeypatch.setattr(personalize_module, "personalize", lambda *a, **kw: calls.append(kw["iterations"]) or seeds.append(kw["seed"]) or real(*a, **kw))
    seeds = []
    other = make_demo_video(tmp_path / "other.mp4", DemoSpec(seconds=2.0, size=320, seed=3))
    audio = _wav(tmp_path / "short.wav", 1.2)
    result = dub(other, audio, tmp_path / "a.mp4", _options(models), progress=False)
    assert result.personalized and result.frames == 30 and calls == [8]
    assert result.estimate["personalize_steps"] == 8 and result.estimate["personalize_seconds"] > 0  # the estimate covers it
    assert any("cut" in n for n in result.notes)
    assert probe(tmp_path / "a.mp4").width == 320
    again = dub(other, audio, tmp_path / "b.mp4", _options(models), progress=False)
    assert again.personalized and again.identity == result.identity
    assert calls == [8] and again.estimate["personalize_steps"] == 0  # reused from the cache, not trained again
    # a renamed copy of the same video is the same person: the cache is keyed by content
    (tmp_path / "renamed.mp4").write_bytes(other.read_bytes())
    third = dub(tmp_path / "renamed.mp4", audio, tmp_path / "c.mp4", _options(models), progress=False)
    assert calls == [8] and third.identity == result.identity
    # another personalization seed is another draw, cached beside the first
    for _ in range(2):
        dub(other, audio, tmp_path / "d.mp4", _options(models, personalize_seed=1), progress=False)
    assert calls == [8, 8] and seeds == [0, 1]


def test_bad_inputs_fail_clearly_and_leave_no_output(tmp_path, models, demo_video):
    out = tmp_path / "out.mp4"
    cases = []
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio at all")
    cases.append((demo_video, notes, out, "not a readable video or audio file"))
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    cases.append((demo_video, silent, out, "silent"))
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    cases.append((demo_video, empty, out, "no samples"))
    good = _wav(tmp_path / "ok.wav", 1.0)
    cases.append((demo_video, good, tmp_path / "missing_dir" / "x.mp4", "does not exist"))
    cases.append((demo_video, good, tmp_path / "x.gif", "unsupported output"))
    wall = tmp_path / "wall.mp4"
    from minerf_base.video_out import write_video

    write_video(wall, [np.full((128, 128, 3), 120, np.uint8)] * 20)
    cases.append((wall, good, out, "no face found"))
    for video, audio, output, message in cases:
        with pytest.raises(InputError, match=message):
            dub(video, audio, output, _options(models), progress=False)
        assert not output.exists()


def test_checkpoint_of_another_expression_space_is_refused(tmp_path, models, demo_video):
    import shutil

    from minerf.run import latest_checkpoint

    run = tmp_path / "run"
    shutil.copytree(models[0], run)
    meta_path = latest_checkpoint(run) / "checkpoint.json"
    meta = json.loads(meta_path.read_text())
    meta["expression_space"]["id"] = "bfm79-v1"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(InputError, match="expression space"):
        dub(demo_video, _wav(tmp_path / "s.wav", 1.0), tmp_path / "o.mp4", _options((run, models[1])), progress=False)
    assert not (tmp_path / "o.mp4").exists()


def test_cli_dub_json_and_errors(tmp_path, models, demo_video):
    from click.testing import CliRunner

    from minerf_dub.cli import minerf_dub

    audio = _wav(tmp_path / "s.wav", 1.0)
    out = tmp_path / "cli.mp4"
    args = [str(demo_video), "--audio", str(audio), "-o", str(out), "--run", str(models[0]), "--audio2exp", str(models[1]), "--no-score", "--json", "-q"]
    result = CliRunner().invoke(minerf_dub, args)
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["frames"] == 25 and info["output"] == str(out) and set(info["timings"]) >= {"prepare", "personalize", "predict", "render", "mux"}
    missing = CliRunner().invoke(minerf_dub, [str(demo_video), "--audio", str(tmp_path / "nope.wav"), "-o", str(tmp_path / "x.mp4"), "--run", str(models[0]), "--audio2exp", str(models[1])])
    assert missing.exit_code == 2 and "nope.wav: audio file does not exist" in missing.output
    # a wrong --syncnet-weights path is an error before any work, not a note after the render
    wrong = CliRunner().invoke(minerf_dub, [str(demo_video), "--audio", str(audio), "-o", str(tmp_path / "y.mp4"), "--run", str(models[0]), "--audio2exp", str(models[1]), "--syncnet-weights", str(tmp_path / "nope.model")])
    assert wrong.exit_code == 2 and "nope.model: the SyncNet weights given with --syncnet-weights do not exist" in wrong.output
    assert not (tmp_path / "y.mp4").exists()
    usage = CliRunner().invoke(minerf_dub, [])
    assert usage.exit_code == 2 and "--demo" in usage.output


def test_cli_expression_gain_reaches_the_prediction(tmp_path, models, demo_video, monkeypatch):
    from click.testing import CliRunner

    from audio2exp.predict import Audio2ExpPredictor
    from minerf_dub.cli import minerf_dub
    from minerf_dub.defaults import DEFAULT_EXPRESSION_GAIN

    seen, predict = [], Audio2ExpPredictor.predict_source
    monkeypatch.setattr(Audio2ExpPredictor, "predict_source", lambda self, source, speaker, **k: seen.append(speaker) or predict(self, source, speaker, **k))
    audio = _wav(tmp_path / "s.wav", 1.0)
    args = [str(demo_video), "--audio", str(audio), "--run", str(models[0]), "--audio2exp", str(models[1]), "--no-score", "--no-report", "--preview", "0.2", "-q"]
    for name, extra in (("default", []), ("narrow", ["--expression-gain", "1.5"]), ("unlifted", ["--no-speaker-lift"])):
        result = CliRunner().invoke(minerf_dub, [*args, "-o", str(tmp_path / f"{name}.mp4"), *extra])
        assert result.exit_code == 0, result.output
    assert [s.gain for s in seen] == [DEFAULT_EXPRESSION_GAIN, 1.5, DEFAULT_EXPRESSION_GAIN] and DEFAULT_EXPRESSION_GAIN == 3.0
    # the speaker lift is on by default, fitted on the video's own tracked frames, and can be turned off
    assert seen[0].lift is not None and seen[0].lift.frames >= 10 and seen[2].lift is None
    np.testing.assert_allclose(seen[0].lift.mean, seen[0].base_expression, atol=1e-4)
    refused = CliRunner().invoke(minerf_dub, [*args, "-o", str(tmp_path / "none.mp4"), "--expression-gain", "0"])
    assert refused.exit_code == 2 and "--expression-gain" in refused.output and not (tmp_path / "none.mp4").exists()


def test_reenactment_carries_the_other_clips_motion_onto_the_person(tmp_path, models, demo_video, monkeypatch):
    """--expressions-from with the speaker lift (the default): the other clip's direction values,
    in units of that person's own spread, on this person's own expressions; without it the
    other clip's expressions as they are."""
    import shutil

    from audio2exp.directions import geometric_directions
    from audio2exp.lift import fit_lift
    from minerf_base.clip import load_clip
    from minerf_dub.pipeline import DubRender
    from minerf_dub.sources import cached_clip

    clip = cached_clip(demo_video, RES, progress=False)
    driver = tmp_path / "driver"
    shutil.copytree(clip.path, driver)
    tracks = dict(np.load(driver / "tracks.npz"))
    own = tracks["expression"].astype(np.float64)
    rng = np.random.default_rng(0)
    # another person: the same motion twice as wide, around another rest expression
    tracks["expression"] = (own.mean(0) + rng.normal(0, 0.5, own.shape[1]) + 2.0 * (own - own.mean(0))).astype(np.float32)
    np.savez(driver / "tracks.npz", **tracks)
    seen, write = [], DubRender.write
    monkeypatch.setattr(DubRender, "write", lambda self, path, expressions, *a, **k: seen.append(np.array(expressions)) or write(self, path, expressions, *a, **k))
    for name, lift, gain in (("lifted", True, 1.0), ("default", True, None), ("raw", False, None)):
        options = _options(models, speaker_lift=lift, preview_seconds=0.4, **({} if gain is None else {"expression_gain": gain}))
        dub(demo_video, None, tmp_path / f"{name}.mp4", options, progress=False, expressions_from=driver)
    lifted, default, raw = seen
    other = load_clip(driver)
    np.testing.assert_allclose(raw, other.expression, atol=1e-6)
    directions = geometric_directions(clip.expression_space, own.shape[1])
    valid = clip.expression[clip.valid.astype(bool)]
    target = fit_lift(valid, directions)
    driven = fit_lift(other.expression[other.valid.astype(bool)], directions)
    np.testing.assert_allclose(lifted, target.carry(other.expression, driven), atol=1e-5)
    # the dub's expression gain (default 3) multiplies the carried motion, as it does a prediction's
    np.testing.assert_allclose(default, target.carry(other.expression, driven, DubOptions().expression_gain), atol=1e-5)
    assert DubOptions().expression_gain == 3.0 and np.abs(default - lifted).max() > 1e-2
    # twice the motion around another rest face re-enacts this person's own motion at their own scale
    np.testing.assert_allclose(directions.values(lifted), directions.values(target.apply(clip.expression)), atol=1e-4)
    assert np.abs(lifted - raw).max() > 0.1
