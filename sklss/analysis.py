"""Validation metrics of latent space simulators, with figure helpers.

The metrics of the paper (Sidky, Chen and Ferguson, section 3) that compare generated
trajectories with the molecular dynamics they were trained on: free-energy profiles
along latent coordinates, implied time scales from autocorrelation functions, TICA
projections, RMSD and radius of gyration, transitions between metastable regions and,
for peptides, Ramachandran free-energy surfaces.

Every input follows the package's data model: one trajectory (a 2-D array
``(n_frames, n_features)``) or a list of trajectories. Free energies are in units of
kT. Statistical errors come from splitting the data into ``n_blocks`` contiguous
blocks of equal length (frames taken in order, trajectory after trajectory); a
block never joins two trajectories for time correlations. The standard error of a
quantity is ``std(block estimates, ddof=1) / sqrt(n_blocks)``, the standard error of
the mean of independent block estimates (Flyvbjerg and Petersen, 1989), which
assumes blocks much longer than the correlation time.

Each ``plot_*`` function draws on a given matplotlib ``ax`` (or a new figure) and
returns the axes.
"""

import numpy as np
from scipy.optimize import curve_fit
from sklearn.utils import Bunch

from ._data import check_int, check_trajectories

__all__ = [
    "free_energy_profile",
    "profile_rmse",
    "plot_free_energy_profile",
    "autocorrelation",
    "implied_timescales",
    "plot_autocorrelation",
    "tica_comparison",
    "plot_tica_comparison",
    "rmsd_to_reference",
    "radius_of_gyration",
    "block_average",
    "plot_distributions",
    "assign_cores",
    "count_transitions",
    "plot_transitions",
    "backbone_torsions",
    "ramachandran_free_energy",
    "compare_ramachandran",
    "plot_ramachandran",
]


# --------------------------------------------------------------------------- helpers
def _trajectories(X, name):
    trajs = check_trajectories(None, X, reset=False, name=name, n_features_attr=None)
    return [np.asarray(t, dtype=np.float64) for t in trajs], trajs.is_list


def _check_column(trajs, coordinate, name):
    n_features = trajs[0].shape[1]
    coordinate = check_int(coordinate, "coordinate", 0)
    if coordinate >= n_features:
        raise ValueError(
            f"coordinate must be < the number of features of {name} ({n_features}); "
            f"got {coordinate}."
        )
    return coordinate


def _blocks(trajs, n_blocks, min_length=1):
    """Split trajectories (taken in order) into contiguous blocks of equal length.

    Returns a list of ``n_blocks`` lists of segments; a segment is a piece of one
    trajectory, so time correlations never cross a trajectory boundary. Frames left
    over at the end (fewer than ``n_blocks``) are dropped.
    """
    n_blocks = check_int(n_blocks, "n_blocks", 2)
    total = sum(len(t) for t in trajs)
    size = total // n_blocks
    if size < min_length:
        raise ValueError(
            f"n_blocks={n_blocks} blocks of the {total} frames given are shorter than "
            f"the {min_length} frames needed; pass fewer blocks or more data."
        )
    starts = np.cumsum([0] + [len(t) for t in trajs])
    blocks = []
    for k in range(n_blocks):
        lo, hi = k * size, (k + 1) * size
        segments = []
        for t, s in zip(trajs, starts[:-1], strict=True):
            a, b = max(lo, s), min(hi, s + len(t))
            if a < b:
                segments.append(t[a - s : b - s])
        blocks.append(segments)
    return blocks


def _standard_error(block_values):
    block_values = np.asarray(block_values, dtype=np.float64)
    return block_values.std(axis=0, ddof=1) / np.sqrt(len(block_values))


