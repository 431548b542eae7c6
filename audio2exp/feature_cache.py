"""Per-clip audio features cached on disk, keyed by the content of the audio and the front end.

Training and evaluating on tens of clips with the Whisper encoder would otherwise encode the
same audio again for every training of a cross-validation. The key is the SHA-256 of the
16 kHz samples together with the extractor's :attr:`cache_key` (kind, settings and, for an
encoder, its model file); an extractor without a ``cache_key`` (a stand-in encoder, a
transformers encoder) is never cached. Entries are ``.npz`` files (no pickle) in
``cache_dir()/audio2exp-features``, written atomically; ``MINERF_FEATURE_CACHE=0`` turns the
cache off.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from checkpoints.cache import cache_dir
from minerf_base.atomic import atomic_write_bytes

FeatureTriple = tuple[np.ndarray, np.ndarray, float]


def cache_key(samples: np.ndarray, extractor: Any) -> str | None:
    """The entry name of ``samples`` through ``extractor``; None when it cannot be cached."""
    identity = getattr(extractor, "cache_key", None)
    if identity is None or os.environ.get("MINERF_FEATURE_CACHE", "1") == "0":
        return None
    digest = hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes())
    digest.update(json.dumps(identity, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


def cache_folder() -> Path:
    return cache_dir() / "audio2exp-features"


def cached(samples: np.ndarray, extractor: Any, compute: Callable[[], FeatureTriple]) -> FeatureTriple:
    """``compute()`` = (features (T, F), frame_db (T,), level), read from the cache when an
    entry for these samples and this extractor exists, else computed and stored."""
    key = cache_key(samples, extractor)
    if key is None:
        features, frame_db, level = compute()
        return features, frame_db, float(level)
    path = cache_folder() / f"{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                return npz["features"], npz["frame_db"], float(npz["level"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry is computed again and replaced
    features, frame_db, level = compute()
    buffer = io.BytesIO()
    np.savez(buffer, features=features, frame_db=frame_db, level=np.float64(level))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return features, frame_db, float(level)  # as a cache hit returns it (a float32 level would round differently)
