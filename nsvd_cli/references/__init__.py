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
* the coupled oscillator ``V = x^T A x`` in any dimension, from the normal modes of ``A``;
* the infinite box (Dirichlet walls) in any dimension;
* the Morse and Pöschl–Teller wells in 1D (bound states; modes beyond the last bound state
  are continuum placeholders at the threshold energy with zero eigenfunctions).

This package holds closed forms only (cheap, no solver): one module per family. Problems
without one get a finite-difference grid reference from the grid solvers
(:mod:`nsvd_cli.baselines.reference`, eigsh, cached on disk); :func:`reference_kind` tells
which a spec gets without computing anything. Separable potentials ``sum_i v_i(x_i)``
(``quartic``, ``double_well``, ``separable``) get sums of 1D grid solutions in any dimension
(:mod:`nsvd_cli.baselines.separable`, ``"separable grid"``). For ``D >= 4`` without either
there is none, and eigenvalues are Rayleigh-quotient estimates only (:data:`NO_REFERENCE`).
"""

from __future__ import annotations

from ..spec import ProblemSpec, walls
from ._base import ENERGY_RTOL, NO_REFERENCE, ReferenceSolution
from .box import BoxReference, box_reference
from .coupled import CoupledHarmonicReference, coupled_harmonic_reference
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
    "CoupledHarmonicReference",
    "MorseReference",
    "PoschlTellerReference",
    "harmonic_reference",
    "hydrogen2d_reference",
    "hydrogen3d_reference",
    "box_reference",
    "coupled_harmonic_reference",
    "is_separable",
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

    harmonic (any D) -> :func:`harmonic_reference`; coupled_harmonic (any D) ->
    :func:`coupled_harmonic_reference`; unsoftened coulomb in 2D / 3D ->
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
    if pot.kind == "coupled_harmonic":
        from .coupled import reference_for_spec

        return reference_for_spec(pot, spec.dimension, spec.modes, spec.kinetic)
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
    return pot.kind in ("harmonic", "coupled_harmonic", "morse", "poschl_teller")


#: Kinds whose potential is a sum over the axes of one-dimensional functions.
SEPARABLE_KINDS = ("harmonic", "quartic", "double_well", "box", "separable")


def is_separable(spec: ProblemSpec) -> bool:
    """Whether ``V = sum_i v_i(x_i)`` with walls (if any) a box: the kinds of
    :data:`SEPARABLE_KINDS` (an ``expression`` or ``python`` potential is never assumed
    separable; write it as ``kind = "separable"``)."""
    return spec.potential.kind in SEPARABLE_KINDS


def reference_kind(spec: ProblemSpec) -> str:
    """``"analytic"``, ``"grid"``, ``"separable grid"`` or ``"none"``: the reference a spec
    gets (computes nothing).

    Follows ``spec.reference``: ``"auto"`` -> the closed form where one exists; else for a
    separable potential (:func:`is_separable`) in ``D >= 2`` the sum of 1D grid solutions
    (``"separable grid"``, :func:`nsvd_cli.baselines.separable.separable_reference`; any D);
    else a grid reference for ``D <= 3`` (except Coulomb potentials without closed form:
    their states spread over length scales growing like ``n^2`` that one uniform grid does
    not resolve); else none.  ``"analytic"`` -> closed form or none; ``"grid"`` -> the full
    D-dimensional grid (D <= 3); ``"none"``.
    """
    if spec.reference == "none":
        return "none"
    if spec.reference == "grid":
        return "grid"
    if has_closed_form(spec):
        return "analytic"
    if spec.reference == "auto" and is_separable(spec) and (spec.dimension >= 2 or spec.potential.kind == "separable"):
        return "separable grid"
    if spec.reference == "auto" and spec.dimension <= 3 and spec.potential.kind != "coulomb":
        return "grid"
    return "none"
