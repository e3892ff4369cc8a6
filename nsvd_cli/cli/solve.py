"""``nsvd solve``: train NeuralSVD eigenfunctions for a problem and write a results file."""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import naming_spec_file
from ..spec import choices
from ..spec.choices import choice_enum
from .console import console, error_boundary, fail, fold, option_for, stderr_console
from .seeds import check_seed_outputs, parse_seeds, seed_output_path, solve_seeds  # noqa: F401 - re-exported
from .ritz_columns import (  # noqa: F401 - ritz_rows and WIDE_INTERVALS_NOTE re-exported
    RITZ_NOTE, WIDE_INTERVALS_NOTE, bounds_note, extension_levels, extension_note, interval_cell,
    interval_spacing_note, ritz_mean_relative_error, ritz_rows)


Nesting = choice_enum("Nesting", choices.Nesting)
Method = choice_enum("Method", choices.Method)
Laplacian = choice_enum("Laplacian", choices.LaplacianKind)
Optimizer = choice_enum("Optimizer", choices.Optimizer)
Architecture = choice_enum("Architecture", choices.Architecture)
Until = choice_enum("Until", choices.Until)


_RUN = "Run"
_TRAIN = "Training (override the spec)"


def solve_command(
    problem: Annotated[str, typer.Argument(help="Built-in problem name (harmonic2d, hydrogen2d, ...), a .toml spec file, "
                                                "or a results file (.h5) of nsvd solve: its stored spec, solved again.")],
    modes: Annotated[Optional[int], typer.Option(help="Number of eigenpairs L.", rich_help_panel=_TRAIN)] = None,
    dim: Annotated[Optional[int], typer.Option("--dim", help="Dimension D (families such as 'harmonic'): per-axis "
                                               "fields are repeated, D >= 4 evaluates by Monte Carlo.",
                                               rich_help_panel=_TRAIN)] = None,
    iters: Annotated[Optional[int], typer.Option("--iters", help="Training iterations.", rich_help_panel=_TRAIN)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Samples per iteration (even).", rich_help_panel=_TRAIN)] = None,
    method: Annotated[Optional[Method], typer.Option(help="Training objective: nestedlora (NeuralSVD), lora (unnested, "
                                                     "then Rayleigh–Ritz), neuralef or spin (the paper's baselines).",
                                                     rich_help_panel=_TRAIN)] = None,
    nesting: Annotated[Optional[Nesting], typer.Option(help="Nesting (sequential for disjoint nets, joint for a shared one).", rich_help_panel=_TRAIN)] = None,
    architecture: Annotated[Optional[Architecture], typer.Option(help="Disjoint MLPs or one shared MLP.", rich_help_panel=_TRAIN)] = None,
    laplacian: Annotated[Optional[Laplacian], typer.Option(help="How the Laplacian is computed: fd (central finite differences), exact (nested "
                                                           "autodiff, one axis at a time) or forward (the forward Laplacian, exact, one "
                                                           "pass; the derived default for user specs). docs/spec.md.", rich_help_panel=_TRAIN)] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option(help="Optimizer.", rich_help_panel=_TRAIN)] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate.", rich_help_panel=_TRAIN)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (model init and samples).", rich_help_panel=_TRAIN)] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Several seeds, e.g. 0,1,2: one run and one results file per seed "
                                                 "(OUTPUT with -seedN before .h5).", rich_help_panel=_TRAIN)] = None,
    until: Annotated[Optional[Until], typer.Option(help="Stop after --iters, or once every mode passes the verdict "
                                                   "(converged; --iters is then the cap).", rich_help_panel=_TRAIN)] = None,
    tolerance: Annotated[Optional[float], typer.Option(help="Verdict tolerance: largest |λ_R − λ_N|/λ_R of a converged "
                                                       "mode (overlap, order and drift thresholds scale with it).",
                                                       rich_help_panel=_TRAIN)] = None,
    preset: Annotated[Optional[str], typer.Option(help="Settings preset of the spec, e.g. 'paper' (App. E).", rich_help_panel=_TRAIN)] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda[:N].", rich_help_panel=_RUN)] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Results file (HDF5). Default: runs/PROBLEM-TIME.h5", rich_help_panel=_RUN)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing results file.", rich_help_panel=_RUN)] = False,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from OUTPUT.ckpt (--seeds: each seed's; "
                                         "finished seeds are skipped).", rich_help_panel=_RUN)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=_RUN)] = False,
    nproc: Annotated[Optional[int], typer.Option(help="Data-parallel processes on this machine (launches torchrun; "
                                                 "--batch-size stays the global batch). docs/scaling.md.",
                                                 rich_help_panel=_RUN)] = None,
    threads: Annotated[Optional[int], typer.Option(help="Threads per process (torch, OpenMP, BLAS). Default: "
                                                   "OMP_NUM_THREADS if set, else the free cores (cores minus load) "
                                                   "divided among the processes.", rich_help_panel=_RUN)] = None,
):
    """Learn the lowest eigenpairs of a problem; print a table and write a results file.

    The spec gives potential, dimension, shift, scale, sampling, model and training
    defaults; the options below override them for this run.
    """
    from .parallel import apply_threads

    with error_boundary():
        workers = _processes(nproc)
        n_threads = apply_threads("solve", threads, workers)  # before torch, numpy and scipy start their pools
        from ..files.hdf5 import check_problem_source
        from ..solve import default_output_path
        from ..spec import load_spec

        check_problem_source(problem)  # a checkpoint, an empty .h5: not read as a TOML spec

        overrides = {
            "modes": modes, "training.iterations": iters, "training.batch_size": batch_size,
            "training.method": method.value if method else None,
            "training.nesting": nesting.value if nesting else None,
            "model.architecture": architecture.value if architecture else None,
            "training.laplacian": laplacian.value if laplacian else None,
            "training.optimizer": optimizer.value if optimizer else None,
            "training.learning_rate": lr, "training.seed": seed, "training.device": device,
            "training.until": until.value if until else None, "training.tolerance": tolerance,
        }
        seed_list = parse_seeds(seeds, seed)
        from .console import refuse_output_over_input  # -o the spec file itself: it would be lost
        refuse_output_over_input(output, [problem], "-o/--output", "the results file")
        spec = load_spec(problem, preset=preset, overrides=overrides, dimension=dim, family_only=True)
        if resume and output is None:
            raise _no_checkpoint(output)
        if workers > 1 and not _under_torchrun():
            _launch(spec, workers, n_threads)
        output = output if output is not None else default_output_path(spec)
        with _process_group(spec) as dist, \
                naming_spec_file(problem, settable=lambda field: option_for(field) is not None):
            if not seed_list:
                _solve_one(spec, output, overwrite=overwrite, resume=resume, quiet=quiet, dist=dist)
                return

            def seed_spec(run_seed: int):
                return load_spec(problem, preset=preset, overrides={**overrides, "training.seed": run_seed},
                                 dimension=dim, family_only=True)
            solve_seeds(seed_spec, seed_list, output, overwrite=overwrite, resume=resume, quiet=quiet, dist=dist)