def _free_energy(counts):
    """-ln p in kT with the minimum at 0; NaN where nothing was sampled."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        raise ValueError("No sample falls inside the histogram range.")
    with np.errstate(divide="ignore"):
        f = -np.log(counts / counts.sum())
    f[~np.isfinite(f)] = np.nan
    return f - np.nanmin(f)


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


# ------------------------------------------------------------- free-energy profiles
def free_energy_profile(X, *, coordinate=0, bins=50, range=None, n_blocks=5):
    """Free-energy profile ``F(x) = -ln p(x)`` along one coordinate, with block errors.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories, e.g. latent coordinates ψ.
    coordinate : int, default=0
        Column of ``X`` to profile (0 is ψ1).
    bins : int or array-like, default=50
        Number of equal bins over ``range`` or the bin edges (as in
        :func:`numpy.histogram`). Use the same edges for profiles to be compared.
    range : (float, float), default=None
        Histogram range; ``None`` uses the data's minimum and maximum.
    n_blocks : int, default=5
        Number of contiguous blocks for the standard errors.

    Returns
    -------
    result : Bunch
        ``bin_edges`` (n_bins + 1,), ``bin_centers`` (n_bins,), ``free_energy``
        (n_bins,) in kT shifted so that its minimum is 0 and NaN in empty bins,
        ``standard_error`` (n_bins,) from the blocks' profiles (NaN where a block has
        an empty bin: the error is not defined there), ``counts`` (n_bins,).

    Notes
    -----
    Each block's profile is ``-ln`` of its normalised histogram; the constant
    offset of a profile does not change the spread of the block values in a bin,
    so no alignment of blocks is needed.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import free_energy_profile
    >>> x = np.random.default_rng(0).normal(size=(5000, 1))
    >>> profile = free_energy_profile(x, bins=20)
    >>> profile.free_energy.shape, profile.standard_error.shape
    ((20,), (20,))
    """
    trajs, _ = _trajectories(X, "X")
    coordinate = _check_column(trajs, coordinate, "X")
    values = np.concatenate([t[:, coordinate] for t in trajs])
    counts, edges = np.histogram(values, bins=bins, range=range)
    blocks = _blocks([t[:, coordinate] for t in trajs], n_blocks)
    block_f = []
    for segments in blocks:
        c, _ = np.histogram(np.concatenate(segments), bins=edges)
        with np.errstate(divide="ignore"):
            block_f.append(-np.log(c / c.sum()))
    block_f = np.array(block_f)
    error = _standard_error(np.where(np.isfinite(block_f), block_f, np.nan))
    return Bunch(
        bin_edges=edges,
        bin_centers=0.5 * (edges[1:] + edges[:-1]),
        free_energy=_free_energy(counts),
        standard_error=error,
        counts=counts,
    )


def profile_rmse(reference, other, *, max_free_energy=None):
    """RMSE between two free-energy profiles (or surfaces) after optimal alignment.

    Free energies are defined up to a constant, so ``other`` is shifted by the
    constant ``c`` that minimises ``sum (F_ref - F_other - c)**2`` over the bins
    populated in both, ``c = mean(F_ref - F_other)``; the RMSE is then the standard
    deviation (``ddof=0``) of the difference over those bins.

    Parameters
    ----------
    reference, other : Bunch or array-like
        Results of :func:`free_energy_profile`, :func:`ramachandran_free_energy`
        (anything with a ``free_energy`` attribute) or free-energy arrays of the
        same shape; NaN marks an unpopulated bin.
    max_free_energy : float, default=None
        Also exclude bins where the reference lies more than this many kT above its
        minimum (rarely visited bins are dominated by noise). ``None`` keeps all
        bins populated in both.

    Returns
    -------
    result : Bunch
        ``rmse`` (kT), ``shift`` (the constant added to ``other``), ``n_bins`` (bins
        compared) and ``mask`` (bool array of those bins).

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import profile_rmse
    >>> profile_rmse([0.0, 1.0, np.nan], [2.0, 3.0, 1.0]).rmse
    0.0
    """
    f_ref = np.asarray(getattr(reference, "free_energy", reference), dtype=float)
    f_other = np.asarray(getattr(other, "free_energy", other), dtype=float)
    if f_ref.shape != f_other.shape:
        raise ValueError(
            "reference and other must have the same bins; got free energies of shape "
            f"{f_ref.shape} and {f_other.shape}."
        )
    mask = np.isfinite(f_ref) & np.isfinite(f_other)
    if max_free_energy is not None:
        mask &= f_ref - np.nanmin(f_ref) <= max_free_energy
    if not mask.any():
        raise ValueError("reference and other have no populated bin in common.")
    diff = f_ref[mask] - f_other[mask]
    shift = float(diff.mean())
    return Bunch(
        rmse=float(np.sqrt(np.mean((diff - shift) ** 2))),
        shift=shift,
        n_bins=int(mask.sum()),
        mask=mask,
    )


def _compare_histograms(ref_counts, gen_counts, min_count):
    """RMSE of -ln p over bins the reference populates; count bins never generated."""
    min_count = check_int(min_count, "min_count", 1)
    populated = ref_counts >= min_count
    if not populated.any():
        raise ValueError(
            f"No bin holds min_count={min_count} reference samples; lower min_count "
            "or use fewer bins."
        )
    f_ref = np.where(populated, _free_energy(ref_counts), np.nan)
    result = profile_rmse(f_ref, _free_energy(gen_counts))
    result.n_missing_bins = int(np.sum(populated & (gen_counts == 0)))
    return result


def plot_free_energy_profile(*profiles, labels=None, align=True, ax=None):
    """Plot free-energy profiles with their standard errors as shaded bands.

    Parameters
    ----------
    *profiles : Bunch
        Results of :func:`free_energy_profile` (the same bins if ``align``).
    labels : list of str, default=None
        Legend entries.
    align : bool, default=True
        Shift every profile after the first onto the first (see
        :func:`profile_rmse`).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure if ``None``.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    labels = labels or [None] * len(profiles)
    for i, (profile, label) in enumerate(zip(profiles, labels, strict=True)):
        f = profile.free_energy
        if align and i:
            f = f + profile_rmse(profiles[0], profile).shift
        line = ax.plot(profile.bin_centers, f, label=label)[0]
        se = np.nan_to_num(profile.standard_error)
        ax.fill_between(
            profile.bin_centers, f - se, f + se, color=line.get_color(), alpha=0.3
        )
    ax.set_ylabel("free energy / kT")
    if any(label is not None for label in labels):
        ax.legend()
    return ax


