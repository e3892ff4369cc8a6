"""Figure ``spectrum``: eigenvalue estimates of T vs the reference (paper Sec. 4.1, Exp. 2).

NestedLoRA learns ``ψ_l = sqrt(λ_l) φ_l``, so each eigenvalue has two estimates: the
Rayleigh quotient ``⟨ψ_l, Tψ_l⟩ / ⟨ψ_l, ψ_l⟩`` and the squared norm ``‖ψ_l‖²`` (App. D.5).
Modes whose reference eigenvalue of T is <= 0 cannot be learned: their norm should go to
zero (App. C.6); they are shaded. The right axis gives energies ``E = c − λ/s`` of H. With a
reference, the lower panel shows each estimate's relative deviation from it. NeuralEF and SpIN
runs (unit-normalised outputs, NaN norm estimates) show the Rayleigh quotients only.
"""

from __future__ import annotations

import numpy as np

from ._style import eigenvalue_label, energy_axis, groups_from_ids, new_figure, quantum_string, shade_groups, \
    styled, suptitle

__all__ = ["spectrum_figure"]


@styled
def spectrum_figure(results):
    """Rayleigh-quotient and norm-based eigenvalue estimates of T against the reference.

    Parameters
    ----------
    results : Results

    Returns
    -------
    matplotlib.figure.Figure
    """
    spec = results.spec
    lam_rq, lam_norm = np.asarray(results.eigenvalues, float), np.asarray(results.norm_eigenvalues, float)
    ref = results.reference_eigenvalues
    n = lam_rq.size
    x = np.arange(n)
    groups = groups_from_ids(results.metrics["groups"]) if "groups" in results.metrics else []
    width = max(7.5, 0.32 * n + 4.0)
    fig = new_figure(width, 7.0 if ref is not None else 4.6)
    if ref is not None:
        ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    else:
        ax, ax2 = fig.subplots(1, 1), None
    ax.axhline(0, color="0.5", lw=0.8, zorder=1)
    if ref is not None:
        ref = np.asarray(ref, float)
        ax.hlines(ref, x - 0.4, x + 0.4, colors="k", lw=2, label="reference", zorder=2)
        nonpos = np.flatnonzero(ref <= 0)
        for i in nonpos:
            ax.axvspan(i - 0.5, i + 0.5, color="tab:red", alpha=0.08, lw=0, zorder=0)
        if nonpos.size:
            ax.text(nonpos.mean(), 0.97, "λ_ref ≤ 0:\nnorm → 0", transform=ax.get_xaxis_transform(), ha="center",
                    va="top", fontsize=8, color="tab:red")
    ax.plot(x, lam_rq, "o", color="C0", ms=6, label="Rayleigh quotient ⟨ψ, Tψ⟩/⟨ψ, ψ⟩", zorder=3)
    has_norm = bool(np.isfinite(lam_norm).any())  # NeuralEF, SpIN: unit-normalised, no norm estimate
    if has_norm:
        ax.plot(x, lam_norm, "s", mfc="none", mec="C1", mew=1.5, ms=8, label="squared norm ‖ψ‖²", zorder=3)
    ax.set_ylabel(eigenvalue_label(spec))
    energy_axis(ax, spec)
    ax.legend(loc="upper right", fontsize=8)
    qn = results.quantum_numbers if results.quantum_labels else None  # grid reference: no quantum numbers
    labels = [f"{i + 1}" + (f"  {quantum_string(qn, i, with_labels=False)}".rstrip() if qn is not None else "")
              for i in range(n)]
    bottom = ax2 if ax2 is not None else ax
    for a in [ax] + ([ax2] if ax2 is not None else []):
        shade_groups(a, groups)
        a.set_xlim(-0.6, n - 0.4)
    if ax2 is not None:
        pos = ref > 0
        safe = np.where(pos, np.abs(ref), np.nan)
        for vals, style, kw, name in ((lam_rq, "o", dict(color="C0"), "Rayleigh quotient"),
                                      (lam_norm, "s", dict(mfc="none", mec="C1", mew=1.5), "squared norm"))[
                                          :2 if has_norm else 1]:
            dev = np.abs(vals - ref) / safe
            ax2.plot(x, np.where(dev > 0, dev, np.nan), style, ms=6, label=name, **kw)
        ax2.set_yscale("log", nonpositive="mask")
        ax2.set_ylabel("|estimate − λ_ref| / λ_ref")
        ax2.grid(axis="y", color="0.88", lw=0.6)
    bottom.set_xticks(x)
    bottom.set_xticklabels(labels, rotation=60 if qn is not None else 0, ha="right" if qn is not None else "center",
                           rotation_mode="anchor", fontsize=8)
    bottom.set_xlabel("mode  (index" + (f", ({', '.join(results.quantum_labels)})" if qn is not None else "") + ")")
    method = getattr(spec.training, "method", "nestedlora")
    what = ("Rayleigh quotients and from norms (NestedLoRA learns √λ·φ)" if method == "nestedlora" else
            f"Rayleigh quotients and from norms ({method}: 1/‖C_k‖² of the Ritz coefficients)" if has_norm else
            f"Rayleigh quotients ({method}: unit-normalised outputs, no norm estimate)")
    against = ", vs the reference" if ref is not None else " (no reference)"
    shaded = "; degenerate subspaces shaded" if any(len(g) > 1 for g in groups) else ""
    suptitle(fig, f"{spec.name}: eigenvalues of T from {what}{against}{shaded}", width)
    return fig
