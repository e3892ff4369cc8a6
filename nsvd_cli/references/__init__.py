"""Closed-form eigenpairs of the benchmark Hamiltonians (numpy and scipy.special only).

Conventions follow :mod:`nsvd_cli.spec`: ``H = -kappa * Laplacian + V`` with energies
listed in ascending order.  Every reference gives the first ``L`` energies, quantum numbers,
the degenerate subspaces (``groups``) and real, L2-normalised eigenfunctions together with
their exact gradients (for the quadratic form ``kappa <grad psi, grad psi> + <psi, V psi>``).

Closed forms (``kind = "analytic"``):

* the harmonic oscillator ``V = sum_i omega_i^2 x_i^2`` in any dimension (J. J. Ryu et al.,
  ICML 2024, App. E.1.2), anisotropic included;
* the 2D hydrogen atom ``V = -charge / |x|`` (Yang et al., Phys. Rev. A 43, 1186 (1991));
* the 3D hydrogen atom (real solid harmonics times Laguerre radial functions);
* the infinite box (Dirichlet walls) in any dimension;
* the Morse and Pöschl–Teller wells in 1D (bound states; modes beyond the last bound state
  are continuum placeholders at the threshold energy with zero eigenfunctions).

This package holds closed forms only (cheap, no solver): one module per family. Problems
without one get a finite-difference grid reference from the grid solvers
(:mod:`nsvd_cli.baselines.reference`, eigsh, cached on disk); :func:`reference_kind` tells
which a spec gets without computing anything. For ``D >= 4`` without a closed form there is
none, and eigenvalues are Rayleigh-quotient estimates only (:data:`NO_REFERENCE`).
"""

from __future__ import annotations

from ..spec import ProblemSpec, walls
from ._base import ENERGY_RTOL, NO_REFERENCE, ReferenceSolution
from .box import BoxReference, box_reference
from .harmonic import HarmonicReference, harmonic_reference, hermite_functions
from .hydrogen2d import Hydrogen2DReference, hydrogen2d_reference
from .hydrogen3d import Hydrogen3DReference, hydrogen3d_reference
from .wells import MorseReference, PoschlTellerReference, morse_reference, poschl_teller_reference

__all__ = [
    "ReferenceSolution",
    "HarmonicReference",
    "Hydrogen2DReference",
    "Hydrogen3DReference",
    "BoxReference",
    "MorseReference",
    "PoschlTellerReference",
    "harmonic_reference",
    "hydrogen2d_reference",
    "hydrogen3d_reference",
    "box_reference",
    "morse_reference",
    "poschl_teller_reference",
    "hermite_functions",
    "analytic_reference",
    "has_closed_form",
    "reference_kind",
    "ENERGY_RTOL",
    "NO_REFERENCE",
]


def analytic_reference(spec: ProblemSpec) -> ReferenceSolution | None:
    """The closed-form reference of a problem, or ``None`` if it has none.

    harmonic (any D) -> :func:`harmonic_reference`; unsoftened coulomb in 2D / 3D ->
    :func:`hydrogen2d_reference` / :func:`hydrogen3d_reference`; box ->
    :func:`box_reference`; morse, poschl_teller -> :func:`morse_reference`,
    :func:`poschl_teller_reference`.  A ``box`` envelope on another potential adds walls,
    which no closed form here includes (-> ``None``).
    """
    pot = spec.potential
    if pot.kind == "box":
        return box_reference(pot.box, spec.modes, spec.kinetic)
    if walls(spec) is not None:
        return None
    if pot.kind == "harmonic":
        return harmonic_reference(pot.omega, spec.modes, spec.kinetic)
    if pot.kind == "coulomb" and pot.softening == 0 and spec.dimension == 2:
        return hydrogen2d_reference(spec.modes, pot.charge, spec.kinetic)
    if pot.kind == "coulomb" and pot.softening == 0 and spec.dimension == 3:
        return hydrogen3d_reference(spec.modes, pot.charge, spec.kinetic)
    if pot.kind == "morse":
        return morse_reference(spec.modes, pot.depth, pot.a, pot.center, spec.kinetic)
    if pot.kind == "poschl_teller":
        return poschl_teller_reference(spec.modes, pot.lam, spec.kinetic)
    return None


def has_closed_form(spec: ProblemSpec) -> bool:
    """Whether the spec's problem has a closed-form reference here (computes nothing)."""
    pot = spec.potential
    if pot.kind == "box":
        return True
    if walls(spec) is not None:
        return False
    if pot.kind == "coulomb":
        return pot.softening == 0 and spec.dimension in (2, 3)
    return pot.kind in ("harmonic", "morse", "poschl_teller")


def reference_kind(spec: ProblemSpec) -> str:
    """``"analytic"``, ``"grid"`` or ``"none"``: the reference a spec gets (computes nothing).

    Follows ``spec.reference``: ``"auto"`` -> the closed form where one exists, else a grid
    reference for ``D <= 3`` (except Coulomb potentials without closed form: their states
    spread over length scales growing like ``n^2`` that one uniform grid does not resolve),
    else none; ``"analytic"`` -> closed form or none; ``"grid"``; ``"none"``.
    """
    if spec.reference == "none":
        return "none"
    if spec.reference == "grid":
        return "grid"
    if has_closed_form(spec):
        return "analytic"
    if spec.reference == "auto" and spec.dimension <= 3 and spec.potential.kind != "coulomb":
        return "grid"
    return "none"
