"""minerf-dub's report (NAME.report.png + NAME.report.json) and --preview."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from minerf.demo_media import speech
from minerf.prepare.expression_space import mouth_opening
from minerf_base.errors import InputError
from minerf_dub.estimate import TIMED_CROPS
from minerf_dub.lmd import video_landmarks
from minerf_dub.pipeline import DubOptions, dub
from minerf_dub.report import (
    PAPER,
    ReportInput,
    SheetLayout,
    face_crop,
    opening_plot,
    pick_moments,
    report_paths,
)


def _wav(path, seconds=1.0):
    sf.write(path, speech(seconds, seed=11)[0], 16000)
    return path


def _nan(values):
    return np.array([np.nan if v is None else v for v in values], np.float64)


def test_moments_plot_gap_and_preview_check():
    opening = np.array([0.1, 0.5, 0.52, 0.3, np.nan, 0.05, 0.06, 0.4, 0.2, 0.0, np.nan, 0.45] * 2)
    moments = pick_moments(opening, count=3)
    gap = len(opening) // 12
    assert [m.kind for m in moments] == ["open"] * 3 + ["closed"] * 3
    frames = [m.frame for m in moments]
    assert all(abs(a - b) >= gap for i, a in enumerate(frames) for b in frames[i + 1 :])
    assert moments[0].frame == 2 and moments[0].opening == 0.52  # the most open (of equals, the earliest)
    assert moments[3].frame == 9 and moments[3].opening == 0.0
    assert max(m.opening for m in moments[3:]) <= min(m.opening for m in moments[:3])
    assert all(np.isfinite(m.opening) for m in moments)
    blind = pick_moments(np.full(10, np.nan), count=3)
    assert [(m.kind, m.frame) for m in blind] == [("no face", 0), ("no face", 4), ("no face", 9)]

    # a run of frames without a face is a gap in the dub's line (its colour, #1b7837)
    series = 0.05 + 0.01 * np.sin(np.arange(50.0))
    series[0], series[8:18] = 0.5, np.nan  # one high value keeps the line low, under the legend
    report = ReportInput(None, None, np.arange(50), None, None, np.sin(np.arange(2 * 48000) / 30.0).astype(np.float32), 48000, None, "--no-score")
    plot = opening_plot(report, series, [], (340, 1000)).astype(int)
    assert plot.shape == (340, 1000, 3)
    green = (np.abs(plot - np.array([27, 120, 55])).sum(-1) < 60)[200:]  # the lower part of the opening axes
    columns = np.flatnonzero(green.any(0))
    gap = np.diff(columns).max() / (columns[-1] - columns[0])
    assert 0.18 < gap < 0.24, gap  # 11 of the 49 frame steps, less the markers' width

    with pytest.raises(InputError, match="--preview SECONDS above 0"):
        dub("never.mp4", "never.wav", "never_out.mp4", DubOptions(preview_seconds=0.0), progress=False)


def test_preview_dub_and_its_report(tmp_path, models, demo_video, monkeypatch):
    import lipsync
    import minerf.render.composite as composite
    import minerf.render.video as video
    from minerf_base.video_in import iter_frames
    from minerf_dub.cli import minerf_dub

    # the tiny test model's lower faces are no face to mediapipe: blend them at 35 % over the
    # source face (the dub renders the lower face) so the tracker finds a face in every frame
    lower_face = composite.lower_face_masks
    monkeypatch.setattr(composite, "lower_face_masks", lambda points, size: (lambda region, alpha: (region, 0.35 * alpha))(*lower_face(points, size)))
    monkeypatch.setattr(lipsync, "score", lambda path, weights=None, device=None: SimpleNamespace(lse_d=7.5, lse_c=1.25, offset=2, weights_id="fake"))
    rendered, render = [], video.render_frames
    monkeypatch.setattr(video, "render_frames", lambda model, code, frames, *a, **k: rendered.append(np.array(frames.expressions)) or render(model, code, frames, *a, **k))
    out = tmp_path / "checked.mp4"
    args = [str(demo_video), "--audio", str(_wav(tmp_path / "s.wav")), "-o", str(out), "--run", str(models[0]), "--audio2exp", str(models[1]), "--preview", "0.6", "-q"]
    result = CliRunner().invoke(minerf_dub, args)
    assert result.exit_code == 0, result.output

    # the preview: the first 15 of the 25 frames the audio gives, rendered once (the first
    # 1 + TIMED_CROPS for the up-front estimate, kept in the work folder, then the others)
    frames = list(iter_frames(out))
    assert len(frames) == 15 and [len(e) for e in rendered] == [1 + TIMED_CROPS, 15 - 1 - TIMED_CROPS]
    assert "PREVIEW: the first 0.60 s of 1.00 s" in result.output
    png, data = report_paths(out)
    assert png == tmp_path / "checked.report.png" and data == tmp_path / "checked.report.json"
    assert f"report: {png}, {data}" in result.output
    info = json.loads(data.read_text())
    assert info["frames"] == 15 and info["preview"] == "PREVIEW: the first 0.60 s of 1.00 s"
    assert info["score"]["lse_c"] == 1.25 and info["score"]["offset"] == 2 and info["not_scored"] is None

    # the plotted opening is the one the face tracker measures on the output's frames
    opening = _nan(info["opening"])
    np.testing.assert_allclose(opening, mouth_opening(video_landmarks(out)), rtol=0, atol=1e-9, equal_nan=True)
    assert info["missing"] == int(np.isnan(opening).sum()) == 0
    np.testing.assert_allclose(_nan(info["source_opening"]), mouth_opening(video_landmarks(demo_video, 15)), rtol=0, atol=1e-9)
    moments = info["moments"]
    assert [m["kind"] for m in moments] == ["open"] * 3 + ["closed"] * 3
    assert [m["name"] for m in moments] == ["O1", "O2", "O3", "C1", "C2", "C3"]
    assert moments[0]["opening"] == pytest.approx(np.nanmax(opening)) and moments[3]["opening"] == pytest.approx(np.nanmin(opening))
    assert all(m["source_frame"] == m["frame"] for m in moments)  # audio shorter than the video: no ping-pong

    # the sheet: the layout's size, 2 x 6 panels on paper-white gutters, each panel the face
    # crop of the source frame (top) and of the output frame (bottom) at its moment
    sheet = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    layout = SheetLayout(**info["layout"])
    assert layout.columns == 6 and sheet.shape == (layout.height, layout.width, 3)
    source = list(iter_frames(demo_video))
    for col, m in enumerate(moments):
        square = tuple(m["face_square"])
        boxes = [layout.panel_box(row, col) for row in (0, 1)]
        top, bottom = (sheet[y0:y1, x0:x1].astype(int) for x0, y0, x1, y1 in boxes)
        assert np.array_equal(bottom, face_crop(frames[m["frame"]], square, layout.panel))
        assert np.abs(top - face_crop(source[m["source_frame"]], square, layout.panel)).mean() < 2.0  # via the JPEG frame cache
        assert np.abs(top - bottom).mean() > 1.0  # the dub changed the face
        if col + 1 < layout.columns:
            x1, y0 = boxes[0][2], boxes[0][1]
            assert (sheet[y0 : boxes[1][3], x1 : layout.panel_box(0, col + 1)[0]] == PAPER).all()
    px0, py0, px1, py1 = layout.plot_box
    assert (sheet[py0:py1, px0:px1] != PAPER).any(axis=-1).mean() > 0.02  # the plot is drawn there

    plain = tmp_path / "plain.mp4"
    args = [str(demo_video), "--audio", str(tmp_path / "s.wav"), "-o", str(plain), "--run", str(models[0]), "--audio2exp", str(models[1]), "--preview", "0.2", "--no-report", "--no-score", "--json", "-q"]
    result = CliRunner().invoke(minerf_dub, args)
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["report"] is None and "report" not in info["timings"] and info["frames"] == 5
    assert info["preview"] == {"seconds": 0.2, "frames": 5, "of_frames": 25, "of_seconds": 1.0}
    assert not any(p.exists() for p in report_paths(plain)) and sum(1 for _ in iter_frames(plain)) == 5
    first, second = np.concatenate(rendered[:2]), np.concatenate(rendered[2:])
    assert [len(e) for e in rendered[2:]] == [1 + TIMED_CROPS, 5 - 1 - TIMED_CROPS] and np.array_equal(second, first[:5])  # a preview renders the frames the full run starts with
