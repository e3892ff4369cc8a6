"""The calibration figure every bench script prints beside its timings.

Machines of the same kind differ in speed (1.6-2x seen), so timings are reported with the
GFLOP/s of a fixed float32 1024 x 1024 matmul on the same threads (a busy machine shows a low
figure here too). This is the one calibration measure of bench/: figures quoted with another
measure (bounds_bench.py used the best of 5 float64 512² matmuls until 2026-11-30: on one thread,
back to back, 36.5 GFLOP/s against 77 here) are not comparable with it. Scripts run as
``python bench/NAME.py`` import it inside ``main`` as ``from _calibration import
calibration_line`` and print that line once, before their timings.
"""

from __future__ import annotations

import time


def matmul_gflops(threads: int | None = None, repeats: int = 20) -> float:
    """GFLOP/s of ``repeats`` float32 (1024 x 1024) @ (1024 x 1024) products after one warm-up,
    with ``threads`` torch threads (default: leave torch's setting; a number sets it for the
    whole process)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    a = torch.randn(1024, 1024)
    torch.mm(a, a)
    t = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, a)
    return repeats * 2 * 1024**3 / (time.perf_counter() - t) / 1e9


def calibration_line(threads: int | None = None, repeats: int = 20) -> str:
    """The line a bench script prints: ``calibration: 31.2 GFLOP/s (float32 1024² matmul, 1
    thread(s); bench/_calibration.py)``, measured by :func:`matmul_gflops` with ``threads``
    (default: torch's current setting, which the line names)."""
    import torch

    gflops = matmul_gflops(threads, repeats)
    return (f"calibration: {gflops:.1f} GFLOP/s (float32 1024² matmul, {torch.get_num_threads()} thread(s); "
            f"bench/_calibration.py)")
