"""The physics of a run as one object: :class:`Problem`, built once from a resolved spec.

A :class:`Problem` holds what every stage needs and nothing about how a model is trained:

* the potential ``V``, the Hamiltonian ``H = -kinetic * Laplacian + V`` and the shifted
  operator ``T = scale * (-H + shift)`` whose top eigenpairs NestedLoRA learns;
* the training distribution (sampling, importance weight ``w_tr = p_tr``, App. D.3) and the
  evaluation rule (quadrature or Monte Carlo);
* the reference eigenpairs (lazy, computed at most once: a closed form, or a cached eigsh grid
  solution, or none) and the conventions that convert between energies of H (ascending) and
  eigenvalues of T (descending), the continuum threshold of the potential and its walls.

``solve``, ``compare``, evaluation and plotting all take a :class:`Problem` (or, for the
conventions alone, :class:`Conventions`); no ``kinetic``/``shift``/``scale`` travel apart.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .spec import ProblemSpec, walls

__all__ = ["Problem", "Conventions", "FD_ROUNDING_REFUSE", "FD_ROUNDING_WARN", "BOX_MASS_WARN", "AT_SHIFT_RTOL",
           "nonfinite_inputs"]

#: Refuse / warn when the rounding error of the finite-difference Laplacian, ``eps ℓ² / h²``
#: relative to the Laplacian of a state of width ℓ (eps of the training dtype,
#: h = ``training.fd_step``, ℓ the sampling's smallest length scale), exceeds these levels.
FD_ROUNDING_REFUSE = 0.25
FD_ROUNDING_WARN = 5e-2
#: Warn when the evaluation box holds less than this fraction of a reference state's norm.
BOX_MASS_WARN = 0.999
#: Fraction of the evaluation nodes above which a NaN potential is "undefined on a region" (an
#: expression outside its domain, e.g. log of a negative number), not a singular point the nodes hit.
UNDEFINED_REGION_FRACTION = 0.01
#: A reference level whose eigenvalue of T is within this fraction of the spectrum's scale
#: ``scale * max(|shift|, |E_k|)`` of zero sits *at* the shift: its eigenvalue counts as 0, not
#: positive (:meth:`Conventions.reference_eigenvalues`). ``lambda = scale (shift - E)`` is a
#: difference of numbers of that size: a level exactly at the shift comes out as rounding noise
#: (V = x² with shift 1: 2.5e-11 from the grid reference, whose own error estimate is 2.7e-11),
#: of either sign, and its relative error ``|lambda - lambda_ref| / lambda_ref`` is then
#: meaningless (1.5e10 %). 1e-8 is far above float64 rounding (1e-16) and the grid solver's
#: accuracy, and far below any eigenvalue a network resolves (relative accuracies of 1e-6 at best);
#: it needs the energies alone, so evaluation, compare and the checks here all use the same rule.
AT_SHIFT_RTOL = 1e-8


@dataclass(frozen=True)
class Conventions:
    """``H = -kinetic * Laplacian + V`` and ``T = scale * (-H + shift)``; ``scale > 0``.

    The one implementation of the energy <-> eigenvalue conversion: eigenvalues of T are
    ``lambda = scale * (shift - E)`` for energies E of H, so the lowest energies are the
    largest eigenvalues.
    """

    kinetic: float = 1.0
    shift: float = 0.0
    scale: float = 1.0

    def eigenvalues_from_energies(self, energies):
        """Eigenvalues of T, ``scale * (shift - E)``, for energies E of H (array-like, any shape)."""
        return self.scale * (self.shift - np.asarray(energies, dtype=np.float64))

    def reference_eigenvalues(self, energies) -> np.ndarray:
        """Eigenvalues of T of reference levels (shape of ``energies``), with those of levels at the
        shift (``|lambda| <= AT_SHIFT_RTOL * scale * max(|shift|, max_k |E_k|)``, :data:`AT_SHIFT_RTOL`)
        set to exactly 0: such a level is not a positive eigenvalue (not learned, not counted,
        no relative error). Use for reference energies, not learned ones."""
        e = np.asarray(energies, dtype=np.float64)
        lam = self.eigenvalues_from_energies(e)
        finite = np.abs(e[np.isfinite(e)])
        size = max(abs(self.shift), float(finite.max()) if finite.size else 0.0)
        return np.where(np.abs(lam) <= AT_SHIFT_RTOL * abs(self.scale) * size, 0.0, lam)

    def energies_from_eigenvalues(self, eigenvalues):
        """Energies of H, ``shift - lambda / scale``, for eigenvalues lambda of T (array-like)."""
        return self.shift - np.asarray(eigenvalues, dtype=np.float64) / self.scale


class Problem:
    """A resolved problem: operator, sampling, evaluation rule, reference and conventions.

    Build it with :meth:`from_spec`. Every heavy part (potential, operator, sampling,
    quadrature, reference) is built on first use and kept, so each is computed once per
    problem. Attributes ``kinetic``, ``shift``, ``scale`` and the conversions come from
    :attr:`conventions`.

    Parameters
    ----------
    spec : ProblemSpec
        A resolved spec (:func:`nsvd_cli.spec.load_spec`).
    """

    def __init__(self, spec: ProblemSpec):
        self.spec = spec
        self.conventions = Conventions(float(spec.kinetic), float(spec.shift), float(spec.scale))

    @classmethod
    def from_spec(cls, spec: ProblemSpec) -> "Problem":
        """The problem of a resolved spec (nothing is computed yet)."""
        return cls(spec)

    def __repr__(self) -> str:
        return f"Problem({self.spec.name!r}, D={self.dimension}, modes={self.modes})"

    # ---- identity and conventions -------------------------------------------------------
    name = property(lambda self: self.spec.name, doc="Problem name.")
    dimension = property(lambda self: self.spec.dimension, doc="Spatial dimension D.")
    modes = property(lambda self: self.spec.modes, doc="Number of learned eigenpairs L.")
    kinetic = property(lambda self: self.conventions.kinetic, doc="Kinetic coefficient kappa.")
    shift = property(lambda self: self.conventions.shift, doc="Shift c of T = s (-H + c).")
    scale = property(lambda self: self.conventions.scale, doc="Scale s of T = s (-H + c).")

    def eigenvalues_from_energies(self, energies):
        """Eigenvalues of T for energies of H (:meth:`Conventions.eigenvalues_from_energies`)."""
        return self.conventions.eigenvalues_from_energies(energies)

    def reference_eigenvalues(self, energies):
        """Eigenvalues of T of reference levels, 0 at the shift (:meth:`Conventions.reference_eigenvalues`)."""
        return self.conventions.reference_eigenvalues(energies)

    def energies_from_eigenvalues(self, eigenvalues):
        """Energies of H for eigenvalues of T (:meth:`Conventions.energies_from_eigenvalues`)."""
        return self.conventions.energies_from_eigenvalues(eigenvalues)

    @property
    def walls(self) -> tuple[tuple[float, float], ...] | None:
        """The Dirichlet box: the box potential's, else a ``box`` envelope's, else None."""
        return walls(self.spec)

    @property
    def continuum_threshold(self) -> float | None:
        """Energy where the continuous spectrum of H starts (morse: depth; Pöschl–Teller and
        Coulomb: 0), or None for a purely discrete spectrum."""
        pot = self.spec.potential
        if pot.kind == "morse":
            return float(pot.depth)
        if pot.kind in ("poschl_teller", "coulomb"):
            return 0.0
        return None

    @functools.cached_property
    def envelope_precision(self) -> np.ndarray:
        """``M = sqrt(K / (2 kappa))`` (D, D): the precision of the ground state
        ``exp(-x^T M x / 2)`` of the harmonic approximation ``V ≈ V(0) + x^T K x / 2`` at the
        origin (the envelope ``gaussian-normal-modes``, :class:`nsvd_cli.models.EigenfunctionModel`).

        ``coupled_harmonic``: ``K = 2 A`` exactly, so ``M = sqrt(A / kappa)`` (the normal modes
        ``y = Q^T x`` of ``A = Q diag(a) Q^T`` have ground-state precisions ``sqrt(a_k/kappa)``);
        other kinds: ``K`` from central differences of V (step 1e-3) at the origin, which must
        agree within 10 % with those of step 1e-2 (a quadratic well; a pure quartic's do not).

        Raises
        ------
        SpecError
            (``model.envelope``) If ``K`` is not positive definite or not finite (no harmonic
            well at the origin, e.g. a pure quartic, a double well, a Coulomb centre).
        """
        pot, d = self.spec.potential, self.dimension
        if pot.kind == "coupled_harmonic":
            k = wide = 2.0 * pot.matrix_for(d)
        else:  # a quadratic well's curvature does not depend on the step; V = x^4's grows like step^2
            k, wide = _hessian_at_origin(self.potential, d, 1e-3), _hessian_at_origin(self.potential, d, 1e-2)
        from .errors import SpecError

        finite = np.all(np.isfinite(k)) and np.all(np.isfinite(wide))
        w, q = np.linalg.eigh(0.5 * (k + k.T)) if finite else (np.array([np.nan]), None)
        if not finite or w.min() <= 0 or np.abs(wide - k).max() > 0.1 * np.abs(k).max():
            raise SpecError("model.envelope", f"\"gaussian-normal-modes\" needs a harmonic well at the origin "
                            f"(V ≈ V(0) + xᵀKx/2, K positive definite); the Hessian of V there has eigenvalues "
                            f"down to {w.min():.3g} or depends on the step; use envelope = \"gaussian\"")
        return (q * np.sqrt(w / (2.0 * self.kinetic))) @ q.T

    # ---- operators, sampling, evaluation rule ------------------------------------------
    @functools.cached_property
    def potential(self):
        """The torch potential ``V: (B, D) -> (B,)`` (:func:`nsvd_cli.potentials.make_potential`)."""
        from .potentials import make_potential

        return make_potential(self.spec.potential, self.dimension)

    @functools.cached_property
    def hamiltonian(self):
        """``H = -kinetic * Laplacian + V`` with the spec's Laplacian backend and step."""
        from .operators import Hamiltonian

        tr = self.spec.training
        return Hamiltonian(self.potential, self.kinetic, tr.laplacian, tr.fd_step)

    @functools.cached_property
    def operator(self):
        """``T = scale * (-H + shift)`` with importance weighting (:class:`~nsvd_cli.operators.ShiftedOperator`)."""
        from .operators import ShiftedOperator

        return ShiftedOperator(self.hamiltonian, self.shift, self.scale)

    @functools.cached_property
    def sampling(self):
        """The training distribution p_tr (:func:`nsvd_cli.sampling.make_sampling`)."""
        from .sampling import make_sampling

        return make_sampling(self.dimension, self.spec.sampling)

    @functools.cached_property
    def quadrature(self):
        """The evaluation rule (:func:`nsvd_cli.quadrature.make_quadrature`)."""
        from .quadrature import make_quadrature

        return make_quadrature(self.spec.evaluation)

    @functools.cached_property
    def potential_values(self) -> np.ndarray:
        """V at the quadrature points, shape (N,), float64."""
        import torch

        with torch.no_grad():
            return self.potential(torch.as_tensor(self.quadrature.points, dtype=torch.float64)).numpy()

    # ---- reference ------------------------------------------------------------------------
    @property
    def reference_kind(self) -> str:
        """``"analytic"``, ``"grid"`` or ``"none"`` (:func:`nsvd_cli.references.reference_kind`; computes nothing)."""
        from .references import reference_kind

        return reference_kind(self.spec)

    @functools.cached_property
    def reference(self):
        """The reference eigenpairs (computed on first access, then kept), or None.

        A closed form where one exists, else a cached eigsh grid solution
        (:func:`nsvd_cli.baselines.reference.reference_for`; may run the grid solver), else
        None.

        Raises
        ------
        GridError
            A grid reference that cannot be solved.
        """
        if self.reference_kind == "analytic":
            return self.closed_form_reference
        from .baselines.reference import GridReference, grid_reference_error, grouped_within_error, reference_for

        ref = reference_for(self.spec)
        if isinstance(ref, GridReference):  # levels split by less than the grid's error are one group
            ref = grouped_within_error(ref, grid_reference_error(self.spec, ref))
        return ref

    @functools.cached_property
    def closed_form_reference(self):
        """The closed-form reference, or None (never solves anything: safe for plotting)."""
        from .references import analytic_reference

        return analytic_reference(self.spec) if self.reference_kind == "analytic" else None

    @functools.cached_property
    def reference_error(self) -> np.ndarray | None:
        """Estimated absolute error of the reference energies, shape (L,): zeros for a closed
        form, the Richardson estimate of a grid reference
        (:func:`nsvd_cli.baselines.reference.grid_reference_error`, one coarser cached solve),
        None without a reference. The same estimate ``nsvd compare`` prints."""
        from .baselines.reference import GridReference, grid_reference_error

        ref = self.reference
        if ref is None:
            return None
        if getattr(ref, "energy_errors", None) is not None:  # a separable reference's own estimate
            return np.asarray(ref.energy_errors)
        if not isinstance(ref, GridReference):
            return np.zeros(len(ref.energies))
        return grid_reference_error(self.spec, ref)

    @functools.cached_property
    def reference_values(self) -> np.ndarray | None:
        """Reference eigenfunctions at the quadrature points, shape (N, L), or None."""
        ref = self.reference
        return None if ref is None else ref.eigenfunctions(self.quadrature.points)

    # ---- settings that cannot give a meaningful result ------------------------------------
    def _fd_rounding(self) -> float | None:
        """Relative rounding error ``eps ℓ² / fd_step²`` of the finite-difference Laplacian of a
        state of width ℓ (the sampling's smallest length scale,
        :func:`nsvd_cli.defaults.length_scales`; its Laplacian is ~ψ/ℓ²), or None for the exact
        Laplacian."""
        from .defaults import length_scales

        tr = self.spec.training
        if tr.laplacian != "fd":
            return None
        ell = length_scales(self.spec.sampling)[0]
        return float(np.finfo(np.float64 if tr.dtype == "float64" else np.float32).eps) * ell**2 / tr.fd_step ** 2

    def check(self) -> None:
        """Refuse, before training, settings that cannot give a meaningful result.

        * a finite-difference step below the rounding level of the dtype: the second
          difference then carries a rounding error ``eps ℓ² / fd_step²`` above
          :data:`FD_ROUNDING_REFUSE` (relative to the Laplacian of a state of width ℓ);
        * evaluation nodes on a singular point of the potential (V not finite there, or a
          Gauss-Legendre node at an unsoftened Coulomb centre): the energies would be meaningless.

        * V not finite at training samples (:meth:`_check_training_samples`: a fixed draw of
          :data:`nsvd_cli.sampling.CHECK_SAMPLES` points from the run's sampling, e.g.
          ``sqrt(4 - x0**2)`` under a Gaussian that reaches ``|x0| > 2``): the loss would be NaN
          at the first iteration;
        * ``envelope = "gaussian-normal-modes"`` without a harmonic well at the origin
          (:attr:`envelope_precision`).

        Builds the evaluation rule and V on it (both kept for evaluation).

        Raises
        ------
        SpecError
            Naming the field to change, with the reason and the fix.
        """
        from .errors import SpecError

        if self.spec.model.envelope == "gaussian-normal-modes":
            self.envelope_precision  # noqa: B018 (refuses here, before training)
        tr, rounding = self.spec.training, self._fd_rounding()
        if rounding is not None and rounding > FD_ROUNDING_REFUSE:
            eps = rounding * tr.fd_step ** 2
            raise SpecError("training.fd_step", f"{tr.fd_step:g} is below the rounding level of {tr.dtype}: the "
                            f"finite-difference Laplacian would carry relative errors of about eps·ℓ²/h² = "
                            f"{rounding:.1e} (ℓ the sampling scale); use fd_step >= "
                            f"{np.sqrt(eps / FD_ROUNDING_WARN):.2g}, "
                            "dtype = \"float64\" or laplacian = \"exact\"")
        self._check_potential_values()
        self._check_training_samples()

    def _check_training_samples(self) -> None:
        """Refuse a potential that is not finite where training samples fall (see :meth:`check`).

        V is evaluated, in the training dtype, at :func:`nsvd_cli.sampling.fixed_draw` (its own
        seeded generator: the run's random streams are untouched). A potential undefined on a
        region of positive probability shows there with near certainty (a region of probability
        1e-3 is missed by 4096 points with probability e^-4 ≈ 2 %); an isolated singular point is
        hit with probability zero, as in training."""
        import torch

        from .errors import SpecError
        from .sampling import fixed_draw

        dtype = torch.float64 if self.spec.training.dtype == "float64" else torch.float32
        x = fixed_draw(self.sampling, dtype=dtype)
        with torch.no_grad():
            values = self.potential(x)
        nan = torch.isnan(values)
        why = "undefined" if nan.any() else f"infinite (a singularity, or an overflow of {self.spec.training.dtype})"
        field, subject = ("potential.function", f"the function {self.spec.potential.function}") \
            if self.spec.potential.kind == "python" else ("potential", "the expression")
        found = _nonfinite_clause(x, values, "V", self.sampling, f"{subject} is {why} there; restrict the "
                                  "sampling (e.g. sampling.kind = \"uniform\" on the box where V is defined) or fix "
                                  "the potential", prefer=nan if nan.any() else None)
        if found:
            raise SpecError(field, found)

    def _check_potential_values(self) -> None:
        """Refuse evaluation nodes where V is not finite (see :meth:`check`).

        Two cases get two messages: V undefined (NaN) on a region — more than
        :data:`UNDEFINED_REGION_FRACTION` of the nodes, e.g. ``log(x0)`` for ``x0 < 0`` — is an
        expression defined on too small a domain; V infinite (or NaN) at a few nodes is a
        singular point the nodes happen to hit."""
        from .errors import SpecError

        values = np.asarray(self.potential_values)
        bad = ~np.isfinite(values)
        pot = self.spec.potential
        if pot.kind == "coulomb" and pot.softening == 0:  # clamped at COULOMB_MIN_RADIUS: finite, but singular
            from .potentials import COULOMB_MIN_RADIUS

            bad |= np.linalg.norm(self.quadrature.points, axis=1) <= COULOMB_MIN_RADIUS
        if not bad.any():
            return
        nan = np.isnan(values)
        n, m = int(bad.sum()), len(values)
        if nan.sum() > UNDEFINED_REGION_FRACTION * m:
            from .potentials import nonfinite_wording

            x, (field, cause, fix) = self.quadrature.points[np.flatnonzero(nan)[0]], nonfinite_wording(pot)
            raise SpecError(field, f"V is not finite (NaN) at {int(nan.sum())} of {m} evaluation nodes, e.g. "
                            f"x = {np.round(x, 6).tolist()}: {cause}; V must be defined on all of evaluation.box and "
                            f"wherever training samples fall: {fix} or the boxes")
        if bad.all():
            raise SpecError("potential", f"V is infinite at every one of the {m} evaluation nodes (e.g. an overflowing "
                            "term such as exp(1000)): no energy is finite; rescale the potential")
        x = self.quadrature.points[np.flatnonzero(bad)[0]]
        raise SpecError("evaluation.quadrature", f"the potential is singular at {n} evaluation "
                        f"node(s), e.g. x = {np.round(x, 6).tolist()}: the energies would be NaN or dominated "
                        "by the singularity; move the nodes "
                        "off the singular point (an even evaluation.points, another evaluation.box, or "
                        "quadrature = \"polar\"/\"spherical\" for a Coulomb centre)")

    def _box_warnings(self) -> list[str]:
        """Reference states that the evaluation box cuts off (norm inside < :data:`BOX_MASS_WARN`,
        resolved by the rule's standard error on a uniform Monte Carlo rule).

        Closed forms only: a grid reference lives inside its walls by construction, and its
        interpolated eigenfunctions do not integrate to 1 exactly on another rule."""
        ev = self.spec.evaluation
        if ev.quadrature == "monte-carlo" and ev.std > 0 or self.reference_kind != "analytic" \
                or self.reference_values is None:
            return []
        from . import montecarlo
        mass, stderr = montecarlo.norm_mass(self.reference_values, self.quadrature.weights)
        if ev.quadrature != "monte-carlo":
            stderr = np.zeros_like(mass)  # deterministic rule: no sampling noise
        cut = np.flatnonzero(montecarlo.resolved_shortfall(mass, stderr, BOX_MASS_WARN)
                             & ~self.reference.continuum)  # placeholders have no norm to hold
        if not len(cut):
            return []
        k = int(cut[np.argmin(mass[cut])])
        return [f"the evaluation box holds only {100 * mass[k]:.2f} % of the norm of reference state {k + 1} "
                f"({len(cut)} state(s) below {100 * BOX_MASS_WARN:g} %): energies and errors of those modes are "
                "biased; enlarge evaluation.box"]

    def warnings(self) -> list[str]:
        """Caveats to show before training (one sentence each, with the fix).

        A shift above the continuum threshold; a finite-difference step near the rounding
        level of the dtype (``eps ℓ² / fd_step²`` above :data:`FD_ROUNDING_WARN`); the
        reference's own notes; an evaluation box that cuts off reference states; a last
        degenerate multiplet cut by ``modes``; fewer positive eigenvalues of T than modes
        (App. C.6); ``evaluation.ritz_degree > 0`` on a Monte Carlo rule (the extended basis fits
        the sampling noise, docs/bounds.md); a Gauss–Legendre rule that does not resolve V
        (structure between its nodes, :mod:`nsvd_cli.resolution`; also names a grid reference
        as coarse); a well of V below the shift where the sampling density is
        tiny (:mod:`nsvd_cli.coverage`). Computes the reference.
        """
        spec, out = self.spec, []
        rounding = self._fd_rounding()
        if rounding is not None and rounding > FD_ROUNDING_WARN:
            out.append(f"training.fd_step = {spec.training.fd_step:g} is close to the rounding level of "
                       f"{spec.training.dtype} (eps·ℓ²/h² = {rounding:.1e}): the Laplacian is noisy; use a larger "
                       "fd_step, dtype = \"float64\" or laplacian = \"exact\"")
        ev = spec.evaluation
        if ev.quadrature == "monte-carlo" and (ev.ritz_degree or 0) > 0:
            out.append(f"evaluation.ritz_degree = {ev.ritz_degree} with quadrature = \"monte-carlo\": the extended "
                       "Ritz basis fits the sampling noise (docs/bounds.md, A larger Ritz basis); use "
                       "ritz_degree = 0 or a deterministic rule")
        from .coverage import coverage_warning  # a well below the shift the sampling barely reaches
        from .defaults import training_warnings  # warmup beyond the iterations, a rising schedule
        out.extend(w for w in (self._resolution_warning(), coverage_warning(self), *training_warnings(spec)) if w)
        threshold = self.continuum_threshold
        if threshold is not None and self.shift > threshold:
            out.append(f"the shift {spec.shift:g} lies above the continuum threshold {threshold:g} of the potential: "
                       "T then has a continuous spectrum of positive eigenvalues, which the modes cannot resolve; "
                       f"use shift <= {threshold:g}")
        reference = self.reference
        if reference is None:
            return out
        out.extend(getattr(reference, "notes", ()))
        out.extend(self._box_warnings())
        if not reference.complete_last_group:
            out.append(f"modes = {spec.modes} cuts the last degenerate multiplet of the reference; the learned "
                       "subspace of that multiplet is ill-defined")
        n_pos = int(np.sum(self.reference_eigenvalues(reference.energies) > 0))
        if n_pos < spec.modes:
            levels = ", ".join(f"{e:.4g}" for e in np.asarray(reference.energies)[:n_pos + 1])
            out.append(f"the shift {spec.shift} leaves only {n_pos} positive eigenvalues of T among the {spec.modes} "
                       f"modes (reference levels E = {levels}{self._reference_domain()}); the extra modes converge "
                       "to zero (App. C.6)")
        return out

    def _resolution_warning(self) -> str | None:
        """:func:`nsvd_cli.resolution.resolution_warning` (None when V is resolved or not judged)."""
        from .resolution import resolution_warning

        return resolution_warning(self)

    def _reference_domain(self) -> str:
        """Where the reference levels live, when that is not the potential on all of R^D: a grid
        reference of a problem without walls is solved on ``evaluation.box`` with Dirichlet walls
        at its faces (:func:`nsvd_cli.baselines.reference.grid_reference`), so a small box moves its
        levels up (V = x² on [-1.5, 1.5]: 1.38, 5.01, 10.57 instead of 1, 3, 5). "" otherwise."""
        if self.reference_kind == "analytic" or self.walls is not None:
            return ""
        box = "[" + ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in self.spec.evaluation.box) + "]"
        return (f": the levels of the problem on the evaluation box {box} with walls at its faces, not of V on "
                "all of space; enlarge evaluation.box if those are meant")

    def check_spectrum(self) -> None:
        """Refuse a shift at or below every level of the reference (computes the reference).

        A level within :data:`AT_SHIFT_RTOL` of the shift counts as at it (eigenvalue 0 of T,
        :meth:`Conventions.reference_eigenvalues`): a shift at the ground level is refused too.

        ``T = s(−H + shift)`` then has no positive eigenvalue: every mode's norm goes to zero
        (App. C.6), nothing is learned and no error can be computed (the run used to train and
        print ``mean rel. error nan %``). Without a reference nothing is checked.

        Raises
        ------
        SpecError
            ``field = "shift"``, with the lowest levels and a shift that keeps the L modes.
        """
        from .errors import SpecError

        reference = self.reference
        if reference is None:
            return
        energies = np.asarray(reference.energies, np.float64)
        lam = self.reference_eigenvalues(energies)
        if np.any(lam > 0):
            return
        top = float(energies[min(self.modes, len(energies)) - 1])
        levels = ", ".join(f"{e:.4g}" for e in energies[:min(3, len(energies))])
        where = (f"at the level E_{int(np.flatnonzero(lam == 0)[0]) + 1} (within a relative {AT_SHIFT_RTOL:g}: "
                 "an eigenvalue 0 of T) and below every other level" if np.any(lam == 0) else "below every level")
        raise SpecError("shift", f"{self.spec.shift:g} lies {where} of the reference (E = {levels}"
                        f"{' …' if len(energies) > 3 else ''}{self._reference_domain()}): T = scale·(shift − H) has "
                        f"no positive eigenvalue, every mode would converge to zero (App. C.6) and nothing be "
                        f"learned; use a shift above the highest wanted level, E_{self.modes} = {top:.4g} "
                        "(docs/problems.md, Choosing the shift)")


