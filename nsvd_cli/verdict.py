"""Per-mode convergence verdict of learned eigenpairs, from independent signals.

A run without a reference must still tell the user which modes can be trusted. Each mode
is judged from signals that all vanish at the NestedLoRA optimum (paper Sec. 3, App. D.5),
none of which needs the exact answer:

* **agreement** — the Rayleigh quotient ``λ_R = <ψ|Tψ>/<ψ|ψ>`` and the norm estimate
  ``λ_N = ||ψ||²`` are equal at the optimum (``ψ_l = sqrt(λ_l) φ_l``, App. D.5). Stationarity
  in the amplitude of mode l alone gives ``λ_N = λ_R − Σ_{k<l} <u_l|ψ_k>²`` (u_l = ψ_l/||ψ_l||),
  so a gap flags an amplitude that has not settled or a mode that overlaps an earlier one.
* **overlap** — the largest ``|G_lk|``, k < l, of the normalised Gram matrix: a mode that
  copies an earlier one (two modes in one eigenstate) is not orthogonal to it.
* **order** — NestedLoRA orders the modes by eigenvalue of T (descending): a mode whose
  Rayleigh quotient exceeds an earlier mode's has found a state the earlier one missed.
* **drift** — the relative change of ``λ_R`` over the last periodic evaluations: still moving
  means not converged.
* **residual** (where available) — ``σ_l = ||(H − E_l)ψ_l|| / ||ψ_l||``. The interval
  ``[E_l − σ_l, E_l + σ_l]`` holds an exact eigenvalue (Weinstein). The mode fails when
  ``σ_l`` exceeds ``residual`` (default 1) times the gap ``g_l`` to the other learned levels
  (for the highest mode, the mean level spacing): its interval then reaches the neighbouring
  level and cannot tell which eigenvalue it is near. This is the only signal that catches a
  function orthogonal to the earlier modes but a mixture of eigenstates. It is deliberately
  loose: the network's
  Laplacian is rough far out in the tails, so ``σ_l²/g_l`` (the Kato–Temple error estimate)
  overstates the error of a converged mode by orders of magnitude (measured: 1e-4 relative
  error with ``σ²/g`` of 1e-2). It is skipped where ``Hψ`` is not square-integrable on the
  rule (Coulomb cusps) and on deterministic rules in D ≥ 4 or too large for it
  (``evaluate.RESIDUAL_BUDGET``); on Monte Carlo rules it is an estimate (any D).
* **error estimate** (with the residual) — the Kato–Temple estimate ``σ_l² / g_l`` of the
  level's error, relative to ``|λ_l| / s``, must not exceed ``error_estimate`` (5 × the
  agreement tolerance). ``σ²/g`` bounds the error of an isolated level from above but
  overstates it when the residual comes from high-energy roughness (tails): measured on
  converged runs it is 7–2000 × the true error, at most 4.8 % (anharmonic1d mode 10 of 11,
  error 0.012 %; harmonic2d defaults ≤ 2.0 %, harmonic6d/10d ≤ 0.6 %), and ~6 × on the
  quartic6d with its former Gaussian envelope (1.5 % errors, estimate ~9 % with the gap 2.74 of its levels).
  The factor 5 thus allows the measured overstatement of converged modes and still fails a
  mode of that kind from ~0.9 % error up. It is the signal that catches a run frozen by the
  learning-rate decay: the Rayleigh and norm estimates agree and the drift vanishes as the
  step size goes to zero, converged or not (quartic6d with the Gaussian envelope, 6000 iterations: 1.5–1.8 % errors,
  agreement ≤ 0.8 %, drift ≤ 5e-4, σ/g ≈ 0.5).

Agreement in a (near-)degenerate cluster (modes whose Rayleigh quotients differ by at most
``cluster_width``, a tenth of the agreement tolerance, relative): NestedLoRA fixes the rotation within a degenerate
subspace only weakly, so the amplitudes of its members can trade off (one ``λ_N`` a little
high, another low) while the cluster's span and levels are right. Rotation-invariant is the
trace: for ``Ψ_C = Φ_C Λ^{1/2} Q`` (any orthogonal Q) ``Σ_C λ_N = tr Λ``, as ``Σ_C λ_R``.
A cluster member therefore passes agreement when its own gap is at most
``cluster_agreement_cap`` (3) × the tolerance and the cluster's summed estimates agree
(``|Σ_C λ_R − Σ_C λ_N| / Σ_C |λ_R|`` within the tolerance); ``cluster_agreement`` holds that
summed gap per mode (NaN for a mode in no cluster). The width is well below the tolerance
because mixing states split by δ moves both estimates of a member by up to δ: a wider
cluster would let that mixing hide errors of the tolerance's size (measured: coupled_harmonic8d
with 5 modes, levels split by 1.1-1.5 %, learned 0.3-0.5 % apart: a 1 % width merged three
not-converged modes and passed one with a 1.02 % energy error and a 1.13 % agreement gap).

* **box edge** (deterministic rules on a box, disc or ball) — the fraction of the mode's
  squared norm in the outer layer of the evaluation rule's domain
  (:func:`nsvd_cli.quadrature.edge_mass`, the outer 5 %) must not exceed ``edge`` (1e-3):
  above, the domain cuts the function off, the integrals miss its tail and its Rayleigh
  quotient is not a variational value of H — it can lie below the true level (a new-user
  trial: ``V = x²`` on the box [-2, 2], ground state 0.958 for 1, edge mass 1 %). Learned
  functions of the built-in problems without walls have at most ~2e-4 there. Faces that are
  hard walls (``Problem.walls`` on the evaluation box) are left out: the eigenfunctions vanish
  there yet keep a finite share beside them (``sin(πx/L)``: 1.6e-3 of its norm in the outer
  5 %, box2d's ground state 3.3e-3), and a box that is the walls cuts nothing off (box2d: no
  layer left, not judged). Not scaled by the tolerance.

* **reference** (only where the run has a reference: a closed form, or the grid reference
  ``nsvd solve`` computes for a spec of your own) — the relative error of the mode's
  eigenvalue of T against the reference level of its row, ``|λ_R,l − λ_ref,l| / λ_ref,l``
  (the "rel. err" column of the solve table; relative to λ of T, not to the energy, so a
  level near E = 0 does not blow it up), must not exceed the agreement tolerance, widened by
  the reference's own estimated error and three Monte Carlo standard errors where there are
  any (:func:`reference_offsets`). The signals above vanish at *any* stationary point of the
  objective; a network that converged cleanly onto the wrong level passes all of them (a
  new-user trial: a tilted double well whose first mode settled in the upper well — the
  second state — with agreement 1e-3, reported ✓ beside a 26.5 % error). The energy is
  judged too (:func:`reference_energy_offsets`): its plain relative error, except within Δ/10
  of E = 0 (Δ the mean level spacing, :data:`NEAR_ZERO`); a large shift c inflates λ = s(c − E)
  (c = 200: the same wrong state 0.57 % off in λ, 61.6 % in E). A mode fails when either
  exceeds the tolerance; the reason states both, ``reference: E 11.3 % off (λ 0.634 %)``.
  Stored built-in runs are well inside on both (numbers in docs/reliability.md).
  :func:`nearer_other_levels` tells a mode that settled on another state (nearer another
  reference level than its own) from one not yet converged to its own (the advice differs).

A mode is *converged* when every available signal is within its tolerance
(:class:`Tolerances`). Modes whose eigenvalue of T is ≤ 0 are judged on ``λ_N ≈ 0`` alone
(they should vanish, App. C.6) and reported as such.

Tolerances are relative to the eigenvalue ``λ_l`` of T, the quantity the objective is
scaled by (paper App. E.1.3), except ``overlap`` (a cosine) and ``residual`` (σ over gap).

:func:`missed_levels` tells, from a reference, which intervals of
:mod:`nsvd_cli.bounds` miss their level (the containment test of ``nsvd compare``): the
intervals assume no level below the highest learned one was missed, and a run whose modes
skipped a level violates that assumption.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics import NEAR_ZERO, floored_relative_errors, mean_level_spacing

__all__ = ["Tolerances", "Verdict", "judge", "residual_norms", "reference_offsets", "reference_energy_offsets",
           "reference_allowance", "nearer_other_levels", "missed_levels", "NEAR_ZERO"]

#: (``NEAR_ZERO``, from :mod:`nsvd_cli.metrics`:) a reference level nearer E = 0 than this fraction
#: of the mean level spacing Δ is "near zero": the verdict's energy offset is then relative to
#: ``NEAR_ZERO · Δ``, elsewhere to ``|E_ref|``.


@dataclass(frozen=True)
class Tolerances:
    """Thresholds of the verdict (all dimensionless).

    Attributes
    ----------
    agreement : float
        Largest ``|λ_R − λ_N| / |λ_R|``.
    overlap : float
        Largest normalised Gram entry with an earlier mode.
    order : float
        Largest relative excess ``(λ_R,l − min_{k<l} λ_R,k) / |λ_R,l|`` (noise allowance).
    drift : float
        Largest relative change of ``λ_R`` between the last two periodic evaluations.
    residual : float
        Largest ``σ_l / g_l`` (residual over the gap to the other levels).
    error_estimate : float
        Largest Kato–Temple estimate ``s σ_l² / (g_l |λ_l|)`` (relative error of λ_l).
    cluster_agreement_cap : float
        A member of a (near-)degenerate cluster passes agreement on the cluster's summed
        estimates only if its own gap is at most this many times ``agreement``.
    cluster_width : float
        Largest relative difference of consecutive Rayleigh quotients within a cluster.
    edge : float
        Largest fraction of a mode's squared norm in the outer layer of the evaluation rule's
        domain (:func:`nsvd_cli.quadrature.edge_mass`).
    """

    agreement: float = 0.01
    overlap: float = 0.05
    order: float = 1e-3
    drift: float = 2e-3
    residual: float = 1.0
    error_estimate: float = 0.05
    cluster_agreement_cap: float = 3.0
    cluster_width: float = 1e-3
    edge: float = 1e-3

    def with_agreement(self, agreement: float) -> "Tolerances":
        """Tolerances for a given ``agreement`` (the spec's ``training.tolerance``): the
        overlap, order, drift, error-estimate and cluster-width thresholds scale with it;
        ``residual`` and the cluster cap (ratios) stay."""
        f = agreement / self.agreement
        return Tolerances(agreement, self.overlap * f, self.order * f, self.drift * f, self.residual,
                          self.error_estimate * f, self.cluster_agreement_cap, self.cluster_width * f, self.edge)


@dataclass
class Verdict:
    """The verdict on L learned modes; arrays have shape (L,).

    ``converged`` is the per-mode boolean; the other arrays are the signals (NaN where a
    signal is not available); ``reasons[l]`` names the failed signals ("" if converged).
    ``vanishing`` marks modes whose eigenvalue of T is ≤ 0 (judged on their norm alone).
    ``reference_offset`` is ``|λ_R − λ_ref| / λ_ref`` against the reference level of each row,
    ``reference_energy_offset`` the same on the energy scale, ``|E − E_ref| / max(|E_ref|, Δ/10)``
    (:func:`reference_energy_offsets`), and ``nearer_other_level`` marks modes nearer another
    reference level than their own (:func:`nearer_other_levels`: settled on another state,
    rather than not yet converged). All None without a reference (the energy offset also
    without reference energies); NaN (False) for a mode not judged.
    """

    converged: np.ndarray
    agreement: np.ndarray
    overlap: np.ndarray
    order_excess: np.ndarray
    drift: np.ndarray
    residual: np.ndarray
    residual_ratio: np.ndarray
    vanishing: np.ndarray
    error_estimate: np.ndarray = None
    cluster_agreement: np.ndarray = None
    edge_mass: np.ndarray = None
    reference_offset: np.ndarray = None
    reference_energy_offset: np.ndarray = None
    nearer_other_level: np.ndarray = None
    reasons: list[str] = field(default_factory=list)
    tolerances: Tolerances = field(default_factory=Tolerances)

    @property
    def n_converged(self) -> int:
        return int(np.sum(self.converged))

    @property
    def all_converged(self) -> bool:
        return bool(np.all(self.converged))

    def summary_line(self) -> str:
        """E.g. ``"9 of 11 modes converged; not converged: #10 (overlap, order), #11 (residual)"``."""
        L = len(self.converged)
        if self.all_converged:
            return "the mode converged" if L == 1 else f"all {L} modes converged"
        bad = [f"#{l + 1} ({self.reasons[l]})" for l in np.flatnonzero(~self.converged)]
        return f"{self.n_converged} of {L} modes converged; not converged: " + ", ".join(bad)

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-mode datasets stored in a results file (name -> (L,) array)."""
        return {"converged": self.converged, "agreement": self.agreement, "overlap": self.overlap,
                "order_excess": self.order_excess, "drift": self.drift, "residual": self.residual,
                "residual_ratio": self.residual_ratio, "vanishing": self.vanishing,
                **{k: v for k, v in (("error_estimate", self.error_estimate),
                                     ("cluster_agreement", self.cluster_agreement),
                                     ("edge_mass", self.edge_mass),
                                     ("reference_offset", self.reference_offset),
                                     ("reference_energy_offset", self.reference_energy_offset),
                                     ("nearer_other_level", self.nearer_other_level)) if v is not None}}


def residual_norms(values: np.ndarray, h_values: np.ndarray, weights: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Relative residuals ``σ_l = ||(H − E_l)ψ_l|| / ||ψ_l||`` from values on a rule.

    Parameters
    ----------
    values, h_values : ndarray, shape (N, L)
        ``ψ_l`` and ``Hψ_l`` at the nodes (``H = −κ∇² + V``).
    weights : ndarray, shape (N,)
        Quadrature (or importance) weights.
    energies : ndarray, shape (L,)
        Rayleigh quotients ``E_l`` of H.

    Returns
    -------
    ndarray, shape (L,)
        ``σ_l`` in energy units (≥ 0; NaN for a mode of zero norm).
    """
    w = np.asarray(weights, np.float64)[:, None]
    r = h_values - values * np.asarray(energies)[None, :]
    norm2 = np.sum(w * values**2, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm2 > 0, np.sqrt(np.sum(w * r**2, 0) / norm2), np.nan)


def _gaps(energies: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Estimated gap of each level to the nearest *other* level (cluster-aware).

    Levels closer than the sum of their residuals are one cluster (a (near-)degenerate
    subspace); the gap of a cluster is its distance to the nearest level outside it. The
    highest cluster has no learned level above: the mean spacing of the clusters is used.
    When the residuals merge *every* level into one cluster (L > 1; a Schrödinger ground
    state is non-degenerate, so the wanted levels are never all equal), the residuals are
    too large to separate any level: the gap is then the mean spacing of the levels
    themselves, so that every mode fails (before, the gap was undefined and the check was
    silently skipped).
    """
    L = len(energies)
    order = np.argsort(energies)
    e, s = energies[order], np.nan_to_num(sigma[order], nan=0.0)
    cluster = np.zeros(L, int)
    for i in range(1, L):
        cluster[i] = cluster[i - 1] + (e[i] - e[i - 1] > s[i] + s[i - 1])
    n_c = cluster[-1] + 1
    lo = np.array([e[cluster == c].min() for c in range(n_c)])
    hi = np.array([e[cluster == c].max() for c in range(n_c)])
    if n_c > 1:
        spacing = (lo[-1] - lo[0]) / (n_c - 1)
    else:
        spacing = (e[-1] - e[0]) / (L - 1) if L > 1 else np.nan
    below = np.r_[np.inf, lo[1:] - hi[:-1]]
    above = np.r_[lo[1:] - hi[:-1], spacing]
    gap_sorted = np.minimum(below, above)[cluster]
    out = np.empty(L)
    out[order] = gap_sorted
    return out


def _cluster_agreement(lam: np.ndarray, lam_n: np.ndarray, width: float) -> np.ndarray:
    """Summed agreement ``|Σ_C λ_R − Σ_C λ_N| / Σ_C |λ_R|`` of each mode's (near-)degenerate
    cluster C, shape (L,); NaN for a mode alone. Clusters: modes of ``λ_R > 0`` chained by
    consecutive Rayleigh quotients (sorted) within ``width`` of each other, relative."""
    L = len(lam)
    out = np.full(L, np.nan)
    idx = [i for i in np.argsort(-lam) if lam[i] > 0]
    groups, current = [], idx[:1]
    for a, b in zip(idx, idx[1:]):
        if abs(lam[a] - lam[b]) <= width * max(abs(lam[a]), abs(lam[b])):
            current.append(b)
        else:
            groups.append(current)
            current = [b]
    groups.append(current)
    for g in groups:
        if len(g) > 1:
            out[g] = abs(lam[g].sum() - lam_n[g].sum()) / np.abs(lam[g]).sum()
    return out


def reference_offsets(eigenvalues, reference_eigenvalues, *, allowance=None) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of the learned eigenvalues from the reference levels of their rows.

    Row l is compared with the l-th reference level (as the solve table does): NestedLoRA
    orders its modes as the levels, so a mode that skipped a level is off by a level spacing.

    Parameters
    ----------
    eigenvalues : ndarray, shape (L,)
        Rayleigh quotients ``λ_R`` of T, mode order.
    reference_eigenvalues : ndarray, shape (L,)
        ``λ_ref`` of T of the reference levels (descending); entries ``≤ 0`` or NaN: the level
        is not learned (App. C.6), no offset.
    allowance : ndarray, shape (L,), optional
        Relative uncertainty of the comparison itself (the reference's estimated error, Monte
        Carlo noise), added to the tolerance by :func:`judge`; NaN counts as 0.

    Returns
    -------
    offset : ndarray, shape (L,)
        ``|λ_R − λ_ref| / λ_ref`` (NaN where there is no positive reference level).
    allowance : ndarray, shape (L,)
        ``allowance`` with NaN as 0 (zeros without one).
    """
    lam = np.asarray(eigenvalues, np.float64)
    ref = np.asarray(reference_eigenvalues, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.where(ref > 0, np.abs(lam - ref) / np.where(ref > 0, ref, 1.0), np.nan)
    extra = np.zeros(len(lam)) if allowance is None else np.nan_to_num(np.asarray(allowance, np.float64))
    return offset, extra


def reference_allowance(reference_eigenvalues, scale: float, reference_error=None, stderr=None) -> np.ndarray:
    """Relative uncertainty of the offsets of :func:`reference_offsets`, shape (L,).

    ``s · ΔE_ref / |λ_ref|`` (the reference's estimated energy error ``reference_error``,
    (L,), in units of its eigenvalue of T; a grid reference's Richardson estimate, zeros for
    a closed form) plus 3 Monte Carlo standard errors of the relative error
    (``stderr["relative_errors"]`` of a Monte Carlo evaluation). NaN and missing parts count 0.
    """
    ref = np.asarray(reference_eigenvalues, np.float64)
    out = np.zeros(len(ref))
    if reference_error is not None and len(reference_error) == len(ref):
        with np.errstate(divide="ignore", invalid="ignore"):
            out += np.nan_to_num(abs(scale) * np.asarray(reference_error, np.float64) / np.abs(ref), posinf=0.0)
    se = (stderr or {}).get("relative_errors")
    if se is not None and len(se) == len(ref):
        out += 3 * np.nan_to_num(np.asarray(se, np.float64))
    return out


def reference_energy_offsets(eigenvalues, reference_eigenvalues, reference_energies, scale: float,
                             *, allowance=None) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of the learned levels from the reference levels of their rows, on the energy
    scale: ``|E − E_ref| / max(|E_ref|, NEAR_ZERO · Δ)`` (Δ the reference's mean level spacing):
    the plain relative error of E except within Δ/10 of E = 0, where it would blow up.
    ``nsvd compare``'s table floors at Δ itself (its caption says so); a decision at Δ let
    quartic1d's ground level (1.06, Δ = 3.80) pass 3.6 % off. The offset of
    :func:`reference_offsets` is relative to ``λ_ref = s (c − E_ref)``, which a large shift c
    inflates (c = 200: a mode on the double well's second state, E 2.958 for the ground level
    1.830, is 0.57 % off in λ, 61 % here). Both are judged.

    Parameters
    ----------
    eigenvalues, reference_eigenvalues : ndarray, shape (L,)
        ``λ_R`` and ``λ_ref`` of T (as :func:`reference_offsets`); ``λ_ref ≤ 0`` or NaN: no offset.
    reference_energies : ndarray, shape (L,)
        ``E_ref`` of H, ascending (the same levels).
    scale : float
        ``s`` of ``T = s(−H + c)``: ``E = E_ref − (λ_R − λ_ref) / s``.
    allowance : ndarray, shape (L,), optional
        The relative allowance of :func:`reference_offsets` (units of ``λ_ref``), converted to
        this scale as ``allowance · λ_ref / (s · max(|E_ref|, NEAR_ZERO · Δ))``; NaN counts as 0.

    Returns
    -------
    offset, allowance : ndarray, shape (L,)
        NaN offset where there is no positive reference level or the denominator is 0.
    """
    lam = np.asarray(eigenvalues, np.float64)
    ref = np.asarray(reference_eigenvalues, np.float64)
    e_ref = np.asarray(reference_energies, np.float64)
    floor = NEAR_ZERO * mean_level_spacing(e_ref)
    denom = np.maximum(np.abs(e_ref), floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = floored_relative_errors(e_ref - (lam - ref) / scale, e_ref, floor)
        ok = (ref > 0) & (denom > 0)
        offset = np.where(ok, offset, np.nan)
        extra = np.zeros(len(lam)) if allowance is None else np.nan_to_num(np.asarray(allowance, np.float64))
        extra = np.where(ok, extra * np.where(ok, ref, 0.0) / (abs(scale) * np.where(ok, denom, 1.0)), 0.0)
    return offset, extra


def nearer_other_levels(eigenvalues, reference_eigenvalues) -> np.ndarray:
    """Which modes lie nearer another reference level than their own, shape (L,) bool.

    Mode l is off its own level (row l) by ``d = λ_R,l − λ_ref,l``; it has settled on another
    state when ``|d|`` exceeds half the distance from its level to the next distinct reference
    level on that side (the mean spacing ``(max λ_ref − min λ_ref) / (L − 1)`` where the
    reference has no level on that side: a mode past the highest learned level is nearer the
    unlisted one above). Otherwise it is on its way to its own level, not yet converged.
    Nearness in ``λ = s(c − E)`` is nearness in energy. False where the mode's reference level
    is not positive (not judged) or nothing is known of the spacing (one level).

    Parameters
    ----------
    eigenvalues, reference_eigenvalues : ndarray, shape (L,)
        ``λ_R`` of the modes and ``λ_ref`` of the reference levels of their rows (descending).
    """
    lam = np.asarray(eigenvalues, np.float64)
    ref = np.asarray(reference_eigenvalues, np.float64)
    finite = ref[np.isfinite(ref)]
    spacing = (finite.max() - finite.min()) / (len(finite) - 1) if len(finite) > 1 else np.nan
    out = np.zeros(len(lam), bool)
    for l in np.flatnonzero(ref > 0):
        d = lam[l] - ref[l]
        side = (finite - ref[l]) * np.sign(d)  # distances to the levels on the side of the offset
        side = side[side > 1e-9 * abs(ref[l])]  # degenerate partners are the same level
        gap = side.min() if len(side) else spacing
        out[l] = bool(abs(d) > gap / 2)
    return out


def missed_levels(bounds, reference_energies, counted=None) -> np.ndarray:
    """Which intervals miss their reference level: ``bounds`` interval k (around the k-th
    lowest Ritz value) does not contain the k-th reference energy.

    The test is :meth:`nsvd_cli.bounds.LevelBounds.contains`, the one behind ``nsvd compare``'s
    "in interval" column. A miss means the intervals' assumption failed — a level below the
    highest learned one was skipped by the learned span (then every interval above it is
    about the wrong level) — or the rule's integration error exceeds its estimate.

    Parameters
    ----------
    bounds : LevelBounds
        Intervals of L levels, energies of H, ascending.
    reference_energies : ndarray, shape (L,)
        The reference levels, ascending.
    counted : ndarray of bool, shape (L,), optional
        Levels that are learned at all (reference eigenvalue of T > 0); the others never miss.

    Returns
    -------
    ndarray of bool, shape (L,)
        True where level k has an interval and its reference level lies outside it.
    """
    ref = np.asarray(reference_energies, np.float64)
    n = min(len(ref), len(bounds.lower))
    inside = np.full(len(bounds.lower), np.nan)
    inside[:n] = bounds.contains(ref[:n])[:n]  # bounds.contains wants (L,); a shorter reference: NaN beyond
    out = inside == 0.0
    if counted is not None:
        c = np.zeros(len(out), bool)
        c[:min(len(out), len(counted))] = np.asarray(counted, bool)[:len(out)]
        out &= c
    return out


def _percent(x: float) -> str:
    """3 significant digits, no exponent (``26.5``, ``1.2``, ``1234``)."""
    return f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def judge(eigenvalues: np.ndarray, norm_eigenvalues: np.ndarray, gram: np.ndarray, *, scale: float = 1.0,
          previous_eigenvalues: np.ndarray | None = None, residuals: np.ndarray | None = None,
          tolerances: Tolerances = Tolerances(), bound=None, edge_mass=None, reference_eigenvalues=None,
          reference_allowance=None, reference_energies=None) -> Verdict:
    """Judge each learned mode (see the module docstring for the signals).

    Parameters
    ----------
    eigenvalues : ndarray, shape (L,)
        Rayleigh-quotient eigenvalues ``λ_R`` of T in mode order.
    norm_eigenvalues : ndarray, shape (L,)
        Norm estimates ``λ_N = ||ψ_l||²`` (App. D.5); NaN where there is none (a method that
        normalises its outputs): agreement is then not judged, and no mode is a vanishing one.
    gram : ndarray, shape (L, L)
        Normalised Gram matrix of the learned functions.
    scale : float
        ``s`` of ``T = s(−H + c)``, to turn energy residuals into eigenvalues of T.
    previous_eigenvalues : ndarray, shape (L,), optional
        ``λ_R`` at the previous periodic evaluation (drift); without it drift is not judged.
    residuals : ndarray, shape (L,), optional
        ``σ_l`` from :func:`residual_norms` (energy units); NaN entries are skipped.
    tolerances : Tolerances
    bound : ndarray of bool, shape (L,), optional
        Where known (a reference: its eigenvalue of T is > 0), which modes belong to a level
        with ``λ > 0``. Such a mode is never judged as a vanishing one: a learned ``λ_R ≤ 0``
        there fails with the reason "λ ≤ 0 for a level with λ > 0" (without a reference a
        mode of ``λ_R ≤ 0`` is taken to be one that should vanish when every later mode has
        ``λ_R ≤ 0`` too; one before a mode with ``λ_R > 0`` fails with "λ ≤ 0 before a mode
        with λ > 0").
    edge_mass : ndarray, shape (L,), optional
        Fraction of each mode's squared norm in the outer layer of the rule's domain
        (:func:`nsvd_cli.quadrature.edge_mass`); None: not judged (a rule on all of R^D).
    reference_eigenvalues : ndarray, shape (L,), optional
        ``λ_ref`` of T of the reference levels, row l against level l (:func:`reference_offsets`);
        a mode off by more than ``tolerances.agreement`` (plus ``reference_allowance``) fails
        with the reason ``"reference: λ 26.5 % off"``. None: not judged (no reference).
    reference_allowance : ndarray, shape (L,), optional
        Relative uncertainty of the comparison (reference error, Monte Carlo noise).
    reference_energies : ndarray, shape (L,), optional
        ``E_ref`` of H of the same levels: the offset is also judged on the energy scale
        (:func:`reference_energy_offsets`, same tolerance, allowance converted), and a failed
        mode's reason gives both, ``"reference: E 61.6 % off (λ 0.569 %)"``.

    Returns
    -------
    Verdict
    """
    lam = np.asarray(eigenvalues, np.float64)
    lam_n = np.asarray(norm_eigenvalues, np.float64)
    L = len(lam)
    tol = tolerances
    vanishing = lam <= 0
    misplaced = np.zeros(L, bool) if bound is None else vanishing & np.asarray(bound, bool)
    # without a reference, only a trailing run of λ_R ≤ 0 modes can be the ones that vanish: one
    # followed by a mode with λ_R > 0 is out of order (a trial: mode 6 of 7 at λ_R = −5.4 got ✓)
    later_positive = np.flip(np.maximum.accumulate(np.flip(np.where(np.isnan(lam), False, lam > 0))))
    early = vanishing & np.concatenate([later_positive[1:], [False]]) if bound is None else np.zeros(L, bool)
    vanishing = vanishing & ~misplaced & ~early & np.isfinite(lam_n)  # NaN λ_N (NeuralEF, SpIN): no mode vanishes
    mag = np.maximum(np.abs(lam), np.finfo(float).tiny)
    signals = _signals(lam, lam_n, gram, mag, scale, previous_eigenvalues, residuals, tol)
    checks = _checks(signals, tol, edge_mass, L)
    ref = {"reasons": [""] * L} if reference_eigenvalues is None else _reference_check(
        lam, reference_eigenvalues, reference_energies, reference_allowance, scale, misplaced, tol)
    # a mode of T-eigenvalue <= 0 should vanish: its norm must be ~0 next to the leading mode
    lead = max(float(np.nanmax(np.abs(lam_n), initial=0.0)), np.finfo(float).tiny)
    reasons = []
    for l in range(L):
        if vanishing[l]:
            reasons.append("" if lam_n[l] <= tol.agreement * lead else "norm of a λ ≤ 0 mode")
            continue
        failed = [k for k, bad in checks.items() if bad[l]] + ([ref["reasons"][l]] if ref["reasons"][l] else [])
        order = ["λ ≤ 0 for a level with λ > 0"] if misplaced[l] else ["λ ≤ 0 before a mode with λ > 0"] if early[l] \
            else []
        reasons.append(", ".join(order + failed))
    converged = np.array([r == "" for r in reasons])
    return Verdict(converged=converged, vanishing=vanishing, reasons=reasons, tolerances=tol,
                   edge_mass=None if edge_mass is None else np.asarray(edge_mass, np.float64),
                   reference_offset=ref.get("offset"), reference_energy_offset=ref.get("energy_offset"),
                   nearer_other_level=ref.get("nearer_other"), **signals)


def _reference_check(lam, reference_eigenvalues, reference_energies, allowance, scale, misplaced, tol) -> dict:
    """The reference check of :func:`judge`: ``offset``, ``energy_offset`` (None without
    reference energies), ``nearer_other`` (each (L,); NaN / False for a mode not judged) and
    ``reasons`` (L strings, "" where the mode is within the tolerance on both scales)."""
    offset, extra = reference_offsets(lam, reference_eigenvalues, allowance=allowance)
    offset = np.where(misplaced, np.nan, offset)  # a λ ≤ 0 for a bound level already fails, and says why
    nearer_other = ~np.isnan(offset) & nearer_other_levels(lam, reference_eigenvalues)
    e_offset, e_extra = np.full(len(lam), np.nan), np.zeros(len(lam))
    if reference_energies is not None:
        e_offset, e_extra = reference_energy_offsets(lam, reference_eigenvalues, reference_energies, scale,
                                                     allowance=extra)
        e_offset = np.where(np.isnan(offset), np.nan, e_offset)
    e_ref = [None] * len(lam) if reference_energies is None else np.asarray(reference_energies, np.float64)
    floor = 0.0 if reference_energies is None else NEAR_ZERO * mean_level_spacing(e_ref)
    d_e = np.abs(lam - np.asarray(reference_eigenvalues, np.float64)) / abs(scale)
    reasons = [_reference_reason(offset[l], e_offset[l], e_ref[l], d_e[l], floor)
               if offset[l] > tol.agreement + extra[l] or e_offset[l] > tol.agreement + e_extra[l] else ""
               for l in range(len(lam))]
    return {"offset": offset, "energy_offset": None if reference_energies is None else e_offset,
            "nearer_other": nearer_other, "reasons": reasons}


def _reference_reason(offset: float, e_offset: float, e_ref: float | None, d_e: float, floor: float) -> str:
    """A mode off its reference level, in the quantities the user reads: the energy's relative
    error (near E = 0 its absolute error ``d_e`` and the floor it is judged against), then λ's."""
    lam = f"λ {_percent(100 * offset)} %"
    if e_ref is None or np.isnan(e_offset):
        return f"reference: {lam} off"
    if abs(e_ref) >= floor:
        return f"reference: E {_percent(100 * e_offset)} % off ({lam})"
    return f"reference: E off by {d_e:.3g} near E = 0 ({_percent(100 * e_offset)} % of Δ/10 = {floor:.3g}; {lam})"


def _signals(lam, lam_n, gram, mag, scale, previous_eigenvalues, residuals, tol) -> dict[str, np.ndarray]:
    """The per-mode signals of :func:`judge` (the :class:`Verdict` fields), each (L,)."""
    L = len(lam)
    g = np.abs(np.asarray(gram, np.float64))
    running_min = np.minimum.accumulate(np.r_[np.inf, lam[:-1]])
    sigma = np.full(L, np.nan) if residuals is None else np.asarray(residuals, np.float64)
    energies = -lam / scale  # energies up to the shift: only differences enter the gaps
    gaps = _gaps(energies, sigma)
    return {"agreement": np.abs(lam - lam_n) / mag,
            "overlap": np.array([g[l, :l].max() if l else 0.0 for l in range(L)]),
            "order_excess": np.maximum(lam - running_min, 0.0) / mag,
            "drift": (np.abs(lam - previous_eigenvalues) / mag if previous_eigenvalues is not None
                      else np.full(L, np.nan)),
            "residual": sigma, "residual_ratio": sigma / gaps,
            # Kato–Temple σ²/g relative to λ (energy -> T units)
            "error_estimate": scale * sigma**2 / gaps / mag,
            "cluster_agreement": _cluster_agreement(lam, lam_n, tol.cluster_width)}


def _checks(sig: dict, tol: Tolerances, edge_mass, L: int) -> dict[str, np.ndarray]:
    """Failed-signal masks (name -> (L,) bool) from :func:`_signals`."""
    agreement, cluster = sig["agreement"], sig["cluster_agreement"]
    agreement_fails = (agreement > tol.agreement) & ~((cluster <= tol.agreement)
                                                       & (agreement <= tol.cluster_agreement_cap * tol.agreement))
    return {"agreement": agreement_fails, "overlap": sig["overlap"] > tol.overlap,
            "order": sig["order_excess"] > tol.order, "drift": sig["drift"] > tol.drift,
            "residual": sig["residual_ratio"] > tol.residual,
            "error estimate": sig["error_estimate"] > tol.error_estimate,
            "box edge": (np.zeros(L, bool) if edge_mass is None
                         else np.nan_to_num(np.asarray(edge_mass, np.float64)) > tol.edge)}
