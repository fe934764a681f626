"""Tests of LatentSpaceSimulator: composition, sampling, scoring, persistence."""

import os
import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklss import (
    CWGANDecoder,
    FrameWise,
    LatentSpaceSimulator,
    MDNPropagator,
    SRVTransformer,
    split_trajectory,
)
from sklss._io import load_simulator

# The small fits here stop at max_epochs on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _two_state_features(n_frames, seed):
    """A 2-state jump process observed through 3 noisy features."""
    rng = np.random.default_rng(seed)
    s = np.zeros(n_frames, dtype=int)
    for t in range(1, n_frames):
        s[t] = s[t - 1] if rng.random() > 0.02 else 1 - s[t - 1]
    x = np.column_stack(
        [2.0 * s - 1.0, np.zeros(n_frames), np.zeros(n_frames)]
    ) + 0.3 * rng.normal(size=(n_frames, 3))
    return x


@pytest.fixture(scope="module")
def data():
    return [_two_state_features(1500, seed) for seed in range(4)]


def small_simulator(**kw):
    kw.setdefault("random_state", 0)
    return LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=1, hidden_layer_sizes=(16,), max_epochs=15),
        propagator=MDNPropagator(n_kernels=3, hidden_layer_sizes=(16,), max_epochs=15),
        decoder=CWGANDecoder(
            noise_dim=4, hidden_layer_sizes=(16,), max_epochs=2, n_critic=2
        ),
        **kw,
    )


@pytest.fixture(scope="module")
def fitted(data):
    return small_simulator(lagtime=2).fit(data, y=data)


def test_fit_clones_components_and_sets_lagtime(data, fitted):
    sim = fitted
    assert sim.encoder_ is not sim.encoder and not hasattr(sim.encoder, "n_epochs_")
    assert sim.encoder_.lagtime == sim.propagator_.lagtime == 2
    assert sim.encoder.lagtime == 1  # the user's object is untouched
    assert sim.n_features_in_ == 3 and sim.n_components_ == 1 and sim.n_outputs_ == 3
    assert sim.lagtime_ == 2


def test_transform_mirrors_input(data, fitted):
    Z = fitted.transform(data)
    assert isinstance(Z, list) and [len(z) for z in Z] == [len(x) for x in data]
    z = fitted.transform(data[0])
    assert isinstance(z, np.ndarray) and z.shape == (1500, 1)


def test_sample_shapes_and_reproducibility(fitted):
    res = fitted.sample(50, n_trajectories=4, random_state=3)
    assert res.latent.shape == (4, 51, 1)
    assert res.configurations.shape == (4, 51, 3)
    assert res.stride == 2 and res.timestep == 2.0
    again = fitted.sample(50, n_trajectories=4, random_state=3)
    np.testing.assert_array_equal(res.latent, again.latent)
    np.testing.assert_array_equal(res.configurations, again.configurations)
    other = fitted.sample(50, n_trajectories=4, random_state=4)
    assert not np.array_equal(res.latent, other.latent)


def test_start_points_latent_and_features(fitted, data):
    z0 = fitted.transform(data[0][:3])
    res = fitted.sample(5, start=z0, random_state=0, decode=False)
    assert res.latent.shape == (3, 6, 1) and res.configurations is None
    np.testing.assert_allclose(res.latent[:, 0], z0, rtol=1e-5, atol=1e-6)
    res = fitted.sample(5, start=data[0][0], n_trajectories=2, random_state=0)
    np.testing.assert_allclose(
        res.latent[:, 0], np.repeat(z0[:1], 2, axis=0), rtol=1e-5, atol=1e-6
    )
    res = fitted.sample(4, n_trajectories=2, decode_stride=2, random_state=0)
    assert res.configurations.shape == (2, 3, 3)


def test_sample_timestep_in_physical_units(data):
    sim = small_simulator(lagtime=3, timestep=0.5).fit(data[:2])
    res = sim.sample(3, random_state=0)
    assert res.timestep == 1.5 and res.configurations is None and sim.decoder_ is None


