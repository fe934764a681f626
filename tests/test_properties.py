"""Property-based tests (Hypothesis) of the input contract of every public API.

The contract, for every public method and function:

- bad shapes, dtypes, containers, values and hyperparameters raise ``ValueError``
  or ``TypeError`` whose message names the argument; never another exception
  type, a hang, an attempt at a huge size, a silently non-finite output or a
  mutated input (values and the writeable flag);
- valid random inputs give finite outputs of the documented shapes.

Odd but legal inputs (float32/int/float16/bool arrays, lists, tensors, read-only
or strided arrays, huge finite values) may be accepted, with a finite output of
the documented shape, or refused by such a clear error.

Profiles (``SKLSS_HYPOTHESIS_PROFILE``): ``fast`` (default, 25 examples per test)
and ``slow`` (1000 per test). Every test also has a ``*_slow`` copy marked
``@pytest.mark.slow`` that always uses the slow profile::

    pytest tests/test_properties.py                      # fast profile
    SKLSS_HYPOTHESIS_PROFILE=slow pytest tests/test_properties.py
    pytest -m slow tests/test_properties.py              # the slow copies

``SKLSS_HYPOTHESIS_SURVEY=1`` records outcomes without failing and
``SKLSS_PROPERTY_REPORT=path.json`` writes the table of outcomes per method and
the shortest reproducer of every distinct violation (see ``tests/_strategies.py``).
"""

import functools
import os
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._strategies import (
    BAD_X_KINDS,
    HUGE_INTS,
    MAYBE_X_KINDS,
    REPORT,
    Arg,
    Contract,
    choice_param,
    int_param,
    random_states,
    real_param,
    trajectories,
)

_HEALTH = [
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
    HealthCheck.function_scoped_fixture,
    HealthCheck.large_base_example,
]
settings.register_profile(
    "fast", max_examples=25, deadline=None, suppress_health_check=_HEALTH
)
settings.register_profile(
    "slow", max_examples=1000, deadline=None, suppress_health_check=_HEALTH
)
PROFILE = os.environ.get("SKLSS_HYPOTHESIS_PROFILE", "fast")
FAST = settings.get_profile(PROFILE)
SLOW = settings.get_profile("slow")

C = Contract()


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if REPORT:
        C.dump(REPORT)


def prop(*args, **kwargs):
    """``@given`` under the selected profile, plus a ``*_slow`` copy marked slow."""

    def decorate(fn):
        module = sys.modules[fn.__module__]
        slow = pytest.mark.slow(settings(SLOW)(given(*args, **kwargs)(fn)))
        slow.__name__ = fn.__name__ + "_slow"
        setattr(module, slow.__name__, slow)
        return settings(FAST)(given(*args, **kwargs)(fn))

    return decorate


FIT_KINDS = (
    ("valid",) * 3
    + tuple(k for k in BAD_X_KINDS if k != "wrong_width")
    + (MAYBE_X_KINDS)
)
# Inputs of fit: a different width is just other data.
FIT_EXPECT = {"wrong_width": "accept"}


# ------------------------------------------------------------------ fixtures

N_FEATURES, N_COMPONENTS, N_FRAMES = 3, 2, 40
SRV_TINY = dict(
    n_components=N_COMPONENTS, hidden_layer_sizes=(4,), max_epochs=1, random_state=0
)
MDN_TINY = dict(n_kernels=2, hidden_layer_sizes=(4,), max_epochs=1, random_state=0)
CW_TINY = dict(
    noise_dim=2, hidden_layer_sizes=(4,), max_epochs=1, n_critic=1, random_state=0
)


@functools.cache
def data():
    rng = np.random.default_rng(0)
    X = np.cumsum(rng.normal(size=(N_FRAMES, N_FEATURES)), axis=0)
    Z = np.cumsum(rng.normal(size=(N_FRAMES, N_COMPONENTS)), axis=0)
    return X, Z


