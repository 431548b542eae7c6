"""Speech -> expressions with a trained checkpoint, in bounded memory (the Python API).

    from audio2exp import Audio2ExpPredictor
    from audio2exp.predict import PredictOptions, Speaker
    predictor = Audio2ExpPredictor.load("runs/a2e")
    expressions = predictor.predict(waveform, sample_rate=44100)      # (T, d) at 25 fps
    expressions = predictor.predict_file("speech.flac", Speaker(identity="may"), PredictOptions(fps=30))

A file is read twice as a stream: once to measure its level (loudness normalisation and
silence detection), once to compute features and expressions chunk by chunk. Frames of
silence are drawn to the identity's rest expression (mouth closed), so silence gives a
closed, still mouth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from audio2exp.audio import (
    SILENCE_DBFS,
    AudioSource,
    array_source,
    measure_level,
    normalising_gain,
    open_audio,
)
from audio2exp.checkpoint import check_expression_space, check_features, load_model
from audio2exp.data import apply_readout
from audio2exp.features import (
    FeatureConfig,
    FeatureExtractor,
    make_extractor,
    stream_features,
)
from minerf_base.errors import InputError
from minerf_base.timebase import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

if TYPE_CHECKING:
    from audio2exp.calibration import SpeakerCalibration
    from audio2exp.directions import SpeechDirections
    from audio2exp.lift import SpeakerLift

DEFAULT_CHUNK_FRAMES = 1500  # 60 s
# Frames this far below the file's level (dB), or below SILENCE_DBFS, are silence; so are
# frames near the noise floor of a recording with pauses (see silence_gate).
GATE_BELOW_LEVEL_DB = 45.0
NOISE_SNR_DB = 20.0
NOISE_MARGIN_DB = 6.0
GATE_SMOOTH_FRAMES = 5


@dataclass
class Speaker:
    """Whose mouth motion to predict; nothing set = the average training speaker."""

    identity: str | int | None = None
    """A training identity (name or index): its base expression and scale of motion."""
    reference_expressions: np.ndarray | None = None
    """(N, d) expressions tracked on the target person: their mean is the base, their spread
    the scale of the motion (overrides ``identity``)."""
    base_expression: np.ndarray | None = None
    """(d,) a mean expression of the space as the base, with the average speaker's scale
    (overrides the base of the fields above)."""
    calibration: "SpeakerCalibration | None" = None
    """Maps the mouth coefficients to the speaker's own (:mod:`audio2exp.calibration`)."""
    gain: float = 1.0
    """Multiplies the motion: every predicted offset from the base expression (in speech and
    towards the rest expression in silence) is ``gain`` times the network's."""
    lift: "SpeakerLift | None" = None
    """Carries the predicted speech directions onto the person's own tracked expressions,
    last (:mod:`audio2exp.lift`)."""


@dataclass
class PredictOptions:
    """How expressions are computed and sampled."""

    fps: float = FPS
    """Frame rate of the output (T = ceil(seconds * fps))."""
    chunk_frames: int = DEFAULT_CHUNK_FRAMES
    """Frames of audio processed at once (memory bound; no effect on the numbers for logmel)."""
    silence_gate: bool = True
    """Draw silent frames to the speaker's rest expression (a closed, still mouth)."""


