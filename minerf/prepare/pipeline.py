"""``minerf prepare``: a talking-face video -> a prepared clip (see :mod:`minerf_base.clip`).

Passes (each streams the video; nothing holds all frames in memory):

1. scan: face track on a downscaled copy, one stable crop box (:mod:`.scan`);
2. crop: per frame, the S x S head crop, face mesh on the crop, selfie segmentation ->
   ``frames/``, ``masks/``; landmarks are checkpointed every ``CHECKPOINT_EVERY`` frames;
3. fit: pose, intrinsics, expressions (:mod:`.fit`);
4. background: static estimate + per-frame backgrounds (:mod:`.background`);
5. audio (16 kHz mono, aligned to frame 0), ``tracks.npz`` and, last, ``clip.json``.

Work in progress lives in ``CLIP_DIR/.work``; a killed run resumes from it (same source file
and settings) without redoing finished frames. A folder only loads as a clip once clip.json
is written, so an interrupted run never looks valid.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minerf import __version__
from minerf_base import video_in
from minerf.prepare.background import frame_background, static_background
from minerf.prepare.expression_space import ExpressionSpace, load_expression_space
from minerf.prepare.face_tracker import FaceMeshTracker, face_bbox, segmenter
from minerf.prepare.fit import ClipFit, fit_clip
from minerf.prepare.head_mask import head_mask
from minerf.prepare.scan import ScanResult, lost_frames_check, scan_video
from minerf_base.atomic import atomic_path, atomic_write_json
from minerf_base.clip import PreparedClip, is_complete, load_clip
from minerf_base.clip_writer import ClipWriter
from minerf_base.errors import InputError
from minerf_base.timebase import FPS, SAMPLE_RATE

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 50
SILENCE_PEAK = 1e-4  # an audio track whose peak stays below this is treated as absent


@dataclass(frozen=True)
class PrepareOptions:
    """Settings of one preparation. A change of any of them restarts the work."""

    resolution: int = 512
    face_index: int | None = None
    expression_space: str | None = None  # path of a custom space file; None = shipped one

    def fingerprint(self, sha256: str, space_id: str) -> dict:
        return {"resolution": self.resolution, "face_index": self.face_index, "space": space_id, "source_sha256": sha256, "minerf": __version__}


def prepare(video: str | Path, out_dir: str | Path, options: PrepareOptions = PrepareOptions(), progress: bool = True) -> PreparedClip:
    """Prepare ``video`` into ``out_dir`` and return the loaded clip (see module doc)."""
    video = Path(video)
    out_dir = Path(out_dir)
    source = _identify(video, out_dir, options)
    if is_complete(out_dir):
        meta = json.loads((out_dir / "clip.json").read_text())
        if meta.get("settings") == source.fingerprint:
            log.info("%s is already prepared from this video with these settings", out_dir)
            return load_clip(out_dir)
    work = out_dir / ".work"
    _claim_work_dir(out_dir, work, source.fingerprint)
    writer = ClipWriter(out_dir)
    started = time.time()

    scan = _cached_scan(work, video, source.info, options, progress)  # 1. scan
    for message in scan.warnings:
        log.warning("%s: %s", video, message)
    landmarks, valid, warnings = _track(video, writer, work, scan, options.resolution, progress)  # 2. crop, landmarks, masks
    fit = fit_clip(landmarks, source.space, options.resolution)  # 3. pose + expression
    _write_backgrounds(work, writer, scan.num_frames, progress)  # 4. backgrounds
    audio_status = _write_audio(video, source.info, writer, scan.num_frames)  # 5. audio, tracks, clip.json
    writer.write_tracks(_tracks(fit, landmarks, valid))
    writer.prune(scan.num_frames)
    writer.finish(_clip_meta(source, scan, fit, valid, audio_status, warnings, started))
    shutil.rmtree(work, ignore_errors=True)
    return load_clip(out_dir)


@dataclass(frozen=True)
class _Source:
    """The input video and the settings of its preparation, known before any pass runs."""

    video: Path
    options: PrepareOptions
    info: video_in.VideoInfo
    space: ExpressionSpace
    sha256: str
    fingerprint: dict


def _identify(video: Path, out_dir: Path, options: PrepareOptions) -> _Source:
    """Check the options and the output path, probe the video, fingerprint the work."""
    if options.resolution < 32 or options.resolution > 2048:
        raise InputError(None, f"--resolution {options.resolution} is out of range", "use 32..2048 (default 512)")
    info = video_in.probe(video)
    space = load_expression_space(options.expression_space)
    sha = video_in.file_sha256(video)
    fingerprint = options.fingerprint(sha, space.id)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "output exists and is a file", "pass a folder path for the prepared clip")
    return _Source(video, options, info, space, sha, fingerprint)


def _track(video: Path, writer: ClipWriter, work: Path, scan: ScanResult, size: int, progress: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pass 2: landmarks (N, 468, 3) with lost frames interpolated, which frames had a face
    (N,) and every warning so far (the scan's and the lost-frames check's)."""
    from tqdm import tqdm

    n = scan.num_frames
    with tqdm(total=n, desc="crop+track", unit="frames", disable=not progress) as bar:
        landmarks = _crop_and_track(video, writer, work, scan, size, bar)
    lost = np.isnan(landmarks[:, 0, 0])
    warnings = list(scan.warnings) + lost_frames_check(video, lost, n, "face (in the crop)")
    valid = ~lost
    return _interpolate(landmarks, valid), valid, warnings


