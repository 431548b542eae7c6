"""Names that ``identities_scaling.py`` and ``train_speed.py`` import from here; they live in
the package (:mod:`minerf.eval.timing`, :func:`minerf.synthetic.synthetic_clips`). Import
them from there; this file goes once no benchmark imports it."""

from pathlib import Path

from minerf.eval.timing import device_name, sync, timed
from minerf.synthetic import synthetic_clips

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ROOT", "device_name", "sync", "synthetic_clips", "timed"]
