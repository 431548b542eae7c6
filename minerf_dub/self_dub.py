"""Self-dub lip-sync check: dub a video with its own audio and with a shuffled copy of it,
and measure both against the real frames with the mouth landmark distance (``lmd.py``).

With its own audio a good dub puts the mouth where the real one was (small LMD). The control
keeps the same sound -- same length, same spectrum, same loudness -- but cuts it into segments
of 0.2-0.5 s and permutes them (a cyclic permutation from a fixed seed, so no segment stays in
place): the mouth still moves, at the wrong times, and its LMD must be clearly larger.

Several videos (:func:`self_dub_many`) go into ``WORK/clip{k}/``, each with its
``result.json`` and ``landmarks.npz``; :func:`pool_work_folders` pools the self-dubs of such
work folders afterwards (own vs shuffled over all their frames), without rendering.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minerf_base.atomic import atomic_path, atomic_write_json
from minerf_base.errors import InputError
from minerf_dub.lmd import (
    landmark_distance,
    opening_correlation,
    opening_spread,
    paired_lmd_difference,
    pooled_paired_lmd_difference,
    video_landmarks,
)
from minerf_dub.pipeline import DubOptions, dub

SEGMENT_SECONDS = (0.2, 0.5)
LANDMARKS_FILE = "landmarks.npz"
RESULT_FILE = "result.json"


def shuffle_plan(num_samples: int, sample_rate: int, seed: int = 0, segment_seconds: tuple[float, float] = SEGMENT_SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """How :func:`shuffle_segments` cuts and reorders ``num_samples`` samples: segment bounds
    (S + 1,) -- lengths drawn in ``segment_seconds``, the last one cut at the end -- and the
    order (S,) in which the segments are played, a random cyclic permutation (Sattolo's
    algorithm: no segment keeps its place)."""
    rng = np.random.default_rng(seed)
    lo, hi = (int(round(s * sample_rate)) for s in segment_seconds)
    bounds = [0]
    while bounds[-1] < num_samples:
        bounds.append(min(num_samples, bounds[-1] + int(rng.integers(lo, hi + 1))))
    if len(bounds) < 3:
        raise ValueError(f"audio of {num_samples / sample_rate:.2f} s is shorter than two segments")
    order = list(range(len(bounds) - 1))
    for i in range(len(order) - 1, 0, -1):
        j = int(rng.integers(0, i))
        order[i], order[j] = order[j], order[i]
    return np.array(bounds), np.array(order)


def shuffle_segments(wave: np.ndarray, sample_rate: int, seed: int = 0, segment_seconds: tuple[float, float] = SEGMENT_SECONDS) -> np.ndarray:
    """(N,) audio cut into segments and played in a shuffled order (:func:`shuffle_plan`):
    same length, same samples, broken timing."""
    bounds, order = shuffle_plan(len(wave), sample_rate, seed, segment_seconds)
    return np.concatenate([wave[bounds[k] : bounds[k + 1]] for k in order])


def self_dub_lmd(video: str | Path, options: DubOptions, work: str | Path, seed: int = 0, tracked: bool = False, progress: bool = False) -> dict[str, Any]:
    """Dub ``video`` with its own audio and with the shuffled control into ``work``; return
    ``lmd_<case>``, ``opening_corr_<case>`` (correlation of the output's mouth opening with the
    real one's), ``opening_spread_<case>`` (its standard deviation over the real one's), ``frames_<case>``, ``missing_<case>`` for the cases ``own``, ``shuffled`` (and
    ``tracked`` with ``tracked``: the run re-rendering the clip's own tracked expressions, no
    audio2exp -- what the NeRF alone reaches), ``ratio`` = lmd_shuffled / lmd_own, settings."""
    import soundfile as sf

    from checkpoints.shipped import shipped_checkpoint
    from minerf_base import video_in
    from minerf.run import load_run
    from minerf_dub.pipeline import run_resolution
    from minerf_dub.sources import cached_clip

    video, work = Path(video), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    wave = video_in.read_audio(video, 16000, start=video_in.first_frame_time(video))
    if wave is None:
        raise InputError(video, "has no audio track", "a self-dub needs the video's own speech")
    options = dataclasses.replace(options, score=False)
    real = video_landmarks(video)
    result: dict[str, Any] = {"video": str(video)}
    outputs = {"own": wave, "shuffled": shuffle_segments(wave, 16000, seed)}
    if tracked:
        outputs["tracked"] = None
    landmarks: dict[str, np.ndarray] = {}
    for name, audio in outputs.items():
        if audio is None:
            clip = cached_clip(video, run_resolution(load_run(options.run or shipped_checkpoint("minerf"), "cpu"), options), progress)
            dub(video, None, work / f"{name}.mp4", options, progress, expressions_from=clip.path)
        else:
            sf.write(work / f"{name}.wav", audio, 16000)
            dub(video, work / f"{name}.wav", work / f"{name}.mp4", options, progress)
        points = landmarks[name] = video_landmarks(work / f"{name}.mp4")
        measured = landmark_distance(points, real)
        result[f"lmd_{name}"] = round(measured.lmd, 5)
        result[f"opening_corr_{name}"] = round(opening_correlation(points, real), 3)
        result[f"opening_spread_{name}"] = round(opening_spread(points, real), 3)
        result[f"frames_{name}"], result[f"missing_{name}"] = measured.frames, measured.missing
    result["ratio"] = round(result["lmd_shuffled"] / result["lmd_own"], 3)
    result["paired"] = paired_lmd_difference(landmarks["own"], landmarks["shuffled"], real, seed=seed)
    # every case's landmarks, for analyses over several self-dubs (pooled_paired_lmd_difference)
    with atomic_path(work / LANDMARKS_FILE) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, real=real, **landmarks)
    result["settings"] = {"seed": seed, "segment_seconds": list(SEGMENT_SECONDS), "personalize_steps": options.personalize_steps, "run": str(options.run), "audio2exp": str(options.audio2exp)}
    return result


def self_dub_many(videos: Sequence[str | Path], options: DubOptions, work: str | Path, seed: int = 0, tracked: bool = False, progress: bool = False) -> dict[str, Any]:
    """:func:`self_dub_lmd` of every video into ``work/clip{k}``, each result (with its
    ``seconds``) kept in ``work/clip{k}/result.json`` as soon as it is done. Returns
    ``{"clips": [results], "pooled": ...}``; ``pooled`` (:func:`pooled_self_dubs`) only with
    more than one video."""
    work = Path(work)
    clips = []
    for k, video in enumerate(videos):
        started = time.perf_counter()
        result = self_dub_lmd(video, options, work / f"clip{k}", seed=seed, tracked=tracked, progress=progress)
        result["seconds"] = round(time.perf_counter() - started, 1)
        atomic_write_json(work / f"clip{k}" / RESULT_FILE, result)
        clips.append(result)
    out: dict[str, Any] = {"clips": clips}
    if len(clips) > 1:
        out["pooled"] = pooled_self_dubs([work / f"clip{k}" / LANDMARKS_FILE for k in range(len(clips))], seed)
    return out


def pooled_self_dubs(files: Sequence[Path], seed: int = 0) -> dict[str, float | int]:
    """Own vs shuffled over all self-dubbed videos' frames together (each video's blocks
    resampled from that video); ``files`` are their ``landmarks.npz``."""
    videos = []
    for file in files:
        with np.load(file) as points:
            videos.append((points["own"], points["shuffled"], points["real"]))
    return pooled_paired_lmd_difference(videos, seed=seed)


def pool_work_folders(folders: Sequence[str | Path], seed: int = 0) -> dict[str, Any]:
    """Each clip's result and the pooled comparison (:func:`pooled_self_dubs`) of every
    ``clip*/landmarks.npz`` in ``folders`` (work folders of earlier :func:`self_dub_many` runs).
    A clip stopped before its ``result.json`` is listed by its landmarks file."""
    folders = [Path(f) for f in folders]
    files = sorted(file for folder in folders for file in folder.glob(f"clip*/{LANDMARKS_FILE}"))
    if not files:
        raise InputError(folders[0] if len(folders) == 1 else None, f"no clip*/{LANDMARKS_FILE} in {', '.join(map(str, folders))}", "pass the --work folders of earlier self-dub runs")
    clips = []
    for file in files:
        summary = file.parent / RESULT_FILE
        clips.append(json.loads(summary.read_text()) if summary.exists() else {"landmarks": str(file)})
    return {"clips": clips, "pooled": pooled_self_dubs(files, seed)}
