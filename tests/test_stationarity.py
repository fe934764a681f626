"""Tests of sklss.analysis._stationarity (drift of the stationary distribution)."""

import warnings

import numpy as np
import pytest

from sklss.analysis import compare_stationary_distributions


def _two_state(n, p_first, rng, *, stay=0.98):
    """A two-state Markov chain with stationary population ``p_first`` in state 0,
    emitting N(-1, 0.3) in state 0 and N(+1, 0.3) in state 1; ``stay`` sets the
    probability of staying in state 0 (the other is fixed by the populations)."""
    leave0 = 1.0 - stay
    leave1 = leave0 * p_first / (1.0 - p_first)  # detailed balance
    u = rng.uniform(size=n)
    state = np.empty(n, dtype=int)
    state[0] = 0 if rng.uniform() < p_first else 1
    for t in range(1, n):
        leave = leave0 if state[t - 1] == 0 else leave1
        state[t] = 1 - state[t - 1] if u[t] < leave else state[t - 1]
    return (np.where(state == 0, -1.0, 1.0) + 0.3 * rng.normal(size=n))[:, None]


def _no_warning(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return compare_stationary_distributions(**kwargs)


def test_independent_run_of_the_same_process_passes(ar1):
    rng = np.random.default_rng(0)
    data = ar1(20_000, 0.9, rng)
    generated = [ar1(20_000, 0.9, rng) for _ in range(5)]
    result = _no_warning(data=data, generated=generated)
    assert result.passed
    assert result.distance.shape == result.noise.shape == (1,)
    assert 0.3 < result.ratio[0] < 3.0
    assert result.p_value[0] > 0.05
    assert result.n_frames_data == 20_000
    assert result.n_frames_generated == 100_000


def test_shifted_populations_fail_with_a_warning():
    rng = np.random.default_rng(1)
    data = _two_state(20_000, 0.5, rng)
    same = [_two_state(20_000, 0.5, rng) for _ in range(5)]
    shifted = [_two_state(20_000, 0.6, rng) for _ in range(5)]
    assert _no_warning(data=data, generated=same).passed
    with pytest.warns(UserWarning, match="drift"):
        result = compare_stationary_distributions(data, shifted)
    assert not result.passed
    assert result.distance[0] > result.threshold[0]
    assert result.ratio[0] > 2.0
    assert result.p_value[0] == pytest.approx(1 / 1001)


def test_distance_and_histograms_match_numpy(ar1):
    rng = np.random.default_rng(2)
    data = ar1(3000, 0.5, rng, n_features=2)
    generated = 0.9 * ar1(8000, 0.5, rng, n_features=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compare_stationary_distributions(data, generated, bins=25)
    for j in range(2):
        edges = np.linspace(data[:, j].min(), data[:, j].max(), 26)
        p = np.histogram(np.clip(data[:, j], edges[0], edges[-1]), edges)[0]
        q = np.histogram(np.clip(generated[:, j], edges[0], edges[-1]), edges)[0]
        p, q = p / p.sum(), q / q.sum()
        np.testing.assert_allclose(result.edges[j], edges)
        np.testing.assert_allclose(result.data_probabilities[j], p)
        np.testing.assert_allclose(result.generated_probabilities[j], q)
        assert result.distance[j] == pytest.approx(0.5 * np.abs(p - q).sum())


def test_noise_level_matches_the_multinomial_expectation():
    # Independent frames: each bin's difference between two histograms of N and M
    # frames is normal with variance p (1 - p) (1/N + 1/M), whose mean absolute
    # value is sqrt(2/pi) times its standard deviation.
    from scipy.stats import norm

    rng = np.random.default_rng(3)
    n, m = 20_000, 100_000
    data = rng.normal(size=(n, 1))
    generated = rng.normal(size=(m, 1))
    result = _no_warning(data=data, generated=generated, bins=30, n_resamples=2000)
    p = np.diff(norm.cdf(result.edges[0]))
    p[0] += norm.cdf(result.edges[0][0])
    p[-1] += norm.sf(result.edges[0][-1])
    expected = 0.5 * np.sum(np.sqrt(2 / np.pi * p * (1 - p) * (1 / n + 1 / m)))
    assert result.noise[0] == pytest.approx(expected, rel=0.15)


def test_threshold_and_p_value_come_from_the_null_distribution(ar1):
    rng = np.random.default_rng(4)
    data = ar1(5000, 0.8, rng, n_features=2)
    generated = ar1(20_000, 0.8, rng, n_features=2)
    result = _no_warning(data=data, generated=generated, level=0.9, n_resamples=500)
    null = result.null_distances
    assert null.shape == (500, 2)
    # Bonferroni over the two coordinates.
    np.testing.assert_allclose(result.threshold, np.quantile(null, 0.95, axis=0))
    np.testing.assert_allclose(result.noise, null.mean(axis=0))
    np.testing.assert_allclose(result.ratio, result.distance / result.noise)
    expected_p = (1 + (null >= result.distance).sum(axis=0)) / 501
    np.testing.assert_allclose(result.p_value, expected_p)


def test_only_the_drifting_coordinate_fails(ar1):
    rng = np.random.default_rng(5)
    data = ar1(20_000, 0.9, rng, n_features=2)
    generated = ar1(100_000, 0.9, rng, n_features=2)
    generated[:, 1] += 0.2
    with pytest.warns(UserWarning, match="column 1"):
        result = compare_stationary_distributions(data, generated)
    assert result.coordinates == [0, 1]
    assert result.distance[0] <= result.threshold[0]
    assert result.distance[1] > result.threshold[1]
    only_first = _no_warning(data=data, generated=generated, coordinates=0)
    assert only_first.passed and only_first.coordinates == [0]
    np.testing.assert_allclose(only_first.distance, result.distance[:1])


def test_tolerance_lets_small_differences_through(ar1):
    rng = np.random.default_rng(9)
    data = ar1(50_000, 0.5, rng)
    generated = ar1(200_000, 0.5, rng) + 0.1
    with pytest.warns(UserWarning, match="drift"):
        strict = compare_stationary_distributions(data, generated)
    assert not strict.passed
    lenient = _no_warning(
        data=data, generated=generated, tolerance=strict.distance[0] + 0.01
    )
    assert lenient.passed
    assert lenient.threshold[0] == pytest.approx(strict.distance[0] + 0.01)
    np.testing.assert_array_equal(lenient.null_distances, strict.null_distances)


def test_stack_list_and_reproducibility(ar1):
    rng = np.random.default_rng(6)
    data = ar1(4000, 0.7, rng)
    stack = np.stack([ar1(3000, 0.7, rng) for _ in range(4)])
    data_before, stack_before = data.copy(), stack.copy()
    a = compare_stationary_distributions(data, stack, random_state=3)
    b = compare_stationary_distributions([data], list(stack), random_state=3)
    np.testing.assert_array_equal(a.null_distances, b.null_distances)
    np.testing.assert_array_equal(a.distance, b.distance)
    np.testing.assert_array_equal(data, data_before)
    np.testing.assert_array_equal(stack, stack_before)
    c = compare_stationary_distributions(data, stack, random_state=4)
    assert not np.array_equal(a.null_distances, c.null_distances)


def test_edges_are_used_for_every_coordinate(ar1):
    rng = np.random.default_rng(7)
    data = ar1(4000, 0.5, rng, n_features=2)
    edges = np.linspace(-3, 3, 13)
    result = compare_stationary_distributions(data, data[::-1], bins=edges)
    for e in result.edges:
        np.testing.assert_array_equal(e, edges)
    np.testing.assert_allclose(result.distance, 0.0, atol=1e-12)
    assert result.passed


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"generated": np.zeros((10, 3))}, ValueError, "2 features of data"),
        ({"coordinates": 2}, ValueError, "coordinate must be <"),
        ({"coordinates": []}, ValueError, "at least one column"),
        ({"coordinates": [0, 0]}, ValueError, "repeat"),
        ({"coordinates": 0.5}, TypeError, "coordinate must be an int"),
        ({"n_blocks": 1}, ValueError, "n_blocks"),
        ({"n_blocks": 1000}, ValueError, "n_blocks=1000"),
        ({"level": 1.0}, ValueError, "level"),
        ({"level": "high"}, TypeError, "level"),
        ({"tolerance": -0.1}, ValueError, "tolerance"),
        ({"tolerance": None}, TypeError, "tolerance"),
        ({"n_resamples": 5}, ValueError, "n_resamples"),
        ({"bins": 1}, ValueError, "bins"),
        ({"bins": [0.0, 0.0, 1.0]}, ValueError, "bins"),
        ({"bins": 2.5}, TypeError, "bins"),
        ({"random_state": "seed"}, TypeError, "random_state"),
        ({"data": np.full((100, 2), np.nan)}, ValueError, "data"),
        ({"generated": [["a", "b"]]}, TypeError, "generated"),
    ],
)
def test_argument_errors(kwargs, error, match):
    rng = np.random.default_rng(8)
    args = {"data": rng.normal(size=(100, 2)), "generated": rng.normal(size=(50, 2))}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        compare_stationary_distributions(**args)


