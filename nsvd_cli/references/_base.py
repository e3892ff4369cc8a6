"""The reference-solution type shared by every closed form (and by grid references)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..metrics import degenerate_groups

__all__ = ["ReferenceSolution", "ENERGY_RTOL", "NO_REFERENCE", "_groups"]

#: Relative tolerance under which two energies count as degenerate.
ENERGY_RTOL = 1e-9
#: What tables say when a problem has no reference.
NO_REFERENCE = "no reference: Rayleigh-quotient estimates only"

@dataclass(frozen=True, eq=False)
class ReferenceSolution:
    """The lowest ``L`` eigenpairs of a Hamiltonian, known in closed form.

    Attributes
    ----------
    name : str
        Human-readable name, e.g. ``"harmonic (analytic)"``.
    energies : ndarray, shape (L,)
        Ascending energies of ``H`` (float64).
    quantum_numbers : tuple of tuple of int
        One tuple per mode, e.g. ``(n_1, ..., n_D)`` or ``(n, l)``.
    quantum_labels : tuple of str
        Names of the quantum numbers, e.g. ``("n_1", "n_2")`` or ``("n", "l")``.
    groups : tuple of ndarray of int
        Degenerate subspaces: consecutive index arrays into ``0..L-1`` covering them all.
    complete_last_group : bool
        ``False`` when the ``L`` modes cut through the last degenerate multiplet (its
        remaining members have index >= L), so that only the span of the earlier groups
        is well defined.
    kind : {"analytic", "grid"}
        Closed form or finite-difference grid solution (keyword only).
    notes : tuple of str
        Caveats shown as warnings by ``nsvd solve`` (e.g. modes beyond the bound states).
    """

    name: str
    energies: np.ndarray
    quantum_numbers: tuple[tuple[int, ...], ...]
    quantum_labels: tuple[str, ...]
    groups: tuple[np.ndarray, ...]
    complete_last_group: bool
    kind: str = field(default="analytic", kw_only=True)
    notes: tuple[str, ...] = field(default=(), kw_only=True)

    @property
    def n_modes(self) -> int:
        """Number of modes ``L``."""
        return len(self.energies)

    @property
    def continuum(self) -> np.ndarray:
        """(L,) bool: continuum placeholders, modes beyond the last bound state (quantum number
        -1, energy at the threshold, zero eigenfunction; e.g. a Pöschl–Teller well asked for more
        modes than it binds). They have no norm to hold, so no box-norm check applies to them."""
        return np.array([bool(q) and q[0] == -1 for q in self.quantum_numbers], dtype=bool)

    @property
    def dimension(self) -> int:
        """Spatial dimension ``D``."""
        raise NotImplementedError

    def _points(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dimension:
            raise ValueError(f"expected points of shape (N, {self.dimension}), got {x.shape}")
        return x

    def eigenfunctions(self, x: np.ndarray) -> np.ndarray:
        """Eigenfunctions at points ``x``.

        Parameters
        ----------
        x : array_like, shape (N, D)

        Returns
        -------
        ndarray, shape (N, L)
            Real, L2(R^D)-normalised eigenfunctions, column ``l`` for ``energies[l]``.
        """
        raise NotImplementedError

    def gradients(self, x: np.ndarray) -> np.ndarray:
        """Exact gradients of the eigenfunctions.

        Parameters
        ----------
        x : array_like, shape (N, D)

        Returns
        -------
        ndarray, shape (N, L, D)
            ``out[i, l, d] = d psi_l / d x_d`` at ``x[i]``.
        """
        raise NotImplementedError


def _groups(energies: np.ndarray, rtol: float = ENERGY_RTOL) -> list[np.ndarray]:
    """Degenerate subspaces of ascending closed-form energies (:func:`nsvd_cli.metrics.degenerate_groups`)."""
    return degenerate_groups(energies, rtol)
