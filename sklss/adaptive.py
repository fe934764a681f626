"""Adaptive sampling: the simulator decides where the molecular dynamics runs next.

A latent space simulator trained on the MD collected so far knows which slow states
the MD has visited, how often, and where its own dynamics leads. Adaptive sampling
uses that knowledge to start new, short MD segments where they teach the most,
retrains, and repeats:

- ``"least-counts"``: restart from the least-visited populated bins of the slow
  (SRV) coordinates, pushing the MD out of the states it already knows;
- ``"lss"``: let the simulator run long synthetic trajectories and restart from the
  MD frames nearest to the regions it visits but the MD has barely sampled;
- ``"disagreement"``: with a :class:`~sklss.SimulatorEnsemble`, restart where the
  models disagree most about how often a region is visited.

:class:`AdaptiveSampler` runs the loop with an MD engine such as
:class:`sklss.md.OpenMMEngine`; the three strategy functions choose starts from
latent coordinates alone and work with any MD code.
"""

import hashlib
import json
import time

import numpy as np
from sklearn.base import clone
from sklearn.utils import Bunch

from ._data import (
    check_bins,
    check_bool,
    check_int,
    check_random_state_named,
    check_seed,
    check_trajectories,
    histogram_edges,
)
from ._io import atomic_path, check_path

__all__ = [
    "AdaptiveSampler",
    "disagreement_starts",
    "least_counts_starts",
    "lss_starts",
]

STRATEGIES = ("least-counts", "lss", "disagreement")
_SAMPLER_FILE = "sampler.json"
_MD_DIR = "md"


def _round_file(index):
    return f"round_{index:03d}.json"


# -- choosing starts from latent coordinates ----------------------------------------


def _check_latent(latent, name):
    """``latent`` as a list of 2-D float arrays, one per trajectory."""
    trajs = check_trajectories(
        None, latent, reset=True, name=name, n_features_attr=None
    )
    return [np.asarray(t, dtype=np.float64) for t in trajs]


def _check_generated(generated, name, width):
    """Generated latent frames as one ``(n, width)`` array."""
    if (
        isinstance(generated, list | tuple)
        and generated
        and all(getattr(g, "ndim", None) == 3 for g in generated)
    ):
        generated = [g.reshape(-1, g.shape[-1]) for g in generated]
    elif getattr(generated, "ndim", None) == 3:
        generated = generated.reshape(-1, generated.shape[-1])
    trajs = check_trajectories(
        None, generated, reset=True, name=name, n_features_attr=None
    )
    if trajs.n_features != width:
        raise ValueError(
            f"{name} has {trajs.n_features} latent coordinates; the MD latent "
            f"coordinates have {width}."
        )
    return np.asarray(trajs.concatenate(), dtype=np.float64)


def _check_n_coordinates(n_coordinates, width):
    n_coordinates = check_int(n_coordinates, "n_coordinates", 1)
    if n_coordinates > 3:
        raise ValueError(
            f"n_coordinates must be 1, 2 or 3 (a grid of n_bins ** n_coordinates "
            f"bins); got {n_coordinates}."
        )
    return min(n_coordinates, width)


def _frame_index(latent):
    """``(trajectory, frame)`` of every row of the concatenated latent frames."""
    return np.concatenate(
        [
            np.column_stack([np.full(len(z), i), np.arange(len(z))])
            for i, z in enumerate(latent)
        ]
    ).astype(np.int64)


def _edges(n_bins, values, name):
    return [
        histogram_edges(n_bins, None, values[:, j], name)
        for j in range(values.shape[1])
    ]


def _bin_of(values, edges):
    """Flat bin index of every row of ``values``; -1 outside the grid."""
    shape = tuple(len(e) - 1 for e in edges)
    index = np.empty((len(values), len(edges)), dtype=np.int64)
    inside = np.ones(len(values), dtype=bool)
    for j, e in enumerate(edges):
        k = np.searchsorted(e, values[:, j], side="right") - 1
        k[values[:, j] == e[-1]] = len(e) - 2  # the last edge closes the last bin
        inside &= (k >= 0) & (k < len(e) - 1)
        index[:, j] = k
    flat = np.full(len(values), -1, dtype=np.int64)
    flat[inside] = np.ravel_multi_index(tuple(index[inside].T), shape)
    return flat


def _centres(flat, edges):
    shape = tuple(len(e) - 1 for e in edges)
    multi = np.column_stack(np.unravel_index(flat, shape))
    centres = np.column_stack(
        [(e[:-1] + e[1:])[multi[:, j]] / 2 for j, e in enumerate(edges)]
    )
    return multi, centres


def _rank(scores, rng, descending):
    """Indices of ``scores`` sorted, ties broken at random."""
    order = rng.permutation(len(scores))
    key = -scores[order] if descending else scores[order]
    return order[np.argsort(key, kind="stable")]


def _allocate(ranked, n_starts):
    """One start per ranked bin, from the best; cycle when there are fewer bins."""
    return [ranked[i % len(ranked)] for i in range(n_starts)]


def _random_frames(bins, labels, rng):
    """A random frame of each bin, different frames of a bin while any are left."""
    used = {}
    frames = []
    for b in bins:
        members = np.flatnonzero(labels == b)
        taken = used.setdefault(b, [])
        free = np.setdiff1d(members, taken)
        choice = int(rng.choice(free if len(free) else members))
        taken.append(choice)
        frames.append(choice)
    return np.array(frames, dtype=np.int64)


def _result(frames, index, bins, edges, scores, score_name, **extra):
    multi, centres = _centres(np.asarray(bins, dtype=np.int64), edges)
    return Bunch(
        starts=index[frames],
        frames=frames,
        bins=multi,
        bin_centres=centres,
        scores=np.asarray(scores, dtype=np.float64),
        score_name=score_name,
        edges=edges,
        **extra,
    )


