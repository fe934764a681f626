"""sklss.model_selection: lag time and latent dimension on systems with known answers,
and (slow) a grid search whose winner agrees with an implied-time-scale analysis."""

import warnings

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

from sklss import LatentSpaceSimulator, MDNPropagator, SRVTransformer
from sklss.datasets import (
    make_metastable_hmm,
    make_swissroll,
    metastable_hmm_transition_matrix,
    swissroll_transition_matrix,
)
from sklss.model_selection import (
    TrajectoryKFold,
    select_dimension,
    select_lagtime,
    split_trajectory,
)

LAGTIMES = [1, 2, 5, 10, 20, 40, 80]


def exact_timescales(P):
    """Implied time scales (frames per lag of one frame) from the exact spectrum."""
    lam = np.sort(np.linalg.eigvals(P).real)[::-1][1:]
    return -1.0 / np.log(lam)


def one_hot_chain(P, n_frames, n_trajectories, seed):
    """Trajectories of the Markov chain ``P`` as indicator features (deeptime)."""
    msm = MarkovStateModel(P)
    eye = np.eye(len(P))
    return [eye[msm.simulate(n_frames, seed=seed + i)] for i in range(n_trajectories)]


def linear_srv(n_components):
    # A linear lobe with n_states - 1 outputs spans every mean-free function of the
    # state, so the final eigenproblem is the Markov chain's for any training.
    return SRVTransformer(
        n_components=n_components,
        hidden_layer_sizes=(),
        max_epochs=1,
        batch_size=5000,
        random_state=0,
    )


def rule_on_exact_timescales(t, lagtimes, *, min_steps=2.0, fast_fraction=0.5):
    """The documented rule for a Markov chain, whose time scales do not change
    with the lag time (so every lag but the last is converged)."""
    for lag in lagtimes[:-1]:
        resolved = t[0] >= min_steps * lag
        separated = fast_fraction is None or t[1] <= fast_fraction * lag
        if resolved and separated:
            return lag
    return None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_select_lagtime_finds_the_gap_of_a_markov_chain():
    """Hidden chain of the metastable HMM: t1 = 140.8, t2 = 6.7 frames. The rule
    needs t2 <= lag / 2 and t1 >= 2 lag: lag 20 of the candidates."""
    P = metastable_hmm_transition_matrix()
    t = exact_timescales(P)
    expected = rule_on_exact_timescales(t, LAGTIMES)
    assert expected == 20
    X = one_hot_chain(P, 50_000, 4, seed=0)
    result = select_lagtime(X, LAGTIMES, estimator=linear_srv(2))
    assert result.converged
    assert result.lagtime == expected
    assert not result.admissible[:4].any() and result.admissible[4]
    i = LAGTIMES.index(result.lagtime)
    np.testing.assert_allclose(result.timescales[i, 0], t[0], rtol=0.1)
    assert result.timescales.shape == result.eigenvalues.shape == (len(LAGTIMES), 2)
    np.testing.assert_allclose(
        result.timescales[:, 0], -np.array(LAGTIMES) / np.log(result.eigenvalues[:, 0])
    )
    # The fitted estimator of the selected lag time is returned.
    assert result.estimator.lagtime == 20
    np.testing.assert_array_equal(result.estimator.eigenvalues_, result.eigenvalues[i])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_select_lagtime_without_separation_takes_the_smallest_resolved_lag():
    """Swissroll hidden chain: t = 33.6, 9.5, 5.3 frames, no gap. Without the
    separation condition the smallest converged lag is chosen; with two processes
    both must be resolved (lag <= 4.7)."""
    P = swissroll_transition_matrix()
    t = exact_timescales(P)
    X = one_hot_chain(P, 40_000, 2, seed=10)
    lagtimes = LAGTIMES[:-1]
    result = select_lagtime(X, lagtimes, estimator=linear_srv(3), fast_fraction=None)
    assert result.lagtime == 1 and result.converged
    np.testing.assert_allclose(result.timescales[0], t, rtol=0.1)

    result = select_lagtime(
        X, lagtimes, estimator=linear_srv(3), n_processes=2, fast_fraction=None
    )
    assert result.lagtime == 1
    assert not result.admissible[lagtimes.index(5)]  # t2 = 9.5 < 2 * 5
    # With the separation condition there is no admissible lag: a warning and the
    # largest lag that still resolves t1 (33.6 >= 2 * 10).
    with pytest.warns(UserWarning, match="No candidate lag time"):
        result = select_lagtime(X, lagtimes, estimator=linear_srv(3))
    assert not result.converged and result.lagtime == 10


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_select_lagtime_rejects_lags_where_time_scales_still_grow():
    """The observed coordinate of the metastable HMM is not Markovian: its implied
    time scales grow with the lag time, so short lags must not be selected."""
    X = make_metastable_hmm(n_frames=5_000, n_trajectories=4, random_state=0)
    with pytest.warns(UserWarning, match="No candidate lag time"):
        result = select_lagtime(X, [1, 2, 5], estimator=linear_srv(2))
    assert not result.converged and not result.admissible.any()
    assert np.all(np.diff(result.timescales[:, 0]) > 0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_select_lagtime_default_estimator_is_an_srv():
    X = make_swissroll(300, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No candidate lag time", UserWarning)
        result = select_lagtime(X, [1, 3])
    assert isinstance(result.estimator, SRVTransformer)
    assert result.estimator.n_components == 2
    assert result.eigenvalues.shape == (2, 2)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"lagtimes": []}, ValueError, "at least one"),
        ({"lagtimes": 5}, TypeError, "sequence of ints"),
        ({"lagtimes": [2, 1]}, ValueError, "strictly increasing"),
        ({"lagtimes": [1, 2.5]}, ValueError, "positive ints"),
        ({"lagtimes": [1, 500]}, ValueError, "shorter than the longest"),
        ({"n_processes": 0}, ValueError, "n_processes"),
        ({"rtol": -1}, ValueError, "rtol"),
        ({"fast_fraction": "no"}, TypeError, "fast_fraction"),
        ({"estimator": MDNPropagator()}, TypeError, "eigenvalues_"),
    ],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_select_lagtime_bad_arguments(kwargs, error, match):
    X = np.random.default_rng(0).normal(size=(200, 2))
    kwargs = {"lagtimes": [1, 2], "estimator": linear_srv(1), **kwargs}
    if isinstance(kwargs["estimator"], MDNPropagator):
        kwargs["estimator"].set_params(max_epochs=1, hidden_layer_sizes=(4,))
    with pytest.raises(error, match=match):
        select_lagtime(X, **kwargs)