def _frozen(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


@functools.cache
def srv():
    from sklss import SRVTransformer

    return SRVTransformer(**SRV_TINY).fit(data()[0])


@functools.cache
def mdn():
    from sklss import MDNPropagator

    return MDNPropagator(**MDN_TINY).fit(data()[1])


@functools.cache
def cwgan():
    from sklss import CWGANDecoder

    X, Z = data()
    return CWGANDecoder(**CW_TINY).fit(Z, X)


def make_simulator(**params):
    from sklss import (
        CWGANDecoder,
        LatentSpaceSimulator,
        MDNPropagator,
        SRVTransformer,
    )

    params = {
        "encoder": SRVTransformer(**SRV_TINY),
        "propagator": MDNPropagator(**MDN_TINY),
        "decoder": CWGANDecoder(**CW_TINY),
        "n_start_points": 20,
        "random_state": 0,
        **params,
    }
    return LatentSpaceSimulator(**params)


@functools.cache
def simulator():
    X = data()[0]
    return make_simulator().fit(X, X)


@functools.cache
def peptide():
    """Ten frames of alanine dipeptide (22 atoms), from the shipped PDB file."""
    import importlib.resources

    import mdtraj as md

    path = (
        importlib.resources.files("sklss.datasets") / "data" / "alanine-dipeptide.pdb"
    )
    one = md.load(str(path))
    rng = np.random.default_rng(0)
    xyz = one.xyz + 0.01 * rng.normal(size=(10, one.n_atoms, 3)).astype(np.float32)
    return md.Trajectory(xyz, one.topology)


def traj_copy():
    t = peptide()
    import mdtraj as md

    return md.Trajectory(t.xyz.copy(), t.topology)


# ------------------------------------------------------------- output checks


def _structure(X):
    if (
        isinstance(X, list | tuple)
        and X
        and all(getattr(x, "ndim", None) == 2 for x in X)
    ):
        return [len(x) for x in X]
    return len(X) if hasattr(X, "__len__") else None


def mirrors(X, width, *, extra=()):
    """Output check: one (n_frames, width) array per input trajectory."""
    lengths = _structure(X)

    def check(out):
        if isinstance(lengths, list):
            if not isinstance(out, list) or len(out) != len(lengths):
                return f"expected a list of {len(lengths)} arrays; got {type(out).__name__}"  # noqa: E501
            shapes = [np.shape(o) for o in out]
            want = [
                (n, *extra, width) if width is not None else (n, *extra)
                for n in lengths
            ]
            return None if shapes == want else f"shapes {shapes}, expected {want}"
        want = (lengths, *extra, width) if width is not None else (lengths, *extra)
        shape = np.shape(out)
        return None if shape == want else f"shape {shape}, expected {want}"

    return check


def shape_is(*shape):
    def check(out):
        return (
            None
            if np.shape(out) == shape
            else f"shape {np.shape(out)}, expected {shape}"
        )

    return check


def fitted_ok(method, X, width):
    """Output check of fit: the fitted estimator transforms/samples finitely."""

    def check(est):
        out = getattr(est, method)(X)
        if not np.all(np.isfinite(out)):
            return f"non-finite {method} output after fit"
        if np.shape(out) != (len(X), width):
            return f"{method} shape {np.shape(out)}"
        return None

    return check


# ------------------------------------------------------------- hyperparameters

NETWORK_PARAMS = {
    "hidden_layer_sizes": st.sampled_from(
        [(0,), (-1,), (True,), (2.5,), ("a",), "4", None, (4, 0), 0, -3, 2.0, {4: 4}]
    ).map(lambda v: Arg("bad", v, "reject"))
    | st.sampled_from([(10**12,), 10**12, (4, 2**40)]).map(
        lambda v: Arg("huge", v, "reject")
    ),
    "activation": choice_param(
        {
            "relu",
            "tanh",
            "swish",
            "silu",
            "elu",
            "gelu",
            "leaky_relu",
            "sigmoid",
            "identity",
        }
    ),
    "learning_rate_init": real_param(0.0, closed=False)
    | st.sampled_from([1e300, 1e30]).map(lambda v: Arg("huge", v, "maybe")),
    "learning_rate": st.text(max_size=6)
    .filter(lambda s: s not in ("constant", "linear"))
    .map(lambda v: Arg("bad_string", v, "reject"))
    | st.sampled_from([None, True, [0.1], -0.1, 0.0, float("nan")]).map(
        lambda v: Arg("bad", v, "reject")
    ),
    "batch_size": int_param(1, huge="maybe"),
    "max_epochs": int_param(1).filter(lambda a: a.kind != "huge"),
    "warm_start": st.sampled_from(["yes", 2, None, 1.5, "False"]).map(
        lambda v: Arg("bad", v, "reject")
    ),
    "callbacks": st.sampled_from(["f", 3, [3], ["x"], [None], {"f": print}]).map(
        lambda v: Arg("bad", v, "reject")
    ),
    "random_state": random_states.filter(lambda a: a.expect == "reject"),
    "device": st.sampled_from(
        ["gpu", "cuda", "cuda:0", 3, None, "cpu:x", "mps", ""]
    ).map(lambda v: Arg("bad", v, "reject")),
    "verbose": st.sampled_from(["loud", -1, 1.5, None, [1]]).map(
        lambda v: Arg("bad", v, "reject")
    ),
}
EARLY_STOPPING_PARAMS = {
    "validation_fraction": real_param(0.0, closed=True, maximum=1.0)
    | st.sampled_from([0.5, 0.9, 0.99]).map(lambda v: Arg("large", v, "maybe")),
    "n_iter_no_change": int_param(1, huge="maybe"),
    "tol": real_param(0.0, closed=True).filter(lambda a: a.kind != "inf"),
}
SRV_PARAMS = {
    **NETWORK_PARAMS,
    **EARLY_STOPPING_PARAMS,
    "lagtime": int_param(1)
    | st.sampled_from([40, 41, 1000]).map(lambda v: Arg("too_long", v, "reject")),
    "n_components": int_param(1)
    | st.sampled_from([4, 5]).map(lambda v: Arg("above_n_features", v, "reject")),
    "batch_norm": st.sampled_from(["yes", 2, None, 1.5]).map(
        lambda v: Arg("bad", v, "reject")
    ),
    "epsilon": real_param(0.0, closed=True)
    | st.sampled_from([1e300, 1e30]).map(lambda v: Arg("huge", v, "maybe")),
}
MDN_PARAMS = {
    **NETWORK_PARAMS,
    **EARLY_STOPPING_PARAMS,
    "lagtime": int_param(1)
    | st.sampled_from([40, 41, 1000]).map(lambda v: Arg("too_long", v, "reject")),
    "n_kernels": int_param(1),
    "ema_decay": real_param(0.0, closed=True, maximum=1.0),
}
CW_PARAMS = {
    **NETWORK_PARAMS,
    "noise_dim": int_param(1),
    "n_critic": int_param(1, huge="maybe"),
    "gradient_penalty": real_param(0.0, closed=True)
    | st.sampled_from([1e300, 1e30]).map(lambda v: Arg("huge", v, "maybe")),
    "penalty": choice_param({"one-sided", "two-sided"}),
    "learning_rate_schedule": choice_param({"linear", "constant", "deprecated"}),
    "ema_decay": real_param(0.0, closed=True, maximum=1.0),
}


def _one_param(table):
    return st.sampled_from(sorted(table)).flatmap(
        lambda p: table[p].map(lambda a: (p, a))
    )


@prop(_one_param(SRV_PARAMS))
def test_srv_hyperparameters(case):
    from sklss import SRVTransformer

    name, arg = case
    X = _frozen(data()[0])
    C.check(
        "SRVTransformer.__init__+fit",
        lambda **kw: SRVTransformer(**{**SRV_TINY, name: kw[name]}).fit(kw["X"]),
        {name: arg, "X": X},
        name=name,
        expect=arg.expect,
        call=f"SRVTransformer(**SRV_TINY, {name}={{{name}}}).fit(X)",
        output=fitted_ok("transform", X, N_COMPONENTS),
    )


@prop(_one_param(MDN_PARAMS))
def test_mdn_hyperparameters(case):
    from sklss import MDNPropagator

    name, arg = case
    Z = _frozen(data()[1])

    def check(est):
        out = est.sample(Z[0], 3, random_state=0)
        return None if np.all(np.isfinite(out)) else "non-finite sample after fit"

    C.check(
        "MDNPropagator.__init__+fit",
        lambda **kw: MDNPropagator(**{**MDN_TINY, name: kw[name]}).fit(kw["Z"]),
        {name: arg, "Z": Z},
        name=name,
        expect=arg.expect,
        call=f"MDNPropagator(**MDN_TINY, {name}={{{name}}}).fit(Z)",
        output=check,
    )


@prop(_one_param(CW_PARAMS))
def test_cwgan_hyperparameters(case):
    from sklss import CWGANDecoder

    name, arg = case
    X, Z = (_frozen(a) for a in data())

    def check(est):
        out = est.sample(Z, random_state=0)
        if np.shape(out) != X.shape:
            return f"sample shape {np.shape(out)}"
        return None if np.all(np.isfinite(out)) else "non-finite sample after fit"

    C.check(
        "CWGANDecoder.__init__+fit",
        lambda **kw: CWGANDecoder(**{**CW_TINY, name: kw[name]}).fit(kw["Z"], kw["y"]),
        {name: arg, "Z": Z, "y": X},
        name=name,
        expect=arg.expect,
        call=f"CWGANDecoder(**CW_TINY, {name}={{{name}}}).fit(Z, y)",
        output=check,
    )


_BAD_COMPONENTS = st.sampled_from(["srv", 3, None.__class__, object(), [1], print]).map(
    lambda v: Arg("bad", v, "reject")
)
SIM_PARAMS = {
    # None is valid for lagtime, timestep and score_horizon (their default).
    "lagtime": int_param(1).filter(lambda a: a.value is not None)
    | st.sampled_from([40, 1000]).map(lambda v: Arg("too_long", v, "reject")),
    "timestep": real_param(0.0, closed=False, allow_none=True),
    "n_start_points": int_param(1, huge="maybe"),
    "score_horizon": int_param(1).filter(lambda a: a.value is not None)
    | st.sampled_from([40, 1000]).map(lambda v: Arg("too_long", v, "reject")),
    "random_state": random_states.filter(lambda a: a.expect == "reject"),
    "encoder": _BAD_COMPONENTS,
    "propagator": _BAD_COMPONENTS,
    "decoder": _BAD_COMPONENTS,
    "coordinates": _BAD_COMPONENTS,
}


@prop(_one_param(SIM_PARAMS))
def test_simulator_hyperparameters(case):
    name, arg = case
    X = _frozen(data()[0])

    def run(**kw):
        if name == "coordinates":
            # Only used for molecular targets.
            t = traj_copy()
            feats = np.asarray(t.xyz.reshape(len(t), -1)[:, :6], dtype=np.float64)
            sim = make_simulator(coordinates=kw[name]).fit(feats, t)
        else:
            sim = make_simulator(**{name: kw[name]}).fit(kw["X"], kw["X"])
        if name == "score_horizon":
            return sim.score(kw["X"])
        return sim.sample(2, 2, random_state=0).latent

    C.check(
        "LatentSpaceSimulator.__init__+fit",
        run,
        {name: arg, "X": X},
        name=name,
        expect=arg.expect,
        call=f"LatentSpaceSimulator(..., {name}={{{name}}}).fit(X, X)",
    )


# ----------------------------------------------------------- SRVTransformer


@prop(trajectories(N_FEATURES, min_frames=1, max_frames=30, kinds=FIT_KINDS))
def test_srv_fit(X):
    from sklss import SRVTransformer

    expect = "accept" if X.kind == "valid" and len(X.value) >= 12 else X.expect
    expect = "maybe" if expect == "accept" and len(X.value) < 12 else expect

    def check(est):
        if est.eigenvalues_.shape != (N_COMPONENTS,) or not np.all(
            np.isfinite(est.eigenvalues_)
        ):
            return f"non-finite or misshaped eigenvalues_ {est.eigenvalues_}"
        return mirrors(X.value, N_COMPONENTS)(est.transform(X.value))

    C.check(
        "SRVTransformer.fit",
        lambda X: SRVTransformer(**SRV_TINY).fit(X),
        {"X": X},
        name="X",
        expect=expect,
        call="SRVTransformer(**SRV_TINY).fit({X})",
        output=check,
    )


@prop(trajectories(N_FEATURES))
def test_srv_transform(X):
    est = srv()
    C.check(
        "SRVTransformer.transform",
        est.transform,
        {"X": X},
        name="X",
        expect=X.expect,
        call="srv.transform({X})",
        output=mirrors(X.value, N_COMPONENTS),
    )


@prop(trajectories(N_FEATURES, min_frames=1, max_frames=20))
def test_srv_score(X):
    est = srv()
    expect = X.expect
    if expect == "accept" and len(X.value) < 4:
        expect = "maybe"  # too few pairs for a covariance
    C.check(
        "SRVTransformer.score",
        est.score,
        {"X": X},
        name="X",
        expect=expect,
        call="srv.score({X})",
        output=lambda s: None if np.ndim(s) == 0 else f"score of shape {np.shape(s)}",
    )


@prop(
    st.one_of(
        st.just(Arg("None", None, "accept")),
        st.just(Arg("names", ["a", "b", "c"], "accept")),
        st.sampled_from([["a"], ["a", "b", "c", "d"], "abc", 3]).map(
            lambda v: Arg("bad", v, "reject")
        ),
    )
)
def test_srv_get_feature_names_out(features):
    C.check(
        "SRVTransformer.get_feature_names_out",
        srv().get_feature_names_out,
        {"input_features": features},
        name="input_features",
        expect=features.expect,
        call="srv.get_feature_names_out({input_features})",
        output=shape_is(N_COMPONENTS),
    )


# ------------------------------------------------------------ MDNPropagator


@prop(trajectories(N_COMPONENTS, min_frames=1, max_frames=30, kinds=FIT_KINDS))
def test_mdn_fit(Z):
    from sklss import MDNPropagator

    expect = Z.expect
    if expect == "accept" and len(Z.value) < 12:
        expect = "maybe"

    def check(est):
        p = (
            Z.value[0]
            if isinstance(Z.value, np.ndarray) and Z.value.ndim == 2
            else None
        )
        if p is None:
            return None
        out = est.sample(p, 3, random_state=0)
        return None if np.all(np.isfinite(out)) else "non-finite sample after fit"

    C.check(
        "MDNPropagator.fit",
        lambda Z: MDNPropagator(**MDN_TINY).fit(Z),
        {"Z": Z},
        name="Z",
        expect=expect,
        call="MDNPropagator(**MDN_TINY).fit({Z})",
        output=check,
    )


@prop(trajectories(N_COMPONENTS, min_frames=2, max_frames=20))
def test_mdn_score(X):
    C.check(
        "MDNPropagator.score",
        mdn().score,
        {"X": X},
        name="X",
        expect=X.expect,
        call="mdn.score({X})",
        output=lambda s: None if np.ndim(s) == 0 else f"score of shape {np.shape(s)}",
    )


@prop(trajectories(N_COMPONENTS, min_frames=2, max_frames=20))
def test_mdn_transition_log_likelihood(Z):
    C.check(
        "MDNPropagator.transition_log_likelihood",
        mdn().transition_log_likelihood,
        {"Z": Z},
        name="Z",
        expect=Z.expect,
        call="mdn.transition_log_likelihood({Z})",
    )


_points = trajectories(N_COMPONENTS, min_frames=1, max_frames=6, allow_1d_point=True)


def _point_count(value):
    return 1 if np.ndim(value) == 1 else len(value)


@prop(_points, st.booleans())
def test_mdn_log_prob(points, which):
    """One argument good, the other bad (``which`` picks the bad one)."""
    good = Arg(
        "valid",
        data()[1][
            : _point_count(points.value)
            if points.expect != "reject" and np.ndim(points.value) == 2
            else 1
        ].copy(),
        "accept",
    )
    args = (
        {"z_from": points, "z_to": good} if which else {"z_from": good, "z_to": points}
    )
    name = "z_from" if which else "z_to"
    C.check(
        "MDNPropagator.log_prob",
        mdn().log_prob,
        args,
        name=name,
        expect=points.expect,
        call="mdn.log_prob({z_from}, {z_to})",
    )


@prop(_points, st.booleans())
def test_mdn_transition_density(points, which):
    good = Arg("valid", data()[1][:3].copy(), "accept")
    args = (
        {"z_from": points, "z_to": good} if which else {"z_from": good, "z_to": points}
    )
    name = "z_from" if which else "z_to"
    C.check(
        "MDNPropagator.transition_density",
        mdn().transition_density,
        args,
        name=name,
        expect=points.expect,
        call="mdn.transition_density({z_from}, {z_to})",
    )


@prop(_points)
def test_mdn_mixture_parameters(z_from):
    C.check(
        "MDNPropagator.mixture_parameters",
        mdn().mixture_parameters,
        {"z_from": z_from},
        name="z_from",
        expect=z_from.expect,
        call="mdn.mixture_parameters({z_from})",
    )


_n_steps = int_param(
    0, valid=st.integers(0, 6).map(lambda v: Arg("valid", v, "accept"))
)


def _out_strategy():
    return st.one_of(
        st.just(Arg("None", None, "accept")),
        st.sampled_from(["float64", "float32"]).map(
            lambda d: Arg("valid", d, "accept")
        ),
        st.sampled_from(
            ["wrong_shape", "int", "readonly", "list", "float16", "complex", "strided"]
        ).map(lambda d: Arg(d, d, "maybe" if d == "strided" else "reject")),
    )


def _make_out(spec, shape):
    if spec is None:
        return None
    if spec in ("float64", "float32", "float16", "complex"):
        return np.zeros(shape, dtype={"complex": np.complex128}.get(spec, spec))
    if spec == "wrong_shape":
        return np.zeros((*shape[:-1], shape[-1] + 1))
    if spec == "int":
        return np.zeros(shape, dtype=np.int64)
    if spec == "readonly":
        return _frozen(np.zeros(shape))
    if spec == "list":
        return np.zeros(shape).tolist()
    if spec == "strided":
        return np.zeros((*shape[:-1], 2 * shape[-1]))[..., ::2]
    raise AssertionError(spec)


@prop(
    st.sampled_from(["start", "n_steps", "random_state", "out"]),
    _points,
    _n_steps,
    random_states,
    _out_strategy(),
)
def test_mdn_sample(which, start, n_steps, random_state, out):
    Z = data()[1]
    args = {
        "start": start if which == "start" else Arg("valid", Z[:2].copy(), "accept"),
        "n_steps": n_steps if which == "n_steps" else Arg("valid", 3, "accept"),
        "random_state": random_state
        if which == "random_state"
        else Arg("valid", 0, "accept"),
    }
    arg = args[which] if which != "out" else out
    expect = arg.expect
    s, n = args["start"].value, args["n_steps"].value
    shape = None
    if args["start"].expect != "reject" and args["n_steps"].expect == "accept":
        try:
            shape = (
                (n + 1, N_COMPONENTS)
                if np.ndim(s) == 1
                else (len(s), n + 1, N_COMPONENTS)
            )
        except TypeError:
            shape = None
    if which == "out":
        if shape is None:
            return
        args["out"] = Arg(out.kind, _make_out(out.value, shape), out.expect)
    C.check(
        "MDNPropagator.sample",
        lambda start, n_steps, random_state, out=None: mdn().sample(
            start, n_steps, random_state=random_state, out=out
        ),
        args,
        name=which,
        expect=expect,
        call="mdn.sample({start}, {n_steps}, random_state={random_state}"
        + (", out={out})" if "out" in args else ")"),
        output=(shape_is(*shape) if shape else None) if expect != "reject" else None,
        inputs={k: v.value for k, v in args.items() if k != "out"},
    )


# ------------------------------------------------------------- CWGANDecoder


@prop(
    st.booleans(),
    trajectories(N_COMPONENTS, min_frames=1, max_frames=30, kinds=FIT_KINDS),
    st.sampled_from(["same", "fewer", "more", "list"]),
)
def test_cwgan_fit(bad_is_y, arg, pairing):
    """One of Z, y under test (the other a valid partner); or mismatched pairs."""
    from sklss import CWGANDecoder

    rng = np.random.default_rng(1)
    if arg.expect != "reject" and pairing != "same":
        # Mismatched structure: a different number of frames or trajectories.
        n = len(arg.value) if isinstance(arg.value, np.ndarray) else None
        if n is None:
            return
        m = {"fewer": max(n - 1, 0), "more": n + 1}.get(pairing, n)
        if m == 0:
            return  # a partner without frames is invalid itself: its own error
        partner = rng.normal(size=(m, 4))
        if pairing == "list":
            partner = [partner, partner]
        arg = Arg(f"{arg.kind}+{pairing}", arg.value, "reject")
        expect, name = "reject", ("Z", "y")
    else:
        n = len(arg.value) if hasattr(arg.value, "__len__") else 1
        shape_source = arg.value
        if _structure(shape_source) and isinstance(_structure(shape_source), list):
            partner = [rng.normal(size=(k, 4)) for k in _structure(shape_source)]
        else:
            partner = rng.normal(size=(max(n, 1), 4))
        expect = arg.expect if not (arg.expect == "accept" and n < 4) else "maybe"
        name = "y" if bad_is_y else "Z"
    args = {"y": arg, "Z": partner} if bad_is_y else {"Z": arg, "y": partner}
    C.check(
        "CWGANDecoder.fit",
        lambda Z, y: CWGANDecoder(**CW_TINY).fit(Z, y),
        args,
        name=name if isinstance(name, str) else name[int(bad_is_y)],
        expect=expect,
        call="CWGANDecoder(**CW_TINY).fit({Z}, {y})",
    )


@prop(trajectories(N_COMPONENTS), random_states, st.booleans())
def test_cwgan_sample(Z, random_state, vary_seed):
    name = "random_state" if vary_seed else "Z"
    arg = random_state if vary_seed else Z
    args = {
        "Z": Z if not vary_seed else Arg("valid", data()[1][:5].copy(), "accept"),
        "random_state": random_state if vary_seed else Arg("valid", 0, "accept"),
    }
    C.check(
        "CWGANDecoder.sample",
        lambda Z, random_state: cwgan().sample(Z, random_state=random_state),
        args,
        name=name,
        expect=arg.expect,
        call="cwgan.sample({Z}, random_state={random_state})",
        output=mirrors(args["Z"].value, N_FEATURES) if arg.expect != "reject" else None,
    )


# ------------------------------------------------------ LatentSpaceSimulator


@prop(
    trajectories(N_FEATURES, min_frames=1, max_frames=30, kinds=FIT_KINDS),
    st.sampled_from(["X", "y", "y_mismatch"]),
)
def test_simulator_fit(arg, which):
    X = data()[0]
    if which == "X":
        args, expect = {"X": arg, "y": None}, arg.expect
        if expect == "accept" and len(arg.value) < 20:
            expect = "maybe"
    elif which == "y":
        if arg.kind == "none":
            return  # y=None is valid: no decoder
        if not isinstance(arg.value, np.ndarray) or arg.value.ndim != 2:
            args, expect = (
                {"X": X[:5], "y": arg},
                "reject" if arg.expect == "reject" else "maybe",
            )
        else:
            if len(arg.value) < 20 and arg.expect != "reject":
                return  # too short for the encoder: X's error, not y's
            # At least one frame: an X without frames would be the error.
            n = max(len(arg.value), 1)
            args = {"X": np.resize(X, (n, N_FEATURES)), "y": arg}
            expect = arg.expect
    else:
        if arg.expect == "reject":
            return
        args, expect = {"X": X, "y": arg}, "reject"
        if _structure(arg.value) == len(X):
            return
    C.check(
        "LatentSpaceSimulator.fit",
        lambda X, y: make_simulator().fit(X, y),
        args,
        name="X" if which == "X" else "y",
        expect=expect,
        call="LatentSpaceSimulator(<tiny>).fit({X}, {y})",
    )


@prop(trajectories(N_FEATURES))
def test_simulator_transform(X):
    C.check(
        "LatentSpaceSimulator.transform",
        simulator().transform,
        {"X": X},
        name="X",
        expect=X.expect,
        call="sim.transform({X})",
        output=mirrors(X.value, N_COMPONENTS),
    )


@prop(trajectories(N_FEATURES, min_frames=1, max_frames=30))
def test_simulator_score(X):
    expect = X.expect
    if expect == "accept" and len(X.value) < 8:
        expect = "maybe"
    C.check(
        "LatentSpaceSimulator.score",
        simulator().score,
        {"X": X},
        name="X",
        expect=expect,
        call="sim.score({X})",
    )


_sim_start = st.one_of(
    st.just(Arg("None", None, "accept")),
    trajectories(
        N_COMPONENTS,
        min_frames=1,
        max_frames=3,
        allow_1d_point=True,
        wrong_widths=[1, 4, 5],
    ).filter(lambda a: a.kind != "none"),  # start=None is valid
    trajectories(
        N_FEATURES,
        min_frames=1,
        max_frames=3,
        allow_1d_point=True,
        wrong_widths=[1, 4, 5],
    ).filter(lambda a: a.kind != "none"),
)


@prop(
    st.sampled_from(
        [
            "n_steps",
            "n_trajectories",
            "start",
            "random_state",
            "decode_stride",
            "start_space",
        ]
    ),
    _n_steps,
    int_param(1, valid=st.integers(1, 3).map(lambda v: Arg("valid", v, "accept"))),
    _sim_start,
    random_states,
    int_param(
        1,
        huge="maybe",
        valid=st.integers(1, 3).map(lambda v: Arg("valid", v, "accept")),
    ),
    choice_param({"auto", "latent", "features"}),
)
def test_simulator_sample(
    which, n_steps, n_trajectories, start, random_state, decode_stride, start_space
):
    valid = {
        "n_steps": Arg("valid", 3, "accept"),
        "n_trajectories": Arg("valid", 2, "accept"),
        "start": Arg("None", None, "accept"),
        "random_state": Arg("valid", 0, "accept"),
        "decode_stride": Arg("valid", 1, "accept"),
        "start_space": Arg("valid", "auto", "accept"),
    }
    given_ = {
        "n_steps": n_steps,
        "n_trajectories": n_trajectories,
        "start": start,
        "random_state": random_state,
        "decode_stride": decode_stride,
        "start_space": start_space,
    }
    args = dict(valid)
    args[which] = given_[which]
    expect = given_[which].expect
    if which == "start" and expect != "reject" and start.value is not None:
        # A start of several frames needs n_trajectories of 1 or as many.
        args["n_trajectories"] = Arg("valid", 1, "accept")
    if which == "start_space":
        args["start"] = Arg("latent", data()[1][0].copy(), "accept")

    def check(result):
        lat = result.latent
        if (
            lat.ndim != 3
            or lat.shape[2] != N_COMPONENTS
            or lat.shape[1] != args["n_steps"].value + 1
        ):
            return f"latent shape {lat.shape}"
        conf = result.configurations
        if conf is None or conf.shape[0] != lat.shape[0] or conf.shape[2] != N_FEATURES:
            return f"configurations shape {None if conf is None else conf.shape}"
        if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(conf))):
            return "non-finite output"
        return None

    C.check(
        "LatentSpaceSimulator.sample",
        lambda **kw: simulator().sample(
            kw["n_steps"],
            kw["n_trajectories"],
            kw["start"],
            random_state=kw["random_state"],
            decode_stride=kw["decode_stride"],
            start_space=kw["start_space"],
        ),
        args,
        name=which,
        expect=expect,
        call="sim.sample({n_steps}, {n_trajectories}, {start}, random_state={random_state}, "  # noqa: E501
        "decode_stride={decode_stride}, start_space={start_space})",
        output=check if expect != "reject" else None,
    )