def _write_backgrounds(work: Path, writer: ClipWriter, n: int, progress: bool) -> None:
    """Pass 4: the static background estimate, then each frame's background (resumable)."""
    from tqdm import tqdm

    static = _cached_static(work / "static_background.png", n, writer)
    with tqdm(total=n, desc="background", unit="frames", disable=not progress) as bar:
        for i in range(n):
            if not writer.has_image("backgrounds", i):
                frame = writer.read_image("frames", i)
                mask = writer.read_image("masks", i)
                writer.write_image("backgrounds", i, frame_background(frame, mask, static))
            bar.update(1)


def _write_audio(video: Path, info: video_in.VideoInfo, writer: ClipWriter, n: int) -> str:
    """Write the 16 kHz mono audio aligned to frame 0 (or remove a stale one); returns the
    audio status: ``ok`` when the clip has audio, else why not."""
    audio = video_in.read_audio(video, SAMPLE_RATE, start=video_in.first_frame_time(video)) if info.has_audio else None
    audio_status = "ok"
    if audio is None:
        audio_status = "no audio track" if not info.has_audio else "audio track could not be decoded"
    elif np.abs(audio).max() < SILENCE_PEAK:
        audio_status, audio = "audio track is silent", None
    if audio is not None:
        writer.write_audio(audio, n)
    elif (writer.path / "audio.wav").exists():
        (writer.path / "audio.wav").unlink()
    return audio_status