def test_select_lagtime_needs_a_lagtime_parameter():
    from sklearn.decomposition import PCA

    with pytest.raises(TypeError, match="lagtime parameter"):
        select_lagtime(np.zeros((50, 2)), [1, 2], estimator=PCA())


@pytest.mark.parametrize("lagtime", [1, 3, 5, 8, 12, 20, 40])
@pytest.mark.parametrize(
    "P", [swissroll_transition_matrix(), metastable_hmm_transition_matrix()]
)
def test_select_dimension_counts_processes_slower_than_the_lag(P, lagtime):
    lam = np.sort(np.linalg.eigvals(np.linalg.matrix_power(P, lagtime)).real)[::-1]
    t = exact_timescales(P)
    n_slow = max(1, int(np.sum(t > lagtime)))
    assert select_dimension(lam[1:], n_structural=0) == (n_slow, n_slow)
    n_components, slow = select_dimension(lam[1:], n_structural=1)
    assert slow == n_slow and n_components == min(n_slow + 1, len(P) - 1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_select_dimension_on_estimated_eigenvalues():
    """Swissroll chain at lag 5: all three processes (33.6, 9.5, 5.3 frames) outlive
    the lag; at lag 15 only the slowest does."""
    X = one_hot_chain(swissroll_transition_matrix(), 50_000, 2, seed=20)
    for lag, n_slow in ((5, 3), (15, 1)):
        srv = linear_srv(3).set_params(lagtime=lag).fit(X)
        assert select_dimension(srv.eigenvalues_, n_structural=0) == (n_slow, n_slow)


def test_select_dimension_edge_cases():
    # At least one slow process; eigenvalues must be finite.
    assert select_dimension([0.1, -0.2], n_structural=0) == (1, 1)
    with pytest.raises(ValueError, match="eigenvalues contains NaN"):
        select_dimension([0.1, np.nan])
    assert select_dimension([0.9, 0.8], n_structural=5) == (2, 2)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        select_dimension([])
    with pytest.raises(ValueError, match="n_structural"):
        select_dimension([0.5], n_structural=-1)


def test_trajectory_kfold_tests_whole_trajectories():
    from sklearn.model_selection import cross_val_score

    trajs = make_metastable_hmm(n_frames=400, n_trajectories=4, random_state=0)
    assert isinstance(trajs, list) and len(trajs) == 4
    cv = TrajectoryKFold()
    assert cv.get_n_splits(trajs) == 4 and cv.get_n_splits() == 5
    folds = list(cv.split(trajs))
    assert [test.tolist() for _, test in folds] == [[0], [1], [2], [3]]
    for train, test in folds:
        assert sorted([*train, *test]) == [0, 1, 2, 3]
    assert [t.tolist() for _, t in TrajectoryKFold(2).split(trajs)] == [
        [0, 1],
        [2, 3],
    ]
    # The default works where sklearn's 5-fold KFold cannot split 4 trajectories.
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=1, max_epochs=2),
        propagator=MDNPropagator(n_kernels=2, max_epochs=2),
        lagtime=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        scores = cross_val_score(sim, trajs, cv=cv)
        with pytest.raises(ValueError, match="n_splits=5 greater than"):
            cross_val_score(sim, trajs)
    assert scores.shape == (4,) and np.isfinite(scores).all()


