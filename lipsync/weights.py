"""Finding and loading SyncNet weights: the public ``syncnet_v2.model`` or an own expert.

Lookup order: an explicit path (``--weights`` / ``weights=``), ``$MINERF_SYNCNET_WEIGHTS``,
then ``$MINERF_CACHE/syncnet_v2.model`` and ``$MINERF_CACHE/syncnet_expert`` (a folder), and
last the own expert that ships with the toolkit (``checkpoints/shipped/syncnet-talk14``, trained
by ``lipsync train`` on 14 rights-clear clips: 6 GRID videos and 8 public-domain addresses). Weights named explicitly (argument or environment
variable) that do not exist are a :class:`~minerf_base.errors.WeightsNotFoundError`; nothing
named and nothing found is a :class:`~minerf_base.errors.NoWeightsError`. A file is a plain
state dict read with ``torch.load(..., weights_only=True)`` (never unpickling code) or a
``.safetensors`` file; a folder is a checkpoint written by ``lipsync train``. Every loaded
model carries a ``weights_id`` naming the weights, which every score reports;
:func:`describe_weights` turns it into words, saying when the numbers are not comparable with
published LSE-D / LSE-C.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from checkpoints import (
    POINTER,
    RunFormat,
    check_state_dict,
    checkpoint_folder,
    find_weights,
    read_checkpoint,
)
from checkpoints.shipped import SHIPPED, SHIPPED_DIR
from lipsync.model import SyncNet, SyncNetConfig
from minerf_base.errors import NoWeightsError, WeightsError, WeightsNotFoundError

ENV_VAR = "MINERF_SYNCNET_WEIGHTS"
SHIPPED_KIND = "lipsync"
CACHE_NAMES = ("syncnet_v2.model", "syncnet_expert")
CHECKPOINT_KIND = "syncnet"
CHECKPOINT_VERSION = 1
RUN_FORMAT = RunFormat(kind=CHECKPOINT_KIND, version=CHECKPOINT_VERSION, readable=(CHECKPOINT_VERSION,), writer="lipsync train")
PUBLIC_URL = "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model"

MISSING_FIX = (
    f"get the public weights syncnet_v2.model ({PUBLIC_URL}, fetched by download_model.sh of "
    "github.com/joonson/syncnet_python) and pass --weights FILE, set "
    f"{ENV_VAR}=FILE or copy it to $MINERF_CACHE/syncnet_v2.model; or train an own expert with "
    "`lipsync train CLIP_DIR... -o RUN` and pass --weights RUN (its scores are not comparable "
    "with published LSE numbers)"
)
NOT_COMPARABLE = "own expert: LSE-D / LSE-C not comparable with published numbers from the public syncnet_v2"


@dataclass
class LoadedSyncNet:
    """A SyncNet in eval mode and the id of the weights it holds."""

    net: SyncNet
    weights_id: str
    path: Path


def shipped_expert() -> Path | None:
    """The own expert that ships with the toolkit, or None when this installation lacks it."""
    path = SHIPPED_DIR / SHIPPED[SHIPPED_KIND]
    return path if (path / "checkpoint.json").is_file() else None


def resolve_weights(weights: str | Path | None = None) -> Path:
    """The weights to use: ``weights`` if given, else the lookup order of the module doc.

    Raises :class:`WeightsNotFoundError` when the named weights (``weights``, or
    ``$MINERF_SYNCNET_WEIGHTS``) do not exist, :class:`NoWeightsError` when nothing is named
    and nothing is found; both say where to get weights.
    """
    path = find_weights(weights, ENV_VAR, CACHE_NAMES)
    if path is None:
        path = shipped_expert()
        if path is None:
            raise NoWeightsError(None, f"no SyncNet weights found (no --weights, no ${ENV_VAR}, nothing in the cache, no shipped expert in this installation)", MISSING_FIX)
    if not path.exists():
        named = "" if weights is not None else f" (named by ${ENV_VAR})"
        raise WeightsNotFoundError(path, f"SyncNet weights do not exist{named}", MISSING_FIX)
    return path


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:12]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise WeightsError(path, f"cannot read SyncNet weights ({exc})", MISSING_FIX) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        raise WeightsError(path, f"cannot read SyncNet weights as a plain state dict ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})", MISSING_FIX) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(path, "file holds no state dict of tensors", MISSING_FIX)
    return state


def load_public(path: Path) -> SyncNet:
    """A :class:`SyncNet` from a ``syncnet_v2.model``-layout state dict file."""
    state = {k: v for k, v in _read_state_dict(path).items() if not k.endswith("num_batches_tracked")}
    net = SyncNet(SyncNetConfig())
    own = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or wrong:
        problem = f"not SyncNet weights in the syncnet_v2.model layout (missing {missing[:3]}, unexpected {extra[:3]}, wrong shape {wrong[:3]})"
        raise WeightsError(path, problem, MISSING_FIX)
    net.load_state_dict(state, strict=False)
    return net


def load_expert(directory: Path) -> SyncNet:
    """A :class:`SyncNet` from a ``lipsync train`` run folder (its latest checkpoint) or a
    checkpoint folder."""
    loaded = read_checkpoint(expert_folder(Path(directory)), RUN_FORMAT)
    net = SyncNet(SyncNetConfig(**loaded.meta["config"]["model"]))
    check_state_dict(loaded.folder, net, loaded.tensors)
    net.load_state_dict(loaded.tensors)
    return net


def expert_folder(path: Path) -> Path:
    """The checkpoint folder of an expert: a run folder's latest step, ``RUN/model`` of a run
    written by an older version, or ``path`` itself (a checkpoint folder, e.g. the shipped one)."""
    if not (path / POINTER).is_file() and (path / "model" / "checkpoint.json").is_file():
        return path / "model"
    return checkpoint_folder(path, RUN_FORMAT)


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path, mtime: float, device: str) -> LoadedSyncNet:
    if path.is_dir():
        folder = expert_folder(path)
        net = load_expert(folder)
        source = "shipped-expert" if path.parent == SHIPPED_DIR.resolve() else "own-expert"
        weights_id = f"{source}:{path.name}:{_digest(folder / 'weights.safetensors')}"
    else:
        net = load_public(path)
        weights_id = f"syncnet_v2-layout:{path.name}:{_digest(path)}"
    net.to(device).eval()
    return LoadedSyncNet(net=net, weights_id=weights_id, path=path)


def describe_weights(weights_id: str) -> str:
    """Words for a ``weights_id``: which weights, and for own experts that their LSE numbers
    are not comparable with published ones."""
    source, name, digest = weights_id.split(":", 2) if weights_id.count(":") >= 2 else ("", weights_id, "")
    if source == "shipped-expert":
        return f"{name} (own expert, shipped; {digest}) - {NOT_COMPARABLE}"
    if source == "own-expert":
        return f"{name} (own expert; {digest}) - {NOT_COMPARABLE}"
    return weights_id


def load_syncnet(weights: str | Path | None = None, device: str | torch.device | None = None) -> LoadedSyncNet:
    """Find and load SyncNet weights (cached per file and device)."""
    path = resolve_weights(weights).resolve()
    device = str(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    stamp = expert_folder(path) / "checkpoint.json" if path.is_dir() else path
    mtime = stamp.stat().st_mtime if stamp.exists() else 0.0
    return _load_cached(path, mtime, device)