@prop(st.sampled_from([None, 0, -1, 1.5, "x", 10**12, 2, True]))
def test_simulation_result_to_mdtraj(trajectory):
    """``SimulationResult.to_mdtraj(trajectory)``: an index into the trajectories."""
    result = _molecular_simulator().sample(2, 2, random_state=0)
    expect = (
        "accept"
        if trajectory in (None, 0) and not isinstance(trajectory, bool)
        else "reject"
    )
    if trajectory == -1:
        expect = "maybe"
    C.check(
        "SimulationResult.to_mdtraj",
        result.to_mdtraj,
        {"trajectory": Arg(str(trajectory), trajectory, expect)},
        name="trajectory",
        expect=expect,
        call="sim.sample(2, 2).to_mdtraj({trajectory})",
    )


@functools.cache
def _molecular_simulator():
    t = traj_copy()
    feats = np.asarray(t.xyz.reshape(len(t), -1)[:, :6], dtype=np.float64)
    return make_simulator().fit(feats, t)


@prop(st.sampled_from([3, None, ["a"], 1.5, b"\x00", "__garbage__"]))
def test_load_simulator(path):
    from sklss import load_simulator

    if path == "__garbage__":
        import tempfile

        f = tempfile.NamedTemporaryFile(suffix=".joblib", delete=False)
        f.write(b"not a simulator")
        f.close()
        path = f.name
    # A missing file is a FileNotFoundError by convention; all else must be clear.
    C.check(
        "load_simulator",
        load_simulator,
        {"path": Arg("bad", path, "reject")},
        name="path",
        expect="reject",
        call="load_simulator({path})",
    )


