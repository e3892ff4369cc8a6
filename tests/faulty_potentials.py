"""Potentials for the fault tests (``potential = "faulty_potentials:NAME"``; tests/ is on the path).

``harmonic``: V = |x|^2, sleeping ``NSVD_TEST_SLEEP`` seconds per training batch (so that a
subprocess can be killed mid-run). ``nan_once``: V = |x|^2, but NaN on the 5th training
batch (of ``BATCH`` points) since :func:`reset`.
"""

import os
import time

BATCH = 64
_calls = {"n": 0}


def reset() -> None:
    _calls["n"] = 0


def harmonic(x):
    if x.shape[0] == BATCH:
        time.sleep(float(os.environ.get("NSVD_TEST_SLEEP", "0")))
    return (x ** 2).sum(-1)


def nan_once(x):
    v = (x ** 2).sum(-1)
    if x.shape[0] == BATCH:
        _calls["n"] += 1
        if _calls["n"] == 5:
            return v * float("nan")
    return v