# -------------------------------------------------------------------- time scales
def _correlation_sums(segments, max_lag, center):
    """Per lag: sum over pairs of x(t+τ) x(t), and the number of pairs."""
    frames = np.concatenate(segments)
    mean = frames.mean(axis=0) if center else np.zeros(frames.shape[1])
    sums = np.zeros((max_lag + 1, frames.shape[1]))
    pairs = np.zeros(max_lag + 1)
    for seg in segments:
        x = seg - mean
        n = len(x)
        n_lags = min(max_lag + 1, n)
        nfft = 1 << int(np.ceil(np.log2(2 * n)))
        spectrum = np.fft.rfft(x, n=nfft, axis=0)
        corr = np.fft.irfft(spectrum * spectrum.conj(), n=nfft, axis=0)
        sums[:n_lags] += corr[:n_lags]
        pairs[:n_lags] += n - np.arange(n_lags)
    return sums, pairs, frames


def _autocorrelation(segments, max_lag, center):
    sums, pairs, frames = _correlation_sums(segments, max_lag, center)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / pairs[:, None]) / (sums[0] / pairs[0])


def autocorrelation(X, max_lag, *, center=True):
    """Normalised autocorrelation ``C(τ) = <x(t+τ) x(t)> / <x(t) x(t)>`` per column.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories; pairs are taken within each trajectory.
    max_lag : int
        Largest lag τ, in frames.
    center : bool, default=True
        Subtract the mean of the data first (the usual autocorrelation). SRV
        eigenfunctions have zero mean, for which this equals the paper's formula;
        ``False`` applies the formula to the raw values.

    Returns
    -------
    ndarray of shape (max_lag + 1, n_features)
        ``C(0) = 1``; NaN at lags no trajectory is long enough for.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import autocorrelation
    >>> x = np.random.default_rng(0).normal(size=(1000, 2))
    >>> autocorrelation(x, 10).shape
    (11, 2)
    """
    trajs, _ = _trajectories(X, "X")
    max_lag = check_int(max_lag, "max_lag", 1)
    return _autocorrelation(trajs, max_lag, center)


_EXP_MINUS_2 = float(np.exp(-2.0))


def _fit_timescale(acf, cutoff):
    """Fit exp(-τ/t) to C(τ) on the window described in implied_timescales."""
    lags = np.arange(len(acf))
    finite = np.isfinite(acf)
    below = np.flatnonzero(finite & (acf < cutoff))
    end = below[0] if below.size else np.flatnonzero(finite)[-1]
    end = max(int(end), 1)
    tau, c = lags[1 : end + 1], acf[1 : end + 1]
    if not np.all(np.isfinite(c)):
        return np.nan, end
    if c[0] <= 0:
        return np.nan, end
    guess = -1.0 / np.log(min(c[0], 1 - 1e-12))
    if len(tau) == 1:
        # One point determines the one parameter exactly.
        return guess, end
    popt, _ = curve_fit(
        lambda t, ts: np.exp(-t / ts), tau, c, p0=[guess], bounds=(1e-12, np.inf)
    )
    return float(popt[0]), end


