"""Defaults derived from the problem (nsvd_cli.defaults): values by hand, explicit fields kept."""

import pytest

from nsvd_cli.defaults import derive_defaults, length_scales
from nsvd_cli.errors import SpecError
from nsvd_cli.spec import load_spec, parse_spec


def _user_spec(**extra):
    data = {"name": "u", "dimension": 1, "potential": "x0**2 + x0**4", "shift": 60.0, "modes": 11,
            "sampling": {"kind": "gaussian", "std": 1.5}, "evaluation": {"box": [[-5, 5]]}}
    data.update(extra)
    return parse_spec(data)


def test_values_for_a_user_spec_by_hand():
    spec, derived = derive_defaults(_user_spec())
    assert derived["training.iterations"] == 1000 + 600 * 11 * 1 == spec.training.iterations
    assert spec.training.eval_every == spec.training.checkpoint_every == 7600 // 5
    assert spec.model.envelope == "gaussian" and spec.model.envelope_width == 1.5
    assert spec.model.fourier_scales == pytest.approx((0.5 / 1.5,), rel=1e-5)
    assert spec.training.learning_rate == 3e-3 and spec.training.laplacian == "forward"
    assert "training.fd_step" not in derived  # the forward Laplacian has no step
    fd_spec, fd_derived = derive_defaults(_user_spec(training={"laplacian": "fd"}))
    assert fd_derived["training.fd_step"] == pytest.approx(0.015) == fd_spec.training.fd_step  # 0.01 * std 1.5
    # lambda_1 estimate c - (min V + kappa D / (2 l^2)) = 60 - (~0 + 1/4.5) lies in [1, 100]: s = 1
    assert derived["scale"] == 1.0


def test_explicit_fields_are_kept_and_deriving_is_idempotent():
    spec = _user_spec(training={"iterations": 50, "learning_rate": 1e-4}, model={"envelope": "sampling"})
    spec2, derived = derive_defaults(spec)
    assert spec2.training.iterations == 50 and spec2.training.learning_rate == 1e-4
    assert spec2.model.envelope == "sampling"
    assert "training.iterations" not in derived and "model.envelope" not in derived
    assert spec2.training.eval_every == 50  # at most the run's length
    assert derive_defaults(spec2) == (spec2, {})


def test_energy_scale_of_a_narrow_deep_well():
    spec = _user_spec(potential="-10000*exp(-(x0/0.1)**2)", shift=-3000.0, modes=4, training={"laplacian": "fd"},
                      sampling={"kind": "gaussian", "std": 0.1}, evaluation={"box": [[-0.5, 0.5]]})
    spec2, derived = derive_defaults(spec)
    # E0 ~ min V + 1/(2*0.01) = -10000 + 50 (min V within 1e-3 of -10000 over 4096 samples);
    # lambda_1 ~ -3000 + 9950 = 6950 > 100, so s = 100 / 6950
    assert derived["scale"] == pytest.approx(100 / 6950, rel=1e-3)
    assert spec2.model.fourier_scales == pytest.approx((5.0,)) and spec2.training.fd_step == pytest.approx(1e-3)


def test_length_scales():
    assert length_scales(parse_spec({**_mix(), "name": "m"}).sampling) == (1.0, 4.0)
    assert length_scales(load_spec("box2d").sampling) == pytest.approx((min(hi - lo for lo, hi in
                                                                          load_spec("box2d").sampling.box) / 6,))


def test_fourier_scale_with_walls_is_one_over_the_mean_side():
    # a box potential on [0, 1] x [0, 4]: mean side (1 * 4)^(1/2) = 2, scale 1/2 (not 0.5 / (1/6) = 3)
    box = [[0.0, 1.0], [0.0, 4.0]]
    spec, derived = derive_defaults(parse_spec({
        "name": "w", "dimension": 2, "shift": 60.0, "modes": 4, "potential": {"kind": "box", "box": box},
        "sampling": {"kind": "uniform", "box": box}, "evaluation": {"box": box}}))
    assert derived["model.fourier_scales"] == spec.model.fourier_scales == pytest.approx((0.5,))
    # the built-in box2d ([-1, 1]^2) was tuned to 0.5 = 1/2 by hand: its physics alone derive it
    b = load_spec("box2d")
    bare = parse_spec({"name": "b", "dimension": 2, "shift": b.shift, "modes": b.modes,
                       "potential": {"kind": "box", "box": [list(r) for r in b.potential.box]},
                       "sampling": {"kind": "uniform", "box": [list(r) for r in b.sampling.box]},
                       "evaluation": {"box": [list(r) for r in b.evaluation.box]}})
    assert derive_defaults(bare)[0].model.fourier_scales == pytest.approx(b.model.fourier_scales)
    # any potential inside a box envelope: the walls are the envelope's; a 1D interval of side 5 -> 0.2
    spec, _ = derive_defaults(_user_spec(model={"envelope": "box", "envelope_box": [[-2.0, 3.0]]},
                                         sampling={"kind": "uniform", "box": [[-2.0, 3.0]]},
                                         evaluation={"box": [[-2.0, 3.0]]}))
    assert spec.model.fourier_scales == pytest.approx((0.2,))


def _mix():
    return {"dimension": 2, "potential": "-1/r", "shift": 0.0, "modes": 2,
            "sampling": {"kind": "mixture", "stds": [4.0, 1.0]}, "evaluation": {"box": [[-5, 5]] * 2}}


def test_builtins_only_get_their_evaluation_interval():
    for name in ("harmonic2d", "hydrogen2d", "quartic1d", "morse1d"):
        _, derived = derive_defaults(load_spec(name))
        assert set(derived) <= {"training.eval_every", "training.checkpoint_every"}, (name, derived)


def _spec_in(dim, **evaluation):
    return parse_spec({"name": "c", "dimension": dim, "shift": 20.0, "modes": 3,
                       "potential": {"kind": "coupled_harmonic", "form": "chain", "coupling": 0.2},
                       "sampling": {"kind": "gaussian", "std": 0.9},
                       "evaluation": {"box": [[-6, 6]] * dim, **evaluation}})


def test_an_evaluation_rule_that_fits_the_dimension_when_the_spec_names_none():
    # D = 3: 12 x 3 nodes per axis = 36^3 = 46656 (the default 48 x 4 would be 7.1e6 > the limit)
    ev3 = _spec_in(3).evaluation
    assert (ev3.quadrature, ev3.points, ev3.panels) == ("gauss-legendre", 12, 3)
    # D = 4: Monte Carlo, 20000 D points, importance std = the sampling std
    ev4 = _spec_in(4).evaluation
    assert (ev4.quadrature, ev4.samples, ev4.std) == ("monte-carlo", 80_000, 0.9)
    # what the spec gives is kept (and a rule it names is not second-guessed)
    assert _spec_in(4, samples=1000).evaluation.samples == 1000
    with pytest.raises(SpecError, match="evaluation.points"):
        _spec_in(4, quadrature="gauss-legendre")
