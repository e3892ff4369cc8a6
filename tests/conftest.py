import os

import pytest
import torch

# The tests run small tensors: one thread avoids oversubscription (a second busy process on
# a 2-core machine makes multi-threaded tiny ops 10-50x slower).
torch.set_num_threads(1)
# ... and the CLI commands run in-process keep it (their --threads default honours OMP_NUM_THREADS)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def generator():
    """A seeded torch.Generator (tests never touch the global seed)."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def oscillator_spec(tmp_path):
    """Factory ``(shift, modes, box=6.0) -> ProblemSpec``: a user's 1D spec file with only the
    required fields, ``V = x²`` (levels E = 1, 3, 5, ...), Gaussian sampling, box [-box, box]."""
    import textwrap

    from nsvd_cli.spec import load_spec

    def make(shift, modes, box=6.0):
        path = tmp_path / "osc.toml"
        path.write_text(textwrap.dedent(f"""\
            name = "osc"
            dimension = 1
            potential = "x0**2"
            shift = {shift}
            modes = {modes}
            [sampling]
            kind = "gaussian"
            std = 1.0
            [evaluation]
            box = [[{-box}, {box}]]
            """))
        return load_spec(path)
    return make


@pytest.fixture
def solve_table_text():
    """Function ``(ev, ref, shift=10.0) -> str``: the text of ``nsvd solve``'s table
    (``cli.solve.print_table``) for a 1D problem "osc" of scale 1, recorded 400 cells wide."""
    from types import SimpleNamespace

    from rich.console import Console

    from nsvd_cli.cli import solve as cli_solve

    def text(ev, ref, shift=10.0):
        spec = SimpleNamespace(name="osc", dimension=1, scale=1.0, shift=shift, evaluation=SimpleNamespace(samples=0))
        recorded, old = Console(record=True, width=400), cli_solve.console
        cli_solve.console = recorded
        try:
            cli_solve.print_table(spec, ev, ref)
        finally:
            cli_solve.console = old
        return recorded.export_text()
    return text


@pytest.fixture(scope="session")
def short_run_file(tmp_path_factory):
    """A results file from a short harmonic2d solve (3 modes: two whole shells, 100
    iterations, evaluations at 50 and 100) shared by the compare and plot tests."""
    from nsvd_cli.solve import solve
    from nsvd_cli.spec import load_spec

    spec = load_spec("harmonic2d", overrides={"training.iterations": 100, "training.eval_every": 50,
                                              "training.batch_size": 128, "model.hidden": [32, 32],
                                              "model.fourier_features": 16, "modes": 3})
    path = tmp_path_factory.mktemp("runs") / "h.h5"
    solve(spec, path)
    return path


@pytest.fixture(scope="session")
def bench_script():
    """``load(name)``: import ``bench/<name>.py`` from its path (bench/ is not a package)."""
    return _load_bench_script


def _load_bench_script(name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
