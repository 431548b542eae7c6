"""Shared test fixtures.

Real media live in ``../shared/data`` beside the project (never copied into it); tests that
need them skip with a reason when that folder is absent.

The test run checks the tensor shapes written in the signatures of the model and the renderer
(jaxtyping + beartype): the import hook below is installed before any test imports ``minerf``,
so a shape or dtype error in a test fails it. Production runs never install it and pay nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jaxtyping
import pytest

CHECKED_PACKAGES = ("minerf.model", "minerf.render")
_HOOK_MARK = "_minerf_shape_hook_installed"  # this file may be imported twice: as pytest's conftest and as tests.conftest
if not getattr(jaxtyping, _HOOK_MARK, False):
    _already = [name for name in sys.modules if name.startswith(CHECKED_PACKAGES)]
    if _already:  # the hook only acts on modules imported after it
        raise RuntimeError(f"{_already} imported before tests/conftest.py; their shapes would go unchecked")
    jaxtyping.install_import_hook(list(CHECKED_PACKAGES), "beartype.beartype")
    setattr(jaxtyping, _HOOK_MARK, True)

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


@pytest.fixture(scope="session")
def demo_video(tmp_path_factory) -> Path:
    """The generated talking-face demo video (4 s, 25 fps, 384 px, synthetic speech)."""
    from minerf.demo_media import make_demo_video

    return make_demo_video(tmp_path_factory.mktemp("demo") / "demo.mp4")


@pytest.fixture(scope="session")
def demo_clip(tmp_path_factory, demo_video) -> Path:
    """The demo video prepared at 128 px."""
    from minerf.prepare.pipeline import PrepareOptions, prepare

    out = tmp_path_factory.mktemp("demo_clip") / "demo"
    prepare(demo_video, out, PrepareOptions(resolution=128), progress=False)
    return out


@pytest.fixture(scope="session")
def prepared_shared_clips(tmp_path_factory) -> dict[str, Path]:
    """Every video of ../shared/data/videos prepared once per test run at 128 px.

    Returns {video stem: clip folder}. Skips when the real media are absent.
    """
    from minerf.prepare.pipeline import PrepareOptions, prepare

    folder = SHARED_DATA / "videos"
    if not folder.is_dir():
        pytest.skip(f"real test media not found at {folder} (../shared/data is absent on this machine)")
    root = tmp_path_factory.mktemp("shared_clips")
    clips = {}
    for video in sorted(folder.iterdir()):
        if video.suffix.lower() in {".mp4", ".mpg", ".avi", ".mov"}:
            clips[video.stem] = root / video.stem
            prepare(video, clips[video.stem], PrepareOptions(resolution=128), progress=False)
    return clips