def _hessian_at_origin(potential, dim: int, step: float = 1e-3) -> np.ndarray:
    """Hessian (D, D) of ``potential`` at x = 0 by central differences (float64)."""
    import torch

    e = np.eye(dim) * step
    pts = [np.zeros(dim)]
    for i in range(dim):
        for j in range(dim):
            pts += [e[i] + e[j], e[i] - e[j], -e[i] + e[j], -e[i] - e[j]]
    v = potential(torch.as_tensor(np.array(pts), dtype=torch.float64)).numpy()[1:].reshape(dim, dim, 4)
    return (v[..., 0] - v[..., 1] - v[..., 2] + v[..., 3]) / (4 * step * step)


def nonfinite_inputs(operator, sampling, model, model_points: int = 256) -> str | None:
    """Which input of the loss is not finite, for the message of a diverged run, or None.

    Looks, at :func:`nsvd_cli.sampling.fixed_draw` (its own generator: the run's streams are
    untouched) in the model's dtype and on its device, in this order at: the potential V
    (``operator.hamiltonian.potential``, when the operator has one) and the log importance
    weight ``log p_tr`` at all the points, then the model's values ψ and ``(Tψ)/sqrt(w_tr)``
    (``operator.apply``) at the first ``model_points`` of them. Called after the last
    rollback, with the last good weights restored.

    Returns
    -------
    str or None
        One clause naming the first non-finite input with a point where it is, e.g.
        ``"the potential V is not finite at 12 of 4096 training samples, e.g. x = [2.5] ..."``;
        None when all are finite there (the optimisation step itself diverged) or when the
        look itself fails: a diagnosis only, it never raises (it must not hide the divergence).
    """
    try:
        return _nonfinite_inputs(operator, sampling, model, model_points)
    except Exception:  # noqa: BLE001
        return None


