"""``nsvd solve --seeds 0,1,2``: one run and one results file per seed (``OUTPUT`` with
``-seedN`` before ``.h5``), every output checked before the first seed trains; with
``--resume`` (the command printed when such a run is interrupted) finished seeds are
skipped, the interrupted one continues and those not started train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .console import console, fail

__all__ = ["parse_seeds", "check_seed_outputs", "seed_output_path", "solve_seeds"]


def solve_seeds(seed_spec: Callable[[int], object], seeds: list[int], output, *, overwrite: bool, resume: bool,
                quiet: bool, dist) -> None:
    """Train every seed in turn (``seed_spec(seed)``: its spec), each into
    :func:`seed_output_path`; with ``resume``, a seed whose results file is complete is
    reported (``seed 0: r-seed0.h5 is complete, skipped``) and skipped.

    Raises
    ------
    SpecError, ResultsExistError, CheckpointExistsError
        From :func:`check_seed_outputs`, before any seed trains.
    """
    from .solve import _solve_one

    outputs = {s: seed_output_path(output, s) for s in seeds}
    states = _check_seeds_on_rank0(dist, list(outputs.values()), overwrite, resume)
    for run_seed, run_output in outputs.items():
        if states[run_output] == "complete":
            _check_finished_seed(seed_spec(run_seed), run_output)
    for run_seed, run_output in outputs.items():
        if states[run_output] == "complete":  # --resume: finished before the interruption
            if dist.is_main:
                console.print(f"seed {run_seed}: {run_output.name} is complete, skipped", highlight=False)
            continue
        _solve_one(seed_spec(run_seed), run_output, overwrite=overwrite, resume=states[run_output] == "resume",
                   quiet=quiet, dist=dist, command_output=output)


def _check_finished_seed(spec, path: Path) -> None:
    """A finished seed's results file, which ``--resume`` skips, must be of this problem and
    these settings, as a checkpoint being resumed must (a new-user trial: morse1d ``--seeds 0,1
    --resume`` skipped two poschl_teller1d files, exit 0).

    Raises
    ------
    SpecError
        Naming the first differing field (:func:`nsvd_cli.solve.check_resumable`).
    """
    from ..defaults import derive_defaults
    from ..files.results import load
    from ..solve import check_resumable
    from ..spec import spec_to_dict

    res = load(path)
    check_resumable({"meta": {"spec": spec_to_dict(res.spec)}, "iteration": int(res.run.get("iterations", 0))},
                    derive_defaults(spec)[0], path, what="the finished seed's results file being skipped")


def parse_seeds(seeds: str | None, seed: int | None) -> list[int] | None:
    """``--seeds 0,1,2`` as a list of distinct non-negative integers (None without --seeds).

    Refused (one ``--seeds:`` line, exit 2): together with ``--seed``, an empty item
    (``0,,1``, a trailing comma), a non-integer, a negative or a repeated seed.
    """
    if seeds is None:
        return None
    if seed is not None:
        fail("--seeds and --seed exclude each other: give the seeds with --seeds alone")
    items = [v.strip() for v in seeds.split(",")]
    if any(not v for v in items):
        fail(f"--seeds: empty item in {seeds!r}; expected comma-separated integers such as 0,1,2")
    try:
        values = [int(v) for v in items]
    except ValueError:
        fail(f"--seeds: expected comma-separated integers such as 0,1,2, got {seeds!r}")
    negative = [v for v in values if v < 0]
    if negative:
        fail(f"--seeds: seeds must be non-negative, got {', '.join(map(str, negative))} in {seeds!r}")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        fail(f"--seeds: seed {', '.join(map(str, repeated))} given more than once in {seeds!r}")
    return values


def _check_seeds_on_rank0(dist, outputs, overwrite: bool, resume: bool) -> dict:
    """:func:`check_seed_outputs` on rank 0; its answer on every rank (the others learn whether
    it passed)."""
    from ..distributed import broadcast_object
    from ..solve import rank0_check

    with rank0_check(dist, lambda: check_seed_outputs(outputs, overwrite=overwrite, resume=resume)) as states:
        return broadcast_object(states, dist)


def check_seed_outputs(outputs, *, overwrite: bool, resume: bool) -> dict:
    """Refuse, before any seed trains, what :func:`nsvd_cli.solve.solve` would refuse for one
    of the seeds' outputs: a folder, an existing results file (without ``overwrite``; with
    ``resume`` only beside a checkpoint), an interrupted run's checkpoint (without ``resume``
    or ``overwrite``).

    With ``resume`` (the command printed when a ``--seeds`` run is interrupted) each seed is
    where the interruption left it: ``"complete"`` (its results file exists and no
    checkpoint: written atomically, so finished; skipped), ``"resume"`` (a checkpoint:
    continued) or ``"new"`` (neither: never started, trained from the beginning); without
    ``resume`` every seed is ``"new"``.

    Returns
    -------
    dict
        ``{output path: "complete" | "resume" | "new"}``, in seed order.

    Raises
    ------
    SpecError, ResultsExistError, CheckpointExistsError
        For the first offending output, in seed order; with ``resume``, SpecError (no
        checkpoint to resume from) when no seed has a checkpoint or a results file (not the
        ``-o`` of the interrupted run).
    """
    from ..errors import CheckpointExistsError, ResultsExistError, SpecError
    from ..solve import checkpoint_path
    from .solve import _no_checkpoint

    states = {}
    for out in map(Path, outputs):
        if out.is_dir():
            raise SpecError("output", f"{out} is a folder; give a file name, e.g. -o {out / 'run.h5'}")
        ckpt = checkpoint_path(out)
        if resume and out.exists() and not ckpt.exists():
            states[out] = "complete"
            continue
        if out.exists() and not overwrite:
            raise ResultsExistError(out)
        if ckpt.exists() and not resume and not overwrite:
            raise CheckpointExistsError(ckpt)
        states[out] = "resume" if resume and ckpt.exists() else "new"
    if resume and states and all(v == "new" for v in states.values()):
        raise _no_checkpoint(next(iter(states)))
    return states


def seed_output_path(output, seed: int) -> Path:
    """The results file of one seed of ``--seeds``: ``runs/h.h5`` -> ``runs/h-seed0.h5``."""
    output = Path(output)
    return output.with_name(f"{output.stem}-seed{seed}{output.suffix or '.h5'}")
