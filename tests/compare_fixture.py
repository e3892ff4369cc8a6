"""The header of a hand-made ``nsvd compare`` results file (schema ``nsvd-compare`` version 1),
shared by the plot tests that build such files."""

import numpy as np


def write_compare_header(h, reference_energies) -> None:
    """File attributes and the harmonic2d ``reference`` group (energies 2, 4, 4 with quantum
    numbers (0,0), (1,0), (0,1)) into an open h5py file ``h``."""
    h.attrs.update(format="nsvd-compare", format_version=1, problem="harmonic2d", spec_json="{}",
                   reference_name="harmonic (analytic)")
    r = h.create_group("reference")
    r.create_dataset("energies", data=np.asarray(reference_energies, float))
    r.create_dataset("quantum_numbers", data=np.array([[0, 0], [1, 0], [0, 1]]))
    r.attrs["quantum_labels"] = ["n_1", "n_2"]