@pytest.fixture(scope="module")
def fitted_mdn():
    from scipy.signal import lfilter

    from sklss import MDNPropagator

    rng = np.random.default_rng(10)
    Z = lfilter([0.3], [1, -0.95], rng.normal(size=4000))[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mdn = MDNPropagator(n_kernels=2, max_epochs=30, random_state=0).fit(Z)
    return mdn, Z


def test_propagator_check_generates_from_the_data_and_compares(fitted_mdn):
    mdn, Z = fitted_mdn
    Z_before = Z.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mdn.check_stationarity(
            Z, n_trajectories=8, length_factor=2, random_state=5, bins=20
        )
        again = mdn.check_stationarity(
            [Z[:2000], Z[2000:]],
            n_trajectories=8,
            length_factor=2,
            random_state=5,
            bins=20,
        )
    np.testing.assert_array_equal(Z, Z_before)
    # 8 runs holding together (at least) twice the 4000 data frames.
    assert result.n_steps == 999
    assert result.n_frames_generated == 8 * 1000
    assert result.n_frames_data == 4000
    assert result.edges[0].shape == (21,)
    # The same frames and seeds whether Z comes as one trajectory or two.
    np.testing.assert_array_equal(result.distance, again.distance)


def test_propagator_check_warns_at_the_callers_line(fitted_mdn):
    mdn, Z = fitted_mdn
    with pytest.warns(UserWarning, match="drift") as record:
        result = mdn.check_stationarity(Z + 2.0, n_trajectories=10)
    assert not result.passed
    drift = [w for w in record if "drift" in str(w.message)]
    assert drift[0].filename == __file__


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_trajectories": 0}, ValueError, "n_trajectories"),
        ({"n_trajectories": 5000}, ValueError, "at most the 4000 frames"),
        ({"length_factor": 0}, ValueError, "length_factor"),
        ({"length_factor": "long"}, TypeError, "length_factor"),
        ({"level": 2.0}, ValueError, "level"),
    ],
)
def test_propagator_check_argument_errors(fitted_mdn, kwargs, error, match):
    mdn, Z = fitted_mdn
    with pytest.raises(error, match=match):
        mdn.check_stationarity(Z, **kwargs)


def test_simulator_check_encodes_and_delegates(ar1):
    from sklss import LatentSpaceSimulator, MDNPropagator, SRVTransformer

    rng = np.random.default_rng(11)
    X = ar1(3000, 0.95, rng, n_features=3)
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=1, max_epochs=5, random_state=0),
        propagator=MDNPropagator(n_kernels=2, max_epochs=5, random_state=0),
        lagtime=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim.fit(X)
        via_simulator = sim.check_stationarity(X, n_trajectories=5, random_state=1)
        direct = sim.propagator_.check_stationarity(
            sim.transform(X), n_trajectories=5, random_state=1
        )
    np.testing.assert_array_equal(via_simulator.distance, direct.distance)
    np.testing.assert_array_equal(via_simulator.null_distances, direct.null_distances)