def _under_torchrun() -> bool:
    from ..distributed import launched_by_torchrun

    return launched_by_torchrun()


def _processes(nproc: int | None) -> int:
    """Processes of this run: torchrun's ``LOCAL_WORLD_SIZE`` under torchrun (``--nproc``, if
    given, must agree with ``WORLD_SIZE``), else ``--nproc`` (default 1)."""
    from ..errors import ParameterError

    if nproc is not None and nproc < 1:
        raise ParameterError(f"--nproc: must be >= 1, got {nproc}", parameter="nproc")
    if _under_torchrun():
        world = int(os.environ["WORLD_SIZE"])
        if nproc is not None and nproc != world:
            raise ParameterError(f"--nproc {nproc} differs from torchrun's {world} processes: give the count to torchrun "
                                 "alone", parameter="nproc")
        return int(os.environ.get("LOCAL_WORLD_SIZE", world))
    return nproc or 1


def _launch(spec, workers: int, n_threads: int) -> None:
    """``--nproc N`` without torchrun: check the batch split, then run the same command under
    torchrun on this machine and exit with its code."""
    from ..distributed import DistContext
    from .parallel import launch_torchrun

    tr = spec.training
    share = DistContext(world_size=workers)
    share.local_share(tr.batch_size, "training.batch_size")
    if tr.gram_batch:
        share.local_share(tr.gram_batch, "training.gram_batch")
    from ..errors import SpecError

    if getattr(tr, "method", "nestedlora") == "spin":
        raise SpecError("training.method", "spin cannot train with more than one process (its moving average of "
                                           "the Jacobian term is per process); use nestedlora, lora or neuralef")
    import torch

    gpus = torch.cuda.device_count()
    if tr.device.startswith("cuda") and workers > gpus:
        raise SpecError("training.device", f"{workers} processes need {workers} GPUs (one a process), {gpus} "
                                           "visible; use fewer processes or --device cpu")
    if tr.device == "auto" and 0 < gpus < workers:  # the ranks resolve auto the same way (rank_device)
        stderr_console.print(f"note: device auto: {workers} processes and {gpus} GPU(s) visible: every process trains "
                             "on the CPU (gloo); --device cuda with at most as many processes as GPUs uses them",
                             highlight=False)
    raise typer.Exit(code=launch_torchrun(workers, n_threads))