# ---------------------------------------------------------------- FrameWise


@prop(
    trajectories(N_FEATURES), st.sampled_from(["fit", "transform", "inverse_transform"])
)
def test_framewise(X, method):
    from sklearn.preprocessing import StandardScaler

    from sklss import FrameWise

    fitted = FrameWise(StandardScaler()).fit(data()[0])
    expect = X.expect
    if method == "fit" and X.kind == "wrong_width":
        expect = "accept"
    fn = (
        (lambda X: FrameWise(StandardScaler()).fit(X))
        if method == "fit"
        else getattr(fitted, method)
    )
    C.check(
        f"FrameWise.{method}",
        fn,
        {"X": X},
        name="X",
        expect=expect,
        call=f"FrameWise(StandardScaler()).{method}({{X}})",
        output=None if method == "fit" else mirrors(X.value, N_FEATURES),
    )


@prop(st.sampled_from([None, "scaler", 3, object(), print, torch.nn.Linear(1, 1)]))
def test_framewise_transformer(transformer):
    from sklss import FrameWise

    C.check(
        "FrameWise.__init__+fit",
        lambda transformer, X: FrameWise(transformer).fit(X),
        {"transformer": Arg("bad", transformer, "reject"), "X": data()[0]},
        name="transformer",
        expect="reject",
        call="FrameWise({transformer}).fit(X)",
    )


# ------------------------------------------------------- molecular featurizers

_BAD_MD = st.sampled_from(
    [
        "array",
        "None",
        "empty_list",
        "list_with_array",
        "other_atoms",
        "nan_xyz",
        "no_frames",
        "string",
    ]
)


def _bad_md(kind):
    t = traj_copy()
    if kind == "array":
        return t.xyz
    if kind == "None":
        return None
    if kind == "empty_list":
        return []
    if kind == "list_with_array":
        return [t, t.xyz]
    if kind == "other_atoms":
        return t.atom_slice(range(10))
    if kind == "nan_xyz":
        t.xyz[0, 0, 0] = np.nan
        return t
    if kind == "no_frames":
        return t[:0]
    if kind == "string":
        return "traj.pdb"
    raise AssertionError(kind)


_FEATURIZERS = {
    "TorsionFeaturizer": lambda: __import__("sklss").TorsionFeaturizer(),
    "DistanceFeaturizer": lambda: __import__("sklss").DistanceFeaturizer("element C"),
    "AlignedCoordinates": lambda: __import__("sklss").AlignedCoordinates("element C"),
    "InternalCoordinates": lambda: __import__("sklss").InternalCoordinates(),
}


@prop(
    st.sampled_from(sorted(_FEATURIZERS)),
    st.sampled_from(["fit", "transform"]),
    _BAD_MD,
)
def test_featurizer_X(featurizer, method, kind):
    make = _FEATURIZERS[featurizer]
    X = _bad_md(kind)
    if method == "fit":
        fn = lambda X: make().fit_transform(X)  # noqa: E731
    else:
        fn = make().fit(traj_copy()).transform
    expect = "reject"
    if method == "fit" and kind == "other_atoms":
        expect = "maybe"  # another topology is fine for fit
    C.check(
        f"{featurizer}.{method}",
        fn,
        {"X": Arg(kind, X, expect)},
        name="X",
        expect=expect,
        call=f"{featurizer}(...).{method}({{X}})",
    )


