"""Grid search over the lag time agrees with an implied-time-scale analysis (slow)."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from sklss import LatentSpaceSimulator, MDNPropagator
from sklss.datasets import make_metastable_hmm


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
        warnings.simplefilter("ignore")
        search.fit(X)
    scores = dict(zip(lagtimes, search.cv_results_["mean_test_score"], strict=True))
    assert search.best_params_["lagtime"] in converged, (scores, its)
    # Lags far from convergence are clearly worse than the winner.
    assert scores[1] < search.best_score_ - 0.5