def least_counts_starts(
    latent, n_starts, *, n_bins=20, n_coordinates=2, random_state=None
):
    """Starts in the least-visited populated bins of the latent coordinates.

    The first ``n_coordinates`` latent coordinates of all MD frames are binned on a
    regular grid over their range; the populated bins are ranked by their number
    of frames, fewest first (ties at random), and each start is a random MD frame
    of the next bin in that order (the order is cycled when there are fewer
    populated bins than starts).

    Parameters
    ----------
    latent : ndarray of shape (n_frames, n_components) or list of such
        Latent coordinates of every MD frame (one array per trajectory).
    n_starts : int
        Number of starts to choose.
    n_bins : int, default=20
        Bins per coordinate.
    n_coordinates : {1, 2, 3}, default=2
        Leading latent coordinates binned (fewer when the latent space has fewer).
    random_state : int, RandomState instance or None, default=None
        Breaks ties and picks frames within bins.

    Returns
    -------
    result : Bunch
        ``starts`` (n_starts, 2): ``(trajectory, frame)`` of each start;
        ``frames`` (n_starts,): the same as indices into the concatenated frames;
        ``bins`` (n_starts, n_coordinates) and ``bin_centres``: the chosen bin of
        each start; ``scores``: its number of MD frames (``score_name``);
        ``edges``: the bin edges of each coordinate; ``md_counts``: the MD
        histogram.

    Raises
    ------
    TypeError, ValueError
        Invalid ``latent`` or sizes (the message names the argument).

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.adaptive import least_counts_starts
    >>> z = np.r_[np.zeros((99, 1)), np.ones((1, 1))]   # one frame far out
    >>> least_counts_starts(z, 1, n_bins=4, random_state=0).frames
    array([99])
    """
    latent = _check_latent(latent, "latent")
    n_starts = check_int(n_starts, "n_starts", 1)
    d = _check_n_coordinates(n_coordinates, latent[0].shape[1])
    n_bins, _ = check_bins(
        n_bins, name="n_bins", minimum=1, n_dims=d, allow_edges=False
    )
    rng = check_random_state_named(random_state)
    values = np.concatenate(latent)[:, :d]
    edges = _edges(n_bins, values, "latent")
    labels = _bin_of(values, edges)
    counts = np.bincount(labels, minlength=n_bins**d)
    populated = np.flatnonzero(counts)
    ranked = populated[_rank(counts[populated].astype(float), rng, descending=False)]
    bins = _allocate(ranked, n_starts)
    frames = _random_frames(bins, labels, rng)
    return _result(
        frames,
        _frame_index(latent),
        bins,
        edges,
        counts[bins],
        "MD frames in the bin",
        md_counts=counts.reshape((n_bins,) * d),
    )


def lss_starts(
    latent,
    generated,
    n_starts,
    *,
    n_bins=20,
    n_coordinates=2,
    min_count=5,
    random_state=None,
):
    """Starts near the regions the simulator visits but the MD has barely sampled.

    The first ``n_coordinates`` latent coordinates of the MD frames and of the
    simulator's generated frames are binned on one grid (spanning the MD and the
    central 99.8% of the generated frames). Every bin with at least ``min_count``
    generated frames is scored by the ratio of its generated to its MD
    occupancy, ``(n_gen / N_gen) / ((n_md + 1) / N_md)`` (one pseudo-frame per MD
    bin, so bins the MD never visited have finite, large scores). The bins are
    ranked by that ratio, and each start is the MD frame nearest (in bin widths)
    to the mean of the generated frames of the next bin: where the MD must go to
    sample what the simulator predicts. A bin chosen twice gets its next nearest
    frame, and no frame is chosen twice while others are left.

    Parameters
    ----------
    latent : ndarray of shape (n_frames, n_components) or list of such
        Latent coordinates of every MD frame (one array per trajectory).
    generated : ndarray of shape (n_generated, n_components), \
(n_trajectories, n_steps, n_components) or list of such
        Latent frames generated by the simulator (``SimulationResult.latent``).
    n_starts : int
        Number of starts to choose.
    n_bins : int, default=20
        Bins per coordinate.
    n_coordinates : {1, 2, 3}, default=2
        Leading latent coordinates binned.
    min_count : int, default=5
        Generated frames a bin needs to be chosen, so that single excursions of
        the simulator do not decide; when no bin has that many, every bin the
        simulator visits is a candidate.
    random_state : int, RandomState instance or None, default=None
        Breaks ties.

    Returns
    -------
    result : Bunch
        As :func:`least_counts_starts`, with ``scores`` the occupancy ratios and
        ``md_counts``, ``generated_counts`` the two histograms.

    Raises
    ------
    TypeError, ValueError
        Invalid arrays or sizes, or ``generated`` of another width than
        ``latent``.
    """
    from scipy.spatial import cKDTree

    latent = _check_latent(latent, "latent")
    width = latent[0].shape[1]
    gen = _check_generated(generated, "generated", width)
    n_starts = check_int(n_starts, "n_starts", 1)
    d = _check_n_coordinates(n_coordinates, width)
    n_bins, _ = check_bins(
        n_bins, name="n_bins", minimum=1, n_dims=d, allow_edges=False
    )
    min_count = check_int(min_count, "min_count", 1)
    rng = check_random_state_named(random_state)
    md_values = np.concatenate(latent)[:, :d]
    gen_values = gen[:, :d]
    low, high = np.quantile(gen_values, [0.001, 0.999], axis=0)
    span = np.vstack([md_values.min(axis=0), md_values.max(axis=0), low, high])
    edges = _edges(n_bins, span, "latent")
    md_labels = _bin_of(md_values, edges)
    gen_labels = _bin_of(gen_values, edges)
    n_cells = n_bins**d
    md_counts = np.bincount(md_labels, minlength=n_cells)
    gen_counts = np.bincount(gen_labels[gen_labels >= 0], minlength=n_cells)
    ratio = (gen_counts / max(gen_counts.sum(), 1)) / ((md_counts + 1) / len(md_values))
    candidates = np.flatnonzero(gen_counts >= min_count)
    if len(candidates) == 0:
        candidates = np.flatnonzero(gen_counts)
    ranked = candidates[_rank(ratio[candidates], rng, descending=True)]
    bins = _allocate(ranked, n_starts)

    widths = np.array([e[1] - e[0] for e in edges])
    tree = cKDTree(md_values / widths)
    used = set()
    frames = []
    for b in bins:
        target = gen_values[gen_labels == b].mean(axis=0) / widths
        k = min(len(md_values), len(used) + 1)
        _, near = tree.query(target, k=k)
        near = np.atleast_1d(near)
        choice = next((int(i) for i in near if int(i) not in used), int(near[0]))
        used.add(choice)
        frames.append(choice)
    frames = np.array(frames, dtype=np.int64)
    shape = (n_bins,) * d
    return _result(
        frames,
        _frame_index(latent),
        bins,
        edges,
        ratio[bins],
        "generated / MD occupancy ratio",
        md_counts=md_counts.reshape(shape),
        generated_counts=gen_counts.reshape(shape),
    )


