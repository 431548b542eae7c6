"""minerf-dub on real media: a GRID clip dubbed with Spanish speech (longer than the video)
and with a short English excerpt (shorter)."""

from __future__ import annotations

import av
import numpy as np
import soundfile as sf

from minerf_base.video_in import iter_frames, probe, read_audio
from minerf_dub.pipeline import DubOptions, dub
from minerf_dub.watermark import detect_file
from tests.conftest import shared_data


def _check(out, seconds, width, height):
    info = probe(out)
    assert (info.width, info.height) == (width - width % 2, height - height % 2)
    assert info.fps == 25 and info.has_audio
    frames = sum(1 for _ in iter_frames(out))
    assert abs(frames - seconds * 25) <= 1
    assert abs(len(read_audio(out)) / 16000 - seconds) <= 1 / 25
    with av.open(str(out)) as container:
        assert container.metadata.get("synthetic_media") == "true"
    assert detect_file(out).watermarked


def test_grid_clip_dubbed_in_spanish_and_with_short_english(tmp_path, models):
    video = shared_data("videos", "grid_bbaf2n.mpg")
    spanish = shared_data("audio", "fleurs_es_006.wav")
    english = shared_data("audio", "fleurs_en_003.wav")
    options = DubOptions(run=models[0], audio2exp=models[1], score=False, personalize_steps=8)
    src = probe(video)
    es_seconds = sf.info(str(spanish)).duration
    assert es_seconds > src.duration
    result = dub(video, spanish, tmp_path / "es.mp4", options, progress=False)
    assert result.personalized and any("forwards and backwards" in n for n in result.notes)
    _check(tmp_path / "es.mp4", result.frames / 25, src.width, src.height)
    assert abs(result.frames / 25 - es_seconds) <= 1 / 25
    data, rate = sf.read(str(english), dtype="float32")
    short = tmp_path / "en_short.wav"
    sf.write(short, data[: int(1.6 * rate)], rate)
    result = dub(video, short, tmp_path / "en.mp4", options, progress=False)
    assert result.frames == 40 and any("cut" in n for n in result.notes)
    _check(tmp_path / "en.mp4", 1.6, src.width, src.height)
    # the composite touches only the head: outside the head crop the frames are the source's
    from minerf_dub.sources import cached_clip

    x0, y0, side = cached_clip(video, 64, progress=False).crop_box
    source = list(iter_frames(video))
    dubbed = list(iter_frames(tmp_path / "en.mp4"))
    for k in (5, 30):
        diff = np.abs(dubbed[k].astype(int) - source[k][: dubbed[k].shape[0], : dubbed[k].shape[1]].astype(int)).mean(-1)
        outside = np.ones(diff.shape, bool)
        outside[y0 : y0 + side, x0 : x0 + side] = False
        assert outside.sum() > 0.1 * outside.size
        assert diff[outside].mean() < 2.5
        assert diff[~outside].mean() > diff[outside].mean()