@contextlib.contextmanager
def _process_group(spec):
    """Join torchrun's process group (if launched by it) for the run; ranks other than 0 print
    nothing."""
    from .. import distributed

    if not _under_torchrun():
        yield distributed.SINGLE
        return
    local = int(os.environ.get("LOCAL_RANK", "0"))
    ctx = distributed.from_env(distributed.rank_device(spec.training.device, local))
    if not ctx.is_main:
        console.quiet = stderr_console.quiet = True
    try:
        with distributed.StopSignals():  # a signal only sets a flag: training stops all ranks together
            yield ctx
    finally:
        distributed.shutdown()


def _solve_one(spec, output, *, overwrite: bool, resume: bool, quiet: bool, dist=None, command_output=None) -> None:
    """One run of ``nsvd solve``: train, print the table and summary (inside the error boundary;
    the table on rank 0 only). ``command_output``: the ``-o`` of the command that resumes it
    when interrupted (the ``--seeds`` base name; default ``output``)."""
    from ..distributed import SINGLE
    from ..solve import checkpoint_path, rank0_check, solve

    dist = dist or SINGLE

    def check():
        if resume and not checkpoint_path(output).exists():
            raise _no_checkpoint(output)
    with rank0_check(dist, check):
        pass
    reporter = _ProgressReporter(quiet=quiet or not dist.is_main)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        # shown as it happens (e.g. a cut multiplet, before training), as one yellow line
        stderr_console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.showwarning = show_warning
        with _interrupts(output, command_output), reporter:
            result = solve(spec, output, overwrite=overwrite, resume=resume, callback=reporter,
                           run_info={"command": os.environ.get("NSVD_COMMAND") or shlex.join(["nsvd", *sys.argv[1:]])},
                           dist=dist)
    if not dist.is_main:
        return
    print_table(result.problem.spec, result.evaluation, result.reference, result.problem.reference_error)
    print_summary(result)


def operator_text(scale: float, shift: float) -> str:
    """``T = s·(−H + c)`` as printed: ``"0.5·(−H + 3)"``, ``"0.0143885·(−H − 3000)"`` for c < 0."""
    sign = "−" if shift < 0 else "+"
    return f"{scale:g}·(−H {sign} {abs(shift):g})"


def _error_parts(s: dict, evaluation) -> list[str]:
    """The error figures of the summary line; one explaining phrase where no mode is counted
    (every reference eigenvalue of T ≤ 0: the shift lies below every level), never ``nan``."""
    from .uncertainty import percent, with_stderr

    def pct(x) -> str:
        return percent(100 * x) if x is not None and math.isfinite(x) else "—"

    if not any(math.isfinite(s.get(k, math.nan)) for k in ("mean_relative_error", "mean_energy_relative_error")):
        return ["no error figures: no reference level lies below the shift (every reference λ ≤ 0, nothing "
                "learnable to compare)"]
    mean_e = with_stderr(s["mean_energy_relative_error"], s.get("mean_energy_relative_error_stderr"), percent, 100)
    parts = [f"mean rel. error of E {mean_e} % (of λ {pct(s['mean_relative_error'])} %, "
             f"max {pct(s['max_relative_error'])} %)"]
    if "mean_gap_relative_error" in s and math.isfinite(s["mean_gap_relative_error"]):
        gap = with_stderr(s["mean_gap_relative_error"], s.get("mean_gap_relative_error_stderr"), percent, 100)
        parts.append(f"of E_l − E_1 {gap} % (max {pct(s['max_gap_relative_error'])} %)")
    ritz_error = ritz_mean_relative_error(evaluation)
    if math.isfinite(ritz_error):
        extended = int(extension_levels(evaluation).sum())
        parts.append(f"Ritz: mean rel. error of E {percent(100 * ritz_error)} %"
                     + (f" ({extended} from the monomial extension, not learned)" if extended else ""))
    if math.isfinite(s.get("mean_subspace_distance", math.nan)):
        parts.append(f"mean subspace dist. {s['mean_subspace_distance']:.2e}")
    return parts


