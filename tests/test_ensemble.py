"""SimulatorEnsemble and model-uncertainty intervals."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklss
from sklss import MDNPropagator, SimulatorEnsemble
from sklss.analysis import ensemble_estimate, populations

from .test_simulator import _two_state_features, small_simulator


def tiny_mdn(**kwargs):
    return MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=3, **kwargs)


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return func(*args, **kwargs)


@parametrize_with_checks(
    [
        SimulatorEnsemble(
            tiny_mdn(), n_models=2, n_repeats=1, resample="blocks", n_blocks=2
        )
    ]
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_compatible(estimator, check):
    check(estimator)


class Recorder(BaseEstimator):
    """Records the trajectories it is fitted on (to check how data are cut)."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        self.seen_ = [np.array(t) for t in X]
        self.seen_y_ = None if y is None else [np.array(t) for t in y]
        return self

    def sample(self, start, n_steps, *, random_state=None):
        return np.repeat(np.atleast_2d(start)[:, None], n_steps + 1, axis=1)


def _locate(piece, trajs):
    """(trajectory, start) where ``piece`` is a contiguous slice, else None."""
    for i, t in enumerate(trajs):
        for s in np.flatnonzero(t[:, 0] == piece[0, 0]):
            if s + len(piece) <= len(t) and np.array_equal(
                t[s : s + len(piece)], piece
            ):
                return i, s
    return None


@pytest.mark.parametrize("resample", ["trajectories", "blocks"])
def test_resampling_never_cuts_across_a_trajectory(resample):
    rng = np.random.default_rng(0)
    # Distinct values everywhere, so every piece is located uniquely.
    trajs = [rng.normal(size=(n, 2)) + 100 * k for k, n in enumerate((50, 80, 30))]
    ens = SimulatorEnsemble(
        Recorder(), n_models=6, resample=resample, n_blocks=3, random_state=1
    ).fit(trajs)
    for model, draw in zip(ens.estimators_, ens.resampled_pieces_, strict=True):
        assert len(model.seen_) == len(ens.pieces_)
        for piece, j in zip(model.seen_, draw, strict=True):
            i, a, b = ens.pieces_[j]
            np.testing.assert_array_equal(piece, trajs[i][a:b])
            # Each piece is a contiguous part of one trajectory.
            assert _locate(piece, trajs) == (i, a)
        if resample == "trajectories":
            assert {len(p) for p in model.seen_} <= {30, 50, 80}
    # The blocks tile each trajectory exactly.
    if resample == "blocks":
        for i, t in enumerate(trajs):
            own = ens.pieces_[ens.pieces_[:, 0] == i]
            assert own[0, 1] == 0 and own[-1, 2] == len(t)
            np.testing.assert_array_equal(own[1:, 1], own[:-1, 2])
    # Bootstrap: two models (n_repeats=2) per resample, the resamples differ.
    np.testing.assert_array_equal(ens.groups_, [0, 0, 1, 1, 2, 2])
    draws = ens.resampled_pieces_
    np.testing.assert_array_equal(draws[0::2], draws[1::2])
    assert len({tuple(d) for d in draws}) > 1
    assert len({m.random_state for m in ens.estimators_}) == 6


def test_targets_are_resampled_with_the_features():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(40, 2)) for _ in range(3)]
    y = [x * 10 for x in X]
    ens = SimulatorEnsemble(Recorder(), n_models=3, n_repeats=1, random_state=0)
    ens.fit(X, y)
    for model in ens.estimators_:
        for a, b in zip(model.seen_, model.seen_y_, strict=True):
            np.testing.assert_array_equal(b, a * 10)


def test_single_trajectory_needs_blocks():
    X = np.random.default_rng(0).normal(size=(100, 1))
    with pytest.raises(ValueError, match="resample='blocks'"):
        SimulatorEnsemble(Recorder()).fit(X)
    with pytest.raises(ValueError, match="n_blocks=60"):
        SimulatorEnsemble(Recorder(), resample="blocks", n_blocks=60).fit(X)