def _nonfinite_clause(x, values, what: str, sampling, fix: str, prefer=None) -> str | None:
    """``"<what> is not finite at N of M training samples (sampling …), e.g. x = […]: <fix>"``
    for the rows of ``values`` (M, ...) at the points ``x`` (M, D), or None when all are
    finite; the example point is the first of ``prefer`` (a (M,) mask) when given."""
    import torch

    bad = ~torch.isfinite(values.reshape(len(values), -1)).all(-1)
    if not bad.any():
        return None
    first = x[int(torch.nonzero(bad if prefer is None else prefer)[0, 0])].double().cpu().numpy()
    return (f"{what} is not finite at {int(bad.sum())} of {len(values)} training samples (sampling {sampling}), "
            f"e.g. x = {np.round(first, 6).tolist()}: {fix}")


def _nonfinite_inputs(operator, sampling, model, model_points: int) -> str | None:
    """:func:`nonfinite_inputs` without the guard."""
    import torch

    from .sampling import fixed_draw

    param = next(model.parameters(), None)
    dtype, device = (param.dtype, param.device) if param is not None else (torch.float32, torch.device("cpu"))
    x = fixed_draw(sampling, dtype=dtype).to(device)

    def where(values, what, fix):
        return _nonfinite_clause(x, values, what, sampling, fix)

    potential = getattr(getattr(operator, "hamiltonian", None), "potential", None)
    with torch.no_grad():
        found = where(potential(x), "the potential V", "fix the potential or restrict the sampling") \
            if potential is not None else None
        found = found or where(sampling.log_density(x), "log p_tr (the importance weight)", "change the sampling")
        if found:
            return found
        x = x[:model_points]
        f, tf = operator.apply(model, x, sampling.log_density(x))
        return (where(f, "the model's ψ/sqrt(w_tr) (at the last good weights)", "lower training.learning_rate")
                or where(tf, "(Tψ)/sqrt(w_tr) (at the last good weights)",
                         "a Laplacian of the model or V·ψ overflows; lower training.learning_rate or use float64"))
