"""``minerf-dub``: a video + new speech -> the same video with lips that speak the new audio.

Stages (each timed; ``benchmarks/dub_speed.py`` reports them):

1. **prepare** the video into a prepared clip, cached by content hash;
2. **predict** expressions (T, d) from the new audio with audio2exp (25 fps);
3. **estimate**: one head crop rendered and timed gives the up-front estimate of
   personalization and rendering (:mod:`minerf_dub.estimate`), printed before they start;
4. **personalize**: the MI-NeRF identity of the video's person -- the run's own when the run
   was trained on this very video, otherwise a new identity code + latent codes fitted on the
   clip with the multiplicative module frozen (paper Sec. 3.4); cached, so the next dub of the
   same video reuses it. With ``sync_search`` > 0, **sync_search** shifts the expressions by
   the audio <-> expression offset whose short preview SyncNet finds best in sync
   (:mod:`minerf_dub.sync_search`);
5. **render** the head for every output frame, at the source's frame rate (or ``fps``), over
   the source's frames, poses, latent codes and backgrounds (ping-pong when the audio is
   longer than the video, cut when shorter; expressions and poses interpolated at each output
   frame's time: :mod:`minerf_dub.timing`), composite, paste into the full-resolution source
   frames (only the head region changes), add the invisible watermark there, and stream the
   frames to the encoder; each rendered crop is kept in a work folder beside the output
   (:mod:`minerf_dub.work`) so that the same dub run again after an interruption continues
   from it; then **mux** the frames with the new audio into an mp4 tagged as synthetic media,
   written under a temporary name and renamed when complete;
6. **score** lip sync (LSE-D / LSE-C) with SyncNet weights: the given ones, or else the shipped
   own expert (whose numbers are not comparable with published LSE);
7. **report**: ``NAME.report.png`` (source vs dub face crops at open and closed mouth, the
   dub's mouth opening under the new audio's waveform, the score) and ``NAME.report.json``
   beside the output (:mod:`minerf_dub.report`).

With ``preview_seconds`` only the first seconds of the output are rendered (the same frames
the full run renders there), scored and reported.
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
from minerf_base.timebase import FPS, SAMPLE_RATE
from minerf_dub.defaults import DEFAULT_EXPRESSION_GAIN, DEFAULT_PERSONALIZE_STEPS, DEFAULT_SPEAKER_LIFT
from minerf_dub.sync_search import SyncSearch, shift_expressions

log = logging.getLogger(__name__)

SYNC_SEARCH_NOT_DONE = "sync search not done, the predicted timing is used: "
"""Start of the dub's note when the offset search could not score its previews."""

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
    personalize_steps: int = DEFAULT_PERSONALIZE_STEPS
    """Fine-tuning steps for a person the run does not know."""
    score: bool = True
    """Score lip sync of the result (with the shipped own expert when no other weights are found)."""
    syncnet_weights: Path | None = None
    """SyncNet weights for scoring (default: $MINERF_SYNCNET_WEIGHTS, the cache, then the shipped
    own expert syncnet-talk14)."""
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
    report: bool = True
    """Write ``NAME.report.png`` and ``NAME.report.json`` beside the output (one face-tracker
    pass over the output frames; see docs/dubbing.md for why it is on by default)."""
    preview_seconds: float | None = None
    """Render only the first this many seconds of the output, to check a dub before the full
    run (None: the whole audio)."""
    full_head: bool = False
    """Re-render the whole head; by default only the lower face (cheeks, mouth, jaw, chin) is
    rendered and blended into the source frame, so eyes, hair and background stay the
    source's own pixels."""
    fps: float | None = None
    """Output frame rate (None: the source video's own)."""
    expression_gain: float = DEFAULT_EXPRESSION_GAIN
    """Multiplies the predicted motion of the face around the source's mean expression
    (:attr:`audio2exp.predict.Speaker.gain`; with ``expressions_from`` and the speaker lift, the
    carried motion); above 1 the mouth opens and closes wider."""
    speaker_lift: bool = DEFAULT_SPEAKER_LIFT
    """Carry the predicted speech motion (opening, width, jaw) onto the source person's own
    tracked expressions (:mod:`audio2exp.lift`): the personalized field was tuned on those,
    and on some people it does not open the mouth for the network's own mix of coefficients
    (docs/dubbing.md has the measurements). With ``expressions_from`` the other clip's
    motion, in units of that person's own spread, is carried the same way."""
    personalize_seed: int = 0
    """Seed of the personalization (its ray sampling and new codes; part of the cache key).
    Another seed is another draw of the same training: benchmarks/self_dub_lmd.py uses it to
    measure how much a result owes to that draw (docs/dubbing.md)."""
    resume: bool = True
    """Keep rendered crops in a work folder beside the output (``.NAME.dub-work-<key>``) until
    the output is written, so that the same dub run again after an interruption continues
    from them (False: render in memory only)."""


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
    preview: dict[str, Any] | None = None
    """``{"seconds", "frames", "of_frames", "of_seconds"}`` when only the first seconds were rendered."""
    report: dict[str, str] | None = None
    """``{"sheet": PNG path, "data": JSON path}`` of the report, when written."""
    fps: float = float(FPS)
    """Frame rate of the output."""
    estimate: dict[str, Any] | None = None
    """The up-front estimate of personalization and rendering (:class:`~minerf_dub.estimate.DubEstimate`)."""
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

        mono, rate = open_audio(path).read_all(), SAMPLE_RATE
    if rate != MUX_RATE:
        mono = soxr.resample(mono, rate, MUX_RATE).astype(np.float32)
    want = int(round(num_frames * MUX_RATE / FPS))
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


