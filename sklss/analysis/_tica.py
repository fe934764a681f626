"""Comparison of reference and generated data on the reference's TICA coordinates."""

import numpy as np
from sklearn.utils import Bunch

from .._data import check_bins, check_int, check_lagtime, histogram_edges
from ._common import _free_energy, _trajectories
from ._free_energy import _compare_histograms

# Products of features (covariances) stay finite floats below this magnitude.
_MAX_VALUE = 1e100


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

    Raises
    ------
    TypeError
        ``reference`` or ``generated`` is not numeric, or ``lagtime``,
        ``n_components``, ``bins`` or ``min_count`` is not an int.
    ValueError
        The data are ragged, complex, empty or not finite, hold values beyond
        1e100, or their features differ; ``lagtime`` is below 1 or not shorter
        than the longest reference trajectory; ``n_components`` is below 1 or
        exceeds the features; ``bins < 1`` or too many for the memory;
        ``min_count < 1``; the reference is constant; no bin holds
        ``min_count`` reference samples, or ``generated`` visits none of them.
    """
    from deeptime.decomposition import TICA
    from deeptime.numeric import ZeroRankError

    ref, ref_is_list = _trajectories(reference, "reference")
    gen, gen_is_list = _trajectories(generated, "generated")
    if ref[0].shape[1] != gen[0].shape[1]:
        raise ValueError(
            "reference and generated must have the same features; got "
            f"{ref[0].shape[1]} and {gen[0].shape[1]}."
        )
    for data, label in ((ref, "reference"), (gen, "generated")):
        largest = max(float(np.abs(t).max()) for t in data)
        if largest > _MAX_VALUE:
            raise ValueError(
                f"{label} holds values up to {largest:.3g}; their covariances would "
                f"overflow beyond ±{_MAX_VALUE:g}. Rescale the features."
            )
    n_features = ref[0].shape[1]
    lagtime = check_lagtime(lagtime, trajectories=ref, data_name="reference")
    n_components = check_int(n_components, "n_components", 1)
    if n_components > n_features:
        raise ValueError(
            f"n_components must be <= the {n_features} features of reference; got "
            f"{n_components}."
        )
    shown = min(2, n_components)
    bins, _ = check_bins(bins, n_dims=shown, n_arrays=8, allow_edges=False)
    min_count = check_int(min_count, "min_count", 1)
    try:
        model = TICA(lagtime=lagtime, dim=n_components).fit(ref).fetch_model()
    except ZeroRankError:
        raise ValueError(
            "reference has no fluctuations to analyse: its instantaneous covariance "
            "has rank zero (the features are constant)."
        ) from None
    ref_proj = [model.transform(t) for t in ref]
    gen_proj = [model.transform(t) for t in gen]
    shown = min(shown, ref_proj[0].shape[1])
    both = np.concatenate(ref_proj + gen_proj)[:, :shown]
    if not np.all(np.isfinite(both)):
        raise ValueError(
            "The TICA projections of reference and generated are not finite; "
            "rescale the features (their values are too large or too small)."
        )
    edges = [
        histogram_edges(bins, None, both[:, i], "reference and generated")
        for i in range(shown)
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