def silence_gate(frame_db: np.ndarray, level_db: float) -> np.ndarray:
    """(T,) weight in [0, 1] of the rest expression: 1 in silence, 0 in speech, smoothed.

    Silent frames: below ``SILENCE_DBFS``, or ``GATE_BELOW_LEVEL_DB`` under the speech level,
    or — in a recording with pauses (noise floor ``NOISE_SNR_DB`` under the level) — within
    ``NOISE_MARGIN_DB`` of the noise floor (10th percentile of the frame levels).
    """
    threshold = max(SILENCE_DBFS, level_db - GATE_BELOW_LEVEL_DB)
    if frame_db.size:
        floor = float(np.percentile(frame_db, 10))
        if level_db - floor > NOISE_SNR_DB:
            threshold = max(threshold, floor + NOISE_MARGIN_DB)
    silent = frame_db < threshold
    kernel = np.ones(GATE_SMOOTH_FRAMES) / GATE_SMOOTH_FRAMES
    padded = np.pad(silent.astype(np.float64), GATE_SMOOTH_FRAMES // 2, mode="edge")
    # a frame is fully gated only when its neighbours are silent too (erode, then smooth)
    eroded = np.convolve(padded, kernel, mode="valid") >= 1.0 - 1e-9
    padded = np.pad(eroded.astype(np.float64), GATE_SMOOTH_FRAMES // 2, mode="edge")
    return np.convolve(padded, kernel, mode="valid").astype(np.float32)


def resample_frames(values: np.ndarray, num_out: int, fps: float) -> np.ndarray:
    """25 fps rows (T, d) -> ``num_out`` rows at ``fps`` (linear interpolation of frame centres)."""
    if fps == FPS and num_out == len(values):
        return values
    src = np.arange(len(values), dtype=np.float64)
    at = (np.arange(num_out, dtype=np.float64) + 0.5) * FPS / fps - 0.5
    return np.stack([np.interp(at, src, values[:, k]) for k in range(values.shape[1])], axis=1).astype(np.float32)


class Audio2ExpPredictor:
    """A trained audio2exp network with its front end, ready to turn speech into expressions."""

    def __init__(self, model: Any, meta: dict[str, Any], extractor: FeatureExtractor, device: str = "cpu", checkpoint: Path | None = None):
        self.model = model
        self.meta = meta
        self.extractor = extractor
        self.device = device
        self.checkpoint = checkpoint
        self.readout = np.asarray(meta["opening_readout"], dtype=np.float32)
        space = meta["expression_space"]
        self.expression_space: str = str(space["id"])
        self.expression_dim: int = int(space["dim"])
        self.mouth_components: list[int] = [int(k) for k in space.get("mouth_components", range(self.expression_dim))]

    @classmethod
    def load(cls, checkpoint: str | Path, device: str = "cpu", encoder: str | None = None) -> "Audio2ExpPredictor":
        """Load a checkpoint folder. ``encoder`` replaces the recorded hf / whisper encoder location."""
        checkpoint = Path(checkpoint)
        model, meta = load_model(checkpoint, device)
        config = FeatureConfig.from_dict(meta["features"])
        if encoder is not None:
            if config.kind not in ("hf", "whisper"):
                raise InputError(checkpoint, "this checkpoint uses log-mel features; --encoder does not apply", "leave --encoder out")
            config.model = encoder
        extractor = make_extractor(config, device)
        check_features(checkpoint, meta, extractor)
        return cls(model, meta, extractor, device, checkpoint)

    # ------------------------------------------------------------------ facts
    @property
    def identities(self) -> list[str]:
        return list(self.meta["identities"])

    def check_clip(self, clip_meta: dict[str, Any], clip_path: str | Path) -> None:
        """Raise unless a clip (its clip.json dict) is of this checkpoint's expression space."""
        check_expression_space(self.checkpoint or "<checkpoint>", self.meta, clip_meta, clip_path)

    def opening(self, expressions: np.ndarray) -> np.ndarray:
        """Mouth opening implied by expressions: (T, d) -> (T,)."""
        return apply_readout(self.readout, expressions)

    @property
    def speech_directions(self) -> "SpeechDirections":
        """The speech-driven directions the checkpoint was trained toward (older checkpoints:
        those of its expression space, :func:`audio2exp.directions.directions_for`)."""
        from audio2exp.directions import SpeechDirections, directions_for

        recorded = self.meta.get("speech_directions")
        if recorded is not None:
            return SpeechDirections.from_json(recorded)
        return directions_for(self.expression_space, self.expression_dim, self.readout)

    # ------------------------------------------------------------------ prediction
    def speaker_for(self, name: str, expressions: np.ndarray) -> Speaker:
        """The speaker of a clip named ``name``: its training identity when the checkpoint
        has one of that name, else its tracked ``expressions`` (N, d) as reference."""
        return Speaker(identity=name) if name in self.identities else Speaker(reference_expressions=expressions)

    def _style(self, speaker: Speaker) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised base expression and speaker scale of ``speaker``, each (1, d)."""
        m = self.model
        base, scale = m.base(None), m.scale(None)
        identity = speaker.identity
        if identity is not None:
            if isinstance(identity, str):
                if identity not in self.identities:
                    raise InputError(None, f"unknown identity '{identity}'", f"use one of {self.identities}, or none for the average speaker")
                identity = self.identities.index(identity)
            index = torch.tensor([int(identity)], device=self.device)
            base, scale = m.base(index), m.scale(index)
        if speaker.reference_expressions is not None:
            ref = np.asarray(speaker.reference_expressions, dtype=np.float32)
            if ref.ndim != 2 or ref.shape[1] != self.expression_dim or len(ref) < 2:
                raise InputError(None, f"reference expressions have shape {ref.shape}, expected (frames >= 2, {self.expression_dim})", "pass the tracked expressions of a prepared clip of the target person")
            ref_t = torch.from_numpy(ref).to(self.device)
            base = m.to_standard(ref_t.mean(0))[None]
            if m.config.speaker_scale:
                scale = m.spread_of(ref_t)[None]
        if speaker.base_expression is not None:
            given = np.asarray(speaker.base_expression, dtype=np.float32).reshape(-1)
            if given.shape != (self.expression_dim,):
                raise InputError(None, f"base expression has {given.size} values, the expression space has {self.expression_dim}", "pass a mean expression of this space")
            base = m.to_standard(torch.from_numpy(given).to(self.device))[None]
        if not speaker.gain > 0:
            raise InputError(None, f"expression gain {speaker.gain} is not above 0", "pass a gain above 0 (1: the network's own motion)")
        return base, scale * float(speaker.gain)

    @torch.inference_mode()
    def predict_source(self, source: AudioSource, speaker: Speaker | None = None, options: PredictOptions | None = None, progress: bool = False) -> np.ndarray:
        """Expressions (T, d) of ``speaker`` (:class:`Speaker`; default the average speaker)
        for a whole source, at ``options.fps`` (T = ceil(seconds * fps))."""
        from tqdm import tqdm

        speaker = speaker or Speaker()
        options = options or PredictOptions()
        if options.fps <= 0:
            raise InputError(None, f"fps must be positive, got {options.fps}", f"pass e.g. --fps {FPS}")
        model = self.model
        base, scale = self._style(speaker)
        level, frame_db = measure_level(source)
        total = source.num_frames
        out = np.empty((total, self.expression_dim), np.float32)
        bar = tqdm(total=total, unit="frames", desc="audio2exp", disable=not progress, dynamic_ncols=True)
        with bar:
            for first, feats in stream_features(source, self.extractor, normalising_gain(level), options.chunk_frames, model.config.margin):
                x = torch.from_numpy(feats).to(self.device)[None]
                z = model.offsets(x) * scale[:, None, :] + base[:, None, :]
                out[first : first + z.shape[1]] = model.to_units(z)[0].float().cpu().numpy()
                bar.update(z.shape[1])
        num_out = total if options.fps == FPS else int(np.ceil(source.num_samples * options.fps / (FPS * SAMPLES_PER_FRAME)))
        return self._finish(out, (frame_db[:total], level), (base, scale), speaker, options, num_out)

    def _finish(self, out: np.ndarray, levels: tuple[np.ndarray, float], style: tuple[torch.Tensor, torch.Tensor], speaker: Speaker, options: PredictOptions, num_out: int) -> np.ndarray:
        """The silence gate, the calibration and the output frame rate applied to 25 fps
        expressions ``out`` (T, d); ``levels`` = (frame dBFS (T,), the file's level)."""
        if options.silence_gate:
            base, scale = style
            rest = self.model.to_units(base + scale * self.model.rest_offset)[0].float().cpu().numpy()
            gate = silence_gate(*levels)[:, None]
            out = (1.0 - gate) * out + gate * rest
        if speaker.calibration is not None:
            out = speaker.calibration.apply(out)
        if speaker.lift is not None:
            out = speaker.lift.apply(out)
        return resample_frames(out, num_out, options.fps)

    @torch.inference_mode()
    def predict_features(self, features: np.ndarray, levels: tuple[np.ndarray, float], speaker: Speaker | None = None, options: PredictOptions | None = None) -> np.ndarray:
        """Expressions (T, d) at 25 fps from precomputed features (T, F) of this checkpoint's
        front end (level-normalised, as :func:`audio2exp.data.features_of` gives them) and
        ``levels`` = (frame dBFS (T,), level); beyond both ends the audio is silence."""
        from audio2exp.features import silence_features

        speaker = speaker or Speaker()
        options = options or PredictOptions()
        model = self.model
        base, scale = self._style(speaker)
        pad = np.repeat(silence_features(self.extractor)[None], model.config.margin, axis=0)
        x = torch.from_numpy(np.concatenate([pad, features, pad]).astype(np.float32)).to(self.device)[None]
        out = model.to_units(model.offsets(x) * scale[:, None, :] + base[:, None, :])[0].float().cpu().numpy()
        return self._finish(out, levels, (base, scale), speaker, replace(options, fps=FPS), len(out))

    def predict(self, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE, speaker: Speaker | None = None, options: PredictOptions | None = None) -> np.ndarray:
        """Expressions (T, d) for an in-memory waveform (n,) or (n, channels) of any rate."""
        return self.predict_source(array_source(waveform, sample_rate), speaker, options)

    def predict_file(self, path: str | Path, speaker: Speaker | None = None, options: PredictOptions | None = None, progress: bool = False) -> np.ndarray:
        """Expressions (T, d) for an audio file, streamed."""
        return self.predict_source(open_audio(path), speaker, options, progress)


@dataclass
class PredictJob:
    """The ``audio2exp predict`` command: expressions of ``audio`` written to ``output``."""

    audio: Path
    """Speech file (any format :func:`audio2exp.audio.open_audio` reads)."""
    checkpoint: Path
    """Run folder written by ``audio2exp train``."""
    output: Path
    """Where the expressions (T, d) float32 go (.npy)."""
    identity: str | None = None
    """A training clip whose speaker to use (default: the average speaker)."""
    reference_clips: Sequence[Path] = ()
    """Prepared clips of the target person: their tracked expressions are the reference."""
    calibration: Path | None = None
    """Speaker calibration written by ``audio2exp adapt``."""
    lift: bool = False
    """Lift the prediction onto the reference clips' tracked expressions (:mod:`audio2exp.lift`)."""
    encoder: str | None = None
    """New location of the checkpoint's transformers encoder (hf features)."""
    fps: float = FPS
    """Frame rate of the output."""
    chunk_seconds: float = 60.0
    """Audio processed at once (memory bound)."""
    silence_gate: bool = True
    """Force the rest expression in silent frames."""
    device: str = "cpu"
    """torch device."""

    def speaker(self, predictor: Audio2ExpPredictor) -> Speaker:
        """The :class:`Speaker` this job asks for (reference clips checked against ``predictor``)."""
        from audio2exp.calibration import SpeakerCalibration

        reference = None
        if self.reference_clips:
            from minerf_base.clip import load_clip

            clips = [load_clip(p, check_files=False) for p in self.reference_clips]
            for clip in clips:
                predictor.check_clip(clip.meta, clip.path)
            reference = np.concatenate([c.tracked_expression for c in clips])
        calibration = None if self.calibration is None else SpeakerCalibration.load(self.calibration)
        lift = None
        if self.lift:
            from audio2exp.lift import fit_lift

            if reference is None:
                raise InputError(None, "--lift needs the person's tracked expressions", "pass --reference-clip CLIP (a prepared clip of the person) with --lift")
            lift = fit_lift(reference, predictor.speech_directions, source=str(self.reference_clips[0]))
        return Speaker(identity=self.identity, reference_expressions=reference, calibration=calibration, lift=lift)

    def options(self) -> PredictOptions:
        return PredictOptions(fps=self.fps, chunk_frames=max(1, int(round(self.chunk_seconds * FPS))), silence_gate=self.silence_gate)


def predict_to_file(job: PredictJob, progress: bool = False) -> dict[str, Any]:
    """Run ``job``: write expressions (T, d) float32 to ``job.output`` (.npy, atomically);
    returns a summary."""
    from minerf_base.atomic import atomic_path

    predictor = Audio2ExpPredictor.load(job.checkpoint, device=job.device, encoder=job.encoder)
    speaker = job.speaker(predictor)
    source = open_audio(job.audio)
    expressions = predictor.predict_source(source, speaker, job.options(), progress)
    with atomic_path(job.output) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, expressions)
    return {
        "output": str(job.output),
        "frames": int(expressions.shape[0]),
        "dim": int(expressions.shape[1]),
        "fps": job.fps,
        "seconds": source.seconds,
        "expression_space": predictor.expression_space,
    }