def test_start_points_are_the_only_training_data_kept(data):
    sim = small_simulator(n_start_points=100).fit(data, y=data)
    assert sim.start_points_.shape == (100, 1)
    # No array as large as the training data hides anywhere in the pickle.
    size = len(pickle.dumps(sim))
    assert size < sum(x.nbytes for x in data)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"start": np.zeros((2, 2))}, ValueError, "start has 2 columns; expected 1"),
        ({"start": np.zeros((2, 2, 1))}, ValueError, "start must have shape"),
        (
            {"start": np.zeros((3, 1)), "n_trajectories": 2},
            ValueError,
            "start holds 3 frames but n_trajectories=2",
        ),
        ({"n_trajectories": 0}, ValueError, "n_trajectories must be an int >= 1"),
        ({"decode_stride": 1.5}, TypeError, "decode_stride must be an int"),
        ({"start": [[np.nan]]}, ValueError, "Input start contains NaN"),
        ({"start_space": "xyz", "start": [0.0]}, ValueError, "start_space must be"),
    ],
)
def test_sample_errors(fitted, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fitted.sample(3, **kwargs)


def test_fit_errors(data):
    sim = small_simulator()
    with pytest.raises(ValueError, match=r"same number of frames as X.*\[1500, 1500\]"):
        sim.fit(data[:2], y=[data[0], data[1][:-1]])
    with pytest.raises(ValueError, match="same structure as X"):
        sim.fit(data[:2], y=data[:1])
    with pytest.raises(ValueError, match="same structure as X"):
        sim.fit(data[:2], y=data[0])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LatentSpaceSimulator().sample(3)


def test_nested_params_work_with_default_components():
    sim = LatentSpaceSimulator()
    sim.set_params(propagator__n_kernels=16, lagtime=5)
    assert isinstance(sim.propagator, MDNPropagator)
    assert sim.get_params()["propagator__n_kernels"] == 16
    assert clone(sim).propagator.n_kernels == 16
    assert sim.encoder is None  # untouched components stay default


def test_grid_search_over_lagtime_and_kernels_splits_by_trajectory(data):
    search = GridSearchCV(
        small_simulator(),
        {"lagtime": [1, 4], "propagator__n_kernels": [2, 3]},
        cv=KFold(n_splits=2),
    )
    search.fit(data)
    results = search.cv_results_
    assert np.all(np.isfinite(results["mean_test_score"]))
    # Each fold is whole trajectories: the search's scores are those of simulators
    # fitted on trajectories {2, 3} and scored on {0, 1}, and the other way round.
    for k, (train, test) in enumerate([(data[2:], data[:2]), (data[:2], data[2:])]):
        for i, params in enumerate(results["params"][:2]):
            sim = small_simulator().set_params(**params).fit(train)
            assert sim.score(test) == results[f"split{k}_test_score"][i]


def test_pipeline_with_framewise_scaler_on_lists(data):
    pipe = Pipeline(
        [("scale", FrameWise(StandardScaler())), ("lss", small_simulator(lagtime=2))]
    )
    pipe.fit(data)
    Z = pipe.transform(data[:2])
    assert isinstance(Z, list) and Z[0].shape == (1500, 1)
    assert np.isfinite(pipe.score(data[2:]))
    # The same pipeline as the simulator's encoder.
    encoder = Pipeline(
        [
            ("scale", FrameWise(StandardScaler())),
            (
                "srv",
                SRVTransformer(n_components=1, hidden_layer_sizes=(8,), max_epochs=3),
            ),
        ]
    )
    sim = small_simulator(lagtime=2).set_params(encoder=encoder)
    sim.fit(data[:2])
    assert sim.encoder_.named_steps["srv"].lagtime == 2  # lagtime reaches the step
    assert sim.transform(data[:2])[1].shape == (1500, 1)


def test_deeptime_tica_encoder_and_msm_on_generated_data(data):
    from deeptime.clustering import KMeans
    from deeptime.decomposition import TICA
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    sim = LatentSpaceSimulator(
        encoder=TICA(dim=1),
        propagator=MDNPropagator(n_kernels=3, hidden_layer_sizes=(16,), max_epochs=15),
        lagtime=2,
        random_state=0,
    )
    sim.fit(data)
    assert sim.encoder_.lagtime == 2
    res = sim.sample(2000, n_trajectories=2, random_state=0)
    km = (
        KMeans(n_clusters=2, fixed_seed=1).fit(np.concatenate(res.latent)).fetch_model()
    )
    dtrajs = [km.transform(z) for z in res.latent]
    counts = TransitionCountEstimator(lagtime=1, count_mode="sliding").fit(dtrajs)
    msm = MaximumLikelihoodMSM().fit(counts.fetch_model()).fetch_model()
    assert msm.n_states == 2 and msm.timescales(1)[0] > 1.0


def test_score_details_are_the_analysis_of_the_same_data(fitted, data):
    """score measures kinetics exactly as sklss.analysis does, at lags k * lagtime_."""
    from sklss import analysis

    score, details = fitted.score(data[:1], return_details=True)
    lags = details["lagtimes"]
    np.testing.assert_array_equal(lags, 2 * np.arange(1, 1500 // 4 // 2 + 1))
    acf = analysis.autocorrelation(fitted.transform(data[:1]), lags[-1])[lags]
    np.testing.assert_allclose(details["autocorrelation_data"], acf, rtol=1e-12)
    t_data = analysis.fit_relaxation_times(acf, lags)
    np.testing.assert_allclose(details["timescales_data"], t_data, rtol=1e-12)
    t_gen = analysis.fit_relaxation_times(details["autocorrelation_generated"], lags)
    np.testing.assert_allclose(details["timescales_generated"], t_gen, rtol=1e-12)
    kinetic = np.abs(np.log(t_gen / t_data))
    np.testing.assert_allclose(details["kinetic_error"], kinetic, rtol=1e-12)
    expected = -(kinetic.mean() + details["total_variation"].mean())
    assert score == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="longer than lagtime"):
        fitted.score(data[0][:2])


class _AR1Propagator(BaseEstimator):
    """Exact propagator of a unit-variance AR(1) process with relaxation time
    ``timescale`` (frames), stepped ``lagtime`` frames at a time."""

    def __init__(self, lagtime=1, timescale=10.0, random_state=None):
        self.lagtime = lagtime
        self.timescale = timescale
        self.random_state = random_state

    def fit(self, Z):
        return self

    def sample(self, start, n_steps, random_state=None):
        rng = np.random.default_rng(random_state)
        a = np.exp(-self.lagtime / self.timescale)
        out = np.empty((len(start), n_steps + 1, start.shape[1]))
        out[:, 0] = start
        for k in range(n_steps):
            noise = rng.normal(size=start.shape)
            out[:, k + 1] = a * out[:, k] + np.sqrt(1 - a * a) * noise
        return out


@pytest.fixture(scope="module")
def ar1_data(ar1):
    """Four unit-variance AR(1) trajectories with relaxation time 10 frames."""
    rng = np.random.default_rng(0)
    return [ar1(20_000, np.exp(-1 / 10), rng) for _ in range(4)]


@pytest.mark.parametrize("lagtime", [1, 4])
def test_score_of_exact_and_too_slow_propagators(ar1_data, lagtime):
    """Known answers: the exact propagator scores near 0, one twice too slow has a
    kinetic error of ln 2 and the same distribution."""
    from sklss import analysis

    def score(timescale):
        sim = LatentSpaceSimulator(
            encoder=FunctionTransformer(),
            propagator=_AR1Propagator(timescale=timescale),
            lagtime=lagtime,
            score_horizon=100,
            random_state=0,
        ).fit(ar1_data)
        return sim.score(ar1_data, return_details=True)

    exact, details = score(10.0)
    np.testing.assert_allclose(details["timescales_data"], 10.0, rtol=0.1)
    np.testing.assert_allclose(details["timescales_generated"], 10.0, rtol=0.1)
    assert details["kinetic_error"][0] < 0.15
    assert details["total_variation"][0] < 0.05
    assert exact > -0.15
    slow, slow_details = score(20.0)
    np.testing.assert_allclose(slow_details["timescales_generated"], 20.0, rtol=0.1)
    assert slow_details["kinetic_error"][0] == pytest.approx(np.log(2), abs=0.15)
    assert slow_details["total_variation"][0] < 0.05
    assert slow < exact - 0.4
    if lagtime == 1:
        # Consecutive lags: the data's time scale is relaxation_times' own.
        result = analysis.relaxation_times(ar1_data, max_lag=100)
        np.testing.assert_allclose(
            details["timescales_data"], result.timescales, rtol=1e-12
        )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_score_ranks_a_matching_model_above_a_mismatched_one(data):
    """The score is independent of our own components: a propagator that is the true
    two-state process must beat one whose dynamics are far too fast."""
    sim = small_simulator(lagtime=2).set_params(
        propagator__max_epochs=200, propagator__hidden_layer_sizes=(32,)
    )
    slow = sim.fit(data[:3])
    fast = clone(slow)
    fast.__dict__.update(slow.__dict__)
    fast.propagator_ = _JumpingPropagator(slow)
    assert slow.score(data[3:]) > fast.score(data[3:])


class _JumpingPropagator:
    """Samples latent frames independently from the start pool (no memory at all)."""

    def __init__(self, sim):
        self.pool = sim.start_points_
        self.lagtime = sim.lagtime_

    def get_params(self, deep=False):
        return {"lagtime": self.lagtime}

    def sample(self, start, n_steps, random_state=None):
        rng = np.random.default_rng(random_state)
        idx = rng.integers(0, len(self.pool), size=(len(start), n_steps + 1))
        out = self.pool[idx]
        out[:, 0] = start
        return out


def test_joblib_round_trip_samples_identically(fitted, tmp_path):
    path = tmp_path / "sim.joblib"
    joblib.dump(fitted, path)
    loaded = load_simulator(path, allow_pickle=True)
    a = fitted.sample(20, n_trajectories=2, random_state=7)
    b = loaded.sample(20, n_trajectories=2, random_state=7)
    np.testing.assert_array_equal(a.latent, b.latent)
    np.testing.assert_array_equal(a.configurations, b.configurations)


def test_round_trip_in_a_fresh_process(fitted, tmp_path):
    path = tmp_path / "sim.joblib"
    joblib.dump(fitted, path)
    expected = fitted.sample(10, n_trajectories=2, random_state=11).latent
    code = (
        "import sys, joblib, numpy as np;"
        f"sim = joblib.load({str(path)!r});"
        "np.save(sys.argv[1], sim.sample(10, n_trajectories=2, random_state=11).latent)"
    )
    out = tmp_path / "latent.npy"
    subprocess.run(
        [sys.executable, "-c", code, str(out)],
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    np.testing.assert_array_equal(np.load(out), expected)


def test_load_errors(tmp_path, fitted):
    with pytest.raises(FileNotFoundError, match="No saved model"):
        load_simulator(tmp_path / "missing.joblib")
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(b"this is not a pickle")
    with pytest.raises(ValueError, match="could not be read as a saved sklss"):
        load_simulator(junk, allow_pickle=True)
    other = tmp_path / "other.joblib"
    joblib.dump({"a": 1}, other)
    with pytest.raises(ValueError, match="holds a dict, not a sklss"):
        load_simulator(other, allow_pickle=True)
    good = tmp_path / "good.joblib"
    joblib.dump(fitted, good)
    # Pickles can run code when opened: refused unless explicitly allowed.
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_simulator(good)
    truncated = tmp_path / "truncated.joblib"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated"):
        load_simulator(truncated, allow_pickle=True)


def test_split_trajectory_feeds_cross_validation(data):
    segments = split_trajectory(data[0], 3)
    assert len(segments) == 3 and sum(len(s) for s in segments) == 1500


def test_molecular_targets_convert_to_mdtraj(alanine_md, tmp_path):
    md = pytest.importorskip("mdtraj")
    from sklss import AlignedCoordinates, TorsionFeaturizer

    traj = alanine_md(300)
    X = TorsionFeaturizer().fit_transform(traj)
    sim = small_simulator(
        lagtime=2, coordinates=AlignedCoordinates("not element H"), timestep=1.0
    )
    sim.fit(X, y=traj)
    assert sim.n_outputs_ == 3 * 10  # the 10 heavy atoms
    res = sim.sample(6, n_trajectories=2, random_state=0)
    structures = res.to_mdtraj()
    assert len(structures) == 2 and isinstance(structures[0], md.Trajectory)
    assert structures[0].n_frames == 7 and structures[0].n_atoms == 10
    np.testing.assert_allclose(structures[0].time, np.arange(7) * 2.0)
    one = res.to_mdtraj(1)
    one.save_dcd(str(tmp_path / "gen.dcd"))
    back = md.load_dcd(str(tmp_path / "gen.dcd"), top=one.topology)
    np.testing.assert_allclose(back.xyz, one.xyz, atol=1e-3)
    # The saved simulator carries the topology.
    path = tmp_path / "sim.joblib"
    joblib.dump(sim, path)
    loaded = load_simulator(path, allow_pickle=True)
    assert loaded.coordinates_.topology_.n_atoms == 10
    with pytest.raises(ValueError, match="no configurations"):
        loaded.sample(3, decode=False).to_mdtraj()


def test_results_give_lists_every_estimator_takes(fitted):
    res = fitted.sample(30, n_trajectories=3, random_state=0)
    latent = res.to_list()
    assert len(latent) == 3 and all(z.shape == (31, 1) for z in latent)
    assert np.shares_memory(latent[1], res.latent)
    np.testing.assert_array_equal(latent[2], res.latent[2])
    configurations = res.to_list("configurations")
    assert [c.shape for c in configurations] == [res.configurations.shape[1:]] * 3
    # The generated latent trajectories are training data for a propagator.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MDNPropagator(n_kernels=2, max_epochs=1, random_state=0).fit(latent)
    with pytest.raises(ValueError, match=r"SimulationResult.to_list\(\)"):
        MDNPropagator().fit(res.latent)
    with pytest.raises(ValueError, match="what must be"):
        res.to_list("structures")
    with pytest.raises(ValueError, match="no configurations"):
        fitted.sample(3, random_state=0, decode=False).to_list("configurations")


def test_to_mdtraj_needs_molecular_targets(fitted):
    with pytest.raises(ValueError, match="not fitted on molecular targets"):
        fitted.sample(3, random_state=0).to_mdtraj()


class _RecordingScaler(FrameWise):
    """A frame-wise encoder that records the trajectory lengths each fit receives."""

    seen = []

    def fit(self, X, y=None):
        type(self).seen.append(sorted(len(x) for x in X))
        return super().fit(X, y)


def test_cross_validation_never_cuts_a_trajectory(data):
    from sklearn.decomposition import PCA

    lengths = [1500, 1000, 700, 1200]
    trajs = [x[:n] for x, n in zip(data, lengths, strict=True)]
    _RecordingScaler.seen = []
    sim = LatentSpaceSimulator(
        encoder=_RecordingScaler(PCA(n_components=1)),
        propagator=MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2),
        random_state=0,
    )
    GridSearchCV(sim, {"lagtime": [1, 3]}, cv=KFold(n_splits=2)).fit(trajs)
    assert _RecordingScaler.seen  # the encoder was fitted in every fold
    for fold in _RecordingScaler.seen:
        # Every training set is made of whole trajectories: no pair spans folds.
        assert set(fold) <= set(lengths) and len(fold) in (2, 4)


def test_failed_fit_leaves_the_simulator_as_it_was(data, fitted):
    with pytest.raises(ValueError, match="same number of frames"):
        clone(fitted).fit(data, y=[d[:-1] for d in data])
    unfitted = small_simulator(lagtime=2)
    with pytest.raises(ValueError, match="same number of frames"):
        unfitted.fit(data, y=[d[:-1] for d in data])
    assert not hasattr(unfitted, "n_features_in_")
    refit = pickle.loads(pickle.dumps(fitted))
    state = dict(vars(refit))
    with pytest.raises(ValueError):
        refit.fit([d[:2] for d in data])  # too short for any lagged pair
    assert vars(refit).keys() == state.keys()
    assert all(vars(refit)[k] is v for k, v in state.items())


def test_estimators_inside_a_feature_union_encoder_are_seeded_and_lagged(data):
    from sklearn.decomposition import PCA

    from sklss import FeatureUnion, FrameWise

    X = data[:2]
    encoder = FeatureUnion(
        [
            ("srv", SRVTransformer(n_components=1, max_epochs=5)),
            (
                "structure",
                FrameWise(make_pipeline(StandardScaler(), PCA(n_components=1))),
            ),
        ]
    )

    def fitted_latent(seed):
        sim = LatentSpaceSimulator(
            encoder=encoder,
            propagator=MDNPropagator(
                n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2
            ),
            lagtime=3,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim.fit(X)
        return sim

    sim = fitted_latent(0)
    srv = sim.encoder_.transformer_list[0][1]
    assert srv.lagtime == 3 and srv.random_state is not None
    assert encoder.get_params()["srv__random_state"] is None  # the user's object
    Z = np.concatenate(sim.transform(X))
    np.testing.assert_array_equal(Z, np.concatenate(fitted_latent(0).transform(X)))
    assert not np.array_equal(
        Z[:, 0], np.concatenate(fitted_latent(1).transform(X))[:, 0]
    )
    # The structural coordinate is the leading principal component of all frames.
    frames = np.concatenate(X)
    pc = PCA(n_components=1).fit_transform(StandardScaler().fit_transform(frames))
    np.testing.assert_allclose(Z[:, 1], pc[:, 0], atol=1e-10)


def test_pipeline_encoder_never_pairs_frames_of_two_trajectories():
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from sklss import FrameWise

    # Two trajectories far apart: a pair across the boundary would be a huge
    # jump that the SRV would take for the slowest process.
    trajs = [_two_state_features(600, 1) + 5.0, _two_state_features(600, 2) - 5.0]
    before = [t.copy() for t in trajs]
    encoder = Pipeline(
        [
            ("scale", StandardScaler()),
            ("srv", SRVTransformer(n_components=1, max_epochs=5, random_state=0)),
        ]
    )
    sim = LatentSpaceSimulator(
        encoder=encoder,
        propagator=MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2),
        lagtime=3,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim.fit(trajs)
        # The frame-wise step was wrapped, the user's pipeline left alone.
        assert isinstance(sim.encoder_.named_steps["scale"], FrameWise)
        assert isinstance(encoder.named_steps["scale"], StandardScaler)
        # The same SRV fitted on the trajectories scaled one by one, by hand.
        srv = clone(sim.encoder_.named_steps["srv"]).fit(
            FrameWise(StandardScaler()).fit_transform(trajs)
        )
    np.testing.assert_allclose(
        sim.encoder_.named_steps["srv"].eigenvalues_, srv.eigenvalues_, rtol=1e-6
    )
    for t, b in zip(trajs, before, strict=True):
        np.testing.assert_array_equal(t, b)


def test_capped_fits_in_a_grid_search_warn_at_the_callers_line(data):
    from sklearn.exceptions import ConvergenceWarning

    search = GridSearchCV(
        MDNPropagator(hidden_layer_sizes=(8,), max_epochs=1, random_state=0),
        {"n_kernels": [2, 3]},
        cv=2,
    )
    sim = small_simulator(lagtime=2)
    Z = [d[:, :1] for d in data]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        search.fit(Z)
        sim.fit(data)
    capped = [w for w in record if issubclass(w.category, ConvergenceWarning)]
    assert len(capped) >= 5  # four folds' fits and the refit, then the simulator's
    assert {(w.filename, w.lineno) for w in capped} == {
        (__file__, line),
        (__file__, line + 1),
    }


def test_a_fit_summarises_its_components_warnings_once(data):
    from sklearn.exceptions import ConvergenceWarning

    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=1, max_epochs=1, random_state=0),
        propagator=MDNPropagator(n_kernels=2, max_epochs=1, random_state=0),
        lagtime=2,
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        sim.fit(data)
    capped = [w for w in record if issubclass(w.category, ConvergenceWarning)]
    # Both networks stopped at their budget: one warning says so for both.
    assert len(capped) == 1
    text = str(capped[0].message)
    assert text.startswith("LatentSpaceSimulator.fit: 2 warnings:")
    assert "SRVTransformer" in text and "MDNPropagator" in text
    assert {(w.filename, w.lineno) for w in record} == {(__file__, line)}
    # The user's filters still apply.
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        sim.fit(data)
    assert not [w for w in record if issubclass(w.category, ConvergenceWarning)]
    # A fit that fails after a component warned still shows the warning.
    broken = clone(sim).set_params(propagator__n_kernels=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="n_kernels"):
            broken.fit(data)
    assert [str(w.message) for w in record if "SRVTransformer" in str(w.message)]
    assert not hasattr(broken, "encoder_")


def test_verbose_reaches_every_component(data, capsys):
    encoder = make_pipeline(
        StandardScaler(), SRVTransformer(n_components=1, max_epochs=2, random_state=0)
    )
    sim = LatentSpaceSimulator(
        encoder=encoder,
        propagator=MDNPropagator(n_kernels=2, max_epochs=2, random_state=0),
        lagtime=2,
        verbose=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim.fit(data)
    assert sim.propagator_.verbose
    assert sim.encoder_.named_steps["srvtransformer"].verbose
    assert not encoder.steps[1][1].verbose  # the user's estimators are untouched
    assert "MDNPropagator" in capsys.readouterr().err  # the progress bars
    quiet = clone(sim).set_params(verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet.fit(data)
    assert not quiet.propagator_.verbose
    with pytest.raises(ValueError, match="verbose"):
        clone(sim).set_params(verbose="yes").fit(data)


def test_timestep_comes_from_the_trajectories(alanine_md):
    import mdtraj as md

    traj = alanine_md(120)
    traj = md.Trajectory(traj.xyz, traj.topology, time=np.arange(120) * 2.0)
    X = traj.xyz.reshape(120, -1)[:, :9].astype(np.float64)
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=1, max_epochs=2, random_state=0),
        propagator=MDNPropagator(n_kernels=2, max_epochs=2, random_state=0),
        decoder=CWGANDecoder(noise_dim=2, hidden_layer_sizes=(8,), max_epochs=1),
        lagtime=3,
        random_state=0,
    )
    sim.fit(X, y=traj)
    assert sim.timestep_ == 2.0 and sim.time_unit_ == "ps"
    result = sim.sample(4, random_state=0)
    assert result.timestep == 6.0 and result.time_unit == "ps"  # 3 frames of 2 ps
    # Given by hand, it wins (its unit unnamed unless given); without
    # trajectories, time is counted in frames.
    assert sim.set_params(timestep=0.5).fit(X, y=traj).timestep_ == 0.5
    assert sim.time_unit_ is None and sim.sample(4).time_unit is None
    assert sim.set_params(time_unit="ns").fit(X, y=traj).time_unit_ == "ns"
    assert sim.set_params(timestep=None, time_unit=None).fit(X).timestep_ is None
    assert sim.time_unit_ is None
    assert sim.sample(4, random_state=0).timestep == 3.0


def test_set_output_gives_dataframes_per_trajectory_and_refuses_lists(data):
    pd = pytest.importorskip("pandas")
    from sklearn import config_context

    srv = SRVTransformer(n_components=1, max_epochs=2, random_state=0)
    sim = LatentSpaceSimulator(
        encoder=srv,
        propagator=MDNPropagator(n_kernels=2, max_epochs=2, random_state=0),
        lagtime=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim.fit(data)
    for est in (sim, sim.encoder_, FrameWise(StandardScaler()).fit(data)):
        est.set_output(transform="pandas")
        one = est.transform(data[0])
        assert isinstance(one, pd.DataFrame) and len(one) == len(data[0])
        assert list(one.columns) == list(est.get_feature_names_out())
        with pytest.raises(ValueError, match="one at a time"):
            est.transform(data)
        est.set_output(transform="default")
        assert isinstance(est.transform(data), list)
    assert list(sim.get_feature_names_out()) == ["srvtransformer0"]
    # Internal uses of the encoding still get arrays.
    sim.set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 2-epoch model drifts: not the point here
        report = sim.check_stationarity(data, n_trajectories=4, length_factor=1)
    assert np.ndim(report.distance) == 1
    sim.set_output(transform="default")
    # The global setting too, and an estimator's own "default" wins over it.
    with config_context(transform_output="pandas"):
        scaler = FrameWise(StandardScaler()).fit(data)
        with pytest.raises(ValueError, match="list of trajectories"):
            scaler.transform(data)
        scaler.set_output(transform="default")
        assert isinstance(scaler.transform(data), list)
