"""Where downloaded or converted model files live: an explicit path, an environment variable,
or the cache folder ``$MINERF_CACHE`` (default ``~/.cache/minerf``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The toolkit's cache folder (created on first use)."""
    root = Path(os.environ.get("MINERF_CACHE", Path.home() / ".cache" / "minerf"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def find_weights(explicit: str | Path | None, env_var: str, cache_names: tuple[str, ...]) -> Path | None:
    """Return the first existing weights file: ``explicit``, then ``$env_var``, then the cache.

    Returns ``None`` when none exists; callers turn that into an error that says where to get
    the file. An explicit path that does not exist is returned as is, so the caller can say
    that exactly that file is missing.
    """
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(env_var)
    if env:
        return Path(env)
    for name in cache_names:
        candidate = cache_dir() / name
        if candidate.exists():
            return candidate
    return None
