"""``minerf-dub --demo`` dubs the generated portrait the way a user's video of a new person is
dubbed: the shipped MI-NeRF, personalized to the portrait and cached."""

from __future__ import annotations

from pathlib import Path

from checkpoints.cache import cache_dir
from checkpoints.shipped import shipped_checkpoint
from minerf.run import load_run
from minerf_dub.demo import DEMO_VIDEO, run_demo
from minerf_dub.pipeline import DubOptions


def test_demo_personalizes_the_shipped_minerf_to_the_portrait(tmp_path, models):
    # a few personalization steps and the first half second only: the path, not the picture
    options = DubOptions(audio2exp=models[1], personalize_steps=4, preview_seconds=0.5, score=False, report=False)
    out = tmp_path / "demo" / "dubbed.mp4"
    result = run_demo(out, options, progress=False)
    shipped = load_run(shipped_checkpoint("minerf"))
    assert result.personalized and result.identity not in shipped.identities
    assert Path(result.output) == out and out.is_file()
    assert result.preview["frames"] == 12 and result.preview["of_seconds"] > DEMO_VIDEO.seconds  # the speech outlasts the video
    assert result.resolution == (384, 384)
    assert str(shipped_checkpoint("minerf")) in result.notes[-1] and str(models[1]) in result.notes[-1]
    assert (tmp_path / "demo" / "demo_input.mp4").is_file() and (tmp_path / "demo" / "demo_speech.wav").is_file()
    personalized = [p for p in (cache_dir() / "personalized").rglob("*") if p.is_file()]
    stamps = {p: p.stat().st_mtime_ns for p in personalized}
    assert any(p.suffix == ".safetensors" for p in personalized)
    again = run_demo(out.with_name("again.mp4"), options, progress=False)
    assert again.personalized and again.identity == result.identity
    assert {p: p.stat().st_mtime_ns for p in personalized} == stamps  # the cached model, not trained again


def test_demo_personalizes_for_fewer_steps_and_a_lower_gain_unless_told(monkeypatch, tmp_path):
    import minerf_dub.demo as demo
    from click.testing import CliRunner

    from minerf_dub.cli import minerf_dub
    from minerf_dub.defaults import DEFAULT_EXPRESSION_GAIN, DEFAULT_PERSONALIZE_STEPS, DEMO_EXPRESSION_GAIN, DEMO_PERSONALIZE_STEPS

    seen: list[tuple[int, float, bool]] = []

    def fake_demo(output, options, progress=True):
        seen.append((options.personalize_steps, options.expression_gain, options.speaker_lift))
        raise SystemExit(0)

    monkeypatch.setattr(demo, "run_demo", fake_demo)
    out = str(tmp_path / "d.mp4")
    for extra in ([], ["--personalize-steps", "7", "--expression-gain", "1.5", "--speaker-lift"]):
        CliRunner().invoke(minerf_dub, ["--demo", "-o", out, *extra])
    assert seen == [(DEMO_PERSONALIZE_STEPS, DEMO_EXPRESSION_GAIN, False), (7, 1.5, True)]  # the demo lifts only when told
    assert DEMO_PERSONALIZE_STEPS < DEFAULT_PERSONALIZE_STEPS and DEMO_EXPRESSION_GAIN < DEFAULT_EXPRESSION_GAIN
