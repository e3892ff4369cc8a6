"""Wave 8 (c): the stuck-mode restart waits out the EMA's lag.

The evaluations below are those of a new-user trial (V = x², shift 12: T eigenvalues
11, 9, 7, 5; iterations 1500, eval_every 300, ema_decay 0.995), printed by the run itself.
At iteration 300 the EMA weights still hold 0.995^300 = 22 % of the initial weights, and
mode 4 (trained to λ ≈ 5.0 since iteration 210) looked dead by every test, checked here
by hand: overlap |G_43| = 0.382 > 0.3; estimates |5.374 − 0.353| / 5.374 = 0.93 > 0.3
apart; norm estimate 0.353 < 0.1 · 5.374 (and a copy too: Rayleigh quotients |5.374 −
7.616| = 2.24 ≤ 0.3 · 7.616 = 2.28, which no longer restarts anything). Left alone (restarts = 0), the evaluation at 600 showed it at its
level, λ_R = 5.008 with overlap 0.040.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from nsvd_cli.solve import _Judge
from nsvd_cli.spec import parse_spec

LAM_300 = np.array([10.953, 8.9929, 7.6164, 5.3742])
NORM_300 = np.array([7.0012, 2.7164, 1.3129, 0.3529])
GRAM_300 = np.array([[1.0, 0.0589, -0.4948, -0.0866],
                     [0.0589, 1.0, -0.0161, 0.0794],
                     [-0.4948, -0.0161, 1.0, 0.3821],
                     [-0.0866, 0.0794, 0.3821, 1.0]])
LAM_600 = np.array([10.997, 8.9989, 7.0071, 5.0084])
NORM_600 = np.array([10.1874, 7.1777, 5.0034, 3.1253])
GRAM_600 = np.array([[1.0, 0.0023, -0.0705, 0.0301],
                     [0.0023, 1.0, 0.0012, 0.0105],
                     [-0.0705, 0.0012, 1.0, 0.0402],
                     [0.0301, 0.0105, 0.0402, 1.0]])


def _training(iterations: int, eval_every: int, modes: int = 4):
    return parse_spec({
        "name": "ho1d", "dimension": 1, "potential": "x0**2", "shift": 12.0, "modes": modes,
        "sampling": {"kind": "gaussian", "std": 2.0}, "evaluation": {"box": [[-6, 6]]},
        "training": {"iterations": iterations, "eval_every": eval_every, "ema_decay": 0.995, "restarts": 2},
    }).training


def _ev(lam, norm, gram):
    return SimpleNamespace(eigenvalues=np.asarray(lam, float), norm_eigenvalues=np.asarray(norm, float),
                           gram=np.asarray(gram, float), residuals=None, reference_eigenvalues=None)


def _restarts(judge_: _Judge, evaluations) -> list:
    """What the judge restarts after each ``(iteration, evaluation)`` in turn."""
    out = []
    for iteration, ev in evaluations:
        judge_(ev, iteration=iteration)
        out.append(judge_.stuck_modes())
    return out


def test_the_trials_mode_is_not_restarted_on_the_lagging_ema():
    judge_ = _Judge(SimpleNamespace(scale=1.0), _training(1500, 300))
    seen = _restarts(judge_, [(300, _ev(LAM_300, NORM_300, GRAM_300)), (600, _ev(LAM_600, NORM_600, GRAM_600))])
    assert seen == [[], []]
    assert judge_.restarts == 0


def test_the_trials_evaluation_at_300_is_still_seen_as_stuck():
    """The stuck test itself is unchanged: the iteration-300 evaluation is a candidate (the
    hand computation above), only not yet confirmed."""
    judge_ = _Judge(SimpleNamespace(scale=1.0), _training(1500, 300))
    judge_(_ev(LAM_300, NORM_300, GRAM_300), iteration=300)
    assert judge_.stuck_modes() == [] and judge_.stuck_since == {3: 300}


def test_a_dead_mode_that_persists_is_restarted_at_the_next_evaluation():
    judge_ = _Judge(SimpleNamespace(scale=1.0), _training(1500, 300))
    ev = _ev(LAM_300, NORM_300, GRAM_300)
    assert _restarts(judge_, [(300, ev), (600, ev)]) == [[], [3]]
    assert judge_.restarts == 1 and judge_.stuck_since == {}  # the fresh mode starts a new streak


def test_the_streak_must_span_the_ema_memory():
    """Evaluations every 50 iterations: a mode stuck at 300 is restarted at 500 (300 + 200 =
    the memory 1 / (1 − 0.995)), not at 350, 400 or 450."""
    judge_ = _Judge(SimpleNamespace(scale=1.0), _training(1500, 50))
    ev = _ev(LAM_300, NORM_300, GRAM_300)
    assert _restarts(judge_, [(it, ev) for it in (300, 350, 400, 450, 500)]) == [[], [], [], [], [3]]


def test_a_recovered_evaluation_ends_the_streak():
    judge_ = _Judge(SimpleNamespace(scale=1.0), _training(1500, 300))
    stuck, fine = _ev(LAM_300, NORM_300, GRAM_300), _ev(LAM_600, NORM_600, GRAM_600)
    assert _restarts(judge_, [(300, stuck), (600, fine), (900, stuck)]) == [[], [], []]


def test_a_skipped_evaluation_ends_the_streak():
    """Evaluations every 300, the judge asked at 300 and 900 only (at 600 the run stopped
    asking, e.g. it was judged converged): not two consecutive evaluations."""
    judge_ = _Judge(SimpleNamespace(scale=1.0), _training(1500, 300))
    ev = _ev(LAM_300, NORM_300, GRAM_300)
    assert _restarts(judge_, [(300, ev), (900, ev)]) == [[], []]


def test_the_dead_hydrogen2d_mode_is_still_restarted_in_its_run():
    """The docstring's dead mode (λ_R = 19.4, λ_N = 1e-4, overlap 0.85 with the level 11.1),
    evaluations every 2000 of 20000 iterations: seen at 10000, confirmed and restarted at
    12000 ≤ 0.7 · 20000 = 14000. One first seen at 14000 is confirmed too late (16000)."""
    gram = np.eye(3)
    gram[2, 1] = gram[1, 2] = 0.85
    ev = _ev([100.0, 11.1, 19.4], [100.0, 11.1, 1e-4], gram)
    judge_ = _Judge(SimpleNamespace(scale=1.0), _training(20000, 2000, modes=3))
    assert _restarts(judge_, [(10000, ev), (12000, ev)]) == [[], [2]]
    late = _Judge(SimpleNamespace(scale=1.0), _training(20000, 2000, modes=3))
    assert _restarts(late, [(14000, ev), (16000, ev)]) == [[], []]
