"""Scoring videos: video or frames + speech -> face tracks -> offset, LSE-D, LSE-C per track.

:func:`score` is the Python API (also used in the loop by the dubbing and audio2exp code);
:func:`score_many` runs a batch, keeps going past files that fail and averages over tracks.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from lipsync.faces import (
    CROP_SIZE,
    FaceTrack,
    FaceTrackConfig,
    find_tracks,
    iter_track_crops,
)
from lipsync.media import iter_video_frames, read_audio
from lipsync.mfcc import to_int16_scale
from lipsync.sync import MIN_FRAMES, LipEmbedder, embed_audio, num_windows, score_embeddings
from minerf_base.errors import InputError, NoFaceTrackError
from minerf_base.timebase import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".mpg", ".mpeg", ".webm", ".m4v", ".flv", ".wmv")
SILENCE_PEAK = 33  # int16 peak below -60 dBFS counts as silence


@dataclass
class ScoreConfig:
    """How videos are scored; the defaults are the reference's."""

    faces: FaceTrackConfig = field(default_factory=FaceTrackConfig)
    vshift: int = 15
    """Largest offset tried, in frames (reference: 15)."""
    batch_size: int = 20
    """Windows per SyncNet forward pass (no effect on the numbers)."""


@dataclass
class TrackResult:
    """Scores of one face track (frames ``start``..``end - 1`` at ``FPS``)."""

    track: int
    start: int
    end: int
    offset: int
    lse_d: float
    lse_c: float
    distance_at_zero: float
    """Mean distance at offset 0 (the video as it plays); ``lse_c + lse_d - distance_at_zero``
    is the sync confidence at offset 0, equal to ``lse_c`` when ``offset`` is 0."""
    notes: list[str] = field(default_factory=list)


@dataclass
class ScoreResult:
    """Scores of one video: the mean LSE-D / LSE-C over its face tracks and the offset of the
    longest track; ``weights_id`` names the SyncNet weights that produced them."""

    source: str
    offset: int
    lse_d: float
    lse_c: float
    weights_id: str
    num_frames: int
    tracks: list[TrackResult]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _audio_samples(audio: str | Path | np.ndarray | None, video: Path | None) -> tuple[np.ndarray, Path | None]:
    if audio is None:
        if video is None:
            raise InputError(None, "no audio given for in-memory frames", "pass audio=... (16 kHz samples or a file)")
        return read_audio(video), video
    if isinstance(audio, (str, Path)):
        return read_audio(Path(audio)), Path(audio)
    samples = np.asarray(audio)
    if samples.ndim != 1:
        raise InputError(None, f"audio array has shape {samples.shape}, expected (samples,) mono at 16 kHz", "pass mono 16 kHz samples")
    return to_int16_scale(samples), None


def _check_speech(samples: np.ndarray, where: Path | None) -> None:
    if samples.size == 0 or np.abs(samples.astype(np.int32)).max() < SILENCE_PEAK:
        raise InputError(where, "the audio is silent (peak below -60 dBFS): there is no speech to compare the lips with", "pass the speech track with --audio / audio=...")


