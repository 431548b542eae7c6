"""``minerf-dub --demo``: the whole job on material the toolkit makes itself.

1. writes the built-in talking-portrait video (4 s) and a new synthetic speech track (6 s,
   longer than the video, so the timeline runs forwards and backwards);
2. prepares the video (into the cache the dub uses); trains a ``tiny`` MI-NeRF on it (unless ``--run`` is given) and an
   audio2exp network on it (unless ``--audio2exp`` is given);
3. dubs the video with the new speech, watermarks and tags the result, scores its lip sync
   (with the shipped own SyncNet expert unless other weights are found; only when the face
   detector finds a face track in the rendered output), and says where everything is.

On 2 CPU cores the default budget takes a few minutes; the picture is a rough one (a tiny
model trained for minutes), the point is to see every stage run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from minerf_dub.pipeline import DubOptions, DubResult, dub

DEMO_RESOLUTION = 96
NERF_STEPS = 400
SPEECH_SECONDS = 6.0


def run_demo(output: Path, options: DubOptions, progress: bool = True) -> DubResult:
    import soundfile as sf

    from audio2exp.train import AUDIO2EXP_PRESETS, TrainSession
    from audio2exp.train import train as train_audio2exp
    from minerf.demo_media import DemoSpec, make_demo_video, speech
    from minerf.train.trainer import TrainOptions
    from minerf.train.trainer import train as train_nerf
    from minerf_dub.sources import cached_clip

    output = Path(output)
    work = output.parent
    work.mkdir(parents=True, exist_ok=True)
    video = work / "demo_input.mp4"
    if not video.exists():
        make_demo_video(video, DemoSpec(seconds=4.0, size=384))
    audio = work / "demo_speech.wav"
    if not audio.exists():
        wave, _ = speech(SPEECH_SECONDS, seed=7)
        sf.write(audio, wave, 16000)
    # prepared into the dub's content-addressed cache, so the dub below does not prepare again
    clip_dir = cached_clip(video, DEMO_RESOLUTION, progress).path
    run = options.run
    if run is None:
        run = work / "demo_minerf"
        train_nerf([clip_dir], run, TrainOptions(preset="tiny", iterations=NERF_STEPS, validate_every=0, evaluate=False, progress=progress, device=options.device))
    a2e = options.audio2exp
    if a2e is None:
        a2e = work / "demo_audio2exp"
        train_config, net_config = AUDIO2EXP_PRESETS["default"]
        train_audio2exp([clip_dir], a2e, train_config=train_config, net_config=net_config, session=TrainSession(progress=progress))
    result = dub(video, audio, output, dataclasses.replace(options, run=run, audio2exp=a2e), progress)
    result.notes.append(f"demo input: {video}, new speech: {audio}, models: {run}, {a2e}")
    return result