def test_bad_parameters_are_named():
    X = [np.zeros((20, 1)), np.ones((20, 1))]
    for params, name in [
        ({"n_models": 1}, "n_models"),
        ({"n_models": True}, "n_models"),
        ({"resample": "frames"}, "resample"),
        ({"n_blocks": 1}, "n_blocks"),
        ({"n_repeats": 0}, "n_repeats"),
        ({"n_models": 5, "n_repeats": 2}, "n_repeats"),
        ({"n_models": 4, "n_repeats": 4}, "n_repeats"),
        ({"estimator": 3}, "estimator"),
    ]:
        with pytest.raises(ValueError, match=name):
            SimulatorEnsemble(**{"estimator": Recorder(), **params}).fit(X)


def test_models_are_seeded_and_reproducible():
    X = np.cumsum(np.random.default_rng(0).normal(size=(400, 1)), axis=0) / 10
    make = lambda: SimulatorEnsemble(  # noqa: E731
        tiny_mdn(),
        n_models=3,
        n_repeats=1,
        resample="blocks",
        n_blocks=4,
        random_state=3,
    )
    a, b = _quiet(make().fit, X), _quiet(make().fit, X)
    seeds = [m.random_state for m in a.estimators_]
    assert len(set(seeds)) == 3
    runs_a = a.sample(X[:2], 20, random_state=5)
    runs_b = b.sample(X[:2], 20, random_state=5)
    assert len(runs_a) == 3 and runs_a[0].shape == (2, 21, 1)
    for ra, rb in zip(runs_a, runs_b, strict=True):
        np.testing.assert_array_equal(ra, rb)
    # Every model starts from the same points.
    for run in runs_a:
        np.testing.assert_array_equal(run[:, 0], X[:2])
    # Models differ (different data and seeds).
    assert not np.array_equal(runs_a[0], runs_a[1])


def test_simulator_ensemble_starts_every_model_from_the_same_frames(tmp_path):
    data = [_two_state_features(600, s) for s in range(3)]
    ens = SimulatorEnsemble(
        small_simulator(lagtime=2), n_models=2, n_repeats=1, random_state=0, n_jobs=2
    )
    _quiet(ens.fit, data, y=data)
    runs = ens.sample(10, n_trajectories=4, random_state=1)
    assert len(runs) == 2
    assert runs[0].latent.shape == (4, 11, 1) and runs[0].configurations is not None
    # The same start features, encoded by each model's own encoder.
    for model, run in zip(ens.estimators_, runs, strict=True):
        starts = model.transform(
            ens.start_frames_[
                np.random.RandomState(1).randint(0, len(ens.start_frames_), size=4)
            ]
        )
        np.testing.assert_allclose(run.latent[:, 0], starts, rtol=1e-5, atol=1e-6)
    # The whole ensemble is saved and loaded safely.
    path = tmp_path / "ens.sklss"
    sklss.save(ens, path)
    loaded = sklss.load(path)
    again = loaded.sample(10, n_trajectories=4, random_state=1)
    for r1, r2 in zip(runs, again, strict=True):
        np.testing.assert_array_equal(r1.latent, r2.latent)
        np.testing.assert_array_equal(r1.configurations, r2.configurations)


def test_grid_search_over_an_ensemble():
    X = [
        np.cumsum(np.random.default_rng(s).normal(size=(300, 1)), axis=0) / 10
        for s in range(4)
    ]
    search = GridSearchCV(
        SimulatorEnsemble(tiny_mdn(), n_models=2, n_repeats=1, random_state=0),
        {"estimator__n_kernels": [1, 2]},
        cv=2,
    )
    _quiet(search.fit, X)
    assert search.best_params_["estimator__n_kernels"] in (1, 2)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_worker_warnings_reach_the_caller_once_naming_the_models():
    X = np.cumsum(np.random.default_rng(0).normal(size=(400, 1)), axis=0) / 10
    ens = SimulatorEnsemble(
        MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=1),
        n_models=4,
        resample="blocks",
        n_blocks=4,
        random_state=0,
        n_jobs=2,
    )
    with pytest.warns(ConvergenceWarning) as record:
        ens.fit(X)
    messages = [str(w.message) for w in record if w.category is ConvergenceWarning]
    assert len(messages) == 1
    assert messages[0].startswith("models 0, 1, 2, 3: MDNPropagator.fit")
    # The caller's filters apply (the workers' own would not).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        ens.fit(X)