def implied_timescales(
    X, *, max_lag=None, cutoff=_EXP_MINUS_2, n_blocks=5, center=True
):
    """Relaxation time scales from exponential fits of autocorrelation functions.

    For each column ``ψ_i`` (e.g. each SRV coordinate), ``C_i(τ)`` of
    :func:`autocorrelation` is fitted with ``exp(-τ / t_i)`` by least squares, as in
    the paper's Table 1; ``t_i`` is the implied time scale in frames. Standard errors
    come from the fits to ``n_blocks`` contiguous blocks.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories.
    max_lag : int, default=None
        Largest lag computed, in frames. ``None`` uses a tenth of a block's length.
    cutoff : float, default=exp(-2)
        Fit window: lags ``1 .. L`` where ``L`` is the first lag at which ``C``
        falls below ``cutoff`` (included), or ``max_lag`` if it never does. With the
        default the window spans about two time scales, where an exponential is
        well determined and the noisy tail of ``C`` is left out. ``C(0) = 1`` holds
        by construction, so ``t_i`` is the only fitted parameter.
    n_blocks : int, default=5
        Number of contiguous blocks for the standard errors.
    center : bool, default=True
        See :func:`autocorrelation`.

    Returns
    -------
    result : Bunch
        ``timescales`` (n_features,) from all the data, ``standard_error``
        (n_features,), ``block_timescales`` (n_blocks, n_features),
        ``autocorrelation`` (max_lag + 1, n_features), ``lags`` (max_lag + 1,) and
        ``fit_window`` (n_features,), the last lag ``L`` of each fit.

    Notes
    -----
    A time scale longer than about ``max_lag / 2`` is poorly determined: ``C`` has
    not decayed within the computed lags. For a process that is not a single
    exponential the value depends on the window; compare data sets with the same
    ``cutoff`` and ``max_lag``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import implied_timescales
    >>> x = np.random.default_rng(0).normal(size=(5000, 2))
    >>> implied_timescales(x, max_lag=20).timescales.shape
    (2,)
    """
    trajs, _ = _trajectories(X, "X")
    blocks = _blocks(trajs, n_blocks, min_length=3)
    if max_lag is None:
        max_lag = max(1, len(np.concatenate(blocks[0])) // 10)
    max_lag = check_int(max_lag, "max_lag", 1)
    if not 0 < cutoff < 1:
        raise ValueError(f"cutoff must be in (0, 1); got {cutoff}.")
    acf = _autocorrelation(trajs, max_lag, center)
    fits = [_fit_timescale(acf[:, i], cutoff) for i in range(acf.shape[1])]
    block_t = np.array(
        [
            [
                _fit_timescale(a, cutoff)[0]
                for a in _autocorrelation(seg, max_lag, center).T
            ]
            for seg in blocks
        ]
    )
    return Bunch(
        timescales=np.array([t for t, _ in fits]),
        standard_error=_standard_error(block_t),
        block_timescales=block_t,
        autocorrelation=acf,
        lags=np.arange(max_lag + 1),
        fit_window=np.array([w for _, w in fits]),
    )


def plot_autocorrelation(*results, labels=None, dt=1.0, ax=None):
    """Plot autocorrelation functions with their exponential fits (dashed).

    Parameters
    ----------
    *results : Bunch
        Results of :func:`implied_timescales`.
    labels : list of str, default=None
        One name per result (e.g. "MD", "LSS"); columns are numbered ψ1, ψ2, ...
    dt : float, default=1.0
        Time per frame, to label the lag axis in physical units.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure if ``None``.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    labels = labels or [""] * len(results)
    for result, label in zip(results, labels, strict=True):
        for i, t in enumerate(result.timescales):
            name = f"{label} ψ{i + 1}".strip()
            line = ax.plot(result.lags * dt, result.autocorrelation[:, i], label=name)
            ax.plot(
                result.lags * dt,
                np.exp(-result.lags / t),
                "--",
                color=line[0].get_color(),
            )
    ax.set_xlabel("lag")
    ax.set_ylabel("C(τ)")
    ax.legend()
    return ax


# --------------------------------------------------------------------------- TICA
def tica_comparison(
    reference, generated, lagtime, *, n_components=2, bins=50, min_count=20
):
    """Project reference and generated data on the reference's TICA coordinates.

    A :class:`deeptime.decomposition.TICA` model is fitted on ``reference`` only
    and both data sets are projected on its leading coordinates; the free-energy
    surfaces over the first two (or the profile over one) are histogrammed on
    common bins and compared as in :func:`compare_ramachandran`: RMSE after the
    optimal shift over the bins the reference populates (at least ``min_count``
    samples) and the generated data visit, and the number of such bins the
    generated data never visit.

    Parameters
    ----------
    reference, generated : array-like of shape (n_frames, n_features) or list of such
        Features of the MD and generated trajectories (same features).
    lagtime : int
        TICA lag time in frames of ``reference``.
    n_components : int, default=2
        Number of TICA coordinates kept.
    bins : int, default=50
        Bins per coordinate for the free-energy surfaces.
    min_count : int, default=20
        Reference samples a bin needs to count as populated (see
        :func:`compare_ramachandran`).

    Returns
    -------
    result : Bunch
        ``model`` (the fitted deeptime TICA model), ``reference_projection`` and
        ``generated_projection`` (lists mirroring the inputs), ``bin_edges`` (list of
        edges per plotted coordinate), ``free_energy_reference``,
        ``free_energy_generated`` (kT, NaN where empty), ``rmse`` (the
        :func:`profile_rmse` result over populated bins) and ``n_missing_bins``.
    """
    from deeptime.decomposition import TICA

    ref, ref_is_list = _trajectories(reference, "reference")
    gen, gen_is_list = _trajectories(generated, "generated")
    if ref[0].shape[1] != gen[0].shape[1]:
        raise ValueError(
            "reference and generated must have the same features; got "
            f"{ref[0].shape[1]} and {gen[0].shape[1]}."
        )
    lagtime = check_int(lagtime, "lagtime", 1)
    n_components = check_int(n_components, "n_components", 1)
    model = TICA(lagtime=lagtime, dim=n_components).fit(ref).fetch_model()
    ref_proj = [model.transform(t) for t in ref]
    gen_proj = [model.transform(t) for t in gen]
    shown = min(2, n_components, ref_proj[0].shape[1])
    both = np.concatenate(ref_proj + gen_proj)[:, :shown]
    edges = [
        np.linspace(both[:, i].min(), both[:, i].max(), bins + 1) for i in range(shown)
    ]
    counts = [
        np.histogramdd(np.concatenate(p)[:, :shown], bins=edges)[0]
        for p in (ref_proj, gen_proj)
    ]
    surfaces = [_free_energy(c) for c in counts]
    comparison = _compare_histograms(*counts, min_count)
    return Bunch(
        model=model,
        reference_projection=ref_proj if ref_is_list else ref_proj[0],
        generated_projection=gen_proj if gen_is_list else gen_proj[0],
        bin_edges=edges,
        free_energy_reference=surfaces[0],
        free_energy_generated=surfaces[1],
        rmse=comparison,
        n_missing_bins=comparison.n_missing_bins,
    )


def plot_tica_comparison(result, *, labels=("MD", "LSS"), axes=None):
    """Side-by-side free-energy surfaces on the first two TICA coordinates.

    Parameters
    ----------
    result : Bunch
        Result of :func:`tica_comparison` with at least two coordinates.
    labels : (str, str), default=("MD", "LSS")
        Panel titles.
    axes : array of two matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure if ``None``.

    Returns
    -------
    axes : array of matplotlib.axes.Axes
    """
    if len(result.bin_edges) < 2:
        raise ValueError("plot_tica_comparison needs two TICA coordinates.")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True, sharey=True)
    surfaces = (result.free_energy_reference, result.free_energy_generated)
    vmax = np.nanmax(surfaces[0])
    for ax, f, label in zip(axes, surfaces, labels, strict=True):
        mesh = ax.pcolormesh(*result.bin_edges, f.T, vmin=0, vmax=vmax, cmap="viridis")
        ax.set_title(label)
        ax.set_xlabel("TIC 1")
    axes[0].set_ylabel("TIC 2")
    axes[0].figure.colorbar(mesh, ax=list(axes), label="free energy / kT")
    return axes


# ----------------------------------------------------------------------- structure
def _as_md_trajectories(traj, name):
    import mdtraj as md

    items = list(traj) if isinstance(traj, list | tuple) else [traj]
    if not items or not all(isinstance(t, md.Trajectory) for t in items):
        raise TypeError(
            f"{name} must be an mdtraj.Trajectory or a list of them; got "
            f"{type(traj).__name__}."
        )
    return items, isinstance(traj, list | tuple)


def rmsd_to_reference(traj, reference, *, atom_indices=None, frame=0):
    """RMSD (nm) of every frame to a reference structure after optimal superposition.

    Parameters
    ----------
    traj : mdtraj.Trajectory or list of mdtraj.Trajectory
        Structures (e.g. decoded LSS frames or MD).
    reference : mdtraj.Trajectory
        Reference structure (e.g. a native state), same atoms as ``traj`` or as
        ``traj`` restricted to ``atom_indices``.
    atom_indices : array-like of int, default=None
        Atoms used for superposition and RMSD (e.g. Cα); ``None`` uses all.
    frame : int, default=0
        Frame of ``reference`` used.

    Returns
    -------
    ndarray of shape (n_frames,) or list of such
        Mirrors ``traj``.
    """
    import mdtraj as md

    trajs, is_list = _as_md_trajectories(traj, "traj")
    if not isinstance(reference, md.Trajectory):
        raise TypeError(
            f"reference must be an mdtraj.Trajectory; got {type(reference).__name__}."
        )
    out = []
    for t in trajs:
        ref = reference
        if atom_indices is not None:
            t = t.atom_slice(atom_indices)
            if reference.n_atoms != t.n_atoms:
                ref = reference.atom_slice(atom_indices)
        if ref.n_atoms != t.n_atoms:
            raise ValueError(
                f"reference has {ref.n_atoms} atoms but traj has {t.n_atoms} (after "
                "atom_indices)."
            )
        out.append(md.rmsd(t, ref, frame=frame).astype(np.float64))
    return out if is_list else out[0]


def radius_of_gyration(traj, *, atom_indices=None):
    """Radius of gyration (nm) of every frame, all atoms weighted equally.

    Parameters
    ----------
    traj : mdtraj.Trajectory or list of mdtraj.Trajectory
        Structures.
    atom_indices : array-like of int, default=None
        Atoms included (e.g. Cα or heavy atoms); ``None`` uses all.

    Returns
    -------
    ndarray of shape (n_frames,) or list of such
        Mirrors ``traj``.
    """
    import mdtraj as md

    trajs, is_list = _as_md_trajectories(traj, "traj")
    out = []
    for t in trajs:
        if atom_indices is not None:
            t = t.atom_slice(atom_indices)
        out.append(md.compute_rg(t).astype(np.float64))
    return out if is_list else out[0]


def block_average(values, *, n_blocks=5):
    """Mean of a time series with its block standard error.

    Parameters
    ----------
    values : array-like of shape (n_frames,) or list of such
        Per-frame values (e.g. from :func:`radius_of_gyration`), one array per
        trajectory.
    n_blocks : int, default=5
        Number of contiguous blocks.

    Returns
    -------
    result : Bunch
        ``mean``, ``standard_error``, ``std`` (the spread of the values) and
        ``block_means`` (n_blocks,).

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import block_average
    >>> block_average(np.arange(10.0)).block_means
    array([0.5, 2.5, 4.5, 6.5, 8.5])
    """
    if isinstance(values, list | tuple) and all(np.ndim(v) == 1 for v in values):
        arrays = [np.asarray(v, dtype=np.float64)[:, None] for v in values]
    else:
        arrays = [np.asarray(values, dtype=np.float64).reshape(-1, 1)]
    trajs, _ = _trajectories(arrays if len(arrays) > 1 else arrays[0], "values")
    blocks = _blocks(trajs, n_blocks)
    means = np.array([np.concatenate(b)[:, 0].mean() for b in blocks])
    data = np.concatenate(trajs)[:, 0]
    return Bunch(
        mean=float(data.mean()),
        standard_error=float(_standard_error(means)),
        std=float(data.std()),
        block_means=means,
    )


def plot_distributions(*values, labels=None, bins=50, xlabel=None, ax=None):
    """Overlaid normalised histograms, e.g. of RMSD or radius of gyration.

    Parameters
    ----------
    *values : array-like or list of array-like
        One data set per histogram (lists of per-trajectory arrays are joined).
    labels : list of str, default=None
        Legend entries.
    bins : int, default=50
        Number of common bins over the joint range.
    xlabel : str, default=None
        Axis label, e.g. ``"Rg / nm"``.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure if ``None``.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    data = [
        np.concatenate([np.ravel(v) for v in d])
        if isinstance(d, list | tuple)
        else np.ravel(d)
        for d in values
    ]
    edges = np.histogram_bin_edges(np.concatenate(data), bins=bins)
    labels = labels or [None] * len(data)
    for d, label in zip(data, labels, strict=True):
        ax.hist(d, bins=edges, density=True, histtype="step", label=label)
    ax.set_xlabel(xlabel or "")
    ax.set_ylabel("probability density")
    if any(label is not None for label in labels):
        ax.legend()
    return ax


# --------------------------------------------------------------------- transitions
def _check_cores(cores, n_features):
    """Each core: a box (n_features, 2) of (low, high) or a list of such boxes."""
    if not isinstance(cores, list | tuple) or len(cores) < 2:
        raise ValueError(
            f"cores must be a list of at least two metastable cores; got {cores!r}."
        )
    checked = []
    for i, core in enumerate(cores):
        boxes = np.asarray(core, dtype=np.float64)
        if boxes.ndim == 1 and n_features == 1:
            boxes = boxes[None, None, :]
        elif boxes.ndim == 2:
            boxes = boxes[None]
        if boxes.ndim != 3 or boxes.shape[1:] != (n_features, 2):
            raise ValueError(
                f"cores[{i}] must be a box of shape ({n_features}, 2) (low, high per "
                f"feature) or a list of such boxes; got shape {np.shape(core)}."
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


def plot_transitions(x, core_trajectory, *, dt=1.0, ax=None):
    """Plot a coordinate over time coloured by the core last visited.

    Parameters
    ----------
    x : array-like of shape (n_frames,)
        The coordinate of one trajectory.
    core_trajectory : array-like of int of shape (n_frames,)
        Its core assignment (one entry of ``count_transitions(...).core_trajectories``).
    dt : float, default=1.0
        Time per frame.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure if ``None``.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    x = np.ravel(x)
    states = np.asarray(core_trajectory)
    if len(x) != len(states):
        raise ValueError(
            f"x and core_trajectory must have the same length; got {len(x)} and "
            f"{len(states)}."
        )
    t = np.arange(len(x)) * dt
    ax.plot(t, x, color="0.7", lw=0.5)
    ax.scatter(t, x, c=states, s=2, cmap="tab10", vmin=-1, vmax=9)
    ax.set_xlabel("time")
    return ax


# ----------------------------------------------------------------- Ramachandran
def backbone_torsions(traj):
    """Backbone (φ, ψ) of the first residue that has both, in radians.

    Parameters
    ----------
    traj : mdtraj.Trajectory or list of mdtraj.Trajectory
        Peptide structures (for alanine dipeptide, the alanine's φ and ψ).

    Returns
    -------
    ndarray of shape (n_frames, 2) or list of such
        Mirrors ``traj``.
    """
    import mdtraj as md

    trajs, is_list = _as_md_trajectories(traj, "traj")
    out = []
    for t in trajs:
        phi_idx, phi = md.compute_phi(t)
        psi_idx, psi = md.compute_psi(t)
        # φ of residue i is C(i-1)-N-CA-C, ψ is N-CA-C-N(i+1): match on N and CA.
        pairs = [
            (i, j)
            for i, a in enumerate(phi_idx)
            for j, b in enumerate(psi_idx)
            if a[1] == b[0] and a[2] == b[1]
        ]
        if not pairs:
            raise ValueError("traj has no residue with both a φ and a ψ torsion.")
        i, j = pairs[0]
        out.append(np.column_stack([phi[:, i], psi[:, j]]).astype(np.float64))
    return out if is_list else out[0]


def _angles(X, name):
    import mdtraj as md

    if isinstance(X, md.Trajectory) or (
        isinstance(X, list | tuple) and X and isinstance(X[0], md.Trajectory)
    ):
        X = backbone_torsions(X)
    trajs, _ = _trajectories(X, name)
    if trajs[0].shape[1] != 2:
        raise ValueError(
            f"{name} must hold two columns (φ, ψ) in radians or be an "
            f"mdtraj.Trajectory; got {trajs[0].shape[1]} columns."
        )
    # Wrap into [-π, π): float32 torsions can land just beyond ±π.
    return (np.concatenate(trajs) + np.pi) % (2 * np.pi) - np.pi


def ramachandran_free_energy(X, *, bins=36):
    """Free-energy surface ``F(φ, ψ) = -ln p(φ, ψ)`` in kT on a periodic grid.

    Parameters
    ----------
    X : mdtraj.Trajectory, array-like of shape (n_frames, 2), or list of such
        Structures, or (φ, ψ) in radians.
    bins : int, default=36
        Bins per angle over ``[-π, π]`` (36 gives 10° bins).

    Returns
    -------
    result : Bunch
        ``phi_edges``, ``psi_edges`` (bins + 1,), ``free_energy`` (bins, bins),
        indexed ``[φ bin, ψ bin]``, minimum 0, NaN where empty, and ``counts``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import ramachandran_free_energy
    >>> angles = np.random.default_rng(0).uniform(-np.pi, np.pi, size=(1000, 2))
    >>> ramachandran_free_energy(angles).free_energy.shape
    (36, 36)
    """
    angles = _angles(X, "X")
    bins = check_int(bins, "bins", 2)
    edges = np.linspace(-np.pi, np.pi, bins + 1)
    counts, _, _ = np.histogram2d(angles[:, 0], angles[:, 1], bins=[edges, edges])
    return Bunch(
        phi_edges=edges,
        psi_edges=edges,
        free_energy=_free_energy(counts),
        counts=counts,
    )


def _periodic_labels(mask):
    """Connected components of a 2-D mask on a torus (4-neighbour connectivity)."""
    from scipy.ndimage import label

    labels, n = label(mask)
    parent = list(range(n + 1))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in (
        *zip(labels[0], labels[-1], strict=True),
        *zip(labels[:, 0], labels[:, -1], strict=True),
    ):
        if a and b:
            parent[find(a)] = find(b)
    roots = np.array([find(a) for a in range(n + 1)])
    _, relabelled = np.unique(roots, return_inverse=True)
    return relabelled[labels]


def compare_ramachandran(
    reference,
    generated,
    *,
    bins=36,
    min_count=20,
    basin_cutoff=3.0,
    min_basin_population=0.01,
    missing_ratio=0.1,
):
    """Compare Ramachandran free-energy surfaces of reference and generated data.

    Parameters
    ----------
    reference, generated : mdtraj.Trajectory, array-like (n_frames, 2), or lists
        MD and generated structures, or their (φ, ψ) in radians.
    bins : int, default=36
        Bins per angle.
    min_count : int, default=20
        A bin is *populated* when the reference has at least this many frames in
        it. The RMSE (after the optimal constant shift, see :func:`profile_rmse`)
        runs over populated bins the generated data also visit; populated bins it
        never visits are counted in ``n_missing_bins``. ``-ln p`` estimated from
        ``n`` independent samples has an error of about ``1/sqrt(n)`` kT, so the
        default keeps the reference's own noise near or below 0.2 kT per bin
        (more for correlated frames); the RMSE of two finite samples of the same
        distribution is not zero.
    basin_cutoff : float, default=3.0
        Basins are the connected regions (periodic in φ and ψ) of bins whose
        reference free energy is within this many kT of the minimum.
    min_basin_population : float, default=0.01
        Basins holding less reference probability than this are ignored.
    missing_ratio : float, default=0.1
        A basin is *missing* from the generated ensemble when its generated
        population is below ``missing_ratio`` times its reference population.

    Returns
    -------
    result : Bunch
        ``rmse`` (kT), ``shift``, ``n_bins`` (bins compared), ``n_missing_bins``,
        ``reference`` and ``generated`` (the :func:`ramachandran_free_energy`
        results), ``basins`` (int array (bins, bins), -1 outside basins),
        ``basin_population_reference`` and ``basin_population_generated`` (per
        basin), ``missing_basins`` (indices of missing basins).
    """
    ref = ramachandran_free_energy(reference, bins=bins)
    gen = ramachandran_free_energy(generated, bins=bins)
    comparison = _compare_histograms(ref.counts, gen.counts, min_count)

    components = _periodic_labels(ref.free_energy <= basin_cutoff)
    p_ref = ref.counts / ref.counts.sum()
    p_gen = gen.counts / gen.counts.sum()
    basins = np.full(components.shape, -1)
    pop_ref, pop_gen = [], []
    for c in range(1, components.max() + 1):
        region = components == c
        if p_ref[region].sum() >= min_basin_population:
            basins[region] = len(pop_ref)
            pop_ref.append(float(p_ref[region].sum()))
            pop_gen.append(float(p_gen[region].sum()))
    pop_ref, pop_gen = np.array(pop_ref), np.array(pop_gen)
    return Bunch(
        rmse=comparison.rmse,
        shift=comparison.shift,
        n_bins=comparison.n_bins,
        n_missing_bins=comparison.n_missing_bins,
        reference=ref,
        generated=gen,
        basins=basins,
        basin_population_reference=pop_ref,
        basin_population_generated=pop_gen,
        missing_basins=np.flatnonzero(pop_gen < missing_ratio * pop_ref),
    )


def plot_ramachandran(surface, *, title=None, vmax=None, ax=None):
    """Draw a Ramachandran free-energy surface in degrees.

    Parameters
    ----------
    surface : Bunch
        Result of :func:`ramachandran_free_energy` (or ``compare_ramachandran(...)
        .reference`` / ``.generated``).
    title : str, default=None
        Panel title, e.g. "MD" or "LSS".
    vmax : float, default=None
        Upper end of the colour scale in kT (use one value for panels compared).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure if ``None``.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    mesh = ax.pcolormesh(
        np.degrees(surface.phi_edges),
        np.degrees(surface.psi_edges),
        surface.free_energy.T,
        vmin=0,
        vmax=vmax,
        cmap="viridis",
    )
    ax.figure.colorbar(mesh, ax=ax, label="free energy / kT")
    ax.set_xlabel("φ / degree")
    ax.set_ylabel("ψ / degree")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return ax
