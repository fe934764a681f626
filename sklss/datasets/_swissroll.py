"""The swissroll model: a hidden four-state Markov chain behind a nonlinear map."""

import numpy as np

from .._data import check_fits_in_memory, check_int, check_random_state_named

__all__ = ["make_swissroll", "swissroll_transition_matrix"]


def swissroll_transition_matrix():
    """The hidden chain's transition matrix (per frame) of :func:`make_swissroll`.

    Returns
    -------
    ndarray of shape (4, 4)
        Row-stochastic and symmetric (hence reversible with a uniform stationary
        distribution). Its eigenvalues ``1 > 0.9707 > 0.9 > 0.8293`` give the exact
        implied time scales ``-1 / ln(lambda)`` of about 33.6, 9.49 and 5.34 frames.

    Examples
    --------
    >>> from sklss.datasets import swissroll_transition_matrix
    >>> swissroll_transition_matrix().shape
    (4, 4)
    """
    from deeptime.data import swissroll_model

    return np.array(swissroll_model.transition_matrix, dtype=np.float64)


def make_swissroll(n_frames=100_000, *, return_states=False, random_state=None):
    """Sample deeptime's swissroll model: slow hidden jumps, nonlinear 3-D embedding.

    A hidden four-state Markov chain (see :func:`swissroll_transition_matrix`) emits
    2-D Gaussian points (unit covariance) around the means ``(7.5, 7.5)``,
    ``(7.5, 15)``, ``(15, 15)`` and ``(15, 7.5)``; each point ``(x, y)`` is rolled up
    to ``(x cos x, y, x sin x)``. The states are not linearly separable in the
    embedding, so linear methods (TICA) resolve the slow process worse than a
    nonlinear encoder. Sampled with :func:`deeptime.data.swissroll_model`.

    Parameters
    ----------
    n_frames : int, default=100_000
        Length of the trajectory.
    return_states : bool, default=False
        Also return the hidden state of every frame (for reference Markov state
        models).
    random_state : int, RandomState instance or None, default=None
        Seeds both the hidden chain and the emissions.

    Returns
    -------
    X : ndarray of shape (n_frames, 3)
        The embedded trajectory (float64); one frame per time step of the chain.
    states : ndarray of shape (n_frames,)
        Hidden states in ``{0, 1, 2, 3}``; only when ``return_states`` is True.

    Raises
    ------
    TypeError
        ``n_frames`` is not an int (``bool`` is refused), ``return_states`` is not
        a bool, or ``random_state`` is not None, an int or a RandomState.
    ValueError
        ``n_frames < 1``, ``random_state`` is outside ``[0, 2**32 - 1]``, or the
        output would not fit in the available memory.

    Notes
    -----
    The slowest process exchanges states {0, 1} with {2, 3} (the inner and the outer
    turn of the roll) with the implied time scale ``-1 / ln(0.97071) = 33.6``
    frames; the emissions barely overlap, so the time scale of the observed process
    is essentially that of the hidden chain.

    Examples
    --------
    >>> from sklss.datasets import make_swissroll
    >>> X, states = make_swissroll(1000, return_states=True, random_state=0)
    >>> X.shape, states.shape
    ((1000, 3), (1000,))
    """
    from deeptime.data import swissroll_model

    n_frames = check_int(n_frames, "n_frames", 1)
    if not isinstance(return_states, bool | np.bool_):
        raise TypeError(
            f"return_states must be a bool; got {return_states!r} of type "
            f"{type(return_states).__name__}."
        )
    rng = check_random_state_named(random_state)
    # The output, the hidden states and deeptime's working arrays.
    check_fits_in_memory(96 * n_frames, {"n_frames": n_frames})
    seed = int(rng.randint(0, 2**31 - 1))
    states, X = swissroll_model(int(n_frames), seed=seed)
    X = np.ascontiguousarray(X, dtype=np.float64)
    if return_states:
        return X, np.asarray(states, dtype=np.int64)
    return X