def test_clone_keeps_parameters_and_drops_fit():
    ens = SimulatorEnsemble(tiny_mdn(), n_models=4, resample="blocks", n_blocks=3)
    copy = clone(ens)
    assert copy.get_params()["estimator__n_kernels"] == 2
    assert not hasattr(copy, "estimators_")


# ---------------------------------------------------------------- intervals


def test_ensemble_estimate_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    runs = [rng.normal(loc=0.05 * k, size=(3, 1000, 1)) for k in range(6)]
    est = ensemble_estimate(lambda t: np.concatenate(t).mean(), runs, level=0.8)
    per_model = np.array([r.mean() for r in runs])
    np.testing.assert_allclose(est.per_model, per_model)
    np.testing.assert_allclose(est.value, per_model.mean())
    from scipy import stats

    # Every model its own resample: the spread, and a sixth of it for averaging
    # six resamples.
    half = stats.t.ppf(0.9, 5) * per_model.std(ddof=1) * np.sqrt(1 + 1 / 6)
    np.testing.assert_allclose([est.low, est.high], per_model.mean() + [-half, half])
    # Sampling error: block standard errors within each run (blocks of 600 frames
    # over the 3 x 1000 frames), root-mean-square over the runs.
    ses = []
    for r in runs:
        flat = r[:, :, 0]
        blocks = [
            np.concatenate([flat[0], flat[1], flat[2]])[k * 600 : (k + 1) * 600].mean()
            for k in range(5)
        ]
        ses.append(np.std(blocks, ddof=1) / np.sqrt(5))
    np.testing.assert_allclose(est.sampling_error, np.sqrt(np.mean(np.square(ses))))
    assert est.model_error == pytest.approx(
        np.sqrt(max(per_model.std(ddof=1) ** 2 - est.sampling_error**2, 0))
    )


def test_populations_against_counting():
    x = np.random.default_rng(0).uniform(-2, 2, size=(1000, 1))
    regions = [(-2, -1), (-1, 0.5), (1, 2)]
    expected = [np.mean((x >= a) & (x < b)) for a, b in regions]
    np.testing.assert_allclose(populations(x, regions), expected)
    with pytest.raises(ValueError, match="regions"):
        populations(x, [(1, 0)])
    with pytest.raises(ValueError, match="regions"):
        populations(x, "ab")


def test_ensemble_estimate_refuses_bad_input():
    runs = [np.zeros((100, 1)), np.ones((100, 1))]
    with pytest.raises(TypeError, match="observable"):
        ensemble_estimate(3, runs)
    with pytest.raises(ValueError, match="samples"):
        ensemble_estimate(np.mean, runs[:1])
    with pytest.raises(ValueError, match="level"):
        ensemble_estimate(np.mean, runs, level=1.5)
    with pytest.raises(ValueError, match="same shape"):
        calls = iter(range(100))
        ensemble_estimate(lambda t: np.zeros(1 + next(calls) % 2), runs)


def _one_way_anova(values, k, r):
    """Mean squares of a balanced one-way layout, the textbook way."""
    table = np.asarray(values).reshape(k, r)
    grand = table.mean()
    msb = r * np.sum((table.mean(axis=1) - grand) ** 2) / (k - 1)
    msw = np.sum((table - table.mean(axis=1, keepdims=True)) ** 2) / (k * (r - 1))
    return msb, msw


def test_grouped_estimate_is_the_random_effects_decomposition():
    rng = np.random.default_rng(1)
    k, r = 4, 3
    values = np.repeat(rng.normal(size=k), r) + 0.3 * rng.normal(size=k * r)
    runs = [v + 1e-6 * rng.normal(size=(20, 1)) for v in values]
    groups = np.repeat(np.arange(k), r)
    est = ensemble_estimate(
        lambda t: np.concatenate(t).mean(), runs, groups=groups, level=0.9
    )
    msb, msw = _one_way_anova(est.per_model, k, r)
    data_var = (msb - msw) / r
    assert data_var > 0
    variance = data_var * (1 + 1 / k) + msw / (k * r)
    assert est.data_error == pytest.approx(np.sqrt(data_var))
    assert est.standard_error == pytest.approx(np.sqrt(variance))
    # Satterthwaite's degrees of freedom for (1 + 1/k)/r MSB - c MSW.
    a, c = (1 + 1 / k) / r, (1 + 1 / k) / r - 1 / (k * r)
    dof = variance**2 / ((a * msb) ** 2 / (k - 1) + (c * msw) ** 2 / (k * (r - 1)))
    assert est.dof == pytest.approx(dof)
    from scipy import stats

    half = stats.t.ppf(0.95, dof) * np.sqrt(variance)
    np.testing.assert_allclose([est.low, est.high], est.value + np.array([-half, half]))
    # Training part: the within-resample spread (sampling is negligible here).
    assert est.training_error == pytest.approx(np.sqrt(msw), rel=1e-3)
    # Labels in any order and of any type give the same answer.
    shuffled = rng.permutation(k * r)
    again = ensemble_estimate(
        lambda t: np.concatenate(t).mean(),
        [runs[i] for i in shuffled],
        groups=np.array(list("abcd"))[groups[shuffled]],
    )
    assert again.standard_error == pytest.approx(est.standard_error)


