"""Example systems and real MD data for latent space simulators.

Functions are imported lazily: ``load_alanine_dipeptide`` needs OpenMM (the ``md``
extra) only when it has to generate data.
"""

from .._lazy import lazy_attributes

_LAZY = {
    "make_four_well": "._four_well",
    "compare_four_well": "._four_well",
    "four_well_bin_probabilities": "._four_well",
    "four_well_potential": "._four_well",
    "four_well_boltzmann_density": "._four_well",
    "four_well_transition_matrix": "._four_well",
    "four_well_transition_density": "._four_well",
    "make_swissroll": "._swissroll",
    "swissroll_transition_matrix": "._swissroll",
    "make_metastable_hmm": "._hidden_markov",
    "metastable_hmm_transition_matrix": "._hidden_markov",
    "load_alanine_dipeptide": "._alanine",
    "get_data_home": "._alanine",
    "measure_md_speed": "._alanine",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