_FEATURIZER_PARAMS = {
    ("TorsionFeaturizer", "angles"): st.sampled_from(
        [(), "phi", ("phi", "alpha"), ("PHI",), (1,), None, ["phi", None], ("chi4",)]
    ),
    ("DistanceFeaturizer", "selection"): st.sampled_from(
        ["name XX", "resname", "", None, 3, ["name CA"], "element C and name CA"]
    ),
    ("DistanceFeaturizer", "exclude_neighbors"): st.sampled_from(
        [-1, True, 1.5, "1", None, 10**12, 2**63]
    ),
    ("DistanceFeaturizer", "periodic"): st.sampled_from(["yes", None, 2, [True]]),
    ("AlignedCoordinates", "selection"): st.sampled_from(
        ["name XX", "resname", "", None, 3, ["name CA"]]
    ),
    ("AlignedCoordinates", "reference"): st.sampled_from(
        ["ref", 3, "array", "other_atoms", "nan_xyz", "no_frames"]
    ),
    ("InternalCoordinates", "selection"): st.sampled_from(
        ["name XX", "resname", "", None, 3, ["name CA"], "element C", "name CA"]
    ),
    ("InternalCoordinates", "reference"): st.sampled_from(
        ["ref", 3, "array", "other_atoms", "nan_xyz", "no_frames"]
    ),
}


@prop(
    st.sampled_from(sorted(_FEATURIZER_PARAMS)).flatmap(
        lambda k: _FEATURIZER_PARAMS[k].map(lambda v: (k, v))
    )
)
def test_featurizer_parameters(case):
    import sklss

    (cls_name, name), value = case
    expect = "reject"
    if name == "angles" and value == ("chi4",):
        expect = "reject"  # alanine dipeptide has no chi4
    if name == "reference" and value in (
        "array",
        "other_atoms",
        "nan_xyz",
        "no_frames",
    ):
        value = _bad_md(value)
    if name == "exclude_neighbors" and value in HUGE_INTS:
        expect = "reject"
    cls = getattr(sklss, cls_name)
    base = {
        "DistanceFeaturizer": {"selection": "element C"},
        "AlignedCoordinates": {"selection": "element C"},
        "InternalCoordinates": {"selection": "all"},
    }.get(cls_name, {})
    C.check(
        f"{cls_name}.__init__+fit",
        lambda **kw: cls(**{**base, name: kw[name]}).fit_transform(traj_copy()),
        {name: Arg(str(value)[:20], value, expect)},
        name=name,
        expect=expect,
        call=f"{cls_name}({name}={{{name}}}).fit_transform(traj)",
    )


@prop(
    trajectories(3 * 6, min_frames=1, max_frames=4),
    st.sampled_from(["to_trajectory", "inverse_transform"]),
)
def test_to_trajectory_X(X, which):
    """Flattened coordinates of the 6 carbons of alanine dipeptide."""
    from sklss import AlignedCoordinates, to_trajectory

    t = traj_copy()
    if which == "to_trajectory":
        top = t.atom_slice(t.topology.select("element C")).topology
        fn = lambda X: to_trajectory(X, top)  # noqa: E731
    else:
        fn = AlignedCoordinates("element C").fit(t).inverse_transform
    _check_rebuilt(
        "to_trajectory" if which == "to_trajectory" else "AlignedCoordinates",
        fn,
        X,
        which,
    )


@prop(trajectories(4 * 10 - 9, min_frames=1, max_frames=4))
def test_internal_coordinates_inverse_X(X):
    """Internal coordinates of the 10 heavy atoms of alanine dipeptide: any finite
    values (negative or zero bonds, straight angles) rebuild finite structures."""
    from sklss import InternalCoordinates

    fn = InternalCoordinates().fit(traj_copy()).inverse_transform
    _check_rebuilt("InternalCoordinates", fn, X, "inverse_transform")


def _check_rebuilt(owner, fn, X, which):
    C.check(
        owner if which == "to_trajectory" else f"{owner}.inverse_transform",
        fn,
        {"X": X},
        name="X",
        expect=X.expect,
        call=f"{which}({{X}}, ...)",
        output=lambda out: (
            None
            if all(
                np.all(np.isfinite(o.xyz))
                for o in (out if isinstance(out, list) else [out])
            )
            else "non-finite output"
        ),
    )


@prop(st.sampled_from([None, "top", 3, "array", "other_atoms"]))
def test_to_trajectory_topology(topology):
    from sklss import to_trajectory

    if topology == "array":
        topology = traj_copy().xyz
    elif topology == "other_atoms":
        topology = traj_copy().topology  # 22 atoms, X has 6
    C.check(
        "to_trajectory",
        lambda X, topology: to_trajectory(X, topology),
        {"X": np.zeros((2, 18)), "topology": Arg("bad", topology, "reject")},
        name="topology",
        expect="reject",
        call="to_trajectory(np.zeros((2, 18)), {topology})",
    )


# ------------------------------------------------------------------ analysis

_one_d = trajectories(1, min_frames=10, max_frames=60)
_two_d = trajectories(2, min_frames=10, max_frames=60)


def _bad_int(minimum=1):
    return int_param(minimum)


def _good(v):
    return Arg("valid", v, "accept")


def _analysis_case(
    target, fn, strategies, defaults, call, *, min_frames=None, output=None
):
    """A test over ``fn``: each case picks one argument from ``strategies`` and
    uses the default (valid) values for the others."""

    def test(case):
        name, arg = case
        args = {k: _good(v) for k, v in defaults().items()}
        args[name] = arg
        expect = arg.expect
        if arg.kind == "wrong_width":
            expect = "maybe"  # no fitted width here: just other data
        if expect == "accept" and min_frames is not None:
            x = arg.value
            if isinstance(x, np.ndarray) and len(x) < min_frames:
                expect = "maybe"
        C.check(
            target,
            lambda **kw: fn()(**kw),
            args,
            name=name,
            expect=expect,
            call=call,
            output=output,
            finite=output is None,
        )

    test.__name__ = test.__qualname__ = "test_" + target.split(".")[-1]
    return prop(
        st.sampled_from(sorted(strategies)).flatmap(
            lambda k: strategies[k].map(lambda v: (k, v))
        )
    )(test)


def _fn(module, name):
    def get():
        mod = __import__(module, fromlist=[name])
        return getattr(mod, name)

    return get


def _walk(n=200, d=1, seed=0):
    x = np.cumsum(np.random.default_rng(seed).normal(size=(n, d)), axis=0)
    return x / np.abs(x).max()


_bins = int_param(1) | st.sampled_from([[0], [1, 0, 2], "a", [np.nan, 1.0, 2.0]]).map(
    lambda v: Arg("bad_edges", v, "reject")
)
_range = st.sampled_from(
    [(1, 0), (0, 0), (np.nan, 1), (0, np.inf), "ab", (1,), (0, 1, 2), 3]
).map(lambda v: Arg("bad", v, "reject"))

test_free_energy_profile = _analysis_case(
    "analysis.free_energy_profile",
    _fn("sklss.analysis", "free_energy_profile"),
    {
        "X": _two_d,
        "coordinate": int_param(0)
        | st.sampled_from([2, 3]).map(lambda v: Arg("too_large", v, "reject")),
        "bins": _bins,
        "range": _range,
        "n_blocks": int_param(2)
        | st.sampled_from([1000]).map(lambda v: Arg("too_many", v, "reject")),
    },
    lambda: {
        "X": _walk(200, 2),
        "coordinate": 0,
        "bins": 10,
        "range": None,
        "n_blocks": 2,
    },
    "free_energy_profile({X}, coordinate={coordinate}, bins={bins}, range={range}, n_blocks={n_blocks})",  # noqa: E501
    # NaN marks empty bins (documented): check the rest.
    output=lambda r: (
        None
        if np.all(np.isfinite(r.bin_edges)) and np.nanmin(r.free_energy) == 0
        else "non-finite bin_edges or free_energy"
    ),
)

_profile_arrays = st.one_of(
    st.sampled_from(
        [
            ("shape", [1.0, 2.0]),
            ("strings", ["a", "b", "c"]),
            ("all_nan", [np.nan] * 3),
            ("inf", [0.0, np.inf, 1.0]),
            ("2d", [[0.0, 1.0, 2.0]]),
            ("None", None),
            ("object", [0.0, None, 1.0]),
            ("complex", [0j, 1j, 2j]),
        ]
    ).map(lambda kv: Arg(kv[0], kv[1], "reject")),
    st.lists(st.floats(0, 10), min_size=3, max_size=3).map(
        lambda v: Arg("valid", np.array(v), "accept")
    ),
)
test_profile_rmse = _analysis_case(
    "analysis.profile_rmse",
    _fn("sklss.analysis", "profile_rmse"),
    {
        "reference": _profile_arrays,
        "other": _profile_arrays,
        "max_free_energy": real_param(0.0, closed=True, allow_none=True).filter(
            lambda a: a.kind != "inf"
        ),
    },
    lambda: {
        "reference": np.array([0.0, 1.0, 2.0]),
        "other": np.array([0.5, 1.0, 3.0]),
        "max_free_energy": None,
    },
    "profile_rmse({reference}, {other}, max_free_energy={max_free_energy})",
)

# A 1-D series is documented valid input of block_average ("1d" included).
_values_1d = trajectories(1, min_frames=10, max_frames=40).map(
    lambda a: Arg(
        a.kind,
        a.value[:, 0]
        if isinstance(a.value, np.ndarray)
        and a.value.ndim == 2
        and a.value.shape[1] == 1
        and a.expect == "accept"
        else a.value,
        "accept" if a.kind == "1d" else a.expect,
    )
)
test_block_average = _analysis_case(
    "analysis.block_average",
    _fn("sklss.analysis", "block_average"),
    {
        "values": _values_1d,
        "n_blocks": int_param(2) | st.just(Arg("too_many", 1000, "reject")),
    },
    lambda: {"values": _walk(50)[:, 0], "n_blocks": 2},
    "block_average({values}, n_blocks={n_blocks})",
)