@pytest.mark.parametrize(("data_sd", "within_sd"), [(1.0, 0.2), (1.0, 1.0), (0.5, 2.0)])
def test_grouped_intervals_are_calibrated_on_a_known_hierarchy(data_sd, within_sd):
    """Monte Carlo of the bootstrap hierarchy: full-data error, resample
    deviations (both with the data's spread) and per-model training noise."""
    rng = np.random.default_rng(2)
    k, r, n_rep = 5, 2, 1000
    groups = np.repeat(np.arange(k), r)
    hits = 0
    for _ in range(n_rep):
        theta = rng.normal(0.0, data_sd)  # the full-data estimate; truth is 0
        values = theta + np.repeat(rng.normal(0.0, data_sd, k), r)
        values += rng.normal(0.0, within_sd, k * r)
        runs = [np.full((10, 1), v) for v in values]
        est = ensemble_estimate(
            lambda t: np.concatenate(t).mean(), runs, groups=groups, level=0.9
        )
        hits += est.low <= 0.0 <= est.high
    # 1000 repetitions: the binomial standard deviation at 90% is 0.0095.
    assert 0.86 <= hits / n_rep <= 0.98


def test_groups_are_checked():
    runs = [np.zeros((100, 1)), np.ones((100, 1)), np.ones((100, 1))]
    with pytest.raises(ValueError, match="groups must hold one label per model"):
        ensemble_estimate(np.mean, runs, groups=[0, 1])
    with pytest.raises(ValueError, match=r"group sizes \[2, 1\]"):
        ensemble_estimate(np.mean, runs, groups=[0, 0, 1])
    with pytest.raises(ValueError, match="at least two groups"):
        ensemble_estimate(np.mean, runs, groups=[0, 0, 0])


# ---------------------------------------------------------------- calibration


def _calibration_benchmark():
    """The calibration code of ``benchmarks/bench_ensemble.py`` (one place)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ensemble.py"
    spec = importlib.util.spec_from_file_location("bench_ensemble", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_smoke():
    """Two OU data sets, four models: the experiment runs end to end and the
    intervals are finite, ordered and split into their parts."""
    bench = _calibration_benchmark()
    rows, records = bench.calibration(2, 4, 2, systems=("OU",))
    assert [r[:2] for r in rows] == [("OU", "populations"), ("OU", "slowest time")]
    for record in records["OU"]:
        for obs in ("populations", "slowest time"):
            entry = record[obs]
            assert np.all(np.isfinite(entry["standard_error"]))
            assert np.all(np.array(entry["standard_error"]) > 0)
            assert len(entry["covered"]) == len(entry["truth"])
    # The four regions' populations are probabilities that sum to one.
    for record in records["OU"]:
        assert sum(record["populations"]["value"]) == pytest.approx(1.0)


@pytest.mark.slow
def test_ensemble_intervals_are_calibrated_slow():
    """20 independent OU data sets, 10 models each: the nominal 90% intervals of
    the four populations and the relaxation time cover the exact values in 75-98%
    of the data sets; the sampling-only error bar of one model covers far less."""
    bench = _calibration_benchmark()
    rows, _ = bench.calibration(20, 10, 2, systems=("OU",))
    for _, obs, coverage, _worst, _plain, naive, *_ in rows:
        assert 0.75 <= coverage <= 0.98, (obs, coverage)
        assert naive < coverage, (obs, naive, coverage)
