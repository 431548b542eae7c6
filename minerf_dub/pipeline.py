"""``minerf-dub``: a video + new speech -> the same video with lips that speak the new audio.

Stages (each timed; ``benchmarks/dub_speed.py`` reports them):

1. **prepare** the video into a prepared clip, cached by content hash;
2. **personalize**: the MI-NeRF identity of the video's person -- the run's own when the run
   was trained on this very video, otherwise a new identity code + latent codes fitted on the
   clip with the multiplicative module frozen (paper Sec. 3.4); cached, so the next dub of the
   same video reuses it;
3. **predict** expressions (T, d) from the new audio with audio2exp (25 fps); with
   ``sync_search`` > 0, **sync_search** shifts them by the audio <-> expression offset whose
   short preview SyncNet finds best in sync (:mod:`minerf_dub.sync_search`);
4. **render** the head for every output frame over a timeline of the clip's poses, latent
   codes and backgrounds (ping-pong when the audio is longer than the video, cut when
   shorter), composite, paste into the full-resolution source frames (only the head region
   changes), add the invisible watermark there, and
5. **mux** the frames with the new audio into an mp4 tagged as synthetic media;
6. **score** lip sync (LSE-D / LSE-C) with SyncNet weights: the given ones, or else the shipped
   own expert (whose numbers are not comparable with published LSE).
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from minerf import __version__
from minerf_base.errors import InputError
from minerf_dub.sync_search import SyncSearch, shift_expressions

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv")
SYNTHETIC_TAGS = {
    "synthetic_media": "true",
    "comment": f"Synthetic media: the face was re-rendered to speak new audio by minerf-dub {__version__} (MI-NeRF).",
}


@dataclass
class DubOptions:
    """What a dub uses and how hard it works."""

    run: Path | None = None
    """MI-NeRF run folder (default: the shipped checkpoint)."""
    audio2exp: Path | None = None
    """audio2exp checkpoint folder (default: the shipped checkpoint)."""
    personalize_steps: int = 600
    """Fine-tuning steps for a person the run does not know."""
    score: bool = True
    """Score lip sync of the result (with the shipped own expert when no other weights are found)."""
    syncnet_weights: Path | None = None
    """SyncNet weights for scoring (default: $MINERF_SYNCNET_WEIGHTS, the cache, then the shipped
    own expert syncnet-grid6)."""
    visible_label: bool = False
    """Also write a visible 'SYNTHETIC' label in a corner (changes pixels outside the head)."""
    face_index: int | None = None
    """Which face to dub when several are visible (0 = largest)."""
    sync_search: int = 0
    """Try audio <-> expression shifts of -N..N frames on a preview and keep the one SyncNet
    finds best in sync (0: off; needs SyncNet weights; costs 2N + 1 preview renders)."""
    sync_search_seconds: float = 2.0
    """Length of each sync-search preview (the loudest stretch of the audio)."""
    device: str | None = None
    """torch device (default: cuda when available, else cpu)."""


@dataclass
class DubResult:
    output: str
    frames: int
    seconds: float
    resolution: tuple[int, int]
    identity: str
    personalized: bool
    audio: str
    score: dict[str, Any] | None
    sync_search: dict[str, Any] | None = None
    """The offset search's per-offset table and chosen offset (see :class:`SyncSearch`)."""
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)


def check_output_path(output: Path) -> None:
    """Fail before any work when ``output`` cannot be written."""
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(output, f"unsupported output type '{output.suffix}'", f"name the output {output.with_suffix('.mp4').name} (one of {', '.join(OUTPUT_SUFFIXES)})")
    if output.is_dir():
        raise InputError(output, "is a folder", "pass a file name such as dubbed.mp4")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(output, f"the folder {parent} does not exist", f"create it first (mkdir -p {parent})")
    if not os.access(parent, os.W_OK):
        raise InputError(output, f"the folder {parent} is not writable", "choose an output path in a folder you can write to")
    if output.exists() and not os.access(output, os.W_OK):
        raise InputError(output, "the file exists and is not writable", "remove it or choose another name")


MUX_RATE = 48000  # AAC at 48 kHz: its 1024-sample priming is 21 ms, under one frame


