"""Steps / seconds to a PSNR target and the joint-vs-separate rows of Fig. 4 (minerf.eval.scaling)."""

import pytest

from minerf.eval.scaling import first_reaching, scaling_row, summarize


def curve(*psnrs, every=25, sec_per_step=0.5):
    return [{"step": every * (k + 1), "train_seconds": every * (k + 1) * sec_per_step, "psnr": p} for k, p in enumerate(psnrs)]


def test_first_reaching_is_the_first_point_at_or_above_target():
    hist = curve(18.0, 21.0, 20.0, 23.0)
    assert first_reaching(hist, 20.0)["step"] == 50  # not the later 20.0, and >= counts
    assert first_reaching(hist, 21.0)["step"] == 50
    assert first_reaching(hist, 22.5)["step"] == 100
    assert first_reaching(hist, 23.5) is None
    assert first_reaching([], 10.0) is None


def test_summarize_reached_uses_steps_times_step_seconds():
    s = summarize(curve(18.0, 22.0, 23.0, sec_per_step=0.9), 22.0, step_seconds=0.2)
    assert s["reached"] and s["steps"] == 50 and s["psnr"] == 22.0
    assert s["wall_seconds"] == pytest.approx(45.0)
    assert s["estimated_seconds"] == pytest.approx(10.0)
    assert s["best_psnr"] == 23.0 and s["steps_run"] == 75


def test_summarize_not_reached_reports_best_psnr_and_no_time():
    s = summarize(curve(18.0, 19.5, 19.0), 20.0, step_seconds=0.2)
    assert not s["reached"]
    assert s["steps"] is None and s["wall_seconds"] is None and s["estimated_seconds"] is None
    assert s["best_psnr"] == 19.5 and s["steps_run"] == 75


def test_scaling_row_sums_singles_and_divides_by_joint():
    singles = [summarize(curve(19.0, 21.0), 20.0, 0.1), summarize(curve(21.0), 20.0, 0.1), summarize(curve(18.0, 19.0, 20.5), 20.0, 0.1)]
    joint = summarize(curve(17.0, 19.0, 20.0), 20.0, 0.2)
    row = scaling_row(3, joint, singles)
    assert row["separate_steps"] == 50 + 25 + 75
    assert row["joint_steps"] == 75
    assert row["ratio_steps"] == pytest.approx(2.0)
    assert row["separate_estimated_seconds"] == pytest.approx(15.0)
    assert row["ratio_estimated_seconds"] == pytest.approx(1.0)  # joint's steps cost twice as much here
    assert row["joint_reached"] and row["separate_reached"]


def test_scaling_row_gives_no_ratio_when_a_run_misses_the_target():
    reached = summarize(curve(21.0), 20.0, 0.1)
    missed = summarize(curve(19.0, 19.9), 20.0, 0.1)
    row = scaling_row(2, missed, [reached, reached])
    assert not row["joint_reached"] and row["joint_steps"] is None and row["joint_best_psnr"] == 19.9
    assert row["separate_steps"] == 50 and row["ratio_steps"] is None
    assert "ratio_steps_at_least" not in row  # nothing to bound when the joint run missed
    row = scaling_row(2, reached, [reached, missed])
    assert not row["separate_reached"] and row["separate_steps"] is None and row["ratio_estimated_seconds"] is None
    # the missed single ran 50 steps without reaching it: the singles need more than 25 + 50
    assert row["separate_steps_at_least"] == 75 and row["ratio_steps_at_least"] == pytest.approx(3.0)


def test_scaling_row_needs_one_single_run_per_identity():
    s = summarize(curve(21.0), 20.0, 0.1)
    with pytest.raises(ValueError, match="2 identities need 2"):
        scaling_row(2, s, [s])
