"""Metastable cores, core-based assignment of states and transition counts."""

import numpy as np
from sklearn.utils import Bunch

from .._data import check_bin_edges, check_int, check_real, check_real_array
from ._common import _trajectories


def _check_cores(cores, n_features):
    """Each core: a box (n_features, 2) of (low, high) or a list of such boxes."""
    if not isinstance(cores, list | tuple) or len(cores) < 2:
        raise ValueError(
            f"cores must be a list of at least two metastable cores; got {cores!r}."
        )
    checked = []
    for i, core in enumerate(cores):
        boxes = check_real_array(core, f"cores[{i}]")
        if boxes.ndim == 1 and n_features == 1:
            boxes = boxes[None, None, :]
        elif boxes.ndim == 2:
            boxes = boxes[None]
        if boxes.ndim != 3 or boxes.shape[1:] != (n_features, 2):
            raise ValueError(
                f"cores[{i}] must be a box of shape ({n_features}, 2) (low, high per "
                f"feature of the {n_features} features of X) or a list of such "
                f"boxes; got shape {boxes.shape}."
            )
        if np.any(boxes[..., 0] >= boxes[..., 1]):
            raise ValueError(f"cores[{i}] has a box with low >= high.")
        checked.append(boxes)
    return checked


def _in_cores(x, cores):
    labels = np.full(len(x), -1)
    for i, boxes in enumerate(cores):
        inside = np.zeros(len(x), dtype=bool)
        for box in boxes:
            inside |= np.all((x >= box[:, 0]) & (x <= box[:, 1]), axis=1)
        if np.any(inside & (labels >= 0)):
            raise ValueError("cores must not overlap.")
        labels[inside] = i
    return labels


def assign_cores(X, cores):
    """Core-based (milestoning) state assignment with hysteresis.

    A frame inside a core gets that core's index; a frame outside every core keeps
    the index of the last core visited, so noise on a boundary or a brief
    excursion that returns to the same core changes nothing. Frames before the
    first core visit get -1.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories, e.g. ψ1 or (φ, ψ).
    cores : list
        Non-overlapping metastable cores. Core ``i`` is a box, an array-like of
        shape ``(n_features, 2)`` of ``(low, high)`` bounds (inclusive) per feature
        (``(low, high)`` suffices for one feature), or a list of such boxes whose
        union is the core (e.g. a region that wraps around a periodic angle).

    Returns
    -------
    ndarray of int of shape (n_frames,) or list of such
        Mirrors ``X``.

    Raises
    ------
    TypeError
        ``X`` or a core is not numeric.
    ValueError
        ``X`` is ragged, complex, not 2-D, empty or not finite; ``cores`` is not a
        list of at least two cores, a core is not a box (or list of boxes) of
        shape (n_features, 2) of finite bounds with low < high, or cores overlap.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import assign_cores
    >>> x = np.array([[0.0], [0.5], [0.1], [0.5], [1.0], [0.5]])
    >>> assign_cores(x, [(-1, 0.2), (0.8, 2)])
    array([0, 0, 0, 0, 1, 1])
    """
    trajs, is_list = _trajectories(X, "X")
    cores = _check_cores(cores, trajs[0].shape[1])
    out = []
    for t in trajs:
        raw = _in_cores(t, cores)
        # Carry the last core forward over the frames outside all cores.
        idx = np.where(raw >= 0, np.arange(len(raw)), -1)
        np.maximum.accumulate(idx, out=idx)
        out.append(np.where(idx >= 0, raw[np.maximum(idx, 0)], -1))
    return out if is_list else out[0]