def print_summary(result) -> None:
    """The summary line (energy error of H first: it does not depend on the shift), the
    verdict line, what stopped training, and where the results went."""
    s = result.evaluation.summary()
    parts = _error_parts(s, result.evaluation) if "mean_relative_error" in s else []
    off = f"{s['max_off_diagonal']:.3f}" + (f" ± {s['max_off_diagonal_stderr']:.2g}" if "max_off_diagonal_stderr" in s
                                             else "")
    parts += [f"orthogonality {s['orthogonality']:.2e}", f"max off-diag. Gram {off}",
              f"training {result.wall_time:.1f} s", f"{result.iterations_per_second:.1f} it/s"]
    console.print(" | ".join(parts), highlight=False)
    verdict = result.evaluation.verdict
    if verdict is not None:
        style = "green" if verdict.all_converged else "bold yellow"
        console.print(f"[{style}]verdict: {verdict.summary_line()}[/{style}]", highlight=False)
        if not verdict.all_converged:
            stderr_console.print("[yellow]warning:[/yellow] some modes did not converge: their eigenvalues and "
                                 "eigenfunctions are not to be trusted; train longer (--iters, --until converged), "
                                 "or see docs/problems.md on choosing shift and sampling", highlight=False)
            from rich.markup import escape

            from .uncertainty import dead_mode_warning, dead_modes, nothing_learned_warning, reference_off_warning

            problem = getattr(result, "problem", None)
            if problem is not None and (none := nothing_learned_warning(result.evaluation, problem.spec.shift)):
                stderr_console.print(f"[yellow]warning:[/yellow] {escape(none)}", highlight=False)
            dead = dead_modes(result.evaluation)  # their own warning: not "check the sampling covers every well"
            if off := reference_off_warning(verdict, skip=dead):
                stderr_console.print(f"[yellow]warning:[/yellow] {escape(off)}", highlight=False)
            if warn := dead_mode_warning(result.evaluation, problem.spec.training.restarts if problem else 0):
                stderr_console.print(f"[yellow]warning:[/yellow] {escape(warn)}", highlight=False)
    stop = {"converged": "every mode passed the verdict", "iterations": "the iteration budget was spent"}
    console.print(f"stopped at iteration {result.iterations}: {stop.get(result.stopped_by, result.stopped_by)}",
                  highlight=False)
    console.print(f"results written to [bold]{result.path}[/bold]")


