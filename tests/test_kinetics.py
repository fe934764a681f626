"""Kinetics of sklss.analysis against exact values and independent computations."""

import numpy as np
import pytest

from sklss import analysis


def markov_chain(P, n_steps, rng):
    """A trajectory of the Markov chain with transition matrix P, from state 0."""
    cumulative = np.cumsum(P, axis=1)
    u = rng.random(n_steps)
    states = np.zeros(n_steps, dtype=int)
    for t in range(1, n_steps):
        states[t] = np.searchsorted(cumulative[states[t - 1]], u[t])
    return states


# ----------------------------------------------------------------- autocorrelation
def test_autocorrelation_matches_direct_numpy():
    rng = np.random.default_rng(3)
    trajs = [rng.normal(size=(n, 2)) + 1.0 for n in (40, 7, 60)]
    acf = analysis.autocorrelation(trajs, 10)
    frames = np.concatenate(trajs)
    centered = [t - frames.mean(axis=0) for t in trajs]
    var = np.mean(np.concatenate(centered) ** 2, axis=0)
    for tau in range(11):
        pairs = [c[tau:] * c[: len(c) - tau] for c in centered if len(c) > tau]
        expected = np.mean(np.concatenate(pairs), axis=0) / var
        np.testing.assert_allclose(acf[tau], expected, rtol=1e-10)
    raw = analysis.autocorrelation(trajs[0], 3, center=False)
    x = trajs[0]
    expected = np.mean(x[3:] * x[:-3], axis=0) / np.mean(x * x, axis=0)
    np.testing.assert_allclose(raw[3], expected, rtol=1e-10)
    # Every lag up to max_lag must have a pair of frames.
    assert np.all(np.isfinite(analysis.autocorrelation(trajs[1], 6)))
    with pytest.raises(ValueError, match="max_lag must be shorter than the longest"):
        analysis.autocorrelation(trajs[1], 7)


# ---------------------------------------------------------------- relaxation times
def test_relaxation_times_of_ar1_process(ar1):
    rng = np.random.default_rng(4)
    exact = np.array([10.0, 3.0])
    phi = np.exp(-1 / exact)  # relaxation time -1 / ln(phi)
    x = np.hstack([ar1(200_000, a, rng) for a in phi])
    result = analysis.relaxation_times(x, max_lag=60)
    np.testing.assert_allclose(result.timescales, exact, rtol=0.05)
    # The fit stops at the first lag where C < exp(-2), about two time scales.
    window = result.fit_window
    assert np.all((window >= 2 * exact) & (window <= 2 * exact + 1))
    expected = result.block_timescales.std(axis=0, ddof=1) / np.sqrt(5)
    np.testing.assert_allclose(result.standard_error, expected)
    first_block = analysis.relaxation_times(x[:40_000], max_lag=60, n_blocks=2)
    np.testing.assert_allclose(result.block_timescales[0], first_block.timescales)
    # The Bunch is the fit of its own autocorrelation.
    np.testing.assert_array_equal(
        result.timescales,
        analysis.fit_relaxation_times(result.autocorrelation[1:], result.lags[1:]),
    )


def test_relaxation_times_block_errors_are_calibrated(ar1):
    # The block standard error must predict the spread of the estimate over
    # independent realisations of the same process.
    rng = np.random.default_rng(5)
    estimates, errors = [], []
    for _ in range(30):
        result = analysis.relaxation_times(ar1(20_000, np.exp(-1 / 8), rng), max_lag=40)
        estimates.append(result.timescales[0])
        errors.append(result.standard_error[0])
    spread = np.std(estimates, ddof=1)
    assert 0.6 < np.mean(errors) / spread < 1.6
    assert abs(np.mean(estimates) - 8.0) < 3 * spread / np.sqrt(30) + 0.2


def test_relaxation_times_lists_do_not_join_trajectories(ar1):
    rng = np.random.default_rng(6)
    # Two trajectories with opposite offsets: joining them would create a spurious
    # slow decay from the jump between them.
    trajs = [ar1(20_000, np.exp(-1 / 5), rng) + s for s in (-50.0, 50.0)]
    result = analysis.relaxation_times([t - t.mean() for t in trajs], max_lag=30)
    assert result.timescales[0] == pytest.approx(5.0, rel=0.1)
    with pytest.raises(ValueError, match="cutoff"):
        analysis.relaxation_times(trajs, cutoff=1.5)
    with pytest.raises(TypeError, match="cutoff"):
        analysis.relaxation_times(trajs, cutoff="0.1")
    with pytest.raises(TypeError, match="max_lag"):
        analysis.relaxation_times(trajs, max_lag=2.5)


