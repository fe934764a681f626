"""sklss: molecular latent space simulators as scikit-learn estimators.

A latent space simulator learns three networks from molecular dynamics data: an
encoder into the slow collective variables (:class:`SRVTransformer`), a propagator
of the dynamics in that latent space (:class:`MDNPropagator`) and a generative
decoder back to configurations (:class:`CWGANDecoder`).

The estimators are imported lazily, so ``import sklss`` stays cheap.
"""

import importlib

from ._data import split_trajectory
from ._version import __version__

_LAZY = {
    "SRVTransformer": "._srv",
    "MDNPropagator": "._mdn",
    "CWGANDecoder": "._cwgan",
    "LatentSpaceSimulator": "._simulator",
    "SimulationResult": "._simulator",
    "FrameWise": "._framewise",
    "load_simulator": "._io",
    "TorsionFeaturizer": "._molecules",
    "DistanceFeaturizer": "._molecules",
    "AlignedCoordinates": "._molecules",
    "to_trajectory": "._molecules",
}

__all__ = ["__version__", "split_trajectory", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
