"""minerf-dub --sync-search: the shift, the choice, the previews SyncNet scores, and that the
final render uses the chosen shift."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from minerf.demo_media import speech
from minerf_base.errors import InputError
from minerf_dub.estimate import TIMED_CROPS
from minerf_dub.pipeline import DubOptions, dub
from minerf_dub.sync_search import (
    candidate_offsets,
    choose_offset,
    preview_window,
    shift_expressions,
)
from tests.lipsync.conftest import save_public_layout


def _wav(path, seconds, seed=11):
    sf.write(path, speech(seconds, seed=seed)[0], 16000)
    return path


@pytest.fixture(scope="module")
def syncnet_weights(tmp_path_factory):
    """Random full-size SyncNet weights in the public syncnet_v2.model layout."""
    from lipsync.model import SyncNet

    with torch.random.fork_rng():
        torch.manual_seed(3)
        net = SyncNet()
    return save_public_layout(net, tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model")


@pytest.fixture
def recorded(monkeypatch):
    """Records the expressions audio2exp predicts and every expression sequence rendered."""
    import minerf.render.video as video
    from audio2exp.predict import Audio2ExpPredictor

    seen = SimpleNamespace(predicted=[], rendered=[])
    render, predict = video.render_frames, Audio2ExpPredictor.predict_source

    def recording_render(model, code, frames, *args, **kwargs):
        seen.rendered.append(np.array(frames.expressions))
        return render(model, code, frames, *args, **kwargs)

    def recording_predict(self, *args, **kwargs):
        out = predict(self, *args, **kwargs)
        seen.predicted.append(np.array(out))
        return out

    monkeypatch.setattr(video, "render_frames", recording_render)
    monkeypatch.setattr(Audio2ExpPredictor, "predict_source", recording_predict)
    return seen


def test_shift_expressions_values():
    e = np.arange(5, dtype=np.float32)[:, None] * np.array([[1.0, 10.0]], np.float32)  # (5, 2)
    assert np.array_equal(shift_expressions(e, 0), e)
    assert shift_expressions(e, 2)[:, 0].tolist() == [0, 0, 0, 1, 2]  # lips 2 frames later
    assert shift_expressions(e, -2)[:, 1].tolist() == [20, 30, 40, 40, 40]  # 2 frames earlier
    assert shift_expressions(e, 9)[:, 0].tolist() == [0] * 5
    assert shift_expressions(e, -9)[:, 0].tolist() == [4] * 5
    assert shift_expressions(e[:1], 3).tolist() == [[0.0, 0.0]]


def test_choose_offset_and_preview_window_values():
    assert candidate_offsets(2) == [-2, -1, 0, 1, 2]
    assert choose_offset([-1, 0, 1], [0.2, 0.1, 0.3]) == 1
    assert choose_offset([-2, -1, 0, 1, 2], [0.5, 0.5, 0.1, 0.5, 0.2]) == -1  # ties: smallest |k|, then negative
    assert choose_offset([-1, 0, 1], [0.4, 0.4, 0.4]) == 0
    assert choose_offset([-1, 0, 1], [float("nan"), -2.0, -1.0]) == 1
    with pytest.raises(ValueError):
        choose_offset([0, 1], [1.0])
    wave = np.zeros(10 * 4, np.float32)
    wave[6 * 4 : 8 * 4] = 1.0  # frames 6 and 7 are loud
    assert preview_window(wave, 4, 10, 3) == 5  # 5-7 and 6-8 hold both: the earliest
    assert preview_window(wave, 4, 10, 1) == 6
    assert preview_window(np.zeros(8, np.float32), 4, 10, 3) == 0  # silence, audio shorter than the frames
    assert preview_window(wave, 4, 10, 20) == 0


def test_sync_search_scores_previews_and_renders_the_best(tmp_path, models, demo_video, syncnet_weights, recorded, monkeypatch):
    import minerf.render.composite as composite
    from minerf_dub.cli import minerf_dub

    # the tiny test model's heads are no face to mediapipe: blend them at 35 % over the source
    # face, so the face is found and the pictures SyncNet sees still follow the expressions
    monkeypatch.setattr(composite, "blend_mask", lambda head_mask, acc: 0.35 * (head_mask > 127).astype(np.float32))
    out = tmp_path / "searched.mp4"
    args = [str(demo_video), "--audio", str(_wav(tmp_path / "s.wav", 1.0)), "-o", str(out), "--run", str(models[0]), "--audio2exp", str(models[1]),
            "--personalize-steps", "8", "--syncnet-weights", str(syncnet_weights), "--sync-search", "1", "--sync-search-seconds", "0.6", "--json", "-q"]
    result = CliRunner().invoke(minerf_dub, args)
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    search = info["sync_search"]
    assert search["offsets"] == [-1, 0, 1] and search["frames"] == 15 and 0 <= search["start_frame"] <= 25 - 15
    values = search["lse_c_at_0"]
    assert len(values) == len(search["lse_c"]) == len(search["syncnet_offset"]) == 3 and all(np.isfinite(values))
    best = [k for k, v in zip(search["offsets"], values) if v == max(values)]
    assert search["chosen"] == min(best, key=lambda k: (abs(k), k))
    # the criterion is the confidence at offset 0: LSE-C itself where SyncNet found offset 0
    for c0, c, found in zip(values, search["lse_c"], search["syncnet_offset"]):
        assert c0 <= c + 1e-3 and (found != 0 or abs(c0 - c) < 1e-3)
    assert search["weights"] == info["score"]["weights"] and "sync_search" in info["timings"]
    (predicted,) = recorded.predicted
    timed, *previews, final = recorded.rendered  # the up-front estimate's frames first
    start = search["start_frame"]
    assert np.array_equal(timed, predicted[: 1 + TIMED_CROPS]) and len(previews) == 3
    for k, shown in zip(search["offsets"], previews):
        assert np.array_equal(shown, shift_expressions(predicted, k)[start : start + 15])
    assert np.array_equal(final, shift_expressions(predicted, search["chosen"]))


def test_chosen_shift_reaches_the_final_render(tmp_path, models, demo_video, syncnet_weights, recorded, monkeypatch):
    import lipsync
    from minerf_base.video_in import iter_frames, probe
    from minerf_dub.cli import minerf_dub

    confidences = iter([0.1, 0.3, 0.9])  # offsets -1, 0, 1 in this order: +1 wins
    previews = []

    def fake_score(path, weights=None, device=None):
        previews.append((sum(1 for _ in iter_frames(path)), probe(path).has_audio))
        c = next(confidences)
        return SimpleNamespace(lse_c=c + 0.5, lse_d=8.0, offset=3, weights_id="fake", tracks=[SimpleNamespace(lse_c=c + 0.5, lse_d=8.0, distance_at_zero=8.5)])

    monkeypatch.setattr(lipsync, "score", fake_score)
    out = tmp_path / "shifted.mp4"
    args = [str(demo_video), "--audio", str(_wav(tmp_path / "s.wav", 0.8)), "-o", str(out), "--run", str(models[0]), "--audio2exp", str(models[1]),
            "--syncnet-weights", str(syncnet_weights), "--sync-search", "1", "--sync-search-seconds", "0.5", "--no-score", "-q"]
    result = CliRunner().invoke(minerf_dub, args)
    assert result.exit_code == 0, result.output
    assert previews == [(12, True)] * 3
    assert "+1       0.900    1.400    8.000               3  <- chosen" in result.output
    (predicted,) = recorded.predicted
    final = recorded.rendered[-1]
    assert len(recorded.rendered) == 5 and len(final) == 20 == sum(1 for _ in iter_frames(out))  # estimate, 3 previews, final
    assert np.array_equal(final, shift_expressions(predicted, 1)) and not np.array_equal(final, predicted)


def test_search_off_renders_the_prediction_and_missing_weights_stop_before_work(tmp_path, models, demo_video, recorded, monkeypatch):
    options = DubOptions(run=models[0], audio2exp=models[1], score=False, personalize_steps=8)
    result = dub(demo_video, _wav(tmp_path / "s.wav", 0.6), tmp_path / "plain.mp4", options, progress=False)
    assert result.sync_search is None and "sync_search" not in result.timings
    # the estimate's 1 + TIMED_CROPS frames (kept in the work folder) and then the others: the prediction, once
    assert [len(e) for e in recorded.rendered] == [1 + TIMED_CROPS, 15 - 1 - TIMED_CROPS] and np.array_equal(np.concatenate(recorded.rendered), recorded.predicted[0])
    monkeypatch.delenv("MINERF_SYNCNET_WEIGHTS", raising=False)
    monkeypatch.setattr("lipsync.weights.shipped_expert", lambda: None)  # an installation without it
    out = tmp_path / "never.mp4"
    for weights in (None, tmp_path / "nope.model"):
        searched = DubOptions(run=models[0], audio2exp=models[1], personalize_steps=8, sync_search=2, syncnet_weights=weights)
        with pytest.raises(InputError, match="--sync-search needs SyncNet weights") as err:
            dub(demo_video, tmp_path / "s.wav", out, searched, progress=False)
        assert "--syncnet-weights" in str(err.value) and "lipsync train" in str(err.value)
        assert not out.exists() and len(recorded.predicted) == 1  # stopped before predicting
    from minerf_dub.cli import minerf_dub

    cli = CliRunner().invoke(minerf_dub, [str(demo_video), "--audio", str(tmp_path / "s.wav"), "-o", str(out), "--run", str(models[0]), "--sync-search", "1"])
    assert cli.exit_code == 2 and "--sync-search needs SyncNet weights" in cli.output and not out.exists()
