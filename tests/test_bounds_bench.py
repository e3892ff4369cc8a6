"""bench/bounds_bench.py --reported: the per-level ratios and the summary, on hand-made intervals.

bench/ is not a package: the script is imported from its path.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from nsvd_cli.bounds import LevelBounds



@pytest.fixture(scope="module")
def bb(bench_script):
    return bench_script("bounds_bench")


def evaluation(theta, lower, upper):
    nan = np.full(len(theta), np.nan)
    b = LevelBounds(lower=np.array(lower), upper=np.array(upper), weinstein_lower=nan, weinstein_upper=nan,
                    kato_temple_lower=nan, kato_temple_upper=nan, cluster=np.zeros(len(theta), int),
                    kinds=["k"] * len(theta), rule_error=np.full(len(theta), 1e-5))
    return SimpleNamespace(bounds=b, ritz_energies=np.array(theta))


def test_rows_and_summary_by_hand(bb):
    # errors 0.1, 0.2, 0.01, 0 (level 4 has no interval); level 2's interval [2.1, 2.3] misses 2.0
    ev = evaluation([1.1, 2.2, 4.01, 5.0], [0.9, 2.1, 3.5, np.nan], [1.2, 2.3, 4.1, np.nan])
    rows = bb.reported_rows(ev, np.array([1.0, 2.0, 4.0, 5.0]))
    assert [r["inside"] for r in rows[:3]] == [1.0, 0.0, 1.0] and np.isnan(rows[3]["inside"])
    np.testing.assert_allclose([r["width"] for r in rows[:3]], [3.0, 1.0, 60.0])  # 0.3/0.1, 0.2/0.2, 0.6/0.01
    np.testing.assert_allclose([r["low"] for r in rows[:3]], [2.0, 0.5, 51.0])    # 0.2/0.1, 0.1/0.2, 0.51/0.01
    assert np.isnan(rows[0]["q"]) and rows[0]["f"] == 1e-5  # no refined-rule estimate given
    s = bb.reported_summary(rows)
    assert (s["levels"], s["bounded"], s["contained"], s["target"]) == (4, 3, 2, 2)
    assert s["max"] == pytest.approx(60.0) and s["median"] == pytest.approx(3.0)
    line = bb.summary_line("f.h5", s)
    assert "3/4 levels with an interval, 2/3 contain" in line and "2/3 with width/error ≤ 10" in line


def test_the_shared_calibration_line(bench_script):
    # bounds_bench prints bench/_calibration.py's figure (it had its own float64 512² measure)
    assert not hasattr(bench_script("bounds_bench"), "matmul_gflops")
    import torch

    line = bench_script("_calibration").calibration_line(repeats=1)  # threads=None: torch's setting unchanged
    gflops = float(line.split()[1])
    assert line.startswith("calibration: ") and gflops > 0
    assert f"(float32 1024² matmul, {torch.get_num_threads()} thread(s);" in line
