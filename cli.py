"""Thin entry point for running the toolkit from a source checkout: ``python cli.py ...``.

The installed console scripts (``minerf``, ``minerf-dub``, ``audio2exp``, ``lipsync``) point
into :mod:`minerf_dub.cli`; this file is not installed.
"""

from minerf_dub.cli import audio2exp, lipsync, minerf, minerf_dub

__all__ = ["minerf", "minerf_dub", "audio2exp", "lipsync"]

if __name__ == "__main__":  # pragma: no cover
    minerf()