def disagreement_starts(
    latent, generated, n_starts, *, n_bins=20, n_coordinates=2, random_state=None
):
    """Starts in the regions where the models of an ensemble disagree most.

    Every model has its own latent space, so the regions are defined on the MD
    frames: the frames are binned on a grid of the first ``n_coordinates`` latent
    coordinates of the first model. Each model's generated frames are assigned to
    their nearest MD frame in that model's own latent space (coordinates scaled by
    their MD standard deviation), hence to a region; the disagreement of a region
    is the standard deviation over the models of its free energy
    ``-ln p_k`` in kT (with one pseudo-frame per region). Regions are ranked by
    it, and each start is a random MD frame of the next one.

    Parameters
    ----------
    latent : list of (ndarray of shape (n_frames, n_components_k) or list of such)
        For every model, the latent coordinates of all MD frames in its own
        space (the same frames, in the same order, for every model).
    generated : list of array-like
        For every model, its generated latent frames (any shape ending in
        ``n_components_k``).
    n_starts : int
        Number of starts to choose.
    n_bins : int, default=20
        Bins per coordinate of the grid that defines the regions.
    n_coordinates : {1, 2, 3}, default=2
        Leading latent coordinates of the first model binned.
    random_state : int, RandomState instance or None, default=None
        Breaks ties and picks frames within regions.

    Returns
    -------
    result : Bunch
        As :func:`least_counts_starts`, with ``scores`` the disagreement in kT,
        ``md_counts`` the MD histogram and ``model_counts`` (n_models,
        n_bins ** n_coordinates) the generated frames per region and model.

    Raises
    ------
    TypeError, ValueError
        Fewer than two models, lists of different lengths, or MD latent
        coordinates that do not describe the same frames for every model.
    """
    from scipy.spatial import cKDTree

    for value, name in ((latent, "latent"), (generated, "generated")):
        if not isinstance(value, list | tuple):
            raise TypeError(
                f"{name} must be a list with one entry per model; got "
                f"{type(value).__name__}."
            )
    if len(latent) < 2 or len(latent) != len(generated):
        raise ValueError(
            "latent and generated must hold one entry per model, at least two "
            f"models; got {len(latent)} and {len(generated)} entries."
        )
    models = [_check_latent(z, f"latent[{k}]") for k, z in enumerate(latent)]
    lengths = [len(z) for z in models[0]]
    for k, z in enumerate(models[1:], 1):
        if [len(t) for t in z] != lengths:
            raise ValueError(
                f"latent[{k}] describes trajectories of lengths {[len(t) for t in z]}; "
                f"latent[0] has {lengths}: every model must encode the same MD frames."
            )
    gens = [
        _check_generated(g, f"generated[{k}]", models[k][0].shape[1])
        for k, g in enumerate(generated)
    ]
    n_starts = check_int(n_starts, "n_starts", 1)
    d = _check_n_coordinates(n_coordinates, models[0][0].shape[1])
    n_bins, _ = check_bins(
        n_bins, name="n_bins", minimum=1, n_dims=d, allow_edges=False
    )
    rng = check_random_state_named(random_state)

    reference = np.concatenate(models[0])[:, :d]
    edges = _edges(n_bins, reference, "latent[0]")
    labels = _bin_of(reference, edges)
    n_cells = n_bins**d
    md_counts = np.bincount(labels, minlength=n_cells)
    populated = np.flatnonzero(md_counts)
    model_counts = np.empty((len(models), n_cells), dtype=np.int64)
    for k, (z, g) in enumerate(zip(models, gens, strict=True)):
        md_k = np.concatenate(z)
        scale = md_k.std(axis=0)
        scale[scale == 0] = 1.0
        _, nearest = cKDTree(md_k / scale).query(g / scale)
        model_counts[k] = np.bincount(labels[nearest], minlength=n_cells)
    totals = model_counts.sum(axis=1, keepdims=True)
    free_energy = -np.log((model_counts + 1) / (totals + len(populated)))
    spread = free_energy.std(axis=0)
    ranked = populated[_rank(spread[populated], rng, descending=True)]
    bins = _allocate(ranked, n_starts)
    frames = _random_frames(bins, labels, rng)
    return _result(
        frames,
        _frame_index(models[0]),
        bins,
        edges,
        spread[bins],
        "spread of the models' free energies (kT)",
        md_counts=md_counts.reshape((n_bins,) * d),
        model_counts=model_counts,
    )


