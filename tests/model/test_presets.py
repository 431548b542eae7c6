"""Preset and ablation names are checked in one place (minerf.model.presets.check_names)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from minerf.model.presets import ABLATIONS, PRESETS, get_preset, with_ablation
from minerf.nerf_commands import IDENTITY_INIT_NAMES, PRESET_NAMES
from minerf_base.errors import InputError


def test_unknown_names_are_input_errors_that_list_the_choices():
    with pytest.raises(InputError, match="unknown preset 'huge'") as info:
        get_preset("huge")
    assert "fast, fast-hash, paper, tiny" in str(info.value)
    with pytest.raises(InputError, match="unknown ablation 'Z9'") as info:
        with_ablation(get_preset("tiny"), "Z9")
    assert "A1" in info.value.fix and "M-no-latent" in info.value.fix
    assert get_preset("tiny", "H").interaction.kind == "H"


def test_cli_choices_are_the_registry_and_a_bad_ablation_stops_before_loading_clips(tmp_path):
    from minerf_dub.cli import minerf

    assert sorted(PRESET_NAMES) == sorted(PRESETS)
    result = CliRunner().invoke(minerf, ["train", str(tmp_path / "no_such_clip"), "-o", str(tmp_path / "run"), "--ablation", "Z9", "-q"])
    assert result.exit_code == 2
    assert "unknown ablation 'Z9'" in result.output and "no_such_clip" not in result.output
    assert set(ABLATIONS) >= {"M", "H", "baseline"}


def test_the_command_line_offers_every_identity_start():
    from minerf.train.personalize import IDENTITY_INITS

    assert IDENTITY_INIT_NAMES == IDENTITY_INITS