def count_transitions(X, cores):
    """Count committed transitions between metastable cores.

    A transition ``i -> j`` is counted when a trajectory that last visited core
    ``i`` enters core ``j != i`` (see :func:`assign_cores`); crossings of a core's
    boundary without reaching another core are not transitions. Trajectory
    boundaries are never crossed.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories.
    cores : list
        Metastable cores, as in :func:`assign_cores`.

    Returns
    -------
    result : Bunch
        ``n_transitions`` (total), ``counts`` (n_cores, n_cores) with ``counts[i, j]``
        the number of ``i -> j`` transitions, and ``core_trajectories`` (from
        :func:`assign_cores`, mirroring ``X``).

    Raises
    ------
    TypeError, ValueError
        As :func:`assign_cores`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import count_transitions
    >>> x = np.array([[0.0], [0.5], [1.0], [0.5], [0.9], [0.0]])
    >>> count_transitions(x, [(-1, 0.2), (0.8, 2)]).n_transitions
    2
    """
    assigned = assign_cores(X, cores)
    trajs = assigned if isinstance(assigned, list) else [assigned]
    counts = np.zeros((len(cores), len(cores)), dtype=int)
    for s in trajs:
        s = s[s >= 0]
        change = s[1:] != s[:-1]
        np.add.at(counts, (s[:-1][change], s[1:][change]), 1)
    return Bunch(
        n_transitions=int(counts.sum()), counts=counts, core_trajectories=assigned
    )


def metastable_cores(profile, *, n_cores=2, max_free_energy=1.0):
    """Metastable cores of a free-energy profile: the wells of its deepest minima.

    The local minima of the profile are taken deepest first; around each, the
    core extends over the contiguous bins whose free energy is at most
    ``max_free_energy`` above that minimum. A core that overlaps or touches one
    already taken is skipped, until ``n_cores`` cores are found. The cores suit
    :func:`count_transitions` and :func:`assign_cores`.

    Parameters
    ----------
    profile : Bunch
        Result of :func:`free_energy_profile` (``free_energy`` and ``bin_edges``
        are used; empty bins, NaN, count as infinitely high).
    n_cores : int, default=2
        Number of cores wanted.
    max_free_energy : float, default=1.0
        Depth of a core in kT above its minimum.

    Returns
    -------
    list of (float, float)
        The ``(low, high)`` bin edges of each core, in increasing order of position;
        fewer than ``n_cores`` when the profile has fewer separated wells.

    Raises
    ------
    TypeError
        ``profile`` has no ``free_energy`` and ``bin_edges`` attributes or they
        are not numeric, ``n_cores`` is not an int or ``max_free_energy`` is not a
        float.
    ValueError
        The free energy is not 1-D or holds infinity, the bin edges are not
        finite and strictly increasing or not one more than the bins,
        ``n_cores < 1``, or ``max_free_energy`` is not positive and finite.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import free_energy_profile, metastable_cores
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(-1, 0.2, 5000), rng.normal(1, 0.2, 5000)])
    >>> cores = metastable_cores(free_energy_profile(x[:, None], bins=40))
    >>> len(cores), cores[0][0] < -1 < cores[0][1] < 0 < cores[1][0] < 1 < cores[1][1]
    (2, True)
    """
    if not (hasattr(profile, "free_energy") and hasattr(profile, "bin_edges")):
        raise TypeError(
            "profile must be a result of free_energy_profile, with the attributes "
            f"free_energy and bin_edges; got {type(profile).__name__}."
        )
    n_cores = check_int(n_cores, "n_cores", 1)
    max_free_energy = check_real(
        max_free_energy, "max_free_energy", low=0.0, closed="neither"
    )
    f = check_real_array(profile.free_energy, "profile.free_energy", allow_nan=True)
    edges = check_bin_edges(profile.bin_edges, "profile.bin_edges")
    if f.ndim != 1 or edges.shape != (len(f) + 1,):
        raise ValueError(
            "profile must be a 1-D free-energy profile with n_bins + 1 bin_edges; got "
            f"free_energy of shape {f.shape} and bin_edges of shape {edges.shape}."
        )
    f = np.where(np.isnan(f), np.inf, f)
    padded = np.concatenate([[np.inf], f, [np.inf]])
    minima = [
        i
        for i in range(len(f))
        if np.isfinite(f[i]) and f[i] <= padded[i] and f[i] <= padded[i + 2]
    ]
    minima.sort(key=lambda i: f[i])
    cores = []
    for m in minima:
        lo = hi = m
        while lo > 0 and f[lo - 1] <= f[m] + max_free_energy:
            lo -= 1
        while hi < len(f) - 1 and f[hi + 1] <= f[m] + max_free_energy:
            hi += 1
        # Touching cores share an edge, which both would claim.
        if all(hi + 1 < a or lo > b + 1 for a, b in cores):
            cores.append((lo, hi))
        if len(cores) == n_cores:
            break
    return [(float(edges[lo]), float(edges[hi + 1])) for lo, hi in sorted(cores)]
