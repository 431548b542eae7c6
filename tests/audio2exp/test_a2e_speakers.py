"""Speakers read from clip names, and the leave-one-speaker-out split."""

from __future__ import annotations

import pytest

from minerf_base.errors import InputError
from audio2exp.speakers import leave_one_speaker_out, speaker_groups, speaker_of

NAMES = [
    "grid_bbaf2n", "grid_brbk7n", "obama_address_a_47s_256px", "obama_address_b_30s_256px_30fps",
    "obama_address_c_20s_256px_30fps", "obama_seated_34s_1280x720_30fps", "lecturer_man_a_25s_256px_30fps",
    "lecturer_man_b_27s_256px_30fps", "talk_woman_c_7s_256px_30fps", "mead_M003_level_1_disgusted_015",
    "mead_M003_level_1_happy_024", "mead_W015_level_1_neutral_030", "news_anchor_german_20s_512px", "lieu_address_60s_256px",
]


def test_clips_of_one_person_are_one_speaker():
    groups = speaker_groups(NAMES)
    assert groups["obama_address"] == NAMES[2:6]
    assert groups["lecturer_man"] == NAMES[6:8]
    assert groups["mead_M003"] == NAMES[9:11]
    assert speaker_of("talk_woman_c_7s_256px_30fps") == "talk_woman"
    for own in ("grid_bbaf2n", "grid_brbk7n", "news_anchor_german_20s_512px", "lieu_address_60s_256px"):
        assert speaker_of(own) == own
    assert speaker_of("grid_bbaf2n", {"grid_bbaf2n": "x"}) == "x"
    assert len(groups) == 9


@pytest.mark.parametrize("max_folds", [None, 3])
def test_every_clip_is_held_out_once_and_no_speaker_is_on_both_sides(max_folds):
    folds = leave_one_speaker_out(NAMES, max_folds=max_folds)
    assert len(folds) == (9 if max_folds is None else 3)
    held = [n for _, h in folds for n in h]
    assert sorted(held) == sorted(NAMES)
    for train, test in folds:
        assert set(train) | set(test) == set(NAMES)
        assert not {speaker_of(n) for n in train} & {speaker_of(n) for n in test}


def test_one_speaker_cannot_be_split():
    with pytest.raises(InputError, match="at least two speakers"):
        leave_one_speaker_out(["obama_address_a", "obama_address_b"])
