"""Figures of the validation metrics of :mod:`sklss.analysis`.

Each ``plot_*`` function draws on a given matplotlib ``ax`` (or a new figure) and
returns the axes. matplotlib is imported only when a figure is drawn.
"""

import numpy as np

from .analysis import profile_rmse

# The figures that sklss.analysis used to hold; it still serves them, deprecated.
_FORMERLY_IN_ANALYSIS = (
    "plot_free_energy_profile",
    "plot_autocorrelation",
    "plot_tica_comparison",
    "plot_distributions",
    "plot_transitions",
    "plot_ramachandran",
)

__all__ = [
    *_FORMERLY_IN_ANALYSIS,
    "plot_training_history",
    "plot_bond_lengths",
    "plot_ensemble_estimate",
    "plot_four_well",
]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_free_energy_profile(*profiles, labels=None, align=True, ax=None):
    """Plot free-energy profiles with their standard errors as shaded bands.

    Parameters
    ----------
    *profiles : Bunch
        Results of :func:`~sklss.analysis.free_energy_profile` (the same bins if
        ``align``).
    labels : list of str, default=None
        Legend entries.
    align : bool, default=True
        Shift every profile after the first onto the first (see
        :func:`~sklss.analysis.profile_rmse`).
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


def plot_autocorrelation(*results, labels=None, dt=1.0, ax=None):
    """Plot autocorrelation functions with their exponential fits (dashed).

    Parameters
    ----------
    *results : Bunch
        Results of :func:`~sklss.analysis.relaxation_times`.
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


def plot_tica_comparison(result, *, labels=("MD", "LSS"), axes=None):
    """Side-by-side free-energy surfaces on the first two TICA coordinates.

    Parameters
    ----------
    result : Bunch
        Result of :func:`~sklss.analysis.tica_comparison` with at least two
        coordinates.
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


def plot_ramachandran(surface, *, title=None, vmax=None, ax=None):
    """Draw a Ramachandran free-energy surface in degrees.

    Parameters
    ----------
    surface : Bunch
        Result of :func:`~sklss.analysis.ramachandran_free_energy` (or
        ``compare_ramachandran(...).reference`` / ``.generated``).
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


def plot_training_history(estimator, *, keys=("loss", "val_loss"), ax=None):
    """Plot per-epoch training curves from an estimator's ``history_``.

    Parameters
    ----------
    estimator : fitted estimator
        An sklss network (:class:`~sklss.SRVTransformer`,
        :class:`~sklss.MDNPropagator`, :class:`~sklss.CWGANDecoder`) or anything
        with a ``history_`` list of per-epoch dicts.
    keys : sequence of str, default=("loss", "val_loss")
        Entries of the history drawn, one line each; keys that no epoch recorded
        are skipped (e.g. ``val_loss`` without a validation split). For the
        decoder, ``("wasserstein",)`` is the critic's estimate of the Wasserstein
        distance.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure if ``None``.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    history = getattr(estimator, "history_", None)
    if history is None:
        raise TypeError(
            f"estimator must be fitted and have a history_; {type(estimator).__name__} "
            "has none."
        )
    ax = _axes(ax)
    epochs = np.arange(1, len(history) + 1)
    for key in keys:
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            y = [np.nan if v is None else float(v) for v in values]
            ax.plot(epochs, y, label=key)
    ax.set_xlabel("epoch")
    if ax.get_lines():
        ax.legend()
    return ax


def plot_bond_lengths(result, *, labels=("reference", "generated"), ax=None):
    """Mean ± standard deviation of each bond length, reference next to generated.

    Parameters
    ----------
    result : Bunch
        Result of :func:`~sklss.analysis.compare_bond_lengths`.
    labels : (str, str), default=("reference", "generated")
        Legend entries, e.g. ``("MD", "LSS")``.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure if ``None``.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    ax = _axes(ax)
    x = np.arange(len(result.labels))
    ax.errorbar(
        x - 0.1, result.reference_mean, result.reference_std, fmt="o", label=labels[0]
    )
    ax.errorbar(
        x + 0.1, result.generated_mean, result.generated_std, fmt="s", label=labels[1]
    )
    ax.set_xticks(x, result.labels, rotation=90, fontsize=7)
    ax.set_ylabel("bond length / nm (mean ± std)")
    ax.legend()
    return ax


def plot_ensemble_estimate(estimate, x=None, *, label=None, truth=None, ax=None):
    """An ensemble estimate with its interval as a band (or error bars).

    Parameters
    ----------
    estimate : Bunch
        Result of :func:`~sklss.analysis.ensemble_estimate` for an array-valued
        observable (a profile: drawn as a line with a shaded band) or a few values
        (drawn as points with error bars).
    x : array-like, default=None
        Positions of the values (e.g. ``profile.bin_centers``); their indices if
        ``None``.
    label : str, default=None
        Legend entry.
    truth : array-like, default=None
        Reference values to draw as black crosses (e.g. exact populations).
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure if ``None``.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import ensemble_estimate
    >>> from sklss.plotting import plot_ensemble_estimate
    >>> runs = [np.random.default_rng(k).normal(size=(500, 1)) for k in range(4)]
    >>> est = ensemble_estimate(lambda t: np.concatenate(t)[:, 0][:3], runs)
    >>> ax = plot_ensemble_estimate(est, label="ensemble")
    """
    ax = _axes(ax)
    value = np.atleast_1d(estimate.value)
    low, high = np.atleast_1d(estimate.low), np.atleast_1d(estimate.high)
    x = np.arange(len(value)) if x is None else np.asarray(x)
    name = f"{label} " if label else ""
    band = f"{name}{estimate.level:.0%} interval ({estimate.n_models} models)"
    if len(value) > 10:
        line = ax.plot(x, value, label=label)[0]
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.3, label=band)
    else:
        ax.errorbar(
            x, value, yerr=[value - low, high - value], fmt="o", capsize=4, label=band
        )
    if truth is not None:
        ax.plot(x, np.atleast_1d(truth), "kx", label="truth")
    ax.legend()
    return ax