#: Exit codes of an interrupted solve: Ctrl-C (SIGINT) and SIGTERM (batch schedulers), as 128 + signal.
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def _method_label(training) -> str:
    """How the header line names the training objective: NestedLoRA with its nesting, or the method."""
    method = getattr(training, "method", "nestedlora")
    return f"{training.nesting} nesting" if method == "nestedlora" else f"method {method}"


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that training keeps its checkpoint as on Ctrl-C."""


def resume_command(output, argv=None) -> str:
    """The command line that resumes the run writing ``output``: this command with
    ``--resume`` and ``-o OUTPUT`` (added unless already given)."""
    if argv is None and os.environ.get("NSVD_COMMAND"):  # set by the --nproc launcher: the user's command
        argv = shlex.split(os.environ["NSVD_COMMAND"])[1:]
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a in ("-o", "--output") or a.startswith("--output=") for a in args):
        args += ["-o", str(output)]
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(["nsvd", *args])


@contextlib.contextmanager
def _interrupts(output, command_output=None):
    """SIGTERM behaves as Ctrl-C; either prints the checkpoint and the command that resumes
    it (``-o command_output``, default ``output``, unless the command gave ``-o``), then exits
    130 (Ctrl-C) or 143 (SIGTERM)."""
    from ..solve import checkpoint_path

    def on_term(signum, frame):
        raise Terminated

    from ..distributed import StopSignals

    previous = None
    try:
        if StopSignals.current() is None:  # (several processes: signals only set the stop flag)
            previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave SIGTERM alone
        pass
    try:
        yield
    except KeyboardInterrupt as err:
        term = isinstance(err, Terminated) or getattr(err, "signum", None) == signal.SIGTERM
        what, code = ("terminated (SIGTERM)", EXIT_TERMINATED) if term else ("interrupted", EXIT_INTERRUPTED)
        ckpt = checkpoint_path(output)
        if ckpt.exists():
            stderr_console.print(f"[yellow]{what}[/yellow]: checkpoint kept at {ckpt}; resume with:\n  "
                                 f"{resume_command(command_output or output)}", highlight=False, soft_wrap=True)
        else:
            stderr_console.print(f"[yellow]{what}[/yellow] before training started: no checkpoint was written",
                                 highlight=False)
        raise typer.Exit(code=code) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _no_checkpoint(output):
    from ..errors import SpecError

    if output and Path(output).exists():  # a finished run removed its checkpoint
        return SpecError("resume", f"{output} is a finished run (its checkpoint was removed when it completed): "
                                   "nothing to resume; train a new run with another -o (or --overwrite)")
    where = f"{output}.ckpt" if output else "(no -o given)"
    return SpecError("resume", f"no checkpoint to resume from: {where}; give the -o of the interrupted run")


def _fmt_value(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt_value(x) for x in v) + "]"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _fmt(v, spec="{:.5g}"):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else spec.format(v)


def print_table(spec, ev, reference, reference_error=None) -> None:
    """Per-mode table: quantum numbers, reference, Rayleigh-quotient and norm eigenvalues of T,
    energy of H, relative error (of the eigenvalue of T), aligned angle distance and the
    verdict (✓, or the failed signals of :mod:`nsvd_cli.verdict`).  The line above names the
    reference (closed form, grid reference, or none) and, for a grid reference, the largest
    estimated relative error of its energies (``reference_error``, absolute, shape (L,))."""
    import numpy as np
    from rich.table import Table

    from ..references import NO_REFERENCE
    from .uncertainty import MISSED_MARK, missed_intervals, percent, stderr_of, with_stderr

    ref_line = f"reference: {reference.name}" if reference is not None else NO_REFERENCE
    if reference is not None and reference_error is not None and np.any(reference_error > 0):
        rel = np.max(reference_error / np.maximum(np.abs(reference.energies), np.finfo(float).tiny))
        ref_line += f" (estimated error of its energies up to {percent(100 * rel)} %)"
    caption = ("rel. err: |λ − λ_ref|/λ_ref; gap err: |ΔE − ΔE_ref|/max(ΔE_ref, Δ/10) of the excitation energy "
               "ΔE = E_l − E_1 (Δ the mean level spacing); angle: (2/π)·arccos after Procrustes alignment in each degenerate "
               "subspace; λ≤0: the reference eigenvalue of T of that level is ≤ 0, so T does not learn it (its "
               "mode's norm should vanish): not counted") if reference is not None else ""
    console.print(f"[bold]{spec.name}[/bold] (D = {spec.dimension}): eigenvalues λ of T = "
                  f"{operator_text(spec.scale, spec.shift)}, energies E of H; {ref_line}", highlight=False)
    table = Table(caption=caption or None, caption_justify="left")
    table.add_column("#", justify="right")
    labels = reference is not None and len(reference.quantum_labels) > 0
    if reference is not None:
        if labels:
            table.add_column("(" + ", ".join(reference.quantum_labels) + ")")
        table.add_column("ref. λ", justify="right")
    table.add_column("Rayleigh λ", justify="right")
    table.add_column("norm λ", justify="right")
    table.add_column("energy E", justify="right")
    ritz = getattr(ev, "ritz_energies", None)
    bounds = getattr(ev, "bounds", None)
    rank, weight = ritz_rows(ev) if ritz is not None else (None, None)
    missed = missed_intervals(ev)
    if ritz is not None:
        table.add_column("Ritz E (matched)", justify="right")
    if bounds is not None:
        table.add_column("interval", justify="right")
    gaps = reference is not None and getattr(ev, "gap_relative_errors", None) is not None
    if reference is not None:
        table.add_column("rel. err %", justify="right")
        if gaps:
            table.add_column("gap err %", justify="right")
        table.add_column("angle", justify="right")
    verdict = ev.verdict
    if verdict is not None:
        table.add_column("verdict")
    for i in range(len(ev.eigenvalues)):
        row = [str(i + 1)]
        if reference is not None:
            if labels:
                row.append(", ".join(map(str, reference.quantum_numbers[i])))
            row.append(_fmt(ev.reference_eigenvalues[i]))
        row += [_fmt(ev.eigenvalues[i]), _fmt(ev.norm_eigenvalues[i]),
                with_stderr(float(ev.energies[i]), stderr_of(ev, "energies", i))]
        k = int(rank[i]) if rank is not None else i
        if ritz is not None:
            row.append("—" if k < 0 else _fmt(float(ritz[k])) + ("" if k == i else f" (#{k + 1})")
                       + (" ?" if weight[i] < 0.5 else ""))
        if bounds is not None:
            row.append("—" if k < 0 else interval_cell(bounds, k)
                       + (f" [yellow]{MISSED_MARK}[/yellow]" if missed is not None and missed[k] else ""))
        if reference is not None:
            if not ev.positive[i]:
                row += ["λ≤0", "—"] + (["—"] if gaps else [])
            else:
                row.append(with_stderr(float(ev.relative_errors[i]), stderr_of(ev, "relative_errors", i), percent,
                                       100))
                if gaps:
                    row.append(with_stderr(float(ev.gap_relative_errors[i]), stderr_of(ev, "gap_relative_errors", i),
                                           percent, 100))
                row.append(with_stderr(float(ev.angle_distances[i]), stderr_of(ev, "angle_distances", i), "{:.1e}"))
        if verdict is not None:
            row.append("[green]✓[/green]" if verdict.converged[i] else f"[yellow]✗ {verdict.reasons[i]}[/yellow]")
        table.add_row(*row)
    console.print(fold(table))
    _print_notes(spec, ev, bounds, ritz, missed, reference_error)


def _print_notes(spec, ev, bounds, ritz, missed=None, reference_error=None) -> None:
    """The lines under the solve table: Ritz/interval note, missed-level note, Monte Carlo
    note and warnings."""
    from .uncertainty import missed_level_note, monte_carlo_note, sparse_samples_warning, unresolved_warning

    extension = extension_note(ev)
    if extension:
        console.print(f"[yellow]note:[/yellow] {extension}", highlight=False)
    if bounds is not None:
        console.print(bounds_note(ev, bounds), highlight=False)
        note = missed_level_note(ev, missed, reference_error)
        if note:
            console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
        wide = "" if ritz is None else interval_spacing_note(bounds, ritz)
        if wide:
            console.print(wide, highlight=False)
    elif ritz is not None:
        console.print(RITZ_NOTE, highlight=False)
    line = monte_carlo_note(ev, spec.evaluation)
    if line:
        console.print(line, highlight=False)
    for warning in (sparse_samples_warning(ev, spec.evaluation), unresolved_warning(ev)):
        if warning:
            stderr_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def _RunElapsedColumn():
    """rich's elapsed-time column counting the training before a resume too (the task's
    ``earlier`` field, seconds), so that a resumed run's bar shows the run's training time."""
    from datetime import timedelta

    from rich.progress import TimeElapsedColumn
    from rich.text import Text

    class RunElapsed(TimeElapsedColumn):
        def render(self, task):
            elapsed = task.finished_time if task.finished else task.elapsed
            if elapsed is None:
                return Text("-:--:--", style="progress.elapsed")
            total = elapsed + float(task.fields.get("earlier", 0.0))
            return Text(str(timedelta(seconds=int(total))), style="progress.elapsed")

    return RunElapsed()


class _ProgressReporter:
    """Turns training events into a rich progress bar and evaluation lines; when the output is
    not a terminal (``| tee log``, batch jobs) the bar cannot redraw, so a plain line
    ``training: iteration i/N, it/s, loss, elapsed`` is printed every
    :func:`nsvd_cli.cli.progress.interval` seconds instead."""

    def __init__(self, quiet: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[ips]} it/s"), TextColumn("loss {task.fields[loss]}"),
            TextColumn("λ {task.fields[eig]}"), _RunElapsedColumn(), TimeRemainingColumn(),
            console=console, disable=quiet, transient=False,
        )
        self.task, self.method, self.earlier = None, "nestedlora", 0.0
        self.t0 = self.t_line = time.perf_counter()
        self.plain = not quiet and not console.is_terminal

    def __enter__(self):
        return self  # the live display starts with training (no blank line on early errors)

    def __exit__(self, *exc):
        if self.task is not None:
            self.progress.stop()
        return False

    def __call__(self, e) -> None:
        from ..train import Evaluated, Finished, Progress, Started
        from .uncertainty import percent

        if isinstance(e, Started):
            self._start(e)
        elif isinstance(e, Finished) and self.task is not None:
            from .progress import final_rate  # the bar ends on the summary line's it/s (whole-run average)
            self.progress.update(self.task, completed=e.iteration, ips=final_rate(e))
        elif isinstance(e, Progress):
            from .progress import eigenvalue_field
            eig = eigenvalue_field(self.method, e.eigenvalues)
            self.progress.update(self.task, completed=e.iteration, ips=f"{e.iterations_per_second:.1f}",
                                 loss=f"{e.loss:.4g}", eig=eig)
            if self.plain:
                self._plain_line(e)
        elif isinstance(e, Evaluated) and not self.quiet:
            s, parts = e.summary, []
            if math.isfinite(s.get("mean_relative_error", math.nan)):  # NaN: no reference level below the shift
                parts += [f"mean rel. error {percent(100 * s['mean_relative_error'])} %",
                          f"max {percent(100 * s['max_relative_error'])} %"]
            parts.append(f"max off-diag. Gram {s['max_off_diagonal']:.3f}")
            if "converged" in s:
                parts.append(f"{s['converged']}/{len(s['eigenvalues'])} modes converged")
            if s.get("restarted"):
                modes = ", ".join(f"#{m + 1}" for m in s["restarted"])
                parts.append(f"re-initialised {modes} (dead: its norm collapsed; training.restarts)")
            self.progress.console.print(f"  iteration {e.iteration}: " + ", ".join(parts), highlight=False)

    def _plain_line(self, e) -> None:
        from .progress import interval

        now = time.perf_counter()
        if now - self.t_line >= interval():
            self.t_line = now
            console.print(f"training: iteration {e.iteration}/{e.total}, {e.iterations_per_second:.1f} it/s, "
                          f"loss {e.loss:.4g}, {self.earlier + now - self.t0:.0f} s", highlight=False)

    def _start(self, e) -> None:
        spec = e.spec
        tr = spec.training
        self.method = getattr(tr, "method", "nestedlora")
        msg = (f"[bold]{spec.name}[/bold]: {spec.modes} mode{'s' if spec.modes != 1 else ''}, {tr.iterations} iterations, batch {tr.batch_size}, "
               f"{_method_label(tr)}, {spec.model.architecture} {list(spec.model.hidden)} MLPs, "
               f"{tr.optimizer} lr {tr.learning_rate:g}, Laplacian {tr.laplacian}, device {e.device}")
        if tr.until == "converged":
            msg += f", until converged (tolerance {tr.tolerance:g})"
        msg += f" → {e.output}"
        if e.resumed_from:
            msg += f" (resumed at iteration {e.resumed_from})"
        console.print(msg, highlight=False)
        if e.derived:
            shown = ", ".join(f"{k.rpartition('.')[2]} = {_fmt_value(v)}" for k, v in e.derived.items())
            console.print(f"derived from the problem (docs/spec.md#derived-defaults): {shown}", highlight=False)
        self.progress.start()
        self.earlier = e.earlier_wall_time
        self.task = self.progress.add_task("training", total=tr.iterations, completed=e.resumed_from or 0,
                                           ips="-", loss="-", eig="-", earlier=e.earlier_wall_time)