def test_fit_relaxation_times_exact_exponentials_at_strided_lags():
    lags = 5 * np.arange(1, 13)
    times = np.array([2.0, 7.0, 25.0])
    acf = np.exp(-lags[:, None] / times)
    np.testing.assert_allclose(analysis.fit_relaxation_times(acf, lags), times)
    # Lags after the first one below the cutoff are left out of the fit.
    noisy = acf.copy()
    noisy[3:, 1] = 0.7  # C(15) = exp(-15 / 7) < exp(-2) ends the window
    np.testing.assert_allclose(analysis.fit_relaxation_times(noisy, lags), times)
    # With the cutoff lowered the same noise enters the window.
    assert analysis.fit_relaxation_times(noisy, lags, cutoff=1e-6)[1] > 2 * times[1]


def test_fit_relaxation_times_of_ar1_at_multiples_of_a_lag_time(ar1):
    rng = np.random.default_rng(7)
    phi = 0.9
    x = ar1(200_000, phi, rng)
    lags = 3 * np.arange(1, 15)
    acf = analysis.autocorrelation(x, lags[-1])[lags]
    t = analysis.fit_relaxation_times(acf, lags)
    assert t.shape == (1,)
    assert t[0] == pytest.approx(-1 / np.log(phi), rel=0.05)


def test_fit_relaxation_times_limits():
    lags = np.array([4, 8, 12])
    # Decorrelated within the first lag: the shortest resolvable time scale.
    decorrelated = np.array([[-0.02], [0.01], [0.0]])
    t = analysis.fit_relaxation_times(decorrelated, lags)
    assert t[0] == pytest.approx(4 / np.log(1000))
    # One point below the cutoff determines the one parameter exactly.
    one = np.array([[np.exp(-2.5)], [0.0], [0.0]])
    assert analysis.fit_relaxation_times(one, lags)[0] == pytest.approx(4 / 2.5)
    # No decay at all, or an unknown value inside the window.
    flat = np.array([[1.0, 0.5], [1.0, np.nan], [1.0, 0.1]])
    t = analysis.fit_relaxation_times(flat, lags)
    assert t[0] == np.inf and np.isnan(t[1])
    # Unknown values after the window do not matter.
    tail = np.array([[np.exp(-4 / 3)], [np.exp(-8 / 3)], [np.nan]])
    assert analysis.fit_relaxation_times(tail, lags)[0] == pytest.approx(3.0)


