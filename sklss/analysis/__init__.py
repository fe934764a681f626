"""Validation metrics of latent space simulators.

The metrics of the paper (Sidky, Chen and Ferguson, section 3) that compare generated
trajectories with the molecular dynamics they were trained on: free-energy profiles
along latent coordinates, relaxation times from autocorrelation functions and
implied time scales of Markov state models, TICA projections, RMSD and radius of
gyration, transitions between metastable regions and, for peptides, Ramachandran
free-energy surfaces.

Every input follows the package's data model: one trajectory (a 2-D array
``(n_frames, n_features)``) or a list of trajectories. Lags and time scales are in
frames, free energies in units of kT. Statistical errors come from splitting the
data into ``n_blocks`` contiguous blocks of equal length (frames taken in order,
trajectory after trajectory); a block never joins two trajectories for time
correlations. The standard error of a quantity is
``std(block estimates, ddof=1) / sqrt(n_blocks)``, the standard error of the mean of
independent block estimates (Flyvbjerg and Petersen, 1989), which assumes blocks
much longer than the correlation time.

The figures of these metrics are drawn by :mod:`sklss.plotting`.
"""

import warnings

from ._free_energy import block_average, free_energy_profile, profile_rmse
from ._kinetics import (
    autocorrelation,
    fit_relaxation_times,
    msm_timescales,
    relaxation_times,
    total_variation,
)

# Deprecated alias, importable for one more release but not part of __all__.
from ._kinetics import implied_timescales as implied_timescales
from ._ramachandran import (
    backbone_torsions,
    compare_ramachandran,
    ramachandran_free_energy,
)
from ._stationarity import compare_stationary_distributions
from ._structure import compare_bond_lengths, radius_of_gyration, rmsd_to_reference
from ._tica import tica_comparison
from ._transitions import assign_cores, count_transitions, metastable_cores
from ._uncertainty import ensemble_estimate, populations

__all__ = [
    "free_energy_profile",
    "profile_rmse",
    "block_average",
    "autocorrelation",
    "relaxation_times",
    "fit_relaxation_times",
    "msm_timescales",
    "total_variation",
    "compare_stationary_distributions",
    "tica_comparison",
    "rmsd_to_reference",
    "radius_of_gyration",
    "compare_bond_lengths",
    "assign_cores",
    "count_transitions",
    "metastable_cores",
    "backbone_torsions",
    "ramachandran_free_energy",
    "compare_ramachandran",
    "populations",
    "ensemble_estimate",
]


def __getattr__(name):
    from .. import plotting

    if name in plotting._FORMERLY_IN_ANALYSIS:
        warnings.warn(
            f"sklss.analysis.{name} moved to sklss.plotting.{name}; the alias will "
            "be removed in the next release.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(plotting, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