# -- the sampler --------------------------------------------------------------------


def _is_ensemble(simulator):
    from ._ensemble import SimulatorEnsemble

    return isinstance(simulator, SimulatorEnsemble)


def _check_simulator(simulator):
    from ._simulator import LatentSpaceSimulator

    if _is_ensemble(simulator):
        inner = simulator.estimator
        if inner is not None and not isinstance(inner, LatentSpaceSimulator):
            raise TypeError(
                "simulator must be a LatentSpaceSimulator or a SimulatorEnsemble of "
                f"LatentSpaceSimulators; got an ensemble of {type(inner).__name__}."
            )
        return simulator
    from ._base import check_component

    check_component(simulator, "simulator", ("fit", "transform", "sample"))
    return simulator


def _lagtime(simulator):
    inner = simulator.estimator if _is_ensemble(simulator) else simulator
    if inner is None:
        return None
    return inner.get_params(deep=False).get("lagtime")


def _default_featurizer():
    from sklearn.pipeline import make_union

    from ._molecules import DistanceFeaturizer, TorsionFeaturizer

    return make_union(
        TorsionFeaturizer(angles=("phi", "psi")), DistanceFeaturizer("element != H")
    )


def _fingerprint(trajectories):
    digest = hashlib.sha256()
    for t in trajectories:
        digest.update(np.asarray(t.xyz.shape, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(t.xyz, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _seeds(root, index, n):
    state = np.random.SeedSequence(root, spawn_key=(index,)).generate_state(n)
    return [int(s % (2**31 - 1)) for s in state]


def _write_json(path, data):
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)


def _read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{str(path)!r} cannot be read as a record of an adaptive sampling run "
            f"({type(exc).__name__}: {exc}); delete it (and the rounds after it) to "
            "redo that part."
        ) from None


class AdaptiveSampler:
    """Adaptive sampling: a latent space simulator chooses where the MD runs next.

    Every round fits a fresh clone of ``simulator`` on all MD collected so far,
    chooses ``n_segments`` starting frames with ``strategy``, runs one MD segment
    of ``segment_length`` frames from each with ``engine``, and adds them to the
    data. After the last round the simulator is fitted once more, on everything.

    Parameters
    ----------
    simulator : LatentSpaceSimulator or SimulatorEnsemble
        Unfitted template, cloned in every round (never fitted in place). Its
        lag time must not exceed ``segment_length``, so that every segment gives
        time-lagged pairs. A :class:`~sklss.SimulatorEnsemble` (of
        LatentSpaceSimulators) is needed by ``"disagreement"``; the other
        strategies use its first model's latent space.
    engine : OpenMMEngine
        Runs the MD (:class:`sklss.md.OpenMMEngine`, or any object with its
        ``run(starts, n_frames, *, out, first_segment, verbose)`` method and
        ``frame_interval`` attribute in ps).
    n_rounds : int
        Rounds of fit, choose and run.
    n_segments : int
        MD segments per round.
    segment_length : int
        Frames each segment records after its start (``segment_length *
        engine.frame_interval`` ps of MD).
    strategy : {"lss", "least-counts", "disagreement"}, default="lss"
        How starts are chosen: :func:`lss_starts`, :func:`least_counts_starts` or
        :func:`disagreement_starts`.
    featurizer : transformer, callable or None, default=None
        Turns an ``mdtraj.Trajectory`` into the simulator's input features: a
        transformer (cloned and fitted on the first initial trajectory) or a
        function ``trajectory -> ndarray of shape (n_frames, n_features)``. None
        uses the features of ``sklss demo`` for peptides: sin/cos of the
        backbone torsions φ, ψ and all heavy-atom pair distances.
    n_bins : int, default=20
        Bins per latent coordinate of the strategies' grid.
    n_coordinates : {1, 2, 3}, default=2
        Leading latent coordinates binned.
    n_generated_trajectories : int, default=100
        Synthetic trajectories generated per round by ``"lss"`` and
        ``"disagreement"`` (per model), started from the training data.
    n_generated_steps : int, default=500
        Propagator steps of each synthetic trajectory.
    min_count : int, default=5
        Generated frames a bin needs to be chosen by ``"lss"``.
    fit_decoder : bool, default=False
        Fit the final simulator with the MD trajectories as decoder targets, so
        that it generates structures; the fits that choose starts never need a
        decoder.
    record_score : bool, default=True
        Record the fitted simulator's :meth:`~sklss.LatentSpaceSimulator.score`
        on the MD it was fitted on (its self-consistency) in every round.
    out : str, path-like or None, default=None
        Directory that makes the run resumable: the MD segments (``md/``), one
        JSON record per round (``round_000.json``, written before its MD runs and
        again when it is done) and the settings (``sampler.json``). Rerunning
        with the same arguments reads finished rounds back, runs only missing MD
        segments of an interrupted round and continues; a larger ``n_rounds``
        extends a finished run.
    random_state : int in [0, 2**32 - 1] or None, default=None
        Seeds the fits (of simulators whose own ``random_state`` is None), the
        synthetic trajectories and the choices. The MD noise is seeded by the
        engine's own ``random_state``.
    verbose : bool, default=True
        Print a line per stage and show the engine's progress bar.

    See Also
    --------
    sklss.md.OpenMMEngine : the MD engine.
    least_counts_starts, lss_starts, disagreement_starts : the strategies.

    Notes
    -----
    Every round fits a fresh clone rather than warm-starting the previous
    round's networks: the SRV coordinates are solved anew from all the data, and
    as new states appear they change (they may mix, swap or flip sign), so a
    propagator or decoder trained in the old coordinates would start from weights
    that describe another space.

    The segments start from MD frames with fresh Maxwell-Boltzmann velocities,
    so every time-lagged pair they give samples the true dynamics, and the
    simulator's transition density stays unbiased; the histogram of the
    collected MD, however, is not an equilibrium sample (the starts were chosen),
    while the simulator's long trajectories are.

    Examples
    --------
    >>> from sklss import LatentSpaceSimulator
    >>> from sklss.adaptive import AdaptiveSampler
    >>> from sklss.md import OpenMMEngine, alanine_dipeptide_structure
    >>> engine = OpenMMEngine.alanine_dipeptide(random_state=0)  # doctest: +SKIP
    >>> initial = engine.run(alanine_dipeptide_structure(), 200)  # doctest: +SKIP
    >>> sampler = AdaptiveSampler(
    ...     LatentSpaceSimulator(lagtime=5, random_state=0), engine,
    ...     n_rounds=3, n_segments=8, segment_length=20, out="adaptive",
    ...     random_state=0)  # doctest: +SKIP
    >>> result = sampler.run(initial)  # doctest: +SKIP
    >>> len(result.trajectories), result.md_time_ns  # doctest: +SKIP
    (25, 0.68)
    """

    def __init__(
        self,
        simulator,
        engine,
        *,
        n_rounds,
        n_segments,
        segment_length,
        strategy="lss",
        featurizer=None,
        n_bins=20,
        n_coordinates=2,
        n_generated_trajectories=100,
        n_generated_steps=500,
        min_count=5,
        fit_decoder=False,
        record_score=True,
        out=None,
        random_state=None,
        verbose=True,
    ):
        self.simulator = _check_simulator(simulator)
        if not callable(getattr(engine, "run", None)) or not hasattr(
            engine, "frame_interval"
        ):
            raise TypeError(
                "engine must be an MD engine such as sklss.md.OpenMMEngine, with a "
                f"run method and a frame_interval; got {type(engine).__name__}."
            )
        self.engine = engine
        self.n_rounds = check_int(n_rounds, "n_rounds", 0)
        self.n_segments = check_int(n_segments, "n_segments", 1)
        self.segment_length = check_int(segment_length, "segment_length", 1)
        lagtime = _lagtime(simulator)
        if lagtime is not None and self.segment_length < lagtime:
            raise ValueError(
                f"segment_length={self.segment_length} frames is shorter than the "
                f"simulator's lagtime={lagtime}: the new segments would give no "
                "time-lagged pairs. Use segments of at least lagtime frames."
            )
        if strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {list(STRATEGIES)}; got {strategy!r}."
            )
        if strategy == "disagreement" and not _is_ensemble(simulator):
            raise ValueError(
                "strategy='disagreement' needs a SimulatorEnsemble as simulator (the "
                "models whose disagreement it measures); got "
                f"{type(simulator).__name__}."
            )
        self.strategy = strategy
        if featurizer is not None and not (
            callable(getattr(featurizer, "transform", None)) or callable(featurizer)
        ):
            raise TypeError(
                "featurizer must be None, a transformer of mdtraj trajectories or a "
                f"function of one trajectory; got {type(featurizer).__name__}."
            )
        self.featurizer = featurizer
        self.n_coordinates = _check_n_coordinates(n_coordinates, 3)
        self.n_bins, _ = check_bins(
            n_bins,
            name="n_bins",
            minimum=1,
            n_dims=self.n_coordinates,
            allow_edges=False,
        )
        self.n_generated_trajectories = check_int(
            n_generated_trajectories, "n_generated_trajectories", 1
        )
        self.n_generated_steps = check_int(n_generated_steps, "n_generated_steps", 1)
        self.min_count = check_int(min_count, "min_count", 1)
        self.fit_decoder = check_bool(fit_decoder, "fit_decoder")
        self.record_score = check_bool(record_score, "record_score")
        self.verbose = check_bool(verbose, "verbose")
        self.out = None if out is None else check_path(out, "out")
        self.random_state = check_seed(
            random_state, reason="segment seeds are derived from it and recorded"
        )

    def __repr__(self):
        return (
            f"AdaptiveSampler(strategy={self.strategy!r}, n_rounds={self.n_rounds}, "
            f"n_segments={self.n_segments}, segment_length={self.segment_length}, "
            f"out={None if self.out is None else str(self.out)!r})"
        )

    # -- helpers ---------------------------------------------------------------------

    def _log(self, message):
        if self.verbose:
            print(message, flush=True)

    def _featurize_with(self, first):
        featurizer = self.featurizer
        if featurizer is None:
            featurizer = _default_featurizer()
        if callable(getattr(featurizer, "transform", None)):
            fitted = clone(featurizer).fit(first)

            def transform(traj):
                return np.asarray(fitted.transform(traj))

        else:

            def transform(traj):
                return np.asarray(featurizer(traj))

        def featurize(traj):
            X = transform(traj)
            if X.ndim != 2 or len(X) != traj.n_frames:
                raise ValueError(
                    "featurizer must return an array of shape (n_frames, n_features) "
                    f"for a trajectory; got shape {X.shape} for {traj.n_frames} frames."
                )
            return X

        return featurize

    def _settings(self, initial):
        return {
            "strategy": self.strategy,
            "n_segments": self.n_segments,
            "segment_length": self.segment_length,
            "n_bins": self.n_bins,
            "n_coordinates": self.n_coordinates,
            "n_generated_trajectories": self.n_generated_trajectories,
            "n_generated_steps": self.n_generated_steps,
            "min_count": self.min_count,
            "random_state": self.random_state,
            "frame_interval_ps": float(self.engine.frame_interval),
            "simulator": repr(self.simulator),
            "initial_trajectories": {
                "n_trajectories": len(initial),
                "n_frames": [t.n_frames for t in initial],
                "sha256": _fingerprint(initial),
            },
        }

    def _root_seed(self, initial):
        """The run's root seed, checked against (or written to) ``out``."""
        settings = self._settings(initial)
        root = self.random_state
        if self.out is None:
            return np.random.SeedSequence().entropy if root is None else root
        path = self.out / _SAMPLER_FILE
        if path.exists():
            earlier = _read_json(path)
            differ = [k for k, v in settings.items() if earlier.get(k) != v]
            if differ:
                raise ValueError(
                    f"out={str(self.out)!r} holds an adaptive sampling run with other "
                    f"settings ({', '.join(differ)} differ); rerun with the same "
                    "arguments to resume it, or use another directory."
                )
            return int(earlier["root_seed"])
        root = np.random.SeedSequence().entropy if root is None else root
        self.out.mkdir(parents=True, exist_ok=True)
        _write_json(path, {**settings, "root_seed": int(root)})
        return root

    def _fit(self, features, trajectories, seed, with_targets):
        sim = clone(self.simulator)
        if "random_state" in sim.get_params(deep=False) and sim.random_state is None:
            sim.set_params(random_state=seed)
        t0 = time.perf_counter()
        sim.fit(features, y=list(trajectories) if with_targets else None)
        return sim, time.perf_counter() - t0

    def _describe(self, sim, features):
        model = sim.estimators_[0] if _is_ensemble(sim) else sim
        info = {"lagtime_frames": int(getattr(model, "lagtime_", 0)) or None}
        timescales = getattr(getattr(model, "encoder_", None), "timescales_", None)
        if timescales is not None:
            info["timescales_ps"] = [
                float(t) * float(self.engine.frame_interval) for t in timescales
            ]
        if self.record_score:
            try:
                info["score"] = float(sim.score(features))
            except ValueError as exc:
                info["score"] = None
                info["score_error"] = str(exc)
        return info

    def _choose(self, sim, features, seeds):
        gen_seed, choice_seed = seeds
        models = list(sim.estimators_) if _is_ensemble(sim) else [sim]
        common = {
            "n_bins": self.n_bins,
            "n_coordinates": self.n_coordinates,
            "random_state": choice_seed,
        }
        n_traj, n_steps = self.n_generated_trajectories, self.n_generated_steps
        if self.strategy == "least-counts":
            latent = models[0].transform(features)
            return least_counts_starts(latent, self.n_segments, **common)
        if self.strategy == "lss":
            latent = models[0].transform(features)
            generated = (
                models[0]
                .sample(n_steps, n_traj, decode=False, random_state=gen_seed)
                .latent[:, 1:]
            )
            return lss_starts(
                latent, generated, self.n_segments, min_count=self.min_count, **common
            )
        latent = [m.transform(features) for m in models]
        runs = sim.sample(n_steps, n_traj, decode=False, random_state=gen_seed)
        generated = [r.latent[:, 1:] for r in runs]
        return disagreement_starts(latent, generated, self.n_segments, **common)

    def _start_frames(self, trajectories, starts):
        import mdtraj as md

        xyz = np.stack([trajectories[i].xyz[j] for i, j in starts])
        topology = getattr(self.engine, "topology", None)
        if topology is None:
            topology = trajectories[0].topology
        frames = md.Trajectory(xyz, topology)
        if all(trajectories[i].unitcell_vectors is not None for i, _ in starts):
            frames.unitcell_vectors = np.stack(
                [trajectories[i].unitcell_vectors[j] for i, j in starts]
            )
        return frames

    def _run_md(self, trajectories, record, verbose):
        starts = self._start_frames(trajectories, record["starts"])
        out = None if self.out is None else self.out / _MD_DIR
        t0 = time.perf_counter()
        segments = self.engine.run(
            starts,
            self.segment_length,
            out=out,
            first_segment=record["first_segment"],
            verbose=verbose,
        )
        return segments, time.perf_counter() - t0

    # -- the loop --------------------------------------------------------------------

    def run(self, initial_trajectories):
        """Run the rounds (resuming from ``out``) and fit the final simulator.

        Parameters
        ----------
        initial_trajectories : mdtraj.Trajectory or list of mdtraj.Trajectory
            The MD to start from, saved every ``engine.frame_interval`` (the
            simulator's lag time is counted in frames of all trajectories alike).
            Not modified.

        Returns
        -------
        result : Bunch
            ``trajectories``: all MD, the initial trajectories then every segment
            in the order run; ``features``: their features; ``rounds``: the record
            of every round (a dict, as in ``out``): the chosen ``starts``
            (trajectory and frame indices into ``trajectories``), their ``bins``,
            ``bin_centres`` (latent), ``scores`` and ``score_name`` (why they were
            chosen), the simulator's ``lagtime_frames``, ``timescales_ps`` and
            ``score``, ``md_time_ns`` (all MD after the round), ``new_md_time_ns``
            and wall times; ``simulator``: the simulator fitted on all MD;
            ``md_time_ns``, ``initial_md_time_ns``, ``new_md_time_ns``.

        Raises
        ------
        TypeError, ValueError
            Invalid trajectories (no frames, another number of atoms than the
            engine's system), features the simulator refuses, or an ``out``
            directory that holds a run with other settings.
        """
        from ._molecules import _check_md

        initial, _ = _check_md(initial_trajectories, "initial_trajectories")
        topology = getattr(self.engine, "topology", None)
        if topology is not None:
            for i, t in enumerate(initial):
                if t.n_atoms != topology.n_atoms:
                    raise ValueError(
                        f"initial_trajectories[{i}] has {t.n_atoms} atoms; the "
                        f"engine's system has {topology.n_atoms}."
                    )
        root = self._root_seed(initial)
        featurize = self._featurize_with(initial[0])
        trajectories = list(initial)
        features = [featurize(t) for t in trajectories]
        dt_ns = float(self.engine.frame_interval) * 1e-3
        initial_ns = sum(t.n_frames - 1 for t in initial) * dt_ns
        segment_ns = self.segment_length * dt_ns
        rounds = []
        for r in range(self.n_rounds):
            rounds.append(self._round(r, root, trajectories, features, featurize))
        fit_seed = _seeds(root, self.n_rounds, 1)[0]
        self._log(
            f"final fit on all MD: {len(trajectories)} trajectories, "
            f"{initial_ns + len(rounds) * self.n_segments * segment_ns:.4g} ns"
        )
        sim, fit_s = self._fit(features, trajectories, fit_seed, self.fit_decoder)
        self._log(f"  fitted in {fit_s:.1f} s")
        new_ns = len(rounds) * self.n_segments * segment_ns
        return Bunch(
            trajectories=trajectories,
            features=features,
            rounds=rounds,
            simulator=sim,
            md_time_ns=initial_ns + new_ns,
            initial_md_time_ns=initial_ns,
            new_md_time_ns=new_ns,
        )

    def _round(self, r, root, trajectories, features, featurize):
        dt_ns = float(self.engine.frame_interval) * 1e-3
        path = None if self.out is None else self.out / _round_file(r)
        record = _read_json(path) if path is not None and path.exists() else None
        label = f"round {r + 1}/{self.n_rounds} [{self.strategy}]"
        md_before = sum(t.n_frames - 1 for t in trajectories) * dt_ns
        if record is not None and record.get("first_segment") != r * self.n_segments:
            raise ValueError(
                f"{str(path)!r} does not belong to this run (its segments start at "
                f"{record.get('first_segment')}, expected {r * self.n_segments}); "
                "use another directory."
            )
        if record is None:
            fit_seed, gen_seed, choice_seed = _seeds(root, r, 3)
            self._log(
                f"{label}: fitting the simulator on {len(trajectories)} "
                f"trajectories, {md_before:.4g} ns of MD"
            )
            sim, fit_s = self._fit(features, trajectories, fit_seed, False)
            info = self._describe(sim, features)
            t0 = time.perf_counter()
            choice = self._choose(sim, features, (gen_seed, choice_seed))
            choose_s = time.perf_counter() - t0
            record = {
                "round": r,
                "status": "planned",
                "strategy": self.strategy,
                "first_segment": r * self.n_segments,
                "md_time_ns_before": md_before,
                "simulator": info,
                "starts": choice.starts.tolist(),
                "bins": choice.bins.tolist(),
                "bin_centres": choice.bin_centres.tolist(),
                "scores": choice.scores.tolist(),
                "score_name": choice.score_name,
                "edges": [e.tolist() for e in choice.edges],
                "seeds": {
                    "fit": fit_seed,
                    "generation": gen_seed,
                    "choice": choice_seed,
                },
                "wall_time_s": {"fit": fit_s, "choose": choose_s},
            }
            if path is not None:
                _write_json(path, record)
            score = info.get("score")
            self._log(
                f"  fitted in {fit_s:.1f} s"
                + ("" if score is None else f", score {score:.3f}")
                + f"; chose {len(choice.starts)} starts in "
                f"{len({tuple(b) for b in record['bins']})} bins ({choice.score_name} "
                f"{np.max(choice.scores):.3g} to {np.min(choice.scores):.3g})"
            )
        elif record.get("status") == "done":
            self._log(f"{label}: done earlier; reading its segments from {self.out}")
        else:
            self._log(f"{label}: resuming its MD")
        done = record.get("status") == "done"
        segments, md_s = self._run_md(trajectories, record, self.verbose and not done)
        for seg in segments:
            trajectories.append(seg)
            features.append(featurize(seg))
        new_ns = len(segments) * self.segment_length * dt_ns
        if not done:
            record = {
                **record,
                "status": "done",
                "new_md_time_ns": new_ns,
                "md_time_ns": md_before + new_ns,
                "segments": [
                    f"{_MD_DIR}/segment_{record['first_segment'] + i:05d}.trr"
                    for i in range(len(segments))
                ]
                if self.out is not None
                else None,
                "wall_time_s": {**record["wall_time_s"], "md": md_s},
            }
            if path is not None:
                _write_json(path, record)
            self._log(
                f"  +{new_ns:.4g} ns of MD (total {md_before + new_ns:.4g} ns) in "
                f"{md_s:.1f} s"
            )
        return record


