"""The console scripts point into a package module; no top-level module named ``cli`` is installed."""

from __future__ import annotations

import configparser
import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _setup() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_console_scripts_point_into_the_package():
    lines = [line.strip() for line in _setup()["options.entry_points"]["console_scripts"].strip().splitlines()]
    scripts = dict(line.split(" = ") for line in lines)
    assert scripts == {name: f"minerf_dub.cli:{func}" for name, func in [("minerf", "minerf"), ("minerf-dub", "minerf_dub"), ("audio2exp", "audio2exp"), ("lipsync", "lipsync")]}
    module = importlib.import_module("minerf_dub.cli")
    for target in scripts.values():
        assert callable(getattr(module, target.split(":")[1]))


def test_no_top_level_cli_module_is_installed():
    assert "py_modules" not in _setup()["options"]
    packages = _setup()["options.packages.find"]["include"].split()
    assert "cli" not in packages and all(not p.startswith("cli") for p in packages)


def test_the_source_checkout_shim_runs():
    out = subprocess.run([sys.executable, "cli.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "prepare" in out.stdout and "train" in out.stdout
