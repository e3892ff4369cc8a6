"""Results files (HDF5): one file per run, written atomically; :func:`load` reads them back.

Schema (``format = "nsvd-results"``, ``format_version = 1``); arrays are float64 except where
named otherwise (``history/iteration`` int64, ``metrics/positive`` and the verdict's flags bool,
string arrays as noted):

``/`` attrs
    ``format``, ``format_version``, ``created`` (ISO time), ``problem``, ``spec_json`` (the
    resolved spec, parseable by :func:`nsvd_cli.spec.parse_spec`), ``versions_json``
    (nsvd, torch, numpy, scipy, h5py, python), ``run_json`` (device, threads, ``wall_time``,
    ``iterations``, ``iterations_per_second`` = iterations / wall time over the whole run
    (:func:`nsvd_cli.solve.iterations_per_second`), ``command``, ...). ``command`` is the command
    line that started the run; a run continued with ``--resume`` also has ``resumed_by``, the
    list of the resuming command lines in order (files written before it was kept have
    ``command`` = the last resume and no ``resumed_by``; ``command`` is null when the
    checkpoint resumed was written before the commands were kept in checkpoints).
``/eigenvalues``
    ``rayleigh`` (L,) eigenvalues of T by Rayleigh quotient, ``norm`` (L,) by squared norm
    (App. D.5), ``energies`` (L,) energies of H by Rayleigh quotient, ``norm_energies``,
    and if a reference is known ``reference``, ``reference_energies``.
``/metrics``
    per mode ``relative_error``, ``energy_relative_error``, ``angle_distance``,
    ``positive``; per degenerate group ``subspace_distance`` and ``groups`` (group index of
    each mode); ``gram`` (L, L) normalised Gram matrix; attrs: the scalar summary.
``/eigenvalues/*_stderr``, ``/metrics/*_stderr`` (Monte Carlo rules, files since issue 10)
    the standard error of each figure beside it (``rayleigh_stderr``, ``energies_stderr``,
    ``norm_stderr``, ``norm_energies_stderr``; ``relative_error_stderr``,
    ``energy_relative_error_stderr``, ``gap_relative_error_stderr``,
    ``angle_distance_stderr``, ``subspace_distance_stderr``, ``gram_stderr``), by the
    delete-one-block jackknife (:mod:`nsvd_cli.montecarlo`); ``/metrics/effective_samples``
    (L,) Kish sizes, ``/metrics/mc_unresolved`` (L,) bool; ``/metrics`` attrs ``mc_blocks``,
    ``matched_std``, and ``<key>_stderr`` of the summary. ``/metrics/gap_relative_error``
    (L,): relative error of ``E_l - E_0`` (NaN for l = 0), every rule.
``/verdict`` (files with a verdict; optional)
    per mode (L,): ``converged`` (bool), ``agreement``, ``overlap``, ``order_excess``, ``drift``,
    ``residual``, ``residual_ratio``, ``vanishing`` (bool), where judged ``error_estimate``,
    ``cluster_agreement``, ``edge_mass``, ``reference_offset``, ``reference_energy_offset``,
    ``nearer_other_level`` (bool); ``reasons`` (L,) str ("" for ✓, else the failed signals);
    attrs ``tolerance_<name>`` (:class:`nsvd_cli.verdict.Tolerances`). ``/metrics`` attrs
    ``modes_converged``. See docs/reliability.md.
``/reference``
    attrs ``name``, ``quantum_labels``; ``quantum_numbers`` (L, q) int.
``/history``
    ``iteration`` (S,), ``loss`` (S,), ``learning_rate`` (S,), ``eigenvalues`` (S, L) batch
    Rayleigh quotients; ``evaluation/iteration`` (E,), ``evaluation/eigenvalues`` (E, L),
    ``evaluation/<summary key>`` (E,), among them ``evaluation/converged`` (E,): modes passing
    the verdict at each periodic evaluation; ``rollbacks/iteration``, ``rollbacks/restored_to``,
    ``rollbacks/learning_rate_factor``, ``rollbacks/loss`` (R,), one entry per non-finite
    loss survived (only if R > 0; ``run_json`` has ``rollbacks`` = R).
``/ritz`` (files written since issue 13; optional)
    ``energies`` (L,) the L lowest Ritz values of H (ascending, NaN for dropped directions)
    on the basis ``χ`` of the learned functions times the P monomials of degree <= ``degree``
    in ``y = (x − centre)/scale`` (:func:`nsvd_cli.ritz.polynomial_values`: block p, columns
    ``p·L … p·L + L − 1``, is monomial p times all L functions; block 0, the monomial 1, is
    the learned functions); ``vectors`` (L·P, L) coefficients ``C`` (Ritz function k is
    ``Σ_j χ_j C_jk``, unit-normalised on the rule); ``residuals`` (L,) ``||(H − ρ_k)φ_k||``
    if computed; ``centre``, ``scale`` (D,) (only for ``degree`` > 0); attrs ``dropped``,
    ``degree`` (``evaluation.ritz_degree``). Files without ``degree`` (written before the
    extended basis) have ``vectors`` (L, L) over the learned functions, which is degree 0.
``/rotation`` (optional; runs of ``training.method`` lora, neuralef, spin)
    (L, L) ``R``: the functions every per-mode figure of the file (eigenvalues, errors,
    angles, verdict, ``/ritz``) refers to are the model outputs times ``R``
    (:func:`nsvd_cli.methods.evaluation_rotation`: LoRA's Ritz functions of the learned span,
    ordered by Ritz energy; NeuralEF's unit-normalised outputs; SpIN's Cholesky-orthonormalised
    ones). Absent: the model outputs themselves (NestedLoRA). For NeuralEF and SpIN the ``norm``
    datasets are NaN (no norm estimate).
``/bounds`` (optional)
    per level ``lower``, ``upper`` (the reported interval), ``weinstein_lower/upper``,
    ``kato_temple_lower/upper``, ``cluster``; ``kinds`` (str: the bound used, or "no bound:
    <reason>"); ``lehmann_lower``, ``goerisch_lower``, ``rule_error``, ``ritz_rule_error`` where
    computed; attrs ``deterministic``, ``lehmann_shift`` (ρ of the Lehmann bounds, NaN: none).
    See docs/bounds.md.
``/model``
    one dataset per entry of the EMA model's ``state_dict`` (its own dtype); the model is
    rebuilt from the spec's ``[model]`` table and these weights. Attribute ``sha256``: their
    checksum (:func:`weights_digest`), checked on load (absent in files written before it).

Readers accept every format version up to :data:`FORMAT_VERSION` (the header check is
:func:`nsvd_cli.files.hdf5.open_nsvd_file`, shared with compare files); a layout change
bumps the version and keeps the reader of the older ones.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np
import torch

from ..errors import ResultsFileError, SpecError
from ..spec import ProblemSpec, parse_spec, spec_to_dict
from .atomic import atomic_write
from .hdf5 import RESULTS_FORMAT, as_str, encode_groups, open_nsvd_file, write_header

if TYPE_CHECKING:
    from ..evaluate import Evaluation

__all__ = ["Results", "write_results", "load", "FORMAT", "FORMAT_VERSION", "library_versions"]

FORMAT = RESULTS_FORMAT
FORMAT_VERSION = 1


def library_versions() -> dict:
    """Versions of the libraries a result depends on."""
    import scipy

    from .. import __version__

    return {"nsvd": __version__, "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "h5py": h5py.__version__, "python": platform.python_version()}


def _write_dict_of_arrays(group, d):
    for k, v in d.items():
        if v is not None:
            group.create_dataset(k, data=np.asarray(v))


def _write_evaluation(h, ev) -> None:
    """``/eigenvalues`` and ``/metrics`` (per-mode arrays, Gram matrix, summary attrs)."""
    _write_dict_of_arrays(h.create_group("eigenvalues"), {
        "rayleigh": ev.eigenvalues, "norm": ev.norm_eigenvalues, "energies": ev.energies,
        "norm_energies": ev.norm_energies, "reference": ev.reference_eigenvalues,
        "reference_energies": ev.reference_energies})
    m = h.create_group("metrics")
    _write_dict_of_arrays(m, {
        "relative_error": ev.relative_errors, "energy_relative_error": ev.energy_relative_errors,
        "gap_relative_error": getattr(ev, "gap_relative_errors", None),
        "angle_distance": ev.angle_distances, "subspace_distance": ev.subspace_distances,
        "positive": ev.positive, "gram": ev.gram})
    m.attrs.update(ev.summary())
    _write_stderr(h, ev)
    v = getattr(ev, "verdict", None)
    if v is not None:  # /verdict: per-mode booleans and signals (nsvd_cli.verdict)
        g = h.create_group("verdict")
        _write_dict_of_arrays(g, v.arrays())
        g.create_dataset("reasons", data=np.asarray(v.reasons, dtype=h5py.string_dtype()))
        g.attrs.update({f"tolerance_{k}": val for k, val in vars(v.tolerances).items()})
        m.attrs["modes_converged"] = v.n_converged
    _write_ritz_and_bounds(h, ev)
    if getattr(ev, "rotation", None) is not None:
        h.create_dataset("rotation", data=np.asarray(ev.rotation, np.float64))


#: Where each Monte Carlo standard error is stored: Evaluation field -> (group, dataset).
STDERR_DATASETS = {
    "eigenvalues": ("eigenvalues", "rayleigh_stderr"), "energies": ("eigenvalues", "energies_stderr"),
    "norm_eigenvalues": ("eigenvalues", "norm_stderr"), "norm_energies": ("eigenvalues", "norm_energies_stderr"),
    "relative_errors": ("metrics", "relative_error_stderr"),
    "energy_relative_errors": ("metrics", "energy_relative_error_stderr"),
    "gap_relative_errors": ("metrics", "gap_relative_error_stderr"),
    "angle_distances": ("metrics", "angle_distance_stderr"),
    "subspace_distances": ("metrics", "subspace_distance_stderr"), "gram": ("metrics", "gram_stderr"),
}


def _write_stderr(h, ev) -> None:
    """Monte Carlo standard errors beside the values (``*_stderr``), the effective sample
    sizes and the unresolved-mode flags (only for a Monte Carlo evaluation rule)."""
    se = getattr(ev, "stderr", None)
    if se is None:
        return
    for key, (group, name) in STDERR_DATASETS.items():
        if se.get(key) is not None:
            h[group].create_dataset(name, data=np.asarray(se[key], dtype=np.float64))
    m = h["metrics"]
    _write_dict_of_arrays(m, {"effective_samples": ev.effective_samples, "mc_unresolved": ev.mc_unresolved})
    m.attrs["mc_blocks"] = int(ev.mc_blocks)
    if getattr(ev, "matched_std", None) is not None:
        m.attrs["matched_std"] = float(ev.matched_std)


def _read_stderr(h) -> dict | None:
    """The standard errors as a dict keyed by Evaluation field (None: deterministic rule or
    a file written before they were stored); scalars from the summary attrs."""
    found = {key: h[group][name][()] for key, (group, name) in STDERR_DATASETS.items() if name in h[group]}
    if not found:
        return None
    for key in ("orthogonality", "max_off_diagonal", "mean_energy_relative_error", "mean_gap_relative_error"):
        if f"{key}_stderr" in h["metrics"].attrs:
            found[key] = float(h["metrics"].attrs[f"{key}_stderr"])
    return found


def _write_ritz_and_bounds(h, ev) -> None:
    """``/ritz`` and ``/bounds`` (issue 13), when the evaluation has them."""
    if getattr(ev, "ritz_energies", None) is not None:
        g = h.create_group("ritz")
        _write_dict_of_arrays(g, {"energies": ev.ritz_energies, "vectors": ev.ritz_vectors,
                                  "residuals": ev.ritz_residuals, "centre": getattr(ev, "ritz_centre", None),
                                  "scale": getattr(ev, "ritz_scale", None)})
        g.attrs["dropped"] = int(ev.ritz_dropped)
        g.attrs["degree"] = int(getattr(ev, "ritz_degree", 0))
    b = getattr(ev, "bounds", None)
    if b is not None:
        g = h.create_group("bounds")
        _write_dict_of_arrays(g, b.arrays())
        g.create_dataset("kinds", data=np.asarray(b.kinds, dtype=h5py.string_dtype()))
        g.attrs["deterministic"] = bool(b.deterministic)
        g.attrs["lehmann_shift"] = float(b.lehmann_shift)  # ρ of the Lehmann(–Goerisch) bounds (NaN: none)


def _write_history(hg, history: dict) -> None:
    """``/history``: per-step arrays and ``evaluation/<key>`` per periodic evaluation."""
    _write_dict_of_arrays(hg, {k: history[k] for k in ("iteration", "loss", "learning_rate", "eigenvalues")
                               if len(history.get(k, ()))})
    rollbacks = history.get("rollbacks", [])
    if rollbacks:  # one record per non-finite loss survived (nsvd_cli.train.fit)
        _write_dict_of_arrays(hg.create_group("rollbacks"), {
            k: np.asarray([r[k] for r in rollbacks], dtype=np.float64)
            for k in ("iteration", "restored_to", "learning_rate_factor", "loss")})
    evals = history.get("evaluations", [])
    if evals:
        eg = hg.create_group("evaluation")
        for key in evals[0]:
            eg.create_dataset(key, data=np.asarray([e[key] for e in evals], dtype=np.float64))


def write_results(path, *, spec: ProblemSpec, evaluation: Evaluation, model_state: dict, history: dict,
                  run: dict, reference=None, overwrite: bool = False) -> Path:
    """Write a results file atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    path : str or Path
        Output file. Parent folders are created.
    spec : ProblemSpec
        The resolved spec of the run.
    evaluation : Evaluation
        Final evaluation of the EMA model.
    model_state : dict
        ``state_dict()`` of the EMA model.
    history : dict
        :attr:`nsvd_cli.train.TrainState.history`.
    run : dict
        JSON-serialisable run information (device, wall time, iterations/s, ...).
    reference : ReferenceSolution, optional
    overwrite : bool
        Replace an existing file (otherwise :class:`ResultsExistError`).

    Raises
    ------
    ResultsExistError
        If ``path`` exists and ``overwrite`` is False.
    """
    def write(tmp) -> None:
        with h5py.File(tmp, "w") as h:
            write_header(h, FORMAT, FORMAT_VERSION, problem=spec.name, spec_json=json.dumps(spec_to_dict(spec)),
                         versions_json=json.dumps(library_versions()), run_json=json.dumps(run))
            _write_evaluation(h, evaluation)
            if reference is not None:
                r = h.create_group("reference")
                r.attrs.update(name=reference.name, quantum_labels=list(reference.quantum_labels))
                r.create_dataset("quantum_numbers", data=np.asarray(reference.quantum_numbers, dtype=np.int64))
                h["metrics"].create_dataset("groups", data=encode_groups(reference.groups, len(reference.energies)))
            _write_history(h.create_group("history"), history)
            mg = h.create_group("model")
            weights = {k: v.detach().cpu().numpy() for k, v in model_state.items()}
            for k, v in weights.items():
                mg.create_dataset(k, data=v)
            mg.attrs["sha256"] = weights_digest(weights)

    return atomic_write(path, write, overwrite=overwrite)


@dataclass
class Results:
    """A results file read back: spec, eigenvalues, metrics, history and the model.

    Attributes
    ----------
    spec : ProblemSpec
        The resolved problem spec of the run.
    eigenvalues : ndarray, shape (L,)
        Eigenvalues of T (Rayleigh quotients on the evaluation rule), in mode order
        (descending for a converged run).
    energies : ndarray, shape (L,)
        The corresponding energies of H, ``shift - eigenvalues / scale``.
    norm_eigenvalues : ndarray, shape (L,)
        Squared-norm estimates of the eigenvalues of T (App. D.5).
    reference_eigenvalues, reference_energies : ndarray or None
    metrics : dict
        Per-mode arrays and the scalar summary (``summary`` key).
    history : dict
        Training history arrays.
    run, versions : dict
    path : Path
    verdict : dict or None
        ``/verdict`` (None in older files).
    ritz : dict or None
        ``/ritz``: ``energies`` (L,), ``vectors`` (L·P, L), ``residuals`` (L,) if stored,
        ``dropped``, ``degree`` (0 in older files), ``centre`` and ``scale`` (D,) for degree > 0
        (None in files written before issue 13).
    bounds : dict or None
        ``/bounds``: (L,) arrays ``lower``, ``upper``, ..., ``kinds`` (list of str),
        ``deterministic`` (None in older files).
    rotation : ndarray, shape (L, L), or None
        ``/rotation``: the scored functions are the model outputs times it (None: the outputs,
        NestedLoRA and files written before the comparison methods).
    stderr : dict or None
        Monte Carlo standard errors keyed as :attr:`nsvd_cli.evaluate.Evaluation.stderr`
        (``energies``, ``eigenvalues``, ``energy_relative_errors``, ``gap_relative_errors``,
        ``angle_distances``, ``gram``, ``orthogonality``, ...); None for a deterministic
        rule or a file written before issue 10.
    """

    spec: ProblemSpec
    eigenvalues: np.ndarray
    energies: np.ndarray
    norm_eigenvalues: np.ndarray
    reference_eigenvalues: np.ndarray | None
    reference_energies: np.ndarray | None
    metrics: dict
    history: dict
    run: dict
    versions: dict
    quantum_numbers: np.ndarray | None
    quantum_labels: tuple
    path: Path
    model_state: dict = field(repr=False, default_factory=dict)
    verdict: dict | None = None
    ritz: dict | None = None
    bounds: dict | None = None
    stderr: dict | None = None
    rotation: np.ndarray | None = None
    _model: object = field(repr=False, default=None)

    @property
    def converged(self) -> np.ndarray | None:
        """(L,) bool: the per-mode verdict of the final evaluation (None in older files)."""
        return None if self.verdict is None else self.verdict["converged"]

    @property
    def model(self) -> torch.nn.Module:
        """The EMA eigenfunction model (float64, CPU), rebuilt from the stored weights."""
        if self._model is None:
            from ..models import build_model
            from ..problem import Problem

            model = build_model(self.spec.dimension, self.spec.modes, self.spec.model,
                                torch.Generator().manual_seed(0), Problem.from_spec(self.spec).sampling.log_density)
            state = {k: torch.as_tensor(v) for k, v in self.model_state.items() if k != "n_averaged"}
            model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
            self._model = model.to(torch.float64).eval()
        return self._model

    @property
    def method(self) -> str:
        """``training.method`` of the run (``"nestedlora"`` for files written before issue 14)."""
        return getattr(self.spec.training, "method", "nestedlora")

    def eigenfunctions(self, x, *, normalise: bool = True, ritz: bool = False, raw: bool = False):
        """Evaluate the learned (or the Ritz) eigenfunctions at new points (no retraining).

        The functions are the ones every stored per-mode figure refers to: the model outputs
        times ``/rotation`` where the file has one (:attr:`rotation`): for ``training.method =
        "lora"`` the Ritz functions of the learned span in the order of their Ritz energies
        (the raw LoRA outputs are an arbitrary rotation of them), for ``neuralef`` and ``spin``
        the unit-normalised (SpIN: Cholesky-orthonormalised) outputs.

        Parameters
        ----------
        x : array_like or torch.Tensor, shape (N, D)
            Points in problem coordinates.
        normalise : bool, default True
            Divide mode l by its L2 norm ``sqrt(norm_eigenvalues[l])`` so that the functions
            are unit-normalised; False gives the learned ``sqrt(lambda_l) phi_l``. Modes whose
            eigenvalue of T is <= 0 have norm ~0 and are then noise. Ignored with ``ritz`` and
            ``raw``, and for NeuralEF / SpIN (NaN norm estimate: unit-normalised already).
        ritz : bool, default False
            Return the Ritz functions ``Σ_j χ_j C_jk`` (``/ritz/vectors``: H diagonalised on the
            basis χ of the learned functions times the monomials of degree <= ``/ritz`` degree,
            rebuilt at ``x`` in the stored frame; degree 0: the learned functions rotated;
            unit-normalised on the evaluation rule, ordered by Ritz energy; the columns of
            dropped pairs, whose Ritz energy is NaN, are NaN). The default is the learned
            functions: they are what the method trained and what every stored per-mode metric
            (errors, angles, verdict) and plot refers to, and files written before the Ritz
            step have no rotation.
        raw : bool, default False
            Return the network outputs as they are, without ``/rotation`` or normalisation.

        Returns
        -------
        ndarray (or torch.Tensor if x is one), shape (N, L)
            psi_l(x) — the physical eigenfunctions, not divided by any importance weight —
            modes ordered by eigenvalue of T, descending (energy ascending). ``N = 0`` gives an
            empty (0, L) array. With hard walls (a box potential or a box envelope) every
            function is 0 outside the walls, as the eigenfunctions are (the network's envelope
            alone changes sign there and grows: a trial's box2d run gave 7.3 at twice the wall
            distance; ``raw`` keeps the network's values). Without walls, outside
            ``evaluation.box`` the network extrapolates: it was neither trained nor scored there
            (docs/bounds.md, *Which functions*). Evaluated in chunks of :data:`CHUNK` points (the
            memory does not grow with N).

        Raises
        ------
        ValueError
            If x does not have shape (N, D), or ``ritz`` for a file without ``/ritz``.
        """
        if ritz and self.ritz is None:
            raise ValueError(f"{self.path}: no /ritz group (written before Rayleigh–Ritz was stored)")
        is_torch = isinstance(x, torch.Tensor)
        xt = torch.as_tensor(x.detach().cpu().numpy() if is_torch else np.asarray(x), dtype=torch.float64)
        if xt.ndim != 2 or xt.shape[1] != self.spec.dimension:
            raise ValueError(f"x must have shape (N, {self.spec.dimension}), got {tuple(xt.shape)}")
        if xt.shape[0] == 0:  # no points: the model's reshapes refuse empty batches
            out = np.zeros((0, len(self.eigenvalues)))
            return torch.from_numpy(out).to(x.dtype) if is_torch else out
        with torch.no_grad():
            out = np.concatenate([self.model(xt[a:a + CHUNK]).numpy() for a in range(0, len(xt), CHUNK)])
        if not raw:
            out = self._zero_outside_walls(xt.numpy(), out)
            out = out if self.rotation is None else out @ self.rotation
            if ritz:
                out = self._ritz_basis(xt.numpy(), out) @ self.ritz["vectors"]
                out[:, ~np.isfinite(self.ritz["energies"])] = np.nan  # dropped pairs: no function
            elif normalise:
                norms = np.where(np.isnan(self.norm_eigenvalues), 1.0, self.norm_eigenvalues)
                out = out / np.sqrt(np.maximum(norms, np.finfo(float).tiny))
        return torch.from_numpy(out).to(x.dtype) if is_torch else out

    def _zero_outside_walls(self, x: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``values`` (N, L) with the rows of points outside the hard walls set to 0 (no walls: unchanged)."""
        from ..spec import walls

        box = walls(self.spec)
        if box is None:
            return values
        box = np.asarray(box, np.float64)
        inside = np.all((x >= box[:, 0]) & (x <= box[:, 1]), axis=1)
        return np.where(inside[:, None], values, 0.0)

    def _ritz_basis(self, x: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The Ritz basis χ (N, L·P) at points x (N, D) from the scored functions' values (N, L)."""
        degree = int(self.ritz.get("degree", 0))
        if degree == 0:
            return values
        from ..ritz import polynomial_values

        return polynomial_values(x, values, degree, self.ritz["centre"], self.ritz["scale"])


#: Points per model pass of :meth:`Results.eigenfunctions` (peak memory bounded; a 125 000-point
#: call of a 4-mode 2D model took 1.1 GB in one pass).
CHUNK = 32_768


def _read(group, key):
    return group[key][()] if group is not None and key in group else None


def load(path) -> Results:
    """Read an nsvd results file (any format version up to :data:`FORMAT_VERSION`).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Results

    Raises
    ------
    ResultsFileError
        One line naming the file: it is missing, not HDF5, not an nsvd results file (another
        program's file, or an nsvd compare file), of a newer format version, malformed,
        damaged or truncated (an HDF5 read error; NaN or inf in the model weights or in the
        stored Rayleigh eigenvalues or energies), or its stored spec is not valid for this nsvd.
    """
    path = Path(path)
    with open_nsvd_file(path, FORMAT, FORMAT_VERSION) as (h, _version):
        try:
            spec = parse_spec(json.loads(h.attrs["spec_json"]))
        except SpecError as err:
            raise ResultsFileError(f"{path}: the stored spec is not valid for this nsvd ({err})") from None
        e, m = h["eigenvalues"], h["metrics"]
        metrics = {k: m[k][()] for k in m}
        metrics["summary"] = {k: float(v) for k, v in m.attrs.items()}
        hist = {k: v[()] for k, v in h["history"].items() if isinstance(v, h5py.Dataset)}
        for sub in ("evaluation", "rollbacks"):
            if sub in h["history"]:
                hist[sub] = {k: v[()] for k, v in h["history"][sub].items()}
        ref = h.get("reference")
        model_state = {k: v[()] for k, v in h["model"].items()}
        _refuse_non_finite(path, e, model_state)
        _refuse_changed_weights(path, h["model"].attrs.get("sha256"), model_state)
        return Results(
            spec=spec, eigenvalues=e["rayleigh"][()], energies=e["energies"][()], norm_eigenvalues=e["norm"][()],
            reference_eigenvalues=_read(e, "reference"), reference_energies=_read(e, "reference_energies"),
            metrics=metrics, history=hist, run=json.loads(h.attrs["run_json"]),
            versions=json.loads(h.attrs["versions_json"]),
            quantum_numbers=_read(ref, "quantum_numbers"),
            quantum_labels=tuple(as_str(s) for s in ref.attrs["quantum_labels"]) if ref is not None else (),
            path=path, model_state=model_state,
            verdict=_read_verdict(h.get("verdict")), ritz=_read_group(h.get("ritz")),
            bounds=_read_group(h.get("bounds")), stderr=_read_stderr(h), rotation=_read(h, "rotation"),
        )


def _refuse_non_finite(path: Path, eigenvalues, model_state: dict) -> None:
    """Refuse a file whose model weights or stored eigenvalues are not all finite.

    A run that diverges writes no results file (:class:`~nsvd_cli.errors.DivergenceError`), so
    NaN or inf in ``/model`` or in ``/eigenvalues/rayleigh`` / ``energies`` means the bytes were
    damaged after writing (an overwritten block reads as NaN); computing on them would give
    silent garbage or a failed SVD downstream.  ``norm`` is not checked: it is NaN by design
    for NeuralEF and SpIN.

    Raises
    ------
    ResultsFileError
        Naming the file and the first non-finite dataset.
    """
    stored = [(f"eigenvalues/{k}", eigenvalues[k][()]) for k in ("rayleigh", "energies")]
    stored += [(f"model/{k}", v) for k, v in model_state.items()]
    for name, value in stored:
        value = np.asarray(value)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            raise ResultsFileError(f"{path}: damaged nsvd results file: /{name} holds non-finite values "
                                   "(NaN or inf), which no finished run writes; solve again")


def weights_digest(weights: dict) -> str:
    """SHA-256 (hex) of model weights ``{name: ndarray}``: names, dtypes, shapes and bytes, in name
    order; stored as ``/model`` attribute ``sha256`` and checked by :func:`load`."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(weights):
        a = np.ascontiguousarray(weights[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _refuse_changed_weights(path: Path, stored, model_state: dict) -> None:
    """Refuse a file whose model weights no longer match the checksum written with them (bytes
    damaged after writing into finite values: a new-user trial zeroed 150 kB of a file, and
    ``nsvd plot`` drew eigenfunctions off by up to 1.4 without a word). Files written before
    the checksum (no ``sha256`` attribute) are not checked.

    Raises
    ------
    ResultsFileError
        Naming the file.
    """
    if stored is None:
        return
    if as_str(stored) != weights_digest(model_state):
        raise ResultsFileError(f"{path}: damaged nsvd results file: the model weights under /model do not match "
                               "the checksum written with them; solve again")


def _read_verdict(g) -> dict | None:
    """``/verdict`` as a dict of (L,) arrays (``reasons`` as str) plus ``tolerances``."""
    if g is None:
        return None
    out = {k: g[k][()] for k in g if k != "reasons"}
    out["reasons"] = [as_str(s) for s in g["reasons"][()]]
    out["tolerances"] = {k.removeprefix("tolerance_"): float(v) for k, v in g.attrs.items()}
    return out


def _read_group(g) -> dict | None:
    """A group of arrays as a dict (string datasets as lists of str, attrs as entries), or None."""
    if g is None:
        return None
    out = {}
    for k in g:
        v = g[k][()]
        out[k] = [as_str(x) for x in v] if v.dtype.kind in "OS" else v
    for k, v in g.attrs.items():
        out[k] = v.item() if hasattr(v, "item") else v
    return out