def _tracks(fit: ClipFit, landmarks: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of ``tracks.npz``."""
    return {
        "pose": fit.pose,
        "intrinsics": fit.intrinsics,
        "expression": fit.expression,
        "landmarks2d": landmarks[:, :, :2],
        "landmarks3d": fit.landmarks3d,
        "identity_shape": fit.identity_shape,
        "face_box": np.stack([face_bbox(p) for p in landmarks]),
        "valid": valid,
    }


def _clip_meta(source: _Source, scan: ScanResult, fit: ClipFit, valid: np.ndarray, audio_status: str, warnings: list[str], started: float) -> dict:
    """The content of ``clip.json``."""
    n = scan.num_frames
    return {
        "name": source.video.stem,
        "num_frames": n,
        "resolution": source.options.resolution,
        "expression_space": source.space.to_json(),
        "has_audio": audio_status == "ok",
        "audio": {"sample_rate": SAMPLE_RATE, "samples": n * (SAMPLE_RATE // FPS), "status": audio_status},
        "crop_box": list(scan.crop_box),
        "source": {**source.info.to_json(), "sha256": source.sha256},
        "settings": source.fingerprint,
        "stats": {
            "reprojection_error_px_median": float(np.median(fit.reprojection_error)),
            "reprojection_error_px_max": float(fit.reprojection_error.max()),
            "invalid_frames": int((~valid).sum()),
            "faces_seen": scan.faces_seen,
            "seconds": round(time.time() - started, 2),
        },
        "warnings": warnings,
        "tools": _tool_versions(),
    }


def _claim_work_dir(out_dir: Path, work: Path, fingerprint: dict) -> None:
    """Reuse ``.work`` when it belongs to the same source + settings, else start clean."""
    settings_file = work / "settings.json"
    if settings_file.is_file():
        try:
            if json.loads(settings_file.read_text()) == fingerprint:
                return
        except json.JSONDecodeError:
            pass
    if out_dir.exists():
        if (out_dir / "clip.json").exists() or work.exists():
            log.info("%s holds a clip or work of another video/settings: starting over", out_dir)
        for sub in ("frames", "masks", "backgrounds", ".work"):
            shutil.rmtree(out_dir / sub, ignore_errors=True)
        for name in ("clip.json", "tracks.npz", "audio.wav"):
            (out_dir / name).unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_json(settings_file, fingerprint)


def _cached_scan(work: Path, video: Path, info, options: PrepareOptions, progress: bool) -> ScanResult:
    from tqdm import tqdm

    path = work / "scan.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            return ScanResult(meta["num_frames"], tuple(meta["crop_box"]), npz["boxes"], meta["faces_seen"], meta["warnings"])
    total = max(1, math.ceil(info.duration * FPS - 1e-6)) if info.duration else None
    with tqdm(total=total, desc="scan", unit="frames", disable=not progress) as bar:
        scan = scan_video(video, info, options.face_index, bar)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, boxes=scan.boxes, meta=np.array(json.dumps(scan.to_json())))
    return scan


def crop_frame(rgb: np.ndarray, crop_box: tuple[int, int, int], size: int) -> np.ndarray:
    """The square ``crop_box`` of ``rgb`` (edge-replicated past the border) resized to ``size``."""
    import cv2

    x0, y0, side = crop_box
    h, w = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    patch = rgb[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(patch, (size, size), interpolation=interp)


def _crop_and_track(video: Path, writer: ClipWriter, work: Path, scan: ScanResult, size: int, bar) -> np.ndarray:
    """Pass 2. Returns landmarks (N, 468, 3) in crop pixels, NaN where the face was lost."""
    n = scan.num_frames
    partial = work / "landmarks.npz"
    landmarks = np.full((n, 468, 3), np.nan, np.float32)
    done = 0
    if partial.is_file():
        with np.load(partial, allow_pickle=False) as npz:
            done = int(npz["done"])
            landmarks[:done] = npz["landmarks"][:done]
    x0, y0, side = scan.crop_box
    scale = size / side
    seg = segmenter()
    with FaceMeshTracker(max_faces=2, video=True) as tracker:
        for i, rgb in enumerate(video_in.iter_frames(video)):
            if i >= n:
                break
            if i < done and writer.has_image("frames", i) and writer.has_image("masks", i):
                bar.update(1)
                continue
            crop = crop_frame(rgb, scan.crop_box, size)
            faces = tracker.detect(crop)
            expected = scan.boxes[i]
            points = _pick_face(faces, expected, x0, y0, scale)
            if points is not None:
                landmarks[i] = points
                prob = seg.process(crop).segmentation_mask
                mask = head_mask(prob, points[:, :2])
            else:
                mask = np.zeros((size, size), np.uint8)
            writer.write_image("frames", i, crop)
            writer.write_image("masks", i, mask)
            if (i + 1) % CHECKPOINT_EVERY == 0:
                _save_partial(partial, landmarks, i + 1)
            bar.update(1)
    seg.close()
    _save_partial(partial, landmarks, n)
    return landmarks


def _pick_face(faces: list[np.ndarray], expected_box: np.ndarray, x0: int, y0: int, scale: float) -> np.ndarray | None:
    """The detected face closest to where the scan saw the tracked face."""
    if not faces:
        return None
    if np.isnan(expected_box[0]):
        return faces[0]
    centre = ((expected_box[:2] + expected_box[2:]) / 2 - (x0, y0)) * scale
    dists = [np.linalg.norm((face_bbox(f)[:2] + face_bbox(f)[2:]) / 2 - centre) for f in faces]
    return faces[int(np.argmin(dists))]


def _save_partial(path: Path, landmarks: np.ndarray, done: int) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, landmarks=landmarks, done=np.array(done))


def _interpolate(landmarks: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill lost frames by linear interpolation in time (nearest at the ends)."""
    if valid.all():
        return landmarks
    idx = np.arange(len(landmarks))
    flat = landmarks.reshape(len(landmarks), -1).copy()
    good = np.nonzero(valid)[0]
    for c in range(flat.shape[1]):
        flat[~valid, c] = np.interp(idx[~valid], good, flat[good, c])
    return flat.reshape(landmarks.shape)


def _cached_static(path: Path, n: int, writer: ClipWriter) -> np.ndarray:
    import cv2

    if path.is_file():
        return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    static = static_background(
        n,
        lambda i: writer.read_image("frames", i),
        lambda i: writer.read_image("masks", i),
    )
    ok, buf = cv2.imencode(".png", cv2.cvtColor(static, cv2.COLOR_RGB2BGR))
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return static


def _tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"minerf": __version__, "python": platform.python_version()}
    for pkg in ("mediapipe", "av", "numpy", "opencv-contrib-python", "torch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out