def read_mux_audio(path: Path, num_frames: int) -> np.ndarray:
    """The new audio for the output file: mono float32 at 48 kHz, cut / padded to the frames."""
    import soundfile as sf
    import soxr

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        from audio2exp.audio import open_audio

        mono, rate = open_audio(path).read_all(), 16000
    if rate != MUX_RATE:
        mono = soxr.resample(mono, rate, MUX_RATE).astype(np.float32)
    want = int(round(num_frames * MUX_RATE / 25))
    return np.pad(mono[:want], (0, max(0, want - len(mono))))


def place_in_frame(values: np.ndarray, crop_box: tuple[int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """A crop-sized (S, S) map resized to the crop box and placed in an (H, W) zero canvas."""
    import cv2

    from minerf.render.composite import crop_in_frame

    canvas = np.zeros(shape, np.float32)
    overlap = crop_in_frame(crop_box, shape)
    if overlap is not None:
        side = crop_box[2]
        big = cv2.resize(values.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
        canvas[overlap[0]] = big[overlap[1]]
    return canvas


def visible_label(frame: np.ndarray) -> np.ndarray:
    import cv2

    out = frame.copy()
    scale = max(0.4, frame.shape[0] / 720)
    cv2.putText(out, "SYNTHETIC", (int(10 * scale), frame.shape[0] - int(12 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255), max(1, int(2 * scale)), cv2.LINE_AA)
    return out


def dub(video: str | Path, audio: str | Path | None, output: str | Path, options: DubOptions = DubOptions(), progress: bool = True, expressions_from: str | Path | None = None) -> DubResult:
    """Dub ``video`` with ``audio`` (or re-enact it with the expressions of another prepared
    clip, ``expressions_from``) into ``output``; see the module doc for the stages."""
    import math
    import tempfile

    import torch
    from tqdm import tqdm

    from audio2exp.audio import measure_level, open_audio
    from audio2exp.predict import Audio2ExpPredictor
    from checkpoints.cache import cache_dir
    from checkpoints.shipped import shipped_checkpoint
    from minerf_base import video_in
    from minerf.render.composite import (
        blend_mask,
        paste_into_frame,
        ping_pong,
        render_region,
    )
    from minerf.render.video import FrameSequence, render_frames
    from minerf.run import load_run
    from minerf_base.clip import load_clip
    from minerf_base.video_out import mux_audio, write_video
    from minerf_dub.identity import frame_latents, resolve_identity
    from minerf_dub.score_faces import known_face_boxes
    from minerf_dub.sources import SourceFrames, cached_clip
    from minerf_dub.watermark import Embedder

    video, output = Path(video), Path(output)
    check_output_path(output)
    if (audio is None) == (expressions_from is None):
        raise InputError(None, "pass exactly one of --audio and --expressions-from", "minerf-dub VIDEO --audio SPEECH -o OUT.mp4")
    if options.sync_search < 0 or options.sync_search_seconds <= 0:
        raise InputError(None, f"sync search of {options.sync_search} frames over {options.sync_search_seconds} s previews", "pass --sync-search N with N >= 0 and --sync-search-seconds above 0")
    if options.sync_search:
        from minerf_dub.sync_search import require_weights

        require_weights(options.syncnet_weights, options.device)
    info = video_in.probe(video)
    timer = Timer()
    notes: list[str] = []
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    run = load_run(options.run or shipped_checkpoint("minerf"), device)
    space = run.expression_space
    source = None
    mux_source = None  # 16 kHz audio of an --expressions-from clip
    if audio is not None:
        audio = Path(audio)
        source = open_audio(audio)
        level, _ = measure_level(source)
        if not math.isfinite(level):
            raise InputError(audio, "the audio is silent (no frame louder than -55 dBFS)", "pass a recording with speech")
        predictor = Audio2ExpPredictor.load(options.audio2exp or shipped_checkpoint("audio2exp"), device=device)
        if predictor.expression_space != space["id"]:
            raise InputError(predictor_path(options), f"audio2exp checkpoint uses expression space '{predictor.expression_space}', the MI-NeRF run '{space['id']}'", "use an audio2exp checkpoint trained on clips of the run's expression space")
    with timer.stage("prepare"):
        clip = cached_clip(video, run_resolution(run, options), progress, options.face_index)
    if clip.expression_space != space["id"]:
        raise InputError(video, f"prepared with expression space '{clip.expression_space}', the run uses '{space['id']}'", "use a run trained on clips of the shipped tracker")
    with timer.stage("personalize"):
        run, identity, offset, personalized = resolve_identity(run, clip, options.personalize_steps, cache_dir() / "personalized", progress)
    with timer.stage("predict"):
        if source is not None:
            expressions = predictor.predict_source(source, base_expression=clip.expression.mean(0), progress=progress)
        else:
            other = load_clip(expressions_from, expression_space=space["id"])
            expressions = other.expression
            if other.has_audio:
                mux_source = other.audio()
            elif options.sync_search:
                raise InputError(expressions_from, "the clip has no audio: --sync-search needs the speech to compare the lips with", "leave out --sync-search, or use a clip prepared with its audio")
            else:
                notes.append(f"{expressions_from} has no audio: the output has no audio track")
    total = len(expressions)
    if total < 1:
        raise InputError(audio, "the audio is shorter than one video frame (40 ms)", "pass a longer recording")
    timeline = ping_pong(total, clip.num_frames)
    if total > clip.num_frames:
        notes.append(f"audio ({total} frames) is longer than the video ({clip.num_frames}): the video plays forwards and backwards")
    elif total < clip.num_frames:
        notes.append(f"audio ({total} frames) is shorter than the video ({clip.num_frames}): the video is cut")
    model = run.model
    ident = run.identity_index(identity)
    latents = frame_latents(run, clip, offset, timeline)
    frames_store = SourceFrames.extract(video, cache_dir() / "frames" / f"{clip.meta['source']['sha256'][:16]}", clip.num_frames, progress)
    height, width = info.height, info.width
    embed = Embedder(height - height % 2, width - width % 2, total)
    code = model.identity_codes[ident].detach()
    if audio is not None:
        wave = read_mux_audio(audio, total)
    elif mux_source is not None:
        import soxr

        wave = soxr.resample(mux_source, 16000, MUX_RATE).astype(np.float32)
    else:
        wave = None

    def write_dub(path: Path, expr: np.ndarray, span: slice, final: bool) -> None:
        """Render output frames ``span`` with expressions ``expr`` (total, d), composite, mark,
        encode and mux the matching audio into ``path`` (the final video, or a preview)."""
        ks = range(total)[span]
        js = timeline[span]
        sequence = FrameSequence(
            expr[span], clip.pose[js], clip.intrinsics, None if latents is None else latents[span],
            (clip.background(int(j)) for j in js), regions=(render_region(clip.mask(int(j))) for j in js),
        )
        crops = render_frames(model, code, sequence, run.smoothing_active)

        def frames_out():
            bar = tqdm(zip(ks, crops), total=len(ks), desc="render", unit="frames", disable=not (progress and final))
            for k, (crop, acc) in bar:
                j = int(timeline[k])
                alpha = blend_mask(clip.mask(j), acc)
                frame = paste_into_frame(frames_store[j], crop, alpha, clip.crop_box)
                frame = frame[: height - height % 2, : width - width % 2]
                weight = place_in_frame(alpha, clip.crop_box, frame.shape[:2])
                frame = embed(k, frame, weight)
                yield visible_label(frame) if options.visible_label else frame

        stage = timer.stage if final else (lambda name: nullcontext())
        with tempfile.TemporaryDirectory(prefix="minerf-dub-") as tmp:
            silent_video = Path(tmp) / "video.mp4"
            with stage("render"):
                write_video(silent_video, frames_out(), fps=25)
            with stage("mux"):
                if wave is not None:
                    per_frame = MUX_RATE // 25
                    mux_audio(silent_video, wave if final else wave[ks.start * per_frame : ks.stop * per_frame], MUX_RATE, path, SYNTHETIC_TAGS)
                else:
                    write_video(path, (f for f in video_in.iter_frames(silent_video)), fps=25, metadata=SYNTHETIC_TAGS)

    search = None
    if options.sync_search:
        with timer.stage("sync_search"):
            search = run_sync_search(expressions, wave, total, options, notes, write_dub, progress)
        if search is not None:
            expressions = shift_expressions(expressions, search.chosen)
    write_dub(output, expressions, slice(0, total), final=True)
    score = None
    if options.score and (audio is not None or mux_source is not None):
        with timer.stage("score"):
            score = score_output(output, options, notes, known_face_boxes(clip.face_box, clip.crop_box, clip.resolution, timeline))
    return DubResult(
        output=str(output),
        frames=total,
        seconds=total / 25,
        resolution=(width - width % 2, height - height % 2),
        identity=identity,
        personalized=personalized,
        audio=str(audio if audio is not None else expressions_from),
        score=score,
        sync_search=None if search is None else search.to_dict(),
        timings=timer.seconds,
        notes=notes,
    )


def run_sync_search(expressions: np.ndarray, wave: np.ndarray, total: int, options: DubOptions, notes: list[str], write_dub, progress: bool) -> SyncSearch | None:
    """The offset search of ``options.sync_search`` over previews written by
    ``write_dub(path, expressions (total, d), frames, final=False)`` from the ``total``-frame
    timeline with audio ``wave`` (48 kHz); None, with a note, when SyncNet cannot score them."""
    import tempfile

    import lipsync
    from minerf_dub.sync_search import candidate_offsets, preview_window, search_offsets

    count = min(total, max(1, int(round(options.sync_search_seconds * 25))))
    start = preview_window(wave, MUX_RATE // 25, total, count)
    with tempfile.TemporaryDirectory(prefix="minerf-sync-") as tmp:

        def score_preview(k: int):
            path = Path(tmp) / f"preview_{k:+d}.mp4"
            write_dub(path, shift_expressions(expressions, k), slice(start, start + count), final=False)
            return lipsync.score(path, weights=options.syncnet_weights, device=options.device)

        try:
            return search_offsets(candidate_offsets(options.sync_search), score_preview, start, count, progress)
        except InputError as exc:
            notes.append(f"sync search not done, the predicted timing is used: {exc}")
            return None


def predictor_path(options: DubOptions) -> Path:
    from checkpoints.shipped import shipped_checkpoint

    return Path(options.audio2exp or shipped_checkpoint("audio2exp"))


def run_resolution(run, options: DubOptions) -> int:
    """Crop size to prepare the video at: the run's training clips' resolution."""
    for rec in run.meta["clips"]:
        if "resolution" in rec:
            return int(rec["resolution"])
        meta = Path(rec.get("path", "")) / "clip.json"
        if meta.is_file():
            import json

            return int(json.loads(meta.read_text())["resolution"])
    return int(run.meta.get("resolution", 128))


def score_output(output: Path, options: DubOptions, notes: list[str], known_boxes: np.ndarray | None = None) -> dict[str, Any] | None:
    """LSE-D / LSE-C of the dubbed video, or None (with a note) when no SyncNet weights exist
    (the shipped expert absent or turned off). When SyncNet's detector finds no face track and
    ``known_boxes`` (T, 4) frame pixels are given, the face crops are taken there instead
    (``faces``: :data:`~minerf_dub.score_faces.KNOWN_BOXES_MARK`)."""
    import lipsync
    from lipsync.weights import describe_weights
    from minerf_dub.score_faces import (
        DETECTED_MARK,
        KNOWN_BOXES_MARK,
        no_face_track,
        score_at_boxes,
    )

    faces = DETECTED_MARK
    try:
        try:
            result = lipsync.score(output, weights=options.syncnet_weights, device=options.device)
        except InputError as exc:
            if known_boxes is None or not no_face_track(exc):
                raise
            log.info("%s; scoring at the known face boxes", exc.problem)
            result = score_at_boxes(output, known_boxes, options.syncnet_weights, options.device)
            faces = KNOWN_BOXES_MARK
    except InputError as exc:
        notes.append(f"lip sync not scored: {exc}")
        return None
    return {"lse_d": result.lse_d, "lse_c": result.lse_c, "offset": result.offset, "weights": result.weights_id, "weights_note": describe_weights(result.weights_id), "faces": faces}
