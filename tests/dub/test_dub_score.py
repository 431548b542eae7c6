"""The dub's lip-sync score: the shipped own expert when no other weights exist (named, with
the warning that its numbers are not comparable), a note instead of a score when it is off."""

from __future__ import annotations

from checkpoints.shipped import SHIPPED
from minerf_dub.pipeline import DubOptions, score_output


def test_dub_scores_with_the_shipped_expert_and_names_it(demo_video):
    notes: list[str] = []
    score = score_output(demo_video, DubOptions(device="cpu"), notes)
    assert notes == []
    assert score["weights"].startswith(f"shipped-expert:{SHIPPED['lipsync']}:")
    assert f"{SHIPPED['lipsync']} (own expert, shipped" in score["weights_note"] and "not comparable" in score["weights_note"]
    assert score["lse_d"] > 0 and -15 <= score["offset"] <= 15


def test_dub_without_any_weights_notes_that_it_is_not_scored(demo_video, monkeypatch):
    monkeypatch.setattr("lipsync.weights.shipped_expert", lambda: None)  # an installation without it
    notes: list[str] = []
    assert score_output(demo_video, DubOptions(device="cpu"), notes) is None
    (note,) = notes
    assert note.startswith("lip sync not scored:") and "no SyncNet weights found" in note