@pytest.mark.parametrize(
    ("X", "n_splits", "error", "match"),
    [
        (np.zeros((100, 2)), 5, ValueError, "split_trajectory"),
        ([np.zeros((100, 2))], 5, ValueError, "at least 2 trajectories"),
        ([np.zeros((9, 2))] * 3, 1, ValueError, "n_splits must be"),
        ([np.zeros((9, 2))] * 3, 2.0, TypeError, "n_splits must be"),
    ],
)
def test_trajectory_kfold_refuses_what_it_cannot_split(X, n_splits, error, match):
    with pytest.raises(error, match=match):
        list(TrajectoryKFold(n_splits).split(X))


def test_split_trajectory_is_public_here():
    X = np.arange(20.0).reshape(10, 2)
    parts = split_trajectory(X, 3)
    assert [len(p) for p in parts] == [4, 3, 3]
    np.testing.assert_array_equal(np.concatenate(parts), X)
    assert all(np.shares_memory(p, X) for p in parts)


@pytest.mark.slow
def test_select_lagtime_with_a_nonlinear_srv_on_the_swissroll():
    """The embedded swissroll (not linearly separable): the selected lag resolves
    the exact slowest time scale, and the SRV recovers it there."""
    t = exact_timescales(swissroll_transition_matrix())
    X = make_swissroll(50_000, random_state=0)
    srv = SRVTransformer(n_components=2, max_epochs=30, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        result = select_lagtime(
            X, [1, 2, 5, 10, 20, 40], estimator=srv, rtol=0.05, fast_fraction=None
        )
    assert result.converged
    assert t[0] >= 2 * result.lagtime
    i = list(result.lagtimes).index(result.lagtime)
    np.testing.assert_allclose(result.timescales[i, 0], t[0], rtol=0.1)


def _msm_implied_timescales(X, lagtimes):
    """Independent reference: deeptime MSMs on a fine discretisation of TICA-1."""
    from deeptime.decomposition import TICA
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    psi = TICA(lagtime=10, dim=1).fit(X).fetch_model()
    edges = np.linspace(-2.5, 2.5, 21)
    dtrajs = [np.digitize(psi.transform(x)[:, 0], edges) for x in X]
    its = []
    for lag in lagtimes:
        counts = TransitionCountEstimator(lag, "sliding").fit(dtrajs).fetch_model()
        its.append(MaximumLikelihoodMSM().fit(counts).fetch_model().timescales(1)[0])
    return np.array(its)


@pytest.mark.slow
def test_grid_search_winner_lies_where_implied_timescales_converged():
    from deeptime.decomposition import TICA

    X = make_metastable_hmm(n_frames=20_000, n_trajectories=6, random_state=0)
    lagtimes = [1, 5, 20, 40, 80, 160]
    its = _msm_implied_timescales(X, lagtimes)
    change = its[1:] / its[:-1] - 1.0
    first = next(i for i in range(len(change)) if np.all(change[i:] < 0.10))
    converged = lagtimes[first:]
    assert converged[0] > 5  # the system really has memory at short lags

    search = GridSearchCV(
        LatentSpaceSimulator(
            encoder=TICA(dim=1),
            propagator=MDNPropagator(n_kernels=8, hidden_layer_sizes=(64, 64)),
            score_horizon=400,
            random_state=0,
        ),
        {"lagtime": lagtimes},
        cv=KFold(n_splits=3),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        search.fit(X)
    scores = dict(zip(lagtimes, search.cv_results_["mean_test_score"], strict=True))
    assert search.best_params_["lagtime"] in converged, (scores, its)
    # Lags far from convergence are clearly worse than the winner.
    assert scores[1] < search.best_score_ - 0.5


def test_make_encoder_adds_principal_components_to_the_slow_coordinates():
    from sklearn.decomposition import PCA, IncrementalPCA

    from sklss import FeatureUnion, FrameWise, SRVTransformer
    from sklss.model_selection import make_encoder

    encoder = make_encoder(2, 3, max_epochs=7)
    assert isinstance(encoder, FeatureUnion)
    parts = dict(encoder.transformer_list)
    assert isinstance(parts["srv"], SRVTransformer)
    assert parts["srv"].get_params()["n_components"] == 2
    assert parts["srv"].get_params()["max_epochs"] == 7
    assert isinstance(parts["structure"], FrameWise)
    pca = parts["structure"].transformer[-1]
    assert type(pca) is PCA and pca.n_components == 3
    streamed = make_encoder(1, incremental=True)
    assert type(dict(streamed.transformer_list)["structure"].transformer[-1]) is (
        IncrementalPCA
    )
    assert isinstance(make_encoder(2, 0), SRVTransformer)
    with pytest.raises(ValueError, match="n_slow"):
        make_encoder(0)
    with pytest.raises(TypeError, match="n_structural"):
        make_encoder(1, 1.5)