test_autocorrelation = _analysis_case(
    "analysis.autocorrelation",
    _fn("sklss.analysis", "autocorrelation"),
    {
        "X": _two_d,
        "max_lag": int_param(1),
        "center": st.sampled_from(["yes", None, 2, [True]]).map(
            lambda v: Arg("bad", v, "reject")
        ),
    },
    lambda: {"X": _walk(100, 2), "max_lag": 5, "center": True},
    "autocorrelation({X}, {max_lag}, center={center})",
    # NaN at lags longer than every trajectory (documented); C(0) = 1.
    output=lambda acf: (
        None if np.allclose(acf[0], 1.0) else f"C(0) = {acf[0]}, expected 1"
    ),
)

_cutoff = real_param(0.0, closed=False, maximum=1.0)
test_relaxation_times = _analysis_case(
    "analysis.relaxation_times",
    _fn("sklss.analysis", "relaxation_times"),
    {
        "X": trajectories(2, min_frames=20, max_frames=80),
        "max_lag": int_param(1, allow_none=True),
        "cutoff": _cutoff,
        "n_blocks": int_param(2) | st.just(Arg("too_many", 1000, "reject")),
        "center": st.sampled_from(["yes", None, 2]).map(
            lambda v: Arg("bad", v, "reject")
        ),
    },
    lambda: {
        "X": _walk(200, 2),
        "max_lag": 5,
        "cutoff": 0.2,
        "n_blocks": 2,
        "center": True,
    },
    "relaxation_times({X}, max_lag={max_lag}, cutoff={cutoff}, n_blocks={n_blocks}, center={center})",  # noqa: E501
    min_frames=20,
    output=lambda r: None if np.allclose(r.autocorrelation[0], 1.0) else "C(0) != 1",
)

_acf = trajectories(
    2, min_frames=5, max_frames=5, kinds=("valid",) * 3 + BAD_X_KINDS[:12]
).map(
    lambda a: Arg(
        a.kind, np.clip(a.value / 10, -1, 1) if a.kind == "valid" else a.value, a.expect
    )
)
test_fit_relaxation_times = _analysis_case(
    "analysis.fit_relaxation_times",
    _fn("sklss.analysis", "fit_relaxation_times"),
    {
        "acf": _acf.filter(lambda a: a.kind not in ("nan",)),  # NaN is documented
        "lags": st.sampled_from(
            [
                [0, 1, 2, 3, 4],
                [1, 2, 3],
                [5, 4, 3, 2, 1],
                ["a"] * 5,
                [1, 2, 3, 4, np.inf],
                [[1, 2, 3, 4, 5]],
                None,
                [1, 1, 2, 3, 4],
            ]
        ).map(lambda v: Arg("bad", v, "reject")),
        "cutoff": _cutoff,
    },
    lambda: {
        "acf": np.exp(-np.arange(1, 6)[:, None] / np.array([2.0, 4.0])),
        "lags": np.arange(1, 6),
        "cutoff": 0.2,
    },
    "fit_relaxation_times({acf}, {lags}, cutoff={cutoff})",
)

test_msm_timescales = _analysis_case(
    "analysis.msm_timescales",
    _fn("sklss.analysis", "msm_timescales"),
    {
        "X": trajectories(1, min_frames=30, max_frames=60),
        "edges": st.sampled_from(
            [[0.0], [1.0, 0.0], [0.0, np.nan, 1.0], "a", [[0.0, 1.0]], None, 5]
        ).map(lambda v: Arg("bad", v, "reject")),
        "lagtime": int_param(1) | st.just(Arg("too_long", 1000, "reject")),
        # None is the documented default (all time scales).
        "n_timescales": int_param(1).filter(lambda a: a.value is not None)
        | st.just(Arg("too_many", 50, "reject")),
        "coordinate": int_param(0) | st.just(Arg("too_large", 1, "reject")),
        "reversible": st.sampled_from(["yes", None, 2, 1.0]).map(
            lambda v: Arg("bad", v, "reject")
        ),
    },
    lambda: {
        "X": _walk(300),
        "edges": np.linspace(-1, 1, 6),
        "lagtime": 1,
        "n_timescales": None,
        "coordinate": 0,
        "reversible": True,
    },
    "msm_timescales({X}, {edges}, lagtime={lagtime}, n_timescales={n_timescales}, coordinate={coordinate}, reversible={reversible})",  # noqa: E501
)

_sample_1d = trajectories(1, min_frames=5, max_frames=30).map(
    lambda a: Arg(
        a.kind,
        a.value[:, 0] if a.kind == "valid" else a.value,
        "accept" if a.kind in ("valid", "1d") else a.expect,
    )
)
test_total_variation = _analysis_case(
    "analysis.total_variation",
    _fn("sklss.analysis", "total_variation"),
    {
        "reference": _sample_1d.map(
            lambda a: Arg(
                a.kind,
                a.value,
                "reject"
                if a.kind in ("3d",)
                or (
                    isinstance(a.value, np.ndarray)
                    and a.value.ndim == 2
                    and a.kind == "wrong_width"
                )
                else a.expect,
            )
        ),
        "sample": _sample_1d,
        "bins": _bins,
        "range": _range,
    },
    lambda: {
        "reference": _walk(50)[:, 0],
        "sample": _walk(50, seed=1)[:, 0],
        "bins": 10,
        "range": None,
    },
    "total_variation({reference}, {sample}, bins={bins}, range={range})",
)


def _unit_scale(a):
    """A valid random walk scaled into [-1, 1], like ``_walk``.

    Two valid random walks may still not overlap in the reference's histogram
    bins; then no free-energy difference exists and a clear error naming the
    argument is the right answer, so a valid walk may give either.
    """
    if a.kind == "valid":
        return Arg(a.kind, a.value / np.abs(a.value).max(), "maybe")
    return a


test_tica_comparison = _analysis_case(
    "analysis.tica_comparison",
    _fn("sklss.analysis", "tica_comparison"),
    {
        # Valid data on the scale of the other argument's default (distributions
        # that do not overlap have no free-energy difference; not the point here).
        "reference": trajectories(3, min_frames=30, max_frames=60, kinds=FIT_KINDS).map(
            _unit_scale
        ),
        "generated": trajectories(3, min_frames=5, max_frames=60).map(_unit_scale),
        "lagtime": int_param(1) | st.just(Arg("too_long", 1000, "reject")),
        "n_components": int_param(1) | st.just(Arg("too_many", 5, "reject")),
        "bins": int_param(1),
        "min_count": int_param(1),
    },
    lambda: {
        "reference": _walk(200, 3),
        "generated": _walk(100, 3, seed=1),
        "lagtime": 2,
        "n_components": 2,
        "bins": 5,
        "min_count": 1,
    },
    "tica_comparison({reference}, {generated}, {lagtime}, n_components={n_components}, bins={bins}, min_count={min_count})",  # noqa: E501
    # Free energies are NaN in empty bins (documented); the RMSE must be finite.
    output=lambda r: None if np.isfinite(r.rmse.rmse) else "non-finite rmse",
)

_cores = st.sampled_from(
    [
        ("one_core", [(-1.0, 0.0)]),
        ("not_list", (-1.0, 0.0)),
        ("low_high", [(0.0, -1.0), (0.5, 1.0)]),
        ("overlap", [(-1.0, 0.5), (0.0, 1.0)]),
        ("nan", [(np.nan, 0.0), (0.5, 1.0)]),
        ("strings", [("a", "b"), (0.5, 1.0)]),
        ("shape", [(-1.0, 0.0, 1.0), (0.5, 1.0)]),
        ("None", None),
        ("array", np.array([[-1.0, 0.0], [0.5, 1.0]])),
    ]
).map(lambda kv: Arg(kv[0], kv[1], "maybe" if kv[0] == "array" else "reject"))
for _name in ("assign_cores", "count_transitions"):
    globals()[f"test_{_name}"] = _analysis_case(
        f"analysis.{_name}",
        _fn("sklss.analysis", _name),
        {"X": trajectories(1, min_frames=5, max_frames=30), "cores": _cores},
        lambda: {"X": _walk(50), "cores": [(-1.0, -0.2), (0.2, 1.0)]},
        _name + "({X}, {cores})",
    )


def _profile_arg():
    from sklearn.utils import Bunch

    good = {
        "free_energy": np.array([0.0, 2.0, 0.5]),
        "bin_edges": np.array([0.0, 1.0, 2.0, 3.0]),
    }
    bad = [
        ("None", None),
        ("dict", dict(good)),
        (
            "edges_shape",
            Bunch(free_energy=good["free_energy"], bin_edges=np.arange(3.0)),
        ),
        ("2d", Bunch(free_energy=np.zeros((2, 2)), bin_edges=np.arange(3.0))),
        (
            "strings",
            Bunch(free_energy=np.array(["a", "b", "c"]), bin_edges=good["bin_edges"]),
        ),
        ("array", good["free_energy"]),
        (
            "nan_edges",
            Bunch(
                free_energy=good["free_energy"],
                bin_edges=np.array([0.0, np.nan, 2.0, 3.0]),
            ),
        ),
    ]
    return st.sampled_from(bad).map(lambda kv: Arg(kv[0], kv[1], "reject"))


