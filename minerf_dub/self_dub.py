"""Self-dub check: dub a video with its own audio and with a shuffled copy of it, and measure
both against the real frames: the mouth landmark distance and the mouth opening (``lmd.py``),
face-crop PSNR and identity distance ACD (``dub_quality.py``).

With its own audio a good dub puts the mouth where the real one was (small LMD). The control
keeps the same sound -- same length, same spectrum, same loudness -- but cuts it into segments
of 0.2-0.5 s and permutes them (a cyclic permutation from a fixed seed, so no segment stays in
place): the mouth still moves, at the wrong times, and its LMD must be clearly larger.

Several videos (:func:`self_dub_many`) go into ``WORK/clip{k}/``, each with its
``result.json`` and ``landmarks.npz``; :func:`pool_work_folders` pools the self-dubs of such
work folders afterwards (own vs shuffled over all their frames, and every measure's mean
per clip and value over all frames), without rendering.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minerf.eval.embedding import MODEL_NAME
from minerf_base.atomic import atomic_path, atomic_write_json
from minerf_base.errors import InputError
from minerf_dub.dub_quality import ACD_FRAMES, FaceCrops, IdentityJudge, compare_face_videos
from minerf_dub.lmd import (
    landmark_distance,
    opening_correlation,
    opening_spread,
    paired_lmd_difference,
    pooled_opening,
    pooled_paired_lmd_difference,
    video_landmarks,
)
from minerf_dub.pipeline import SYNC_SEARCH_NOT_DONE, DubOptions, dub, prepared_source

SEGMENT_SECONDS = (0.2, 0.5)
LANDMARKS_FILE = "landmarks.npz"
RESULT_FILE = "result.json"
FACE_CROP = "the real frame's face-mesh bounding box + 10 % margin, clipped to the frame"
CASES = ("own", "shuffled", "tracked")


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
    """Dub ``video`` with its own audio and with the shuffled control into ``work``; return,
    for the cases ``own``, ``shuffled`` (and ``tracked`` with ``tracked``: the run re-rendering
    the clip's own tracked expressions as they are, no audio2exp, no speaker lift -- what the
    NeRF alone reaches), the
    measures of :func:`measure_case` (``lmd_<case>``, ``opening_corr_<case>``,
    ``opening_spread_<case>``, ``face_psnr_<case>``, ``acd_<case>`` ...); ``ratio`` =
    lmd_shuffled / lmd_own, ``paired`` (own vs shuffled frame by frame), ``acd_real`` (the
    real sampled crops against their own mean: the floor), ``acd_note`` when ACD could not be
    measured, the shift ``sync_shift_<case>`` an offset search chose (``options.sync_search``;
    not for ``tracked``, which re-renders tracked expressions) or ``sync_note_<case>`` why it
    did not, and the settings."""
    import soundfile as sf

    from minerf_base import video_in

    video, work = Path(video), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    wave = video_in.read_audio(video, 16000, start=video_in.first_frame_time(video))
    if wave is None:
        raise InputError(video, "has no audio track", "a self-dub needs the video's own speech")
    options = dataclasses.replace(options, score=False)
    real, judge = video_landmarks(video), IdentityJudge.open()
    result: dict[str, Any] = {"video": str(video)}
    outputs = {"own": wave, "shuffled": shuffle_segments(wave, 16000, seed)}
    if tracked:
        outputs["tracked"] = None
    landmarks: dict[str, np.ndarray] = {}
    for name, audio in outputs.items():
        if audio is None:
            clip = prepared_source(video, options, progress)
            done = dub(video, None, work / f"{name}.mp4", dataclasses.replace(options, sync_search=0, speaker_lift=False), progress, expressions_from=clip.path)
        else:
            sf.write(work / f"{name}.wav", audio, 16000)
            done = dub(video, work / f"{name}.wav", work / f"{name}.mp4", options, progress)
        if done.sync_search is not None:  # the shift the offset search chose for this case
            result[f"sync_shift_{name}"] = done.sync_search["chosen"]
        result.update({f"sync_note_{name}": n for n in done.notes if n.startswith(SYNC_SEARCH_NOT_DONE)})
        landmarks[name] = video_landmarks(work / f"{name}.mp4")
        crops = compare_face_videos(work / f"{name}.mp4", video, real)  # in the real faces' boxes
        result.update(measure_case(name, landmarks[name], real, crops, judge))
    result["ratio"] = round(result["lmd_shuffled"] / result["lmd_own"], 3)
    result["paired"] = paired_lmd_difference(landmarks["own"], landmarks["shuffled"], real, seed=seed)
    result["acd_real"] = _rounded(judge.real_acd(crops.real_crops), 4)  # the same real crops in every case
    if judge.note:
        result["acd_note"] = judge.note
    # every case's landmarks, for analyses over several self-dubs (pooled_paired_lmd_difference)
    with atomic_path(work / LANDMARKS_FILE) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, real=real, **landmarks)
    result["settings"] = {"seed": seed, "segment_seconds": list(SEGMENT_SECONDS), "personalize_steps": options.personalize_steps, "personalize_seed": options.personalize_seed, "sync_search": options.sync_search, "run": str(options.run), "audio2exp": str(options.audio2exp), "face_crop": FACE_CROP, "acd_frames": ACD_FRAMES, "acd_model": MODEL_NAME}
    return result


def measure_case(name: str, points: np.ndarray, real: np.ndarray, crops: FaceCrops, judge: IdentityJudge) -> dict[str, Any]:
    """One case's measures against the real video: ``lmd_<name>``, ``frames_<name>``,
    ``missing_<name>`` (landmark frames compared / left out), ``opening_corr_<name>``,
    ``opening_spread_<name>``, ``face_psnr_<name>`` (mean face-crop PSNR, dB) over
    ``face_frames_<name>`` frames, ``acd_<name>`` over ``acd_frames_<name>`` sampled crops
    (None when not measured)."""
    measured = landmark_distance(points, real)
    acd = judge.acd(crops.output_crops, crops.real_crops)
    return {
        f"lmd_{name}": round(measured.lmd, 5),
        f"opening_corr_{name}": round(opening_correlation(points, real), 3),
        f"opening_spread_{name}": round(opening_spread(points, real), 3),
        f"frames_{name}": measured.frames,
        f"missing_{name}": measured.missing,
        f"face_psnr_{name}": _rounded(crops.mean_psnr, 3),
        f"face_frames_{name}": crops.frames,
        f"acd_{name}": _rounded(acd, 4),
        f"acd_frames_{name}": 0 if acd is None else len(crops.output_crops),
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


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
        out["pooled"] = pooled_self_dubs([work / f"clip{k}" / LANDMARKS_FILE for k in range(len(clips))], clips, seed)
    return out


def pooled_self_dubs(files: Sequence[Path], clips: Sequence[dict[str, Any]] = (), seed: int = 0) -> dict[str, Any]:
    """Several self-dubs together; ``files`` are their ``landmarks.npz``, ``clips`` their
    results (``result.json``; for face PSNR and ACD, which the landmarks do not hold). Own vs
    shuffled over all their frames (``frames``, ``own_closer_fraction``, ``mean_difference``,
    ``ci95``: :func:`~minerf_dub.lmd.pooled_paired_lmd_difference`, each video's blocks
    resampled from that video) and, per case, :func:`pooled_cases`."""
    videos = []
    for file in files:
        with np.load(file) as points:
            videos.append({name: points[name] for name in points.files})
    pooled: dict[str, Any] = pooled_paired_lmd_difference([(v["own"], v["shuffled"], v["real"]) for v in videos], seed=seed)
    return {**pooled, **pooled_cases(videos, clips)}


def pooled_cases(videos: Sequence[dict[str, np.ndarray]], clips: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """For each case (own, shuffled, tracked where dubbed), ``opening_corr_<case>``,
    ``opening_spread_<case>``, ``face_psnr_<case>`` and ``acd_<case>``, each as
    ``{"clip_mean", "pooled", "clips"}``: the mean of the clips' values, the value over all
    their frames together, and how many clips have one (None when none has). The openings
    come from the landmarks (``videos``: each clip's arrays ``real``, ``own`` ...; pooled by
    :func:`~minerf_dub.lmd.pooled_opening`), face PSNR and ACD from the results (``clips``;
    pooled: weighted by each clip's ``face_frames_<case>`` / ``acd_frames_<case>``)."""
    out: dict[str, dict[str, Any]] = {}
    for case in CASES:
        pairs = [(points[case], points["real"]) for points in videos if case in points]
        if not pairs:
            continue
        corr, spread = pooled_opening(pairs)
        out[f"opening_corr_{case}"] = _summary([opening_correlation(*p) for p in pairs], corr, 3)
        out[f"opening_spread_{case}"] = _summary([opening_spread(*p) for p in pairs], spread, 3)
        for key, count, digits in (("face_psnr", "face_frames", 3), ("acd", "acd_frames", 4)):
            values = [(c.get(f"{key}_{case}"), c.get(f"{count}_{case}")) for c in clips]
            values = [(v, n) for v, n in values if v is not None and n]
            total = sum(n for _, n in values)
            weighted = sum(v * n for v, n in values) / total if total else None
            out[f"{key}_{case}"] = _summary([v for v, _ in values], weighted, digits)
    return out


def _summary(values: Sequence[float | None], pooled: float | None, digits: int) -> dict[str, Any]:
    """``{"clip_mean", "pooled", "clips"}`` of per-clip values (non-finite ones left out)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    mean = float(np.mean(finite)) if finite else None
    pooled = None if pooled is None or not np.isfinite(pooled) else pooled
    return {"clip_mean": _rounded(mean, digits), "pooled": _rounded(pooled, digits), "clips": len(finite)}


def pool_work_folders(folders: Sequence[str | Path], seed: int = 0) -> dict[str, Any]:
    """Each clip's result and the pooled comparison (:func:`pooled_self_dubs`) of every
    ``clip*/landmarks.npz`` in ``folders`` (work folders of earlier :func:`self_dub_many` runs).
    A clip stopped before its ``result.json`` is listed by its landmarks file; it counts in
    the landmark measures, not in face PSNR and ACD."""
    folders = [Path(f) for f in folders]
    files = sorted(file for folder in folders for file in folder.glob(f"clip*/{LANDMARKS_FILE}"))
    if not files:
        raise InputError(folders[0] if len(folders) == 1 else None, f"no clip*/{LANDMARKS_FILE} in {', '.join(map(str, folders))}", "pass the --work folders of earlier self-dub runs")
    clips = []
    for file in files:
        summary = file.parent / RESULT_FILE
        clips.append(json.loads(summary.read_text()) if summary.exists() else {"landmarks": str(file)})
    return {"clips": clips, "pooled": pooled_self_dubs(files, clips, seed)}
