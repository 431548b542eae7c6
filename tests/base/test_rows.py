"""minerf_base.rows: per-frame rows collected into one array, block by block."""

from __future__ import annotations

import numpy as np
import pytest

from minerf_base.rows import collect_rows


@pytest.mark.parametrize("count", [0, 1, 4, 5, 9])
def test_rows_are_copied_in_order_across_block_edges(count):
    rows = [np.full((3, 2), k, np.float32) + np.arange(6, dtype=np.float32).reshape(3, 2) for k in range(count)]
    out = collect_rows(iter(rows), (3, 2), np.float32, block=4)
    assert out.shape == (count, 3, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.stack(rows) if rows else np.zeros((0, 3, 2)))


def test_a_reused_row_buffer_is_copied_not_referenced():
    """The rows may be views of one buffer the producer overwrites (as a tracker's output)."""
    buffer = np.zeros(2)

    def produce():
        for k in range(5):
            buffer[:] = k
            yield buffer

    np.testing.assert_array_equal(collect_rows(produce(), (2,), np.float64, block=2), np.repeat(np.arange(5.0), 2).reshape(5, 2))


def test_scalar_rows():
    np.testing.assert_array_equal(collect_rows((np.float64(k) / 2 for k in range(3)), (), np.float64), [0.0, 0.5, 1.0])