# -- command line -------------------------------------------------------------------


def add_cli_parser(subparsers):
    """Add the ``adaptive`` command to the subparsers of the ``sklss`` command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The command's parser; its ``func`` default is :func:`run_cli`.
    """
    parser = subparsers.add_parser(
        "adaptive",
        help="adaptive sampling: a latent space simulator chooses where OpenMM "
        "runs next",
        description="Fit a latent space simulator on the initial MD, choose "
        "starting frames with a strategy, run short OpenMM segments from them, "
        "refit on all MD and repeat. Everything goes to --out (MD segments, one "
        "JSON record per round, the final simulator as simulator.sklss); rerunning "
        "the same command resumes an interrupted run, and a larger --rounds "
        "extends a finished one. The system is alanine dipeptide (the data set's "
        "force field and implicit solvent) unless --system-xml is given.",
    )
    parser.add_argument(
        "initial",
        nargs="+",
        help="initial MD trajectory file(s), any format mdtraj reads",
    )
    parser.add_argument(
        "--top",
        default=None,
        help="topology of the initial MD (a PDB file); default: the system's "
        "topology (required with --system-xml)",
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--segments", type=int, default=10, help="MD segments per round (default 10)"
    )
    parser.add_argument(
        "--segment-length",
        type=float,
        default=20.0,
        help="length of each segment in ps (default 20)",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="lss",
        help="how new MD starts are chosen (default: lss)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of MD and models")
    parser.add_argument(
        "--system-xml",
        default=None,
        help="an OpenMM System serialized with openmm.XmlSerializer (with --top)",
    )
    parser.add_argument("--temperature", type=float, default=None, help="K (300)")
    parser.add_argument("--friction", type=float, default=None, help="1/ps (1)")
    parser.add_argument("--timestep", type=float, default=None, help="fs (2)")
    parser.add_argument(
        "--steps-per-frame", type=int, default=None, help="steps per frame (500)"
    )
    parser.add_argument("--platform", default="Reference", help="OpenMM platform")
    parser.add_argument(
        "--lagtime", type=int, default=10, help="simulator lag time in frames (10)"
    )
    parser.add_argument(
        "--n-components", type=int, default=2, help="latent dimension (2)"
    )
    parser.add_argument(
        "--hidden-size", type=int, default=100, help="width of the 2 hidden layers"
    )
    parser.add_argument(
        "--max-epochs", type=int, default=100, help="training epochs of each network"
    )
    parser.add_argument(
        "--n-models", type=int, default=4, help="models of the ensemble (disagreement)"
    )
    parser.add_argument("--n-bins", type=int, default=20, help="bins per coordinate")
    parser.add_argument(
        "--fit-decoder",
        action="store_true",
        help="also fit a decoder in the final simulator (structures of heavy atoms)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run_cli)
    return parser


def _cli_engine(args):
    from .md import OpenMMEngine

    settings = {
        "temperature": args.temperature,
        "friction": args.friction,
        "timestep": args.timestep,
        "steps_per_frame": args.steps_per_frame,
    }
    settings = {k: v for k, v in settings.items() if v is not None}
    settings.update(platform=args.platform, random_state=args.seed)
    if args.system_xml is None:
        return OpenMMEngine.alanine_dipeptide(**settings)
    import openmm
    from openmm import app

    if args.top is None:
        raise ValueError("--system-xml needs --top, the PDB file of its atoms.")
    with open(args.system_xml) as fh:
        try:
            system = openmm.XmlSerializer.deserialize(fh.read())
        except Exception as exc:
            raise ValueError(
                f"--system-xml {args.system_xml!r} is not a serialized OpenMM "
                f"System: {exc}"
            ) from None
    if not isinstance(system, openmm.System):
        raise ValueError(
            f"--system-xml {args.system_xml!r} holds a {type(system).__name__}, not "
            "an OpenMM System."
        )
    return OpenMMEngine(system, app.PDBFile(args.top).topology, **settings)


def _cli_simulator(args, engine):
    from ._cwgan import CWGANDecoder
    from ._ensemble import SimulatorEnsemble
    from ._mdn import MDNPropagator
    from ._molecules import AlignedCoordinates
    from ._simulator import LatentSpaceSimulator
    from ._srv import SRVTransformer

    hidden = (check_int(args.hidden_size, "--hidden-size", 1),) * 2
    epochs = check_int(args.max_epochs, "--max-epochs", 1)
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(
            n_components=check_int(args.n_components, "--n-components", 1),
            hidden_layer_sizes=hidden,
            max_epochs=epochs,
        ),
        propagator=MDNPropagator(hidden_layer_sizes=hidden, max_epochs=epochs),
        decoder=CWGANDecoder(max_epochs=epochs) if args.fit_decoder else None,
        lagtime=check_int(args.lagtime, "--lagtime", 1),
        coordinates=AlignedCoordinates("element != H"),
        timestep=float(engine.frame_interval),
        random_state=args.seed,
    )
    if args.strategy != "disagreement":
        return sim
    return SimulatorEnsemble(
        sim, n_models=check_int(args.n_models, "--n-models", 2), random_state=args.seed
    )


