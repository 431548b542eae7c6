"""Prepare many videos: each video of a folder or list into ``OUT_DIR/<video stem>``.

Every video is prepared on its own by :func:`minerf.prepare.pipeline.prepare`, so a stopped
batch resumes video by video (finished clips are kept, an unfinished one resumes from its
work in progress). A video that cannot be prepared (unreadable, no face, too short ...) is
reported in the result and the others are still prepared.

The work per video is one call of :func:`prepare_video` that returns a
:class:`PreparedVideo` and shares nothing with the other videos, so :func:`prepare_many`
hands videos to ``jobs`` worker processes (started fresh, ``spawn``) without changing it:
the clips are the same bytes as one at a time (``tests/prepare/test_batch_jobs.py``), one
progress bar counts the finished videos, and the results keep the order given.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from minerf.prepare.pipeline import PrepareOptions, prepare
from minerf_base.errors import InputError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mpg", ".mpeg", ".mov", ".avi", ".mkv", ".webm", ".m4v")


@dataclass(frozen=True)
class PreparedVideo:
    """One video of a batch: where its clip is, or why it could not be prepared."""

    video: Path
    clip: Path
    error: str | None = None
    """None when the clip was prepared; else the error message (what is wrong, the fix)."""


@dataclass(frozen=True)
class BatchResult:
    """Every video of a batch, in the order given."""

    videos: tuple[PreparedVideo, ...]

    @property
    def clips(self) -> list[Path]:
        """The folders of the clips that were prepared."""
        return [item.clip for item in self.videos if item.error is None]

    @property
    def failures(self) -> dict[str, str]:
        """{video path: error message} of the videos that could not be prepared."""
        return {str(item.video): item.error for item in self.videos if item.error is not None}

    def to_json(self) -> dict[str, Any]:
        return {"prepared": [str(c) for c in self.clips], "failed": self.failures}


def video_files(folder: str | Path) -> list[Path]:
    """The video files (by suffix, :data:`VIDEO_SUFFIXES`) directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "is not a folder", "pass a folder of videos or a list of video files")
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise InputError(folder, "holds no video file", f"put videos ({', '.join(VIDEO_SUFFIXES)}) there or pass the files")
    return videos


def clip_folders(videos: Sequence[Path], out_dir: Path) -> list[Path]:
    """``out_dir / <video stem>`` for every video; two videos of the same stem are an error
    (their clips would overwrite each other)."""
    seen: dict[str, Path] = {}
    for video in videos:
        if video.stem in seen:
            raise InputError(video, f"has the same name as {seen[video.stem]}: both clips would be {out_dir / video.stem}", "rename one of the videos or prepare them into different folders")
        seen[video.stem] = video
    return [out_dir / video.stem for video in videos]


def prepare_video(video: Path, out: Path, options: PrepareOptions) -> PreparedVideo:
    """Prepare one video of a batch; an error is returned in the result, not raised."""
    try:
        prepare(video, out, options, progress=False)
    except Exception as err:  # one bad video must not stop the batch: reported in the result
        message = str(err) if isinstance(err, InputError) else f"{type(err).__name__}: {err}"
        log.warning("%s was not prepared: %s", video, message)
        return PreparedVideo(video, out, message)
    return PreparedVideo(video, out)


def prepare_many(
    videos: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    options: PrepareOptions = PrepareOptions(),
    progress: bool = True,
    jobs: int = 1,
) -> BatchResult:
    """Prepare ``videos`` (a folder: its video files, :func:`video_files`; or a list of
    files) into ``out_dir/<video stem>`` with ``options``, ``jobs`` videos at a time in
    worker processes (1: in this process); see the module doc.

    ``progress``: one bar over the videos (the passes inside each video stay quiet).
    """
    from tqdm import tqdm

    if jobs < 1:
        raise InputError(None, f"--jobs {jobs} is not a positive number of processes", "pass --jobs 1 or more")
    paths = video_files(videos) if isinstance(videos, (str, Path)) else [Path(v) for v in videos]
    outs = clip_folders(paths, Path(out_dir))
    with tqdm(total=len(paths), desc="prepare", unit="videos", disable=not progress) as bar:
        if jobs == 1 or len(paths) == 1:
            done = []
            for video, out in zip(paths, outs):
                bar.set_postfix_str(video.name)
                done.append(prepare_video(video, out, options))
                bar.update(1)
            return BatchResult(tuple(done))
        return BatchResult(tuple(_in_workers(paths, outs, options, min(jobs, len(paths)), bar)))


def _in_workers(paths: Sequence[Path], outs: Sequence[Path], options: PrepareOptions, jobs: int, bar: Any) -> list[PreparedVideo]:
    """:func:`prepare_video` of every video in ``jobs`` processes; results in the given order.
    A stopped batch (Ctrl-C) cancels the videos not started; started ones resume next time."""
    results: list[PreparedVideo | None] = [None] * len(paths)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(prepare_video, video, out, options): k for k, (video, out) in enumerate(zip(paths, outs))}
        try:
            for future in as_completed(futures):
                k = futures[future]
                results[k] = _outcome(future, paths[k], outs[k])
                bar.set_postfix_str(paths[k].name)
                bar.update(1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [r for r in results if r is not None]


def _outcome(future: Any, video: Path, out: Path) -> PreparedVideo:
    """The worker's result; a worker that died (a crash in a native library) is reported
    as that video's failure."""
    try:
        return future.result()
    except Exception as err:  # a lost worker fails its video, not the batch: reported in the result
        log.warning("%s was not prepared: the worker process failed (%s: %s)", video, type(err).__name__, err)
        return PreparedVideo(video, out, f"the worker process preparing it failed ({type(err).__name__}: {err})")
