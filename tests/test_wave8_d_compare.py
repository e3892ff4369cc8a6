"""Wave 8 (d), item 4: ``nsvd compare`` with many results files never wraps a number; the peak
memory of a grid solve counts memory reused from an earlier solve's freed heap."""

import io
import shutil

import numpy as np
import pytest


def test_many_results_files_split_the_mode_table_instead_of_wrapping_numbers(short_run_file, tmp_path, monkeypatch):
    from rich.console import Console

    from nsvd_cli.cli import compare as cli_compare
    from nsvd_cli.compare import compare

    paths = []
    for i in range(8):
        paths.append(str(tmp_path / f"run-seed{i}.h5"))
        shutil.copy(short_run_file, paths[-1])
    comp = compare(paths)
    out = io.StringIO()
    monkeypatch.setattr(cli_compare, "console", Console(file=out, width=120, color_system=None))
    cli_compare.print_comparison(comp)
    text = out.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines if line[:1] in "┏┃┡│└") <= 120  # tables fit (the title line soft-wraps)
    assert sum(line.startswith("┏") for line in lines) >= 3  # the per-mode table in several parts, then the others
    m = comp.methods[0]
    for i in range(comp.n_modes):  # every energy and error is printed whole, 8 times (once per file)
        energy = f"{m.energies[i]:.6g}"
        error = f"{m.relative_errors[i]:.2e}"
        assert text.count(energy) >= 8 and text.count(error) >= 8, (energy, error)
    assert "…" not in "".join(line for line in lines if line.startswith("│"))  # no cell cut off


def test_peak_memory_counts_reused_heap():
    """Memory freed by an earlier computation and reused by torch's allocator (invisible to
    tracemalloc) used to read ~0: 100 MiB of 64 KiB heap chunks freed, then 800 × 64 KiB =
    50 MiB of torch tensors allocated inside the measurement."""
    import torch

    from nsvd_cli.baselines.memory import PeakMemory, release_free_memory

    if not release_free_memory():
        pytest.skip("no glibc malloc_trim")
    junk = [bytearray(64 * 1024) for _ in range(1600)]
    for b in junk:
        b[::4096] = b"x" * len(b[::4096])  # touch every page
    del junk
    with PeakMemory() as mem:
        tensors = [torch.ones(16 * 1024) for _ in range(800)]  # float32: 64 KiB each
    assert len(tensors) == 800 and mem.peak >= 0.8 * 800 * 64 * 1024


def test_lobpcg_peak_memory_grows_with_the_grid():
    """The first lobpcg call of a process no longer carries torch's initialisation: peak memory
    grows with N (1D Laplacian, 4 modes; the block vectors alone are 8 · N · 6 · 10 bytes)."""
    import scipy.sparse as sparse

    from nsvd_cli.baselines.eigen import solve_grid

    peaks = []
    for n in (200, 20000):
        h = sparse.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr") * n * n
        peaks.append(solve_grid(h, 4, "lobpcg", max_iter=30, tol=1e-1).peak_memory)
    assert peaks[0] < peaks[1]
    assert peaks[1] >= 0.5 * 8 * 20000 * 6 * 10
