"""Who speaks in a clip, and the leave-one-speaker-out split built on it.

Clips of one person are one group: a network evaluated on a speaker must not have heard
that speaker in training. The speaker of a clip is read from its name, following the naming
of the shared data (``../shared/data/README.md``):

* ``NAME_a_...``, ``NAME_b_...``, ``NAME_c_...`` are sessions of one person ``NAME``
  (``obama_address_a/b/c``, ``lecturer_man_a/b``, ``talk_woman_a/b/c``);
* ``mead_ID_...`` are takes of the MEAD actor ``mead_ID``;
* :data:`SAME_PERSON` lists further clips of a person the names do not tell
  (``obama_seated`` is the man of ``obama_address``);
* any other clip is its own speaker.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from minerf_base.errors import InputError

SAME_PERSON = {"obama_seated": "obama_address"}
"""Name prefix -> speaker, for clips of one person whose names do not share a stem."""
_SESSION = re.compile(r"^(?P<speaker>.+?)_[abc](?:_|$)")
_MEAD = re.compile(r"^(?P<speaker>mead_[A-Za-z]\d+)_")


def speaker_of(clip_name: str, overrides: Mapping[str, str] | None = None) -> str:
    """The speaker (group) of a clip named ``clip_name``; ``overrides`` {clip name: speaker}
    come first."""
    if overrides and clip_name in overrides:
        return overrides[clip_name]
    for prefix, speaker in SAME_PERSON.items():
        if clip_name.startswith(prefix):
            return speaker
    for pattern in (_MEAD, _SESSION):
        match = pattern.match(clip_name)
        if match:
            return match.group("speaker")
    return clip_name


def speaker_groups(clip_names: Sequence[str], overrides: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """{speaker: [clip names]}, speakers in order of their first clip."""
    groups: dict[str, list[str]] = {}
    for name in clip_names:
        groups.setdefault(speaker_of(name, overrides), []).append(name)
    return groups


def leave_one_speaker_out(clip_names: Sequence[str], overrides: Mapping[str, str] | None = None, max_folds: int | None = None) -> list[tuple[list[str], list[str]]]:
    """(training clips, held-out clips) per fold; one fold per speaker, or with ``max_folds``
    the speakers dealt round-robin into that many folds (still no speaker on both sides)."""
    groups = list(speaker_groups(clip_names, overrides).values())
    if len(groups) < 2:
        raise InputError(None, f"leave-one-speaker-out needs clips of at least two speakers, got {len(groups)}", "pass clips of several people (clips named NAME_a_..., NAME_b_... are one person)")
    folds = len(groups) if max_folds is None else max(2, min(int(max_folds), len(groups)))
    held: list[list[str]] = [[] for _ in range(folds)]
    for i, group in enumerate(groups):
        held[i % folds].extend(group)
    return [([n for n in clip_names if n not in set(h)], h) for h in held]
