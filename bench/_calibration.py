"""The calibration figure every bench script prints beside its timings.

Machines of the same kind differ in speed (1.6-2x seen), so timings are reported with the
GFLOP/s of a fixed float32 1024 x 1024 matmul on the same threads (a busy machine shows a low
figure here too). Scripts run as ``python bench/NAME.py`` import it as ``from _calibration
import matmul_gflops``.
"""

from __future__ import annotations

import time


def matmul_gflops(threads: int | None = None, repeats: int = 20) -> float:
    """GFLOP/s of ``repeats`` float32 (1024 x 1024) @ (1024 x 1024) products after one warm-up,
    with ``threads`` torch threads (default: leave torch's setting)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    a = torch.randn(1024, 1024)
    torch.mm(a, a)
    t = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, a)
    return repeats * 2 * 1024**3 / (time.perf_counter() - t) / 1e9
