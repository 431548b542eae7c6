"""minerf.eval.timing: one warm-up call, then the mean seconds per call over the repeats."""

from __future__ import annotations

import torch

from minerf.eval import timing


def test_timed_warms_up_once_then_averages_the_repeats(monkeypatch):
    clock = iter([10.0, 16.0])  # start, end: 6 s for 3 repeats
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    calls = []
    assert timing.timed(lambda: calls.append(1), torch.device("cpu"), 3) == 2.0
    assert len(calls) == 4


def test_device_name_of_the_cpu_counts_its_threads(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    assert timing.device_name(torch.device("cpu")) == "cpu (3 threads)"
