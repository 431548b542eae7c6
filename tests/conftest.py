"""Shared test fixtures.

Real media live in ``../shared/data`` beside the project (never copied into it); tests that
need them skip with a reason when that folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MINERF_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """Path inside ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test media not found at {path} (../shared/data is absent on this machine)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty MINERF_CACHE so no test sees a user's weights."""
    monkeypatch.setenv("MINERF_CACHE", str(tmp_path_factory.mktemp("cache")))