def _length_notes(num_frames: int, num_samples: int) -> list[str]:
    video_s, audio_s = num_frames / FPS, num_samples / SAMPLE_RATE
    if num_samples == num_frames * SAMPLES_PER_FRAME:
        return []
    scored = min(num_frames, num_samples // SAMPLES_PER_FRAME)
    which = "shorter" if audio_s < video_s else "longer"
    return [f"audio ({audio_s:.3f} s) is {which} than the video ({video_s:.3f} s): as the reference does, only the first {scored} frames that have audio are scored"]


def _frame_source(video_or_frames: str | Path | np.ndarray) -> tuple[Callable[[], Iterable[np.ndarray]], Path | None]:
    if isinstance(video_or_frames, (str, Path)):
        path = Path(video_or_frames)
        return (lambda: iter_video_frames(path)), path
    frames = np.asarray(video_or_frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InputError(None, f"frames have shape {frames.shape} and dtype {frames.dtype}, expected (T, H, W, 3) uint8 RGB at {FPS} fps", "pass RGB uint8 frames")
    return (lambda: frames), None


def _check_length(num_frames: int, video: Path | None) -> None:
    if num_frames < MIN_FRAMES:
        raise InputError(video, f"the video has {num_frames} frames at {FPS} fps; SyncNet needs at least {MIN_FRAMES}", f"score a longer video ({MIN_FRAMES / FPS:.2f} s or more)")


def _given_crops(frames: Iterable[np.ndarray], video: Path | None) -> tuple[list[FaceTrack], Callable[[], Iterator[tuple[int, np.ndarray]]], int]:
    """The frames as one track of 224 x 224 face crops (resized where they are not)."""
    resized = [crop if crop.shape[:2] == (CROP_SIZE, CROP_SIZE) else _resize(crop) for crop in frames]
    n = len(resized)
    _check_length(n, video)
    return [FaceTrack(frames=np.arange(n), boxes=np.zeros((n, 4)))], (lambda: ((0, crop) for crop in resized)), n


def _detected_crops(frames_of: Callable[[], Iterable[np.ndarray]], video: Path | None, config: FaceTrackConfig) -> tuple[list[FaceTrack], Callable[[], Iterator[tuple[int, np.ndarray]]], int]:
    """Face tracks found in the frames and a second pass that crops them, frame by frame;
    :class:`NoFaceTrackError` when a video long enough to score has none."""
    tracks, n, with_face = find_tracks(frames_of(), config)
    if n >= MIN_FRAMES and not tracks:
        detail = "no face detected in any frame" if with_face == 0 else f"a face was detected in {with_face} of {n} frames, but no track is long and large enough"
        raise NoFaceTrackError(video, f"no face track to score: {detail}", "use a video with one visible frontal face at least 100 px tall for 2 s or more")
    _check_length(n, video)
    return tracks, (lambda: iter_track_crops(frames_of(), tracks, config)), n


def _known_crops(frames_of: Callable[[], Iterable[np.ndarray]], tracks: list[FaceTrack], video: Path | None, config: FaceTrackConfig) -> tuple[list[FaceTrack], Callable[[], Iterator[tuple[int, np.ndarray]]], int]:
    """Face tracks given by the caller and one pass that crops them, frame by frame."""
    n = max((t.end for t in tracks), default=0)
    _check_length(n, video)
    return tracks, (lambda: iter_track_crops(frames_of(), tracks, config)), n


def _score_tracks(net, tracks: list[FaceTrack], crops: Callable[[], Iterator[tuple[int, np.ndarray]]], samples: np.ndarray, config: ScoreConfig) -> tuple[list[TrackResult], list[str]]:
    """Scores of the tracks that have enough audio, and notes on those that have not. The
    crops (track number, crop) stream into each track's lip embedder: no track's crops are
    all held at once."""
    audio = [samples[t.start * SAMPLES_PER_FRAME : t.end * SAMPLES_PER_FRAME] for t in tracks]
    lips: list[LipEmbedder | None] = []
    notes = []
    for k, (track, track_audio) in enumerate(zip(tracks, audio)):
        enough = len(track_audio) // SAMPLES_PER_FRAME >= MIN_FRAMES
        if not enough:
            notes.append(f"track {k} (frames {track.start}-{track.end - 1}) has under {MIN_FRAMES} frames of audio and is not scored")
        lips.append(LipEmbedder(net, num_windows(len(track.frames), len(track_audio)), config.batch_size) if enough else None)
    if any(lip is not None for lip in lips):
        net.eval()
        for k, crop in crops():
            if lips[k] is not None:
                lips[k].add(crop)
    results = []
    for k, (track, track_audio, lip) in enumerate(zip(tracks, audio, lips)):
        if lip is None:
            continue
        s = score_embeddings(lip.embeddings(), embed_audio(net, track_audio, lip.num_windows, config.batch_size), config.vshift)
        results.append(TrackResult(track=k, start=track.start, end=track.end, offset=s.offset, lse_d=s.lse_d, lse_c=s.lse_c, distance_at_zero=float(s.distances[config.vshift]), notes=list(track.notes)))
    return results, notes


def score(
    video_or_frames: str | Path | np.ndarray,
    audio: str | Path | np.ndarray | None = None,
    weights: str | Path | None = None,
    *,
    config: ScoreConfig | None = None,
    faces_cropped: bool = False,
    device: str | None = None,
    tracks: Sequence[FaceTrack] | None = None,
) -> ScoreResult:
    """Lip-sync scores of a video file or RGB frames (T, H, W, 3) uint8 at 25 fps.

    ``audio``: a file, or samples (S,) at 16 kHz (int16, or float in [-1, 1]); default: the
    video's own audio track. ``weights``: SyncNet weights (file or ``lipsync train`` run);
    default: ``$MINERF_SYNCNET_WEIGHTS``, the cache, then the shipped expert
    (:mod:`lipsync.weights`). ``faces_cropped``: the frames are already face crops (one track,
    no detection). ``tracks``: face tracks known already (frame indices and boxes in frame
    pixels), cropped as detected ones are, without detection. Raises :class:`InputError` on bad input: :class:`NoFaceTrackError` when
    no face track is found, :class:`~minerf_base.errors.MediaError` for unreadable media,
    :class:`~minerf_base.errors.WeightsError` for missing or unusable weights.
    """
    from lipsync.weights import load_syncnet

    config = config or ScoreConfig()
    loaded = load_syncnet(weights, device)
    frames_of, video_path = _frame_source(video_or_frames)
    samples, audio_path = _audio_samples(audio, video_path)
    where = audio_path or video_path
    _check_speech(samples, where)
    if faces_cropped:
        tracks, crops, n = _given_crops(frames_of(), video_path)
    elif tracks is not None:
        tracks, crops, n = _known_crops(frames_of, list(tracks), video_path, config.faces)
    else:
        tracks, crops, n = _detected_crops(frames_of, video_path, config.faces)
    results, track_notes = _score_tracks(loaded.net, tracks, crops, samples, config)
    if not results:
        raise InputError(where, f"the audio ends before any face track has {MIN_FRAMES} frames of speech", "pass audio that covers the video")
    longest = max(results, key=lambda r: r.end - r.start)
    return ScoreResult(
        source=str(video_path) if video_path else "<frames>",
        offset=longest.offset,
        lse_d=float(np.mean([r.lse_d for r in results])),
        lse_c=float(np.mean([r.lse_c for r in results])),
        weights_id=loaded.weights_id,
        num_frames=n,
        tracks=results,
        notes=_length_notes(n, len(samples)) + track_notes,
    )


def _resize(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(image, (CROP_SIZE, CROP_SIZE))


def expand_inputs(items: Sequence[str | Path]) -> list[Path]:
    """Video paths from files, directories (their videos, sorted) and glob patterns."""
    paths: list[Path] = []
    for item in items:
        item = str(item)
        if Path(item).is_dir():
            paths.extend(sorted(p for p in Path(item).iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS))
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matches:
                raise InputError(item, "pattern matches no file", "check the pattern (quote it so the shell does not expand it)")
            paths.extend(matches)
        else:
            paths.append(Path(item))
    if not paths:
        raise InputError(None, "no videos to score", "pass video files, folders holding videos, or glob patterns")
    return paths


@dataclass
class BatchResult:
    """Scores of a batch: per video (or its error) and the mean over every scored track."""

    results: list[ScoreResult]
    errors: dict[str, str]
    mean_lse_d: float | None
    mean_lse_c: float | None
    num_tracks: int

    def to_dict(self) -> dict:
        return asdict(self)


def iter_scores(videos: Sequence[Path], audio: str | Path | None = None, weights: str | Path | None = None, *, config: ScoreConfig | None = None, device: str | None = None) -> Iterator[tuple[Path, ScoreResult | InputError]]:
    """Score each video in turn; a video that fails yields its :class:`InputError` instead."""
    from lipsync.weights import load_syncnet

    load_syncnet(weights, device)  # missing weights stop the batch before any work
    for video in videos:
        try:
            yield video, score(video, audio, weights, config=config, device=device)
        except InputError as exc:
            log.info("%s: %s", video, exc)
            yield video, exc


def summarize(pairs: Iterable[tuple[Path, ScoreResult | InputError]]) -> BatchResult:
    """Collect :func:`iter_scores` output; the means run over all tracks of all videos."""
    results, errors = [], {}
    for video, outcome in pairs:
        if isinstance(outcome, InputError):
            errors[str(video)] = str(outcome)
        else:
            results.append(outcome)
    tracks = [t for r in results for t in r.tracks]
    return BatchResult(
        results=results,
        errors=errors,
        mean_lse_d=float(np.mean([t.lse_d for t in tracks])) if tracks else None,
        mean_lse_c=float(np.mean([t.lse_c for t in tracks])) if tracks else None,
        num_tracks=len(tracks),
    )