@pytest.mark.parametrize(
    "acf, lags, kwargs, exc, match",
    [
        (np.ones(3), [1, 2, 3], {}, ValueError, "acf"),
        (np.ones((3, 1)), [1, 2], {}, ValueError, "lags"),
        (np.ones((3, 1)), [0, 1, 2], {}, ValueError, "drop lag 0"),
        (np.ones((3, 1)), [1, 3, 2], {}, ValueError, "increasing"),
        (np.ones((3, 1)), [1, 2, 3], {"cutoff": 0.0}, ValueError, "cutoff"),
        (np.ones((3, 1)), [1, 2, 3], {"cutoff": None}, TypeError, "cutoff"),
    ],
)
def test_fit_relaxation_times_errors(acf, lags, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        analysis.fit_relaxation_times(acf, lags, **kwargs)


def test_implied_timescales_is_a_deprecated_alias(ar1):
    x = ar1(5_000, 0.8, np.random.default_rng(8))
    with pytest.warns(FutureWarning, match="renamed to relaxation_times"):
        old = analysis.implied_timescales(x, max_lag=20, n_blocks=4)
    new = analysis.relaxation_times(x, max_lag=20, n_blocks=4)
    assert old.keys() == new.keys()
    for key in new:
        np.testing.assert_array_equal(old[key], new[key])
    assert "implied_timescales" not in analysis.__all__


# ------------------------------------------------------------------- MSM time scales
P3 = np.array([[0.97, 0.03, 0.0], [0.02, 0.96, 0.02], [0.0, 0.05, 0.95]])


@pytest.fixture(scope="module")
def chain():
    return markov_chain(P3, 200_000, np.random.default_rng(9))


@pytest.mark.parametrize("lagtime", [1, 3])
def test_msm_timescales_of_a_known_markov_chain(chain, lagtime):
    eigenvalues = np.sort(np.linalg.eigvals(P3).real)[::-1]
    exact = -1 / np.log(eigenvalues[1:])  # -lagtime / ln(λ**lagtime)
    # States 0 and 2 lie outside the edges and are clipped into the end bins.
    x = np.array([-5.0, 1.0, 5.0])[chain][:, None]
    edges = [-1.0, 0.5, 1.5, 2.0]
    t = analysis.msm_timescales(x, edges, lagtime=lagtime)
    np.testing.assert_allclose(t, exact, rtol=0.05)
    # Lists of trajectories, another column, only the slowest, non-reversible.
    half = len(x) // 2
    two = [np.hstack([np.zeros((half, 1)), part]) for part in (x[:half], x[half:])]
    t1 = analysis.msm_timescales(
        two, edges, lagtime=lagtime, n_timescales=1, coordinate=1, reversible=False
    )
    assert t1.shape == (1,)
    assert t1[0] == pytest.approx(exact[0], rel=0.05)


def test_msm_timescales_largest_connected_set_and_errors(chain):
    x = chain[:, None].astype(float)
    # A bin never visited is dropped with the rest of the disconnected states.
    t = analysis.msm_timescales(x, [-0.5, 0.5, 1.5, 2.5, 10.0])
    assert t.shape == (2,)
    with pytest.raises(ValueError, match="n_timescales"):
        analysis.msm_timescales(x, [-0.5, 0.5, 1.5, 2.5], n_timescales=3)
    with pytest.raises(ValueError, match="edges"):
        analysis.msm_timescales(x, [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="edges"):
        analysis.msm_timescales(x, [[0.0, 1.0]])
    with pytest.raises(ValueError, match="lagtime"):
        analysis.msm_timescales(x[:5], [0.0, 1.0, 2.0], lagtime=5)
    with pytest.raises(ValueError, match="coordinate"):
        analysis.msm_timescales(x, [0.0, 1.0, 2.0], coordinate=1)
    with pytest.raises(TypeError, match="reversible"):
        analysis.msm_timescales(x, [0.0, 1.0, 2.0], reversible="yes")


# ---------------------------------------------------------------- total variation
def test_total_variation_hand_computations():
    uniform = (np.arange(1000) + 0.5) / 1000  # evenly over [0, 1]
    assert analysis.total_variation(uniform, uniform) == 0.0
    # Shifted by half its width: half of the probability moves to other bins.
    edges = np.linspace(0.0, 1.5, 16)
    tv = analysis.total_variation(uniform, uniform + 0.5, bins=edges)
    assert tv == pytest.approx(0.5, abs=1e-12)
    # 30 bins over the reference's range 0..30: one value per bin, two in the last.
    # A sample beyond the range is counted in the last bin, not dropped:
    # TV = (29/31 + (1 - 2/31)) / 2.
    reference = np.arange(31.0)
    assert analysis.total_variation(reference, [100.0] * 5) == pytest.approx(29 / 31)
    # A given range, with values on both sides of it clipped into the end bins.
    tv = analysis.total_variation([0.5, -3.0], [1.5, 5.0], bins=2, range=(0, 2))
    assert tv == pytest.approx(1.0)
    tv = analysis.total_variation([0.5, 1.5], [1.5, 5.0], bins=2, range=(0, 2))
    assert tv == pytest.approx(0.5)


@pytest.mark.parametrize(
    "reference, sample, kwargs, exc, match",
    [
        (np.zeros((5, 2)), np.zeros(5), {}, ValueError, "reference"),
        (np.zeros(5), [0.0, np.nan], {}, ValueError, "sample"),
        (np.zeros(5), np.zeros(5), {"bins": 0}, ValueError, "bins"),
        (np.zeros(5), np.zeros(5), {"bins": [1.0, 0.0]}, ValueError, "bins"),
        (np.zeros(5), np.zeros(5), {"range": (1.0, 0.0)}, ValueError, "range"),
        (
            np.zeros(5),
            np.zeros(5),
            {"bins": [0, 1], "range": (0, 1)},
            ValueError,
            "range",
        ),
    ],
)
def test_total_variation_errors(reference, sample, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        analysis.total_variation(reference, sample, **kwargs)