@dataclass
class DubRender:
    """Everything fixed for the frames of one dub: the run and identity that render, the
    source clip and its frames, the timing of every output frame (source frame shown, clip
    position, expression position: :class:`~minerf_dub.timing.OutputTiming`; ping-pong), the
    latent codes, the watermark embedder and the output size. :meth:`crops` and :meth:`frames`
    render any span of the output with any 25 fps expressions (the final video and the
    sync-search previews)."""

    run: Any
    clip: Any
    identity: str
    timing: Any
    """:class:`~minerf_dub.timing.OutputTiming` of the output frames."""
    latents: Any
    """(total, 32) latent codes of the output frames (None for runs without them)."""
    source_frames: Any
    """The source video's full-resolution frames at the output rate (``timing.source_index``)."""
    embed: Any
    size: tuple[int, int]
    """(height, width) of the output, even."""
    visible_label: bool = False
    full_head: bool = False
    """Render the whole head (else only the lower face, :func:`minerf.render.composite.lower_face_masks`)."""

    _lower_face: tuple[int, Any] | None = field(default=None, repr=False, compare=False)
    """(clip frame, its lower-face masks): a frame's crop and its paste ask for the same ones."""

    def _lower_face_masks(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        from minerf.render.composite import lower_face_masks

        if self._lower_face is None or self._lower_face[0] != j:
            self._lower_face = (j, lower_face_masks(self.clip.landmarks2d[j], self.clip.resolution))
        return self._lower_face[1]

    def backdrop(self, j: int) -> np.ndarray:
        """What the render of clip frame ``j`` is composited over: the clip's background (the
        frame with the head removed) for the whole head; for the lower face the frame itself,
        so that where the field is thin inside the region the person's own cheek shows, not
        the estimated background behind the head (dark blotches on a 3/4 view)."""
        return self.clip.background(j) if self.full_head else self.clip.frame(j)

    def region(self, j: int) -> np.ndarray:
        """Pixels of clip frame ``j`` that are rendered."""
        from minerf.render.composite import render_region

        return render_region(self.clip.mask(j)) if self.full_head else self._lower_face_masks(j)[0]

    def _blend(self, j: int, acc: np.ndarray) -> np.ndarray:
        """Where (and how much) the render replaces clip frame ``j``'s pixels."""
        from minerf.render.composite import blend_mask

        return blend_mask(self.clip.mask(j), acc) if self.full_head else self._lower_face_masks(j)[1]

    def face_boxes(self, span: slice) -> np.ndarray:
        """(T, 4) face boxes in output-frame pixels at each 25 fps frame of a video of output
        frames ``span``: where the scorer looks when its detector finds no face track."""
        from minerf_dub.score_faces import known_face_boxes

        timeline = self.timing.at_analysis_rate(span.stop - span.start, span.start)
        return known_face_boxes(self.clip.face_box, self.clip.crop_box, self.clip.resolution, timeline)

    @property
    def timeline(self) -> np.ndarray:
        """(total,) the clip frame nearest each output frame."""
        return self.timing.clip_frame

    @property
    def margin(self) -> int:
        """Frames before a span that its first frame's temporal attention window reads."""
        return self.run.model.cfg.smoothing_window // 2 if self.run.smoothing_active else 0

    def crops(self, expressions: np.ndarray, span: slice) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(RGB crop (S, S, 3) uint8, opacity (S, S)) for output frames ``span``; ``expressions``
        (T, d) the 25 fps track, read at each output frame's time."""
        from minerf.render.video import FrameSequence, render_frames
        from minerf_dub.timing import interpolate_poses, interpolate_rows

        model, clip, timing = self.run.model, self.clip, self.timing
        js = timing.clip_frame[span]
        code = model.identity_codes[self.run.identity_index(self.identity)].detach()
        sequence = FrameSequence(
            interpolate_rows(np.asarray(expressions, np.float32), timing.expression_position[span]), interpolate_poses(clip.pose, timing.clip_position[span]),
            clip.intrinsics, None if self.latents is None else self.latents[span],
            (self.backdrop(int(j)) for j in js), regions=(self.region(int(j)) for j in js),
        )
        return render_frames(model, code, sequence, self.run.smoothing_active)

    def stored_crops(self, expressions: np.ndarray, span: slice, store: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """:meth:`crops` of ``span`` through ``store`` (:class:`~minerf_dub.work.CropStore`):
        frames stored by an earlier, interrupted run are read back, the others rendered from
        the first missing one on (from ``margin`` frames before it, so that its attention
        window sees what an uninterrupted run's does) and stored as they come."""
        ks = range(len(self.timeline))[span]
        first = next((k for k in ks if not store.has(k)), ks.stop)
        begin = max(ks.start, first - self.margin)
        rendered = self.crops(expressions, slice(begin, ks.stop)) if first < ks.stop else iter(())
        for k in ks:
            if k < begin:
                yield store.load(k)
                continue
            crop, acc = next(rendered)
            if store.has(k):
                yield store.load(k)
            else:
                store.save(k, crop, acc)
                yield store.quantized(crop, acc)

    def frames(self, expressions: np.ndarray, span: slice, progress: bool = False, store: Any = None) -> Iterator[np.ndarray]:
        """Output frames ``span``: the crops pasted into the full-resolution source frames,
        watermarked (and labelled when asked); through ``store`` when given."""
        from tqdm import tqdm

        from minerf.render.composite import paste_into_frame

        height, width = self.size
        ks = range(len(self.timeline))[span]
        crops = self.crops(expressions, span) if store is None else self.stored_crops(expressions, span, store)
        done = 0 if store is None else store.stored(ks)
        bar = tqdm(zip(ks, crops), total=len(ks), initial=0, desc="render", unit="frames", disable=not progress, postfix=None if not done else {"stored": done})
        for k, (crop, acc) in bar:
            j = int(self.timeline[k])
            alpha = self._blend(j, acc)
            frame = paste_into_frame(self.source_frames[int(self.timing.source_index[k])], crop, alpha, self.clip.crop_box)[:height, :width]
            frame = self.embed(k, frame, place_in_frame(alpha, self.clip.crop_box, frame.shape[:2]))
            yield visible_label(frame) if self.visible_label else frame

    def write(self, path: Path, expressions: np.ndarray, span: slice, wave: np.ndarray | None, timer: "Timer | None" = None, progress: bool = False, store: Any = None) -> None:
        """Render output frames ``span`` (through ``store`` when given), encode them as they
        come and mux the matching part of ``wave`` (48 kHz, the whole output) into ``path``,
        which appears only once complete; ``timer`` (final video only) times render and mux."""
        import tempfile

        from minerf_base.video_out import mux_audio, write_video

        stage = timer.stage if timer is not None else (lambda name: nullcontext())
        ks = range(len(self.timeline))[span]
        rate = self.timing.rate
        if wave is None:
            with stage("render"):
                write_video(path, self.frames(expressions, span, progress, store), fps=rate, metadata=SYNTHETIC_TAGS)
            return
        with tempfile.TemporaryDirectory(prefix="minerf-dub-") as tmp:
            silent_video = Path(tmp) / "video.mp4"
            with stage("render"):
                write_video(silent_video, self.frames(expressions, span, progress, store), fps=rate)
            with stage("mux"):
                mux_audio(silent_video, wave[self.timing.sample(ks.start, MUX_RATE) : self.timing.sample(ks.stop, MUX_RATE)], MUX_RATE, path, SYNTHETIC_TAGS)


@dataclass
class _Speech:
    """The dub's driving signal: predicted (or another clip's) expressions and the audio to mux."""

    expressions: np.ndarray
    wave: np.ndarray | None
    """Mono 48 kHz audio of the output's length, or None (no audio track)."""
    label: str


@dataclass
class _Job:
    """What every stage of one dub reads: the source video, the options, the notes it collects."""

    video: Path
    options: DubOptions
    notes: list[str]
    progress: bool


def check_request(video: Path, audio: Path | None, output: Path, options: DubOptions, expressions_from: Path | None) -> None:
    """Every check that needs no model, before any work."""
    from minerf_base import video_in

    check_output_path(output)
    if (audio is None) == (expressions_from is None):
        raise InputError(None, "pass exactly one of --audio and --expressions-from", "minerf-dub VIDEO --audio SPEECH -o OUT.mp4")
    if options.sync_search < 0 or options.sync_search_seconds <= 0:
        raise InputError(None, f"sync search of {options.sync_search} frames over {options.sync_search_seconds} s previews", "pass --sync-search N with N >= 0 and --sync-search-seconds above 0")
    if options.preview_seconds is not None and not options.preview_seconds > 0:
        raise InputError(None, f"a preview of {options.preview_seconds} s", "pass --preview SECONDS above 0, or leave it out for the whole dub")
    if options.fps is not None and not options.fps > 0:
        raise InputError(None, f"an output frame rate of {options.fps} fps", "pass --fps above 0, or leave it out for the source's own rate")
    if options.sync_search:
        from minerf_dub.sync_search import require_weights

        require_weights(options.syncnet_weights, options.device)
    if options.syncnet_weights is not None and not Path(options.syncnet_weights).exists():
        raise InputError(Path(options.syncnet_weights), "the SyncNet weights given with --syncnet-weights do not exist", "pass the path of syncnet_v2.model or of an own expert folder (lipsync train), or leave the option out to score with the shipped expert")
    video_in.probe(video)  # an unreadable video fails here, before any model loads


def _load_predictor(audio: Path, source: Any, options: DubOptions, device: str, space: dict) -> Any:
    """The audio2exp predictor, after checking the audio is not silent and the expression spaces agree."""
    import math

    from audio2exp.audio import measure_level
    from audio2exp.predict import Audio2ExpPredictor
    from checkpoints.shipped import shipped_checkpoint

    level, _ = measure_level(source)
    if not math.isfinite(level):
        raise InputError(audio, "the audio is silent (no frame louder than -55 dBFS)", "pass a recording with speech")
    predictor = Audio2ExpPredictor.load(options.audio2exp or shipped_checkpoint("audio2exp"), device=device)
    if predictor.expression_space != space["id"]:
        raise InputError(predictor_path(options), f"audio2exp checkpoint uses expression space '{predictor.expression_space}', the MI-NeRF run '{space['id']}'", "use an audio2exp checkpoint trained on clips of the run's expression space")
    return predictor


def _speech(job: _Job, audio: Path | None, source: Any, predictor: Any, clip: Any, expressions_from: Path | None, space: dict) -> _Speech:
    """Expressions from the new audio (or from another prepared clip) and the audio to mux."""
    from minerf_base.clip import load_clip

    options, notes, progress = job.options, job.notes, job.progress

    if audio is not None:
        from audio2exp.lift import fit_lift
        from audio2exp.predict import Speaker

        lift = fit_lift(clip.tracked_expression, predictor.speech_directions, source=str(job.video)) if options.speaker_lift else None
        speaker = Speaker(base_expression=clip.expression.mean(0), gain=options.expression_gain, lift=lift)
        expressions = predictor.predict_source(source, speaker, progress=progress)
        if len(expressions) < 1:
            raise InputError(audio, "the audio is shorter than one video frame (40 ms)", "pass a longer recording")
        return _Speech(expressions, read_mux_audio(audio, len(expressions)), str(audio))
    other = load_clip(expressions_from, expression_space=space["id"])
    wave = None
    if other.has_audio:
        import soxr

        wave = soxr.resample(other.audio(), SAMPLE_RATE, MUX_RATE).astype(np.float32)
    elif options.sync_search:
        raise InputError(expressions_from, "the clip has no audio: --sync-search needs the speech to compare the lips with", "leave out --sync-search, or use a clip prepared with its audio")
    else:
        notes.append(f"{expressions_from} has no audio: the output has no audio track")
    return _Speech(_reenacted(job, clip, other, expressions_from, space), wave, str(expressions_from))


def _reenacted(job: _Job, clip: Any, other: Any, expressions_from: Path, space: dict) -> np.ndarray:
    """``other``'s tracked expressions for re-enacting ``clip``'s person: with the speaker
    lift, their opening, width and jaw motion carried onto this person's own expressions
    (:meth:`audio2exp.lift.SpeakerLift.carry`), else as they are."""
    if not job.options.speaker_lift:
        return other.expression
    from audio2exp.directions import geometric_directions
    from audio2exp.lift import fit_lift

    directions = geometric_directions(space["id"], clip.expression.shape[1])
    if directions is None:
        job.notes.append(f"expression space '{space['id']}' has no decodable speech directions: {expressions_from}'s expressions are used as they are (no speaker lift)")
        return other.expression
    target = fit_lift(clip.tracked_expression, directions, source=str(job.video))
    driver = fit_lift(other.tracked_expression, directions, source=str(expressions_from))
    return target.carry(other.expression, driver, job.options.expression_gain)


def _timing_notes(total: int, num_frames: int, notes: list[str]) -> None:
    if total > num_frames:
        notes.append(f"audio ({total} frames) is longer than the video ({num_frames}): the video plays forwards and backwards")
    elif total < num_frames:
        notes.append(f"audio ({total} frames) is shorter than the video ({num_frames}): the video is cut")


def plan_render(job: _Job, run: Any, clip: Any, identity: str, offset: int | None, total: int) -> DubRender:
    """The :class:`DubRender` of the output of ``total`` 25 fps expression frames over
    ``job.video`` (prepared as ``clip``), at the source's frame rate or ``job.options.fps``;
    ``offset`` None: a run that does not know the clip (zero latent codes, for timing only)."""
    from checkpoints.cache import cache_dir
    from minerf_base import video_in
    from minerf_dub.identity import frame_latents
    from minerf_dub.sources import SourceFrames
    from minerf_dub.timing import OutputTiming, output_rate
    from minerf_dub.watermark import Embedder

    info = video_in.probe(job.video)
    rate = output_rate(info.fps, job.options.fps)
    expected = clip.num_frames if rate == FPS else None
    folder = cache_dir() / "frames" / (f"{clip.meta['source']['sha256'][:16]}" + ("" if rate == FPS else f"-{rate.numerator}_{rate.denominator}"))
    frames = SourceFrames.extract(job.video, folder, expected, job.progress, fps=rate)
    timing = OutputTiming.plan(total, frames.count, clip.num_frames, rate)
    height, width = info.height - info.height % 2, info.width - info.width % 2
    if offset is None:
        latents = None if not run.config.use_latent else run.model.latent_codes.new_zeros(len(timing), run.model.latent_codes.shape[1])
    else:
        latents = frame_latents(run, clip, offset, timing.clip_frame)
    return DubRender(run, clip, identity, timing, latents, frames, Embedder(height, width, len(timing)), (height, width), job.options.visible_label, job.options.full_head)


def dub(video: str | Path, audio: str | Path | None, output: str | Path, options: DubOptions = DubOptions(), progress: bool = True, expressions_from: str | Path | None = None) -> DubResult:
    """Dub ``video`` with ``audio`` (or re-enact it with the expressions of another prepared
    clip, ``expressions_from``) into ``output``; see the module doc for the stages."""
    import torch

    from audio2exp.audio import open_audio
    from checkpoints.cache import cache_dir
    from checkpoints.shipped import shipped_checkpoint
    from minerf.run import load_run
    from minerf_dub.identity import pending_steps, resolve_identity
    from minerf_dub.sources import cached_clip

    video, output = Path(video), Path(output)
    audio = None if audio is None else Path(audio)
    check_request(video, audio, output, options, expressions_from)
    timer, job = Timer(), _Job(video, options, [], progress)
    notes = job.notes
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    run = load_run(options.run or shipped_checkpoint("minerf"), device)
    space = run.expression_space
    source = None if audio is None else open_audio(audio)  # opened once: level check and prediction
    predictor = None if audio is None else _load_predictor(audio, source, options, device, space)
    with timer.stage("prepare"):
        clip = cached_clip(video, run_resolution(run, options), progress, options.face_index)
    if clip.expression_space != space["id"]:
        raise InputError(video, f"prepared with expression space '{clip.expression_space}', the run uses '{space['id']}'", "use a run trained on clips of the shipped tracker")
    with timer.stage("predict"):
        speech = _speech(job, audio, source, predictor, clip, expressions_from, space)
    total, cache = len(speech.expressions), cache_dir() / "personalized"
    steps = pending_steps(run, clip, options.personalize_steps, cache, options.personalize_seed)
    estimate = None
    if steps:  # timed with the base run: the personalized one renders as fast
        with timer.stage("estimate"):
            base = plan_render(job, run, clip, run.identities[0], None, total)
            estimate = _estimate(job, base, speech.expressions, None, steps, preview_span(base.timing, options.preview_seconds)[0])
    with timer.stage("personalize"):
        run, identity, offset, personalized = resolve_identity(run, clip, options.personalize_steps, cache, progress, options.personalize_seed)
    render = plan_render(job, run, clip, identity, offset, total)
    _timing_notes(total, clip.num_frames, notes)
    count, preview = preview_span(render.timing, options.preview_seconds)
    if estimate is None:
        with timer.stage("estimate"):
            estimate = _estimate(job, render, speech.expressions, None if options.sync_search else _crop_store(output, render, speech.expressions, count, options), 0, count)
    expressions, search = speech.expressions, None
    if options.sync_search:
        with timer.stage("sync_search"):
            search = run_sync_search(expressions, speech.wave, total, options, notes, render, progress)
        if search is not None:
            expressions = shift_expressions(expressions, search.chosen)
    store = _crop_store(output, render, expressions, count, options)
    render.write(output, expressions, slice(0, count), speech.wave, timer, progress, store)
    if store is not None:
        store.remove_all_for(output)  # the output is complete: its work folder is not needed
    score, report = _score_and_report(job, output, render, clip, speech.wave, preview, timer)
    return DubResult(
        output=str(output), frames=count, seconds=render.timing.seconds(count), fps=float(render.timing.rate), resolution=(render.size[1], render.size[0]), identity=identity, personalized=personalized,
        audio=speech.label, score=score, sync_search=None if search is None else search.to_dict(), preview=preview, report=report, estimate=estimate.to_dict(), timings=timer.seconds, notes=notes,
    )


def _crop_store(output: Path, render: DubRender, expressions: np.ndarray, count: int, options: DubOptions) -> Any:
    """The work folder of this dub's first ``count`` frames (None with ``options.resume`` off)."""
    if not options.resume:
        return None
    from minerf_dub.work import CropStore, model_key, request_key

    t = render.timing
    parts = (model_key(render.run.model), render.identity, expressions, str(t.rate), t.source_index, t.clip_position, t.expression_position, render.latents, render.clip.source_sha256, render.clip.resolution, count, "full head" if render.full_head else "lower face over the frame")
    return CropStore.beside(output, request_key(parts))


def _estimate(job: _Job, render: DubRender, expressions: np.ndarray, store: Any, steps: int, count: int | None = None) -> Any:
    """The up-front estimate (printed when showing progress): ``steps`` personalization steps,
    then the output's frames not in ``store`` and the sync-search previews."""
    import sys

    from minerf_dub.estimate import estimate

    options = job.options
    count = len(render.timing) if count is None else count
    previews = (2 * options.sync_search + 1) * render.timing.frames_in(options.sync_search_seconds) if options.sync_search else 0
    result = estimate(render, expressions, count, steps, store, previews)
    log.info(result.line())
    if job.progress:
        print(result.line(), file=sys.stderr, flush=True)
    return result


def preview_span(timing: Any, seconds: float | None) -> tuple[int, dict[str, Any] | None]:
    """How many of ``timing``'s output frames to render: all (and no preview record) when
    ``seconds`` is None, else the first ``seconds`` (at least one frame)."""
    total = len(timing)
    if seconds is None:
        return total, None
    count = timing.frames_in(seconds)
    return count, {"seconds": timing.seconds(count), "frames": count, "of_frames": total, "of_seconds": timing.seconds()}


def _score_and_report(job: _Job, output: Path, render: DubRender, clip: Any, wave: np.ndarray | None, preview: dict[str, Any] | None, timer: Timer) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """The **score** and **report** stages on the ``output`` just written (its first
    ``preview["frames"]`` frames of ``render``'s timeline, or all of them)."""
    from minerf_dub.report import ReportInput, measure_opening, write_report
    from minerf_dub.sources import AtClipRate

    options, count = job.options, len(render.timeline) if preview is None else preview["frames"]
    timeline = render.timing.at_analysis_rate(count)  # the clip frame on screen at each 25 fps frame read back
    boxes = render.face_boxes(slice(0, count))
    if not options.score or wave is None:
        score, not_scored = None, ("--no-score" if not options.score else "the output has no audio track")
    else:
        with timer.stage("score"):
            score = score_output(output, options, job.notes, boxes)
        prefix = "lip sync not scored: "  # score_output's note when there is no score
        not_scored = None if score is not None else next((n.removeprefix(prefix) for n in reversed(job.notes) if n.startswith(prefix)), "no score")
    if not options.report:
        return score, None
    with timer.stage("report"):
        preview_line = None if preview is None else f"PREVIEW: the first {preview['seconds']:.2f} s of {preview['of_seconds']:.2f} s"
        source_opening = measure_opening(job.video, int(timeline.max()) + 1)[timeline]
        source_frames = AtClipRate(render.source_frames, render.timing.rate)
        report = ReportInput(output, source_frames, timeline, boxes, source_opening, None if wave is None else wave[: render.timing.sample(count, MUX_RATE)], MUX_RATE, score, not_scored, preview_line)
        sheet, data = write_report(report)
    return score, {"sheet": str(sheet), "data": str(data)}


def run_sync_search(expressions: np.ndarray, wave: np.ndarray, total: int, options: DubOptions, notes: list[str], render: DubRender, progress: bool) -> SyncSearch | None:
    """The offset search of ``options.sync_search`` over previews that ``render`` writes of
    the output of ``total`` 25 fps expression frames with audio ``wave`` (48 kHz); None, with
    a note, when SyncNet cannot score them. The window is chosen and reported in 25 fps frames."""
    import tempfile

    from minerf_dub.sync_search import candidate_offsets, preview_window, search_offsets

    count = min(total, max(1, int(round(options.sync_search_seconds * FPS))))
    start = preview_window(wave, MUX_RATE // FPS, total, count)
    span = render.timing.span_of(start, count)
    boxes = render.face_boxes(span)
    with tempfile.TemporaryDirectory(prefix="minerf-sync-") as tmp:

        def score_preview(k: int):
            path = Path(tmp) / f"preview_{k:+d}.mp4"
            render.write(path, shift_expressions(expressions, k), span, wave)
            return score_video(path, options, boxes)[0]

        try:
            return search_offsets(candidate_offsets(options.sync_search), score_preview, start, count, progress)
        except InputError as exc:
            notes.append(f"{SYNC_SEARCH_NOT_DONE}{exc}")
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


def prepared_source(video: Path, options: DubOptions, progress: bool = False) -> Any:
    """``video`` prepared (cached, :func:`~minerf_dub.sources.cached_clip`) at the crop size a
    dub with ``options`` prepares it at (:func:`run_resolution` of ``options.run`` or the
    shipped run)."""
    from checkpoints.shipped import shipped_checkpoint
    from minerf.run import load_run
    from minerf_dub.sources import cached_clip

    return cached_clip(Path(video), run_resolution(load_run(options.run or shipped_checkpoint("minerf"), "cpu"), options), progress)


def score_video(video: Path, options: DubOptions, known_boxes: np.ndarray | None = None) -> tuple[Any, str]:
    """(lipsync ScoreResult, faces mark) of a dub's ``video`` with its own audio: on the face
    track SyncNet's detector finds, or, when it finds none and ``known_boxes`` (T, 4) frame
    pixels are given, at those boxes (:data:`~minerf_dub.score_faces.KNOWN_BOXES_MARK`).
    Raises what :func:`lipsync.score` raises otherwise."""
    import lipsync
    from minerf_base.errors import NoFaceTrackError
    from minerf_dub.score_faces import DETECTED_MARK, KNOWN_BOXES_MARK, score_at_boxes

    try:
        return lipsync.score(video, weights=options.syncnet_weights, device=options.device), DETECTED_MARK
    except NoFaceTrackError as exc:
        if known_boxes is None:
            raise
        log.info("%s; scoring at the known face boxes", exc.problem)
        return score_at_boxes(video, known_boxes, options.syncnet_weights, options.device), KNOWN_BOXES_MARK


def score_output(output: Path, options: DubOptions, notes: list[str], known_boxes: np.ndarray | None = None) -> dict[str, Any] | None:
    """LSE-D / LSE-C of the dubbed video (:func:`score_video`), or None (with a note) when no
    SyncNet weights exist (the shipped expert absent or turned off) or it cannot be scored."""
    from lipsync.weights import describe_weights
    from minerf_base.errors import NoWeightsError, WeightsError

    try:
        result, faces = score_video(output, options, known_boxes)
    except WeightsError as exc:
        if not isinstance(exc, NoWeightsError):
            raise  # weights that were named but are not there: the user's error, exit 2
        notes.append(f"lip sync not scored: {exc}")
        return None
    except InputError as exc:
        notes.append(f"lip sync not scored: {exc}")
        return None
    return {"lse_d": result.lse_d, "lse_c": result.lse_c, "offset": result.offset, "weights": result.weights_id, "weights_note": describe_weights(result.weights_id), "faces": faces}
