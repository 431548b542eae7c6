"""``minerf-dub --demo``: the whole job on material the toolkit makes itself.

1. writes the built-in talking-portrait video (4 s) and a new synthetic speech track (6 s,
   longer than the video, so the timeline runs forwards and backwards);
2. prepares the video (into the cache the dub uses) and trains an audio2exp network on it
   (unless ``--audio2exp`` is given): the speech is synthetic vowels, which the shipped
   audio2exp (trained on real speech) does not read as speech;
3. dubs the video with the new speech exactly as a user's video is dubbed: the shipped
   MI-NeRF (or ``--run``) does not know the portrait, so it is personalized to it first
   (cached for the next run), then only the lower face is rendered and blended in; the result
   is watermarked, tagged, scored (the shipped own SyncNet expert unless other weights are
   found) and reported.

On 2 CPU cores it takes 1-2.5 minutes (71 s on free cores), most of it the personalization.
:func:`train_demo_minerf` (a ``tiny`` MI-NeRF trained on the portrait alone) is what the
benchmarks use when no run is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from minerf.demo_media import DemoSpec
from minerf_dub.pipeline import DubOptions, DubResult, dub

DEMO_RESOLUTION = 96
"""Crop size of the benchmarks' ``tiny`` demo MI-NeRF (:func:`train_demo_minerf`)."""
NERF_STEPS = 400
SPEECH_SECONDS = 6.0
SPEECH_SEED = 7
DEMO_VIDEO = DemoSpec(seconds=4.0, size=384)
"""The demo's input video (its own speech: ``speech(DEMO_VIDEO.seconds, DEMO_VIDEO.seed)``)."""


@dataclass(frozen=True)
class DemoTraining:
    """How the demo trains its models on the prepared portrait."""

    nerf_steps: int = NERF_STEPS
    """Steps of the ``tiny`` MI-NeRF."""
    audio2exp_preset: str = "default"
    """Training preset of the audio2exp network (a key of ``audio2exp.train.PRESETS``)."""
    seed: int = 0
    """Seed of the MI-NeRF training."""
    device: str | None = None
    """Device of the MI-NeRF training (None: the trainer's default)."""


def train_demo_minerf(clip_dir: Path, out: Path, training: DemoTraining = DemoTraining(), progress: bool = True) -> Path:
    """The demo's ``tiny`` MI-NeRF trained on the prepared clip ``clip_dir`` into ``out``."""
    from minerf.train.trainer import TrainOptions
    from minerf.train.trainer import train as train_nerf

    train_nerf([clip_dir], out, TrainOptions(preset="tiny", iterations=training.nerf_steps, validate_every=0, evaluate=False, progress=progress, device=training.device, seed=training.seed))
    return out


def train_demo_audio2exp(clip_dir: Path, out: Path, training: DemoTraining = DemoTraining(), progress: bool = True) -> Path:
    """The demo's audio2exp network trained on the prepared clip ``clip_dir`` into ``out``."""
    from audio2exp.train import AUDIO2EXP_PRESETS, TrainSession
    from audio2exp.train import train as train_audio2exp

    from minerf_base.threads import torch_threads

    train_config, net_config = AUDIO2EXP_PRESETS[training.audio2exp_preset]
    with torch_threads(1):  # the network is small: one thread trains it fastest on a CPU
        train_audio2exp([clip_dir], out, train_config=train_config, net_config=net_config, session=TrainSession(progress=progress))
    return out


def write_demo_media(work: Path) -> tuple[Path, Path]:
    """(``work/demo_input.mp4``, ``work/demo_speech.wav``): the portrait video and the new
    speech, written unless they are there."""
    import soundfile as sf

    from minerf.demo_media import make_demo_video, speech

    work.mkdir(parents=True, exist_ok=True)
    video, audio = work / "demo_input.mp4", work / "demo_speech.wav"
    if not video.exists():
        make_demo_video(video, DEMO_VIDEO)
    if not audio.exists():
        sf.write(audio, speech(SPEECH_SECONDS, seed=SPEECH_SEED)[0], 16000)
    return video, audio


def run_demo(output: Path, options: DubOptions, progress: bool = True) -> DubResult:
    from checkpoints.shipped import shipped_checkpoint
    from minerf.run import load_run
    from minerf_dub.pipeline import run_resolution
    from minerf_dub.sources import cached_clip

    output = Path(output)
    work = output.parent
    video, audio = write_demo_media(work)
    run = Path(options.run or shipped_checkpoint("minerf"))
    # prepared at the run's resolution into the dub's content-addressed cache: the dub below reuses it
    clip_dir = cached_clip(video, run_resolution(load_run(run, "cpu"), options), progress).path
    a2e = options.audio2exp if options.audio2exp is not None else train_demo_audio2exp(clip_dir, work / "demo_audio2exp", DemoTraining(device=options.device), progress)
    result = dub(video, audio, output, dataclasses.replace(options, run=run, audio2exp=a2e), progress)
    result.notes.append(f"demo input: {video}, new speech: {audio}, models: {run}, {a2e}")
    return result