def run_cli(args):
    """Run ``sklss adaptive`` with the parsed arguments of :func:`add_cli_parser`.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
        The exit status, 0.
    """
    import warnings

    import mdtraj as md
    from sklearn.exceptions import ConvergenceWarning

    from ._serialization import save

    engine = _cli_engine(args)
    frames = args.segment_length / engine.frame_interval
    segment_length = int(round(frames))
    if segment_length < 1 or abs(frames - segment_length) > 1e-6:
        raise ValueError(
            f"--segment-length must be a positive multiple of the frame interval "
            f"({engine.frame_interval:g} ps); got {args.segment_length:g} ps."
        )
    top = args.top if args.top is not None else engine.topology
    initial = []
    for path in args.initial:
        try:
            initial.append(md.load(path, top=top))
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"cannot read the initial MD {path!r}: {exc}") from None
    out = check_path(args.out, "--out")
    sampler = AdaptiveSampler(
        _cli_simulator(args, engine),
        engine,
        n_rounds=args.rounds,
        n_segments=args.segments,
        segment_length=segment_length,
        strategy=args.strategy,
        n_bins=args.n_bins,
        fit_decoder=args.fit_decoder,
        out=out,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    with warnings.catch_warnings():
        # Fixed training budgets; the epochs run are part of each fitted model.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        result = sampler.run(initial)
    model_path = out / "simulator.sklss"
    save(result.simulator, model_path)
    if not args.quiet:
        for rec in result.rounds:
            print(
                f"round {rec['round'] + 1}: {len(rec['starts'])} segments, MD total "
                f"{rec['md_time_ns']:.4g} ns; {rec['score_name']} of the chosen bins "
                f"{max(rec['scores']):.3g} to {min(rec['scores']):.3g}"
            )
    print(
        f"sklss adaptive: {result.md_time_ns:.4g} ns of MD in "
        f"{len(result.trajectories)} trajectories ({result.new_md_time_ns:.4g} ns "
        f"new); records and segments in {out}, final simulator {model_path}"
    )
    return 0