test_metastable_cores = _analysis_case(
    "analysis.metastable_cores",
    _fn("sklss.analysis", "metastable_cores"),
    {
        "profile": _profile_arg(),
        "n_cores": int_param(1, huge="maybe"),
        "max_free_energy": real_param(0.0, closed=False).filter(
            lambda a: a.kind != "inf"
        ),
    },
    lambda: {
        "profile": __import__("sklearn.utils", fromlist=["Bunch"]).Bunch(
            free_energy=np.array([0.0, 2.0, 0.5]),
            bin_edges=np.array([0.0, 1.0, 2.0, 3.0]),
        ),
        "n_cores": 2,
        "max_free_energy": 1.0,
    },
    "metastable_cores({profile}, n_cores={n_cores}, max_free_energy={max_free_energy})",
)

_angles = trajectories(2, min_frames=5, max_frames=40)
test_ramachandran_free_energy = _analysis_case(
    "analysis.ramachandran_free_energy",
    _fn("sklss.analysis", "ramachandran_free_energy"),
    {"X": _angles, "bins": int_param(2)},
    lambda: {"X": np.random.default_rng(0).uniform(-3, 3, size=(50, 2)), "bins": 6},
    "ramachandran_free_energy({X}, bins={bins})",
    output=lambda r: (
        None
        if np.all(np.isfinite(r.counts)) and np.nanmin(r.free_energy) == 0
        else "bad surface"
    ),
)

test_compare_ramachandran = _analysis_case(
    "analysis.compare_ramachandran",
    _fn("sklss.analysis", "compare_ramachandran"),
    {
        "reference": _angles,
        "generated": _angles,
        "bins": int_param(2),
        "min_count": int_param(1),
        "basin_cutoff": real_param(0.0, closed=True).filter(lambda a: a.kind != "inf"),
        "min_basin_population": real_param(
            0.0, closed=True, maximum=1.0, max_closed=True
        ),
        "missing_ratio": real_param(0.0, closed=True).filter(lambda a: a.kind != "inf"),
    },
    lambda: {
        "reference": np.random.default_rng(0).uniform(-3, 3, size=(200, 2)),
        "generated": np.random.default_rng(1).uniform(-3, 3, size=(200, 2)),
        "bins": 4,
        "min_count": 1,
        "basin_cutoff": 3.0,
        "min_basin_population": 0.01,
        "missing_ratio": 0.1,
    },
    "compare_ramachandran({reference}, {generated}, bins={bins}, min_count={min_count}, "  # noqa: E501
    "basin_cutoff={basin_cutoff}, min_basin_population={min_basin_population}, "
    "missing_ratio={missing_ratio})",
    output=lambda r: None if np.isfinite(r.rmse) else "non-finite rmse",
)

_md_arg = _BAD_MD.map(lambda k: Arg(k, _bad_md(k), "reject"))
_atom_indices = st.sampled_from(
    [[100], [-100], ["a"], [[0, 1]], [], 1.5, "name CA", [0.5, 1.5]]
).map(lambda v: Arg("bad", v, "reject"))

test_rmsd_to_reference = _analysis_case(
    "analysis.rmsd_to_reference",
    _fn("sklss.analysis", "rmsd_to_reference"),
    {
        "traj": _md_arg.filter(lambda a: a.kind != "other_atoms"),
        "reference": _md_arg,
        "atom_indices": _atom_indices,
        "frame": int_param(0)
        | st.sampled_from([10, 100]).map(lambda v: Arg("too_large", v, "reject")),
    },
    lambda: {
        "traj": traj_copy(),
        "reference": traj_copy(),
        "atom_indices": None,
        "frame": 0,
    },
    "rmsd_to_reference({traj}, {reference}, atom_indices={atom_indices}, frame={frame})",  # noqa: E501
)

test_radius_of_gyration = _analysis_case(
    "analysis.radius_of_gyration",
    _fn("sklss.analysis", "radius_of_gyration"),
    {
        "traj": _md_arg.filter(lambda a: a.kind != "other_atoms"),
        "atom_indices": _atom_indices,
    },
    lambda: {"traj": traj_copy(), "atom_indices": None},
    "radius_of_gyration({traj}, atom_indices={atom_indices})",
)

test_compare_bond_lengths = _analysis_case(
    "analysis.compare_bond_lengths",
    _fn("sklss.analysis", "compare_bond_lengths"),
    {
        "reference": _md_arg,
        "generated": _md_arg,
        "atom_pairs": st.sampled_from(
            [[[0, 100]], [[0, -1]], [[0]], [], "a", [[0.5, 1.5]], [[0, 0]], [[0, 1, 2]]]
        ).map(lambda v: Arg("bad", v, "reject")),
    },
    lambda: {"reference": traj_copy(), "generated": traj_copy(), "atom_pairs": None},
    "compare_bond_lengths({reference}, {generated}, atom_pairs={atom_pairs})",
)

test_backbone_torsions = _analysis_case(
    "analysis.backbone_torsions",
    _fn("sklss.analysis", "backbone_torsions"),
    {"traj": _md_arg},
    lambda: {"traj": traj_copy()},
    "backbone_torsions({traj})",
)


# ------------------------------------------------------------------ datasets

_pos_real = real_param(0.0, closed=False)

test_make_four_well = _analysis_case(
    "datasets.make_four_well",
    _fn("sklss.datasets", "make_four_well"),
    {
        "n_steps": int_param(1),
        "stride": int_param(1, huge="maybe")
        | st.just(Arg("above_n_steps", 1000, "maybe")),
        "dt": _pos_real
        | st.sampled_from([1e300, 10.0]).map(lambda v: Arg("huge", v, "maybe")),
        "kT": _pos_real
        | st.sampled_from([1e300, 1e-300]).map(lambda v: Arg("extreme", v, "maybe")),
        "x0": st.sampled_from([np.nan, np.inf, "0", [0.0], 1e300, True]).map(
            lambda v: Arg("bad", v, "maybe" if v == 1e300 else "reject")
        ),
        "random_state": random_states,
    },
    lambda: {
        "n_steps": 50,
        "stride": 1,
        "dt": 1e-3,
        "kT": 1.0,
        "x0": None,
        "random_state": 0,
    },
    "make_four_well({n_steps}, stride={stride}, dt={dt}, kT={kT}, x0={x0}, random_state={random_state})",  # noqa: E501
)

_x_positions = st.one_of(
    trajectories(
        1,
        min_frames=1,
        max_frames=10,
        kinds=(
            "valid",
            "nan",
            "inf",
            "strings",
            "object",
            "complex",
            "none",
            "ragged",
            "huge",
            "int",
            "3d",
        ),
    ),
)
test_four_well_potential = _analysis_case(
    "datasets.four_well_potential",
    _fn("sklss.datasets", "four_well_potential"),
    {"x": _x_positions},
    lambda: {"x": np.linspace(-1, 1, 5)},
    "four_well_potential({x})",
)

test_four_well_boltzmann_density = _analysis_case(
    "datasets.four_well_boltzmann_density",
    _fn("sklss.datasets", "four_well_boltzmann_density"),
    {
        "x": _x_positions,
        "kT": _pos_real
        | st.sampled_from([1e300, 1e-300]).map(lambda v: Arg("extreme", v, "maybe")),
    },
    lambda: {"x": np.linspace(-1, 1, 5), "kT": 1.0},
    "four_well_boltzmann_density({x}, kT={kT})",
)

test_four_well_bin_probabilities = _analysis_case(
    "datasets.four_well_bin_probabilities",
    _fn("sklss.datasets", "four_well_bin_probabilities"),
    {
        "edges": st.sampled_from(
            [[0.0], [1.0, 0.0], [0.0, np.nan, 1.0], "a", [[0.0, 1.0]], None, 5]
        ).map(lambda v: Arg("bad", v, "reject")),
        "kT": _pos_real
        | st.sampled_from([1e300, 1e-300]).map(lambda v: Arg("extreme", v, "maybe")),
    },
    lambda: {"edges": np.linspace(-1, 1, 5), "kT": 1.0},
    "four_well_bin_probabilities({edges}, kT={kT})",
)

test_four_well_transition_matrix = _analysis_case(
    "datasets.four_well_transition_matrix",
    _fn("sklss.datasets", "four_well_transition_matrix"),
    {
        "n_bins": int_param(1),
        "x_range": _range,
        "kT": _pos_real
        | st.sampled_from([1e300, 1e-300]).map(lambda v: Arg("extreme", v, "maybe")),
    },
    lambda: {"n_bins": 10, "x_range": (-1.0, 1.0), "kT": 1.0},
    "four_well_transition_matrix({n_bins}, x_range={x_range}, kT={kT})",
)


def _oscillate(x):
    """Back and forth across the bins, so that every Markov model is connected."""
    if x.size and x.dtype.kind == "f" and np.all(np.isfinite(x)):
        t = np.arange(len(x)).reshape((-1,) + (1,) * (x.ndim - 1))
        return (np.sin(2.0 * t) + 0.01 * np.tanh(x)).astype(x.dtype)
    return x


def _normalise(a):
    v = a.value
    if isinstance(v, np.ndarray) and v.ndim == 3:
        v = np.stack([_oscillate(x) for x in v])  # a stack of trajectories
    elif isinstance(v, np.ndarray):
        v = _oscillate(v)
    elif isinstance(v, list) and v and all(isinstance(x, np.ndarray) for x in v):
        v = [_oscillate(x) for x in v]
    return Arg(a.kind, v, "maybe" if a.kind in ("1d", "3d") else a.expect)


