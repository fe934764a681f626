"""A hidden three-state Markov chain whose observed slow coordinate has memory."""

import numpy as np

from .._data import (
    check_fits_in_memory,
    check_int,
    check_random_state_named,
    check_real,
)

__all__ = ["make_metastable_hmm", "metastable_hmm_transition_matrix"]

# Symmetric flux between the states A, B, C (per frame) and their stationary
# weights: A and C are metastable, B is a short-lived intermediate between them.
_FLUX = np.array([[0.0, 0.01, 0.0], [0.01, 0.0, 0.002], [0.0, 0.002, 0.0]])
_STATIONARY = np.array([0.45, 0.1, 0.45])
_MEANS = np.array([-1.0, -1.0, 1.0])


def metastable_hmm_transition_matrix():
    """Transition matrix (per frame) of the hidden chain of :func:`make_metastable_hmm`.

    Returns
    -------
    ndarray of shape (3, 3)
        Row-stochastic and reversible with stationary distribution
        ``(0.45, 0.1, 0.45)``; implied time scales about 140.8 and 6.7 frames.
    """
    P = _FLUX / _STATIONARY[:, None]
    np.fill_diagonal(P, 1.0 - P.sum(axis=1))
    return P


def make_metastable_hmm(
    n_frames=20_000, n_trajectories=6, *, noise=0.45, random_state=None
):
    """Trajectories of a hidden three-state chain seen through a noisy observation.

    The hidden states A, B and C (see :func:`metastable_hmm_transition_matrix`)
    emit ``-1``, ``-1`` and ``+1`` plus Gaussian noise of standard deviation
    ``noise`` in the first feature; the second feature is pure noise. A and B look
    the same, so the observed slow coordinate is not Markovian at short lag times:
    implied time scales estimated from it grow with the lag time and converge only
    for lags of several tens of frames. That makes it a test bed for choosing the
    lag time (Markov-model practice: pick the lag where the implied time scales
    have converged).

    Parameters
    ----------
    n_frames : int, default=20_000
        Frames per trajectory.
    n_trajectories : int, default=6
        Independent trajectories, each started from the stationary distribution.
    noise : float, default=0.45
        Standard deviation of the observation noise.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    list of ndarray of shape (n_frames, 2)

    Raises
    ------
    TypeError
        ``n_frames`` or ``n_trajectories`` is not an int (``bool`` is refused),
        ``noise`` is not a float, or ``random_state`` is not None, an int or a
        RandomState.
    ValueError
        ``n_frames`` or ``n_trajectories`` is below 1, ``noise`` is not a finite
        number >= 0, ``random_state`` is outside ``[0, 2**32 - 1]``, or the
        output would not fit in the available memory.

    Examples
    --------
    >>> from sklss.datasets import make_metastable_hmm
    >>> X = make_metastable_hmm(1000, 2, random_state=0)
    >>> len(X), X[0].shape
    (2, (1000, 2))
    """
    n_frames = check_int(n_frames, "n_frames", 1)
    n_trajectories = check_int(n_trajectories, "n_trajectories", 1)
    noise = check_real(noise, "noise", low=0.0)
    rng = check_random_state_named(random_state)
    # The output (two float64 columns) and one trajectory's working arrays.
    check_fits_in_memory(
        16 * n_trajectories * n_frames + 48 * n_frames,
        {"n_frames": n_frames, "n_trajectories": n_trajectories},
    )
    cumulative = np.cumsum(metastable_hmm_transition_matrix(), axis=1)
    out = []
    for _ in range(n_trajectories):
        states = np.empty(n_frames, dtype=int)
        states[0] = rng.choice(3, p=_STATIONARY)
        u = rng.random_sample(n_frames)
        for t in range(1, n_frames):
            states[t] = np.searchsorted(cumulative[states[t - 1]], u[t], side="right")
        obs = _MEANS[states] + noise * rng.standard_normal(n_frames)
        out.append(np.column_stack([obs, rng.standard_normal(n_frames)]))
    return out
