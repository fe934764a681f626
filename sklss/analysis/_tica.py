"""Comparison of reference and generated data on the reference's TICA coordinates."""

import numpy as np
from sklearn.utils import Bunch

from .._data import check_int
from ._common import _free_energy, _trajectories
from ._free_energy import _compare_histograms


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