# Random walks scaled into the bins (data-dependent failures are not the point).
_fw_traj = trajectories(
    1,
    min_frames=20,
    max_frames=60,
    kinds=("valid",) * 3
    + BAD_X_KINDS
    + (
        "float32",
        "nested_list",
        "list_of_arrays",
        "tuple_of_arrays",
        "tensor",
        "tensor_grad",
        "readonly",
        "fortran",
        "strided",
    ),
).map(_normalise)
test_compare_four_well = _analysis_case(
    "datasets.compare_four_well",
    _fn("sklss.datasets", "compare_four_well"),
    {
        "reference": _fw_traj,
        "generated": _fw_traj,
        "edges": st.sampled_from(
            [[0.0], [1.0, 0.0], [0.0, np.nan, 1.0], "a", None.__class__]
        ).map(lambda v: Arg("bad", v, "reject")),
        "msm_edges": st.sampled_from(
            [[0.0], [1.0, 0.0], [0.0, np.nan, 1.0], "a", 5]
        ).map(lambda v: Arg("bad", v, "reject")),
        "lagtime": int_param(1) | st.just(Arg("too_long", 1000, "reject")),
        "n_timescales": int_param(1) | st.just(Arg("too_many", 500, "reject")),
    },
    lambda: {
        "reference": _oscillate(_walk(300)),
        "generated": _oscillate(_walk(300, seed=1)),
        "edges": None,
        "msm_edges": np.linspace(-1.3, 1.3, 6),
        "lagtime": 1,
        "n_timescales": 1,
    },
    "compare_four_well({reference}, {generated}, edges={edges}, msm_edges={msm_edges}, "
    "lagtime={lagtime}, n_timescales={n_timescales})",
    min_frames=20,
)

test_make_swissroll = _analysis_case(
    "datasets.make_swissroll",
    _fn("sklss.datasets", "make_swissroll"),
    {
        "n_frames": int_param(1),
        "return_states": st.sampled_from(["yes", None, 2]).map(
            lambda v: Arg("bad", v, "reject")
        ),
        "random_state": random_states,
    },
    lambda: {"n_frames": 20, "return_states": False, "random_state": 0},
    "make_swissroll({n_frames}, return_states={return_states}, random_state={random_state})",  # noqa: E501
)

test_make_metastable_hmm = _analysis_case(
    "datasets.make_metastable_hmm",
    _fn("sklss.datasets", "make_metastable_hmm"),
    {
        "n_frames": int_param(1),
        "n_trajectories": int_param(1),
        "noise": real_param(0.0, closed=True) | st.just(Arg("huge", 1e300, "maybe")),
        "random_state": random_states,
    },
    lambda: {"n_frames": 20, "n_trajectories": 2, "noise": 0.45, "random_state": 0},
    "make_metastable_hmm({n_frames}, {n_trajectories}, noise={noise}, random_state={random_state})",  # noqa: E501
)


@pytest.mark.parametrize(
    "name", ["swissroll_transition_matrix", "metastable_hmm_transition_matrix"]
)
def test_transition_matrices(name):
    fn = _fn("sklss.datasets", name)()
    outcome, P = C.check(f"datasets.{name}", fn, {}, name="-", expect="accept")
    assert outcome == "ok"
    np.testing.assert_allclose(np.sum(P, axis=1), 1.0)


test_load_alanine_dipeptide = _analysis_case(
    "datasets.load_alanine_dipeptide",
    _fn("sklss.datasets", "load_alanine_dipeptide"),
    {
        # Only bad arguments: a valid call would run molecular dynamics.
        "n_frames": int_param(2),
        "random_state": random_states.filter(lambda a: a.expect == "reject")
        | st.sampled_from([None, 2**31]).map(lambda v: Arg("bad", v, "reject")),
        "platform": choice_param({"Reference", "CPU"}),
        "data_home": st.sampled_from([3, ["a"], b"\x00", 1.5]).map(
            lambda v: Arg("bad", v, "reject")
        ),
    },
    lambda: {
        "n_frames": 2,
        "random_state": 0,
        "platform": "Reference",
        "data_home": "/tmp/sklss-property-tests",
    },
    "load_alanine_dipeptide({n_frames}, data_home={data_home}, random_state={random_state}, platform={platform})",  # noqa: E501
)


@prop(
    st.sampled_from(["n_steps", "platform", "random_state"]).flatmap(
        lambda k: {
            "n_steps": int_param(1).filter(
                lambda a: a.kind != "huge" or a.value >= 2**31
            ),
            "platform": choice_param({"Reference", "CPU"}),
            "random_state": random_states.filter(lambda a: a.expect == "reject"),
        }[k].map(lambda v: (k, v))
    )
)
def test_measure_md_speed(case):
    from sklss.datasets import measure_md_speed

    name, arg = case
    args = {
        "n_steps": 0 if name != "n_steps" else arg,
        "platform": "Reference",
        "random_state": 0,
    }
    args[name] = arg
    if name != "n_steps":
        # n_steps=0 is invalid too; the argument under test may be reported
        # instead, so only check that the error is clear and of the right type.
        args["n_steps"] = Arg("invalid", 0, "reject")
    C.check(
        "datasets.measure_md_speed",
        lambda **kw: measure_md_speed(**kw),
        args,
        name=name if name == "n_steps" else "n_steps|" + name,
        expect="reject",
        call="measure_md_speed({n_steps}, platform={platform}, random_state={random_state})",  # noqa: E501
        timeout=60,
    )


@prop(st.sampled_from([3, ["a"], 1.5, b"\x00", object()]))
def test_get_data_home(data_home):
    from sklss.datasets import get_data_home

    C.check(
        "datasets.get_data_home",
        get_data_home,
        {"data_home": Arg("bad", data_home, "reject")},
        name="data_home",
        expect="reject",
        call="get_data_home({data_home})",
    )


# ----------------------------------------------------------- model_selection

test_select_dimension = _analysis_case(
    "model_selection.select_dimension",
    _fn("sklss.model_selection", "select_dimension"),
    {
        "eigenvalues": st.one_of(
            st.sampled_from(
                [
                    ("empty", []),
                    ("2d", [[0.9, 0.5]]),
                    ("nan", [0.9, np.nan]),
                    ("inf", [np.inf, 0.5]),
                    ("strings", ["a", "b"]),
                    ("None", None),
                    ("complex", [0.9 + 1j]),
                    ("above_one", [1.5, 0.5]),
                    ("object", [0.9, None]),
                ]
            ).map(lambda kv: Arg(kv[0], kv[1], "reject")),
            st.lists(st.floats(-1, 1), min_size=1, max_size=5).map(
                lambda v: Arg("valid", sorted(v, reverse=True), "accept")
            ),
        ),
        "n_structural": int_param(0, huge="maybe"),
    },
    lambda: {"eigenvalues": [0.9, 0.5, 0.1], "n_structural": 1},
    "select_dimension({eigenvalues}, n_structural={n_structural})",
)

test_split_trajectory = _analysis_case(
    "model_selection.split_trajectory",
    _fn("sklss.model_selection", "split_trajectory"),
    {
        "X": trajectories(2, min_frames=3, max_frames=20).map(
            lambda a: Arg(
                a.kind,
                a.value,
                "reject"
                if a.kind in ("list_of_arrays", "tuple_of_arrays")
                else a.expect,
            )
        ),
        "n_segments": int_param(1) | st.just(Arg("too_many", 1000, "reject")),
    },
    lambda: {"X": _walk(20, 2), "n_segments": 2},
    "split_trajectory({X}, {n_segments})",
)


def _tiny_srv():
    from sklss import SRVTransformer

    return SRVTransformer(**SRV_TINY)


test_select_lagtime = _analysis_case(
    "model_selection.select_lagtime",
    _fn("sklss.model_selection", "select_lagtime"),
    {
        "X": trajectories(3, min_frames=10, max_frames=40, kinds=FIT_KINDS),
        "lagtimes": st.sampled_from(
            [
                [],
                [0, 1],
                [2, 1],
                [1, 1],
                ["a"],
                3,
                None,
                [1.5, 2],
                [True, 2],
                [1, 1000],
                [1, 10**12],
            ]
        ).map(lambda v: Arg("bad", v, "reject")),
        "estimator": st.sampled_from(["srv", 3, None.__class__, object()]).map(
            lambda v: Arg("bad", v, "reject")
        ),
        "n_processes": int_param(1) | st.just(Arg("too_many", 5, "reject")),
        "rtol": real_param(0.0, closed=True).filter(lambda a: a.kind != "inf"),
        "min_steps": real_param(0.0, closed=True).filter(lambda a: a.kind != "inf"),
        "fast_fraction": real_param(0.0, closed=True, allow_none=True).filter(
            lambda a: a.kind != "inf"
        ),
    },
    lambda: {
        "X": _walk(60, 3),
        "lagtimes": [1, 2],
        "estimator": _tiny_srv(),
        "n_processes": 1,
        "rtol": 0.1,
        "min_steps": 2.0,
        "fast_fraction": 0.5,
    },
    "select_lagtime({X}, {lagtimes}, estimator={estimator}, n_processes={n_processes}, rtol={rtol}, "  # noqa: E501
    "min_steps={min_steps}, fast_fraction={fast_fraction})",
    min_frames=20,
)