def plot_four_well(comparison, reference, generated, propagator, *, stride, dt=1e-3):
    """The four-well validation of a propagator, in six panels.

    (a) the stationary densities of the reference (Brownian dynamics) and the
    generated runs against the exact Boltzmann density, with their
    total-variation distances; (b) and (e) a stretch of each trajectory on one
    scale; (c) the propagator's learned transition density ``p(x' | x)`` at its
    lag above (f) the exact one of the Smoluchowski equation
    (:func:`~sklss.datasets.four_well_transition_density`), on one colour
    scale; (d) the implied time scales of Markov state models of both.

    Parameters
    ----------
    comparison : Bunch
        The result of :func:`sklss.datasets.compare_four_well` on the two.
    reference : ndarray of shape (n_frames, 1)
        The Brownian dynamics frames the propagator was trained on.
    generated : ndarray of shape (n_frames, 1) or (n_trajectories, n_frames, 1)
        Generated frames (the first trajectory is drawn).
    propagator : MDNPropagator
        The fitted propagator, trained on frames ``stride`` steps apart at lag 1.
    stride : int
        Integration steps between frames (the propagator's lag in steps).
    dt : float, default=1e-3
        The integration time step of :func:`~sklss.datasets.make_four_well`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec

    from .datasets import four_well_boltzmann_density, four_well_transition_density

    generated = np.asarray(generated)
    first = generated if generated.ndim == 2 else generated[0]
    fig = plt.figure(figsize=(15, 8))
    grid = GridSpec(2, 3, figure=fig)
    ax = fig.add_subplot(grid[0, 0])
    edges = comparison.edges
    fine = np.linspace(edges[0], edges[-1], 2001)
    ax.plot(fine, four_well_boltzmann_density(fine), "k-", label="exact")
    centers, width = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    for probabilities, tv, label in (
        (comparison.reference_probabilities, comparison.tv_reference_vs_exact, "BD"),
        (comparison.generated_probabilities, comparison.tv_generated_vs_exact, "MDN"),
    ):
        ax.step(
            centers,
            probabilities / width,
            where="mid",
            label=f"{label} (TV to exact {tv:.3f})",
        )
    ax.set(xlabel="x", ylabel="p(x)", title="(a) stationary distribution")
    ax.legend(fontsize=8)

    n_show = min(1000, len(reference), len(first))
    t = np.arange(n_show) * stride
    top = fig.add_subplot(grid[0, 1])
    bottom = fig.add_subplot(grid[1, 1], sharex=top, sharey=top)
    top.plot(t, np.asarray(reference)[:n_show, 0], lw=0.5, color="C0")
    top.set(ylabel="x", title="(b) Brownian dynamics")
    top.tick_params(labelbottom=False)
    bottom.plot(t, first[:n_show, 0], lw=0.5, color="C1")
    bottom.set(xlabel="time (steps)", ylabel="x", title="(e) MDN, one frame per lag")

    grid_x = np.linspace(-1.1, 1.1, 111)
    learned = propagator.transition_density(grid_x[:, None], grid_x[:, None])
    _, exact = four_well_transition_density(
        np.linspace(grid_x[0], grid_x[-1], len(grid_x) + 1), stride * dt
    )
    vmax = float(np.percentile(exact, 99.5))
    extent = (grid_x[0], grid_x[-1], grid_x[0], grid_x[-1])
    for cell, density, title in (
        (grid[0, 2], learned, f"(c) learned p(x' | x), lag {stride} steps"),
        (grid[1, 2], exact, f"(f) exact p(x' | x), lag {stride} steps"),
    ):
        ax = fig.add_subplot(cell)
        image = ax.imshow(
            density.T,
            origin="lower",
            extent=extent,
            cmap="viridis",
            aspect="auto",
            vmin=0.0,
            vmax=vmax,
        )
        ax.set(xlabel="x (from)", ylabel="x' (to)", title=title)
        fig.colorbar(image, ax=ax, label="density")

    ax = fig.add_subplot(grid[1, 0])
    index = np.arange(len(comparison.timescales_reference))
    for offset, values, label in (
        (-0.2, comparison.timescales_reference * stride, "BD"),
        (0.2, comparison.timescales_generated * stride, "MDN"),
    ):
        bars = ax.bar(index + offset, values, width=0.4, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set(
        xticks=index,
        xticklabels=[f"t{i + 1}" for i in index],
        ylabel="implied time scale (steps)",
        title=f"(d) MSM time scales (lag {stride} steps)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
