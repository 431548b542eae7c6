"""Own expert training on synthetic prepared clips: runs, resumes exactly, scores with its id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors.torch import load_file

import lipsync
from checkpoints import (
    CheckpointError,
    latest_checkpoint,
    read_train_state,
    save_checkpoint,
)
from checkpoints.convert import convert_run
from lipsync.dataset import SyncPairs, load_training_clip
from lipsync.model import SyncNetConfig
from lipsync.train import SyncNetTrainConfig, train_expert
from lipsync.weights import expert_folder, load_expert
from minerf_base.clip import NUM_LANDMARKS
from minerf_base.clip_writer import write_clip
from minerf_base.errors import InputError
from tests.lipsync.conftest import generated_audio

TINY = SyncNetConfig(embed_dim=16, width=0.125, lip_downsample=4)


def synthetic_clip(path: Path, num_frames: int = 30, seed: int = 0, with_audio: bool = True) -> Path:
    """A 64 px prepared clip: a face-coloured square whose dark 'mouth' opens with the audio."""
    audio = generated_audio(num_frames * 640, seed=seed)
    loudness = np.abs(audio.astype(np.float32).reshape(num_frames, 640)).mean(axis=1)
    opening = (2 + 10 * loudness / loudness.max()).astype(int)
    frames = []
    for t in range(num_frames):
        image = np.full((64, 64, 3), 30, np.uint8)
        image[12:56, 16:48] = (200, 160, 140)
        image[40 - opening[t] // 2 : 40 + opening[t] // 2 + 1, 24:40] = 20
        frames.append(image)
    n = num_frames
    tracks = {
        "pose": np.tile(np.eye(4, dtype=np.float32), (n, 1, 1)),
        "intrinsics": np.eye(3, dtype=np.float32),
        "expression": np.zeros((n, 4), np.float32),
        "landmarks2d": np.zeros((n, NUM_LANDMARKS, 2), np.float32),
        "landmarks3d": np.zeros((n, NUM_LANDMARKS, 3), np.float32),
        "identity_shape": np.zeros((NUM_LANDMARKS, 3), np.float32),
        "face_box": np.tile(np.array([16, 12, 48, 56], np.float32), (n, 1)),
        "valid": np.ones(n, bool),
    }
    meta = {"resolution": 64, "expression_space": {"id": "test-space", "dim": 4}, "crop_box": [0, 0, 64], "name": path.name}
    masks = [np.full((64, 64), 255, np.uint8)] * n
    return write_clip(path, frames=frames, masks=masks, backgrounds=frames, tracks=tracks, meta=meta, audio=audio.astype(np.float32) / 32768 if with_audio else None)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("clips")
    return [synthetic_clip(root / f"clip{i}", seed=i) for i in range(2)]


def test_samples_put_the_in_sync_window_first(clips):
    data = [load_training_clip(c) for c in clips]
    pairs = SyncPairs(data, max_offset=3, negatives=2, jitter=0.0)
    lips, auds = pairs.sample(np.random.default_rng(0), 4)
    assert lips.shape == (4, 5, 224, 224, 3) and lips.dtype == np.uint8
    assert auds.shape == (4, 3, 13, 20)
    assert pairs.num_windows == 2 * (30 - 6 - 3 - 3 + 1)
    # the positive is the MFCC window at the lip window's own start frame: it appears in the clip MFCC at a step divisible by 4
    cep = data[0].cepstra
    starts = [s for s in range(0, cep.shape[1] - 19, 4) if any(np.array_equal(cep[:, s : s + 20], a[0]) for a in auds)]
    assert starts, "the in-sync window must come from the clip's MFCC at a whole video frame"


def test_windows_are_drawn_by_length_or_evenly_by_clip(clips, tmp_path):
    data = [load_training_clip(c) for c in clips]
    long = synthetic_clip(tmp_path / "long", num_frames=90, seed=5)
    data.append(load_training_clip(long))
    by_window = SyncPairs(data, max_offset=3, negatives=2, jitter=0.0)
    assert by_window.clip_probabilities == pytest.approx(np.array([19, 19, 79]) / 117)
    by_clip = SyncPairs(data, max_offset=3, negatives=2, jitter=0.0, by="clip")
    assert by_clip.clip_probabilities == pytest.approx([1 / 3] * 3)
    assert by_clip.sample(np.random.default_rng(0), 3)[0].shape == (3, 5, 224, 224, 3)
    with pytest.raises(ValueError, match="windows are drawn by one of"):
        SyncPairs(data, max_offset=3, negatives=2, jitter=0.0, by="speaker")


def test_training_resumes_to_the_same_weights_and_its_scores_name_it(clips, tmp_path):
    config = SyncNetTrainConfig(model=TINY, steps=4, batch_size=4, max_offset=3, negatives=2, checkpoint_every=2)
    straight = tmp_path / "straight"
    summary = train_expert(clips, straight, config, device="cpu", progress=False)
    assert summary["steps"] == 4 and [h["step"] for h in summary["history"]] == [2, 4]

    resumed = tmp_path / "resumed"
    train_expert(clips, resumed, SyncNetTrainConfig(**{**vars(config), "steps": 2}), device="cpu", progress=False)
    assert json.loads((latest_checkpoint(resumed) / "checkpoint.json").read_text())["step"] == 2
    train_expert(clips, resumed, config, device="cpu", progress=False)
    a = load_file(latest_checkpoint(straight) / "weights.safetensors")
    b = load_file(latest_checkpoint(resumed) / "weights.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name].numpy(), b[name].numpy()), name

    with pytest.raises(InputError, match="other settings"):
        train_expert(clips, resumed, SyncNetTrainConfig(**{**vars(config), "lr": 1e-2}), device="cpu", progress=False)

    clip = load_training_clip(clips[0])
    crops = np.stack([np.asarray(__import__("cv2").resize(f, (224, 224))) for f in clip.frames])
    result = lipsync.score(crops, generated_audio(30 * 640, seed=0), weights=straight, faces_cropped=True, device="cpu")
    assert result.weights_id.startswith("own-expert:straight:")
    assert -15 <= result.offset <= 15 and result.lse_d > 0


def _as_old_layout(run: Path) -> None:
    """Rewrite a run folder as ``lipsync train`` wrote it before the one run-folder format:
    RUN/model/ (the expert's checkpoint) and RUN/train_state.pt (optimizer state dict, step,
    the numpy generator's state as JSON, loss history)."""
    import shutil

    import torch

    folder = latest_checkpoint(run)
    state = read_train_state(folder)
    meta = json.loads((folder / "checkpoint.json").read_text())
    save_checkpoint(run / "model", load_file(folder / "weights.safetensors"), kind="syncnet", version=1, meta={k: v for k, v in meta.items() if k not in ("kind", "version", "weights_bytes")})
    old_state = {"optimizer": state.optimizer, "step": state.step, "rng": json.dumps(state.rng["generators"]["sampling"]), "history": state.extra["history"]}
    torch.save(old_state, run / "train_state.pt")
    shutil.rmtree(run / "checkpoints")
    (run / "latest.json").unlink()


def test_killed_run_and_old_layout_run_resume_to_the_uninterrupted_weights(clips, tmp_path, monkeypatch):
    import lipsync.train as training

    config = SyncNetTrainConfig(model=TINY, steps=6, batch_size=4, max_offset=3, negatives=2, checkpoint_every=2)
    train_expert(clips, tmp_path / "straight", config, device="cpu", progress=False)
    real_step = training._ExpertJob.train_step

    def killed_at_step_3(job, step):
        if step == 3:
            raise KeyboardInterrupt("killed")
        return real_step(job, step)

    monkeypatch.setattr(training._ExpertJob, "train_step", killed_at_step_3)
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train_expert(clips, killed, config, device="cpu", progress=False)
    monkeypatch.undo()
    assert latest_checkpoint(killed).name == "step_00000002"
    _as_old_layout(killed)
    assert expert_folder(killed) == killed / "model" and load_expert(killed) is not None  # still scores
    with pytest.raises(CheckpointError, match=f"python -m checkpoints.convert {killed}"):
        train_expert(clips, killed, config, device="cpu", progress=False)
    assert convert_run(killed)["step"] == 2
    assert not (killed / "model").exists() and not (killed / "train_state.pt").exists() and (killed / "latest.json").is_file()
    summary = train_expert(clips, killed, config, device="cpu", progress=False)
    assert [h["step"] for h in summary["history"]] == [2, 4, 6]
    a = load_file(latest_checkpoint(tmp_path / "straight") / "weights.safetensors")
    b = load_file(latest_checkpoint(killed) / "weights.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name].numpy(), b[name].numpy()), name


def test_train_command_and_clip_without_audio(clips, tmp_path):
    from minerf_dub.cli import lipsync as cli

    mute = synthetic_clip(tmp_path / "mute", with_audio=False)
    runner = CliRunner()
    bad = runner.invoke(cli, ["train", str(mute), "-o", str(tmp_path / "run0")])
    assert bad.exit_code == 2 and "no audio" in bad.output
    args = ["train", *map(str, clips), "-o", str(tmp_path / "run"), "--steps", "2", "--batch-size", "2", "--width", "0.125",
            "--embed-dim", "16", "--lip-downsample", "4", "--lip-rows", "0", "224", "--max-offset", "3", "--negatives", "2", "--min-gap", "2", "--json"]
    ok = runner.invoke(cli, args)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["steps"] == 2
    assert (latest_checkpoint(tmp_path / "run") / "weights.safetensors").is_file()
