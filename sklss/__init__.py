"""sklss: molecular latent space simulators as scikit-learn estimators.

A latent space simulator learns three networks from molecular dynamics data: an
encoder into the slow collective variables (:class:`SRVTransformer`), a propagator
of the dynamics in that latent space (:class:`MDNPropagator`) and a generative
decoder back to configurations (:class:`CWGANDecoder`).

The estimators are imported lazily, so ``import sklss`` stays cheap.
"""

from ._lazy import lazy_attributes
from ._version import __version__
from .model_selection import split_trajectory

_LAZY = {
    "SRVTransformer": "._srv",
    "MDNPropagator": "._mdn",
    "CWGANDecoder": "._cwgan",
    "LatentSpaceSimulator": "._simulator",
    "SimulatorEnsemble": "._ensemble",
    "SimulationResult": "._simulator",
    "FrameWise": "._framewise",
    "FeatureUnion": "._framewise",
    "load_simulator": "._io",
    "save": "._serialization",
    "load": "._serialization",
    "read_manifest": "._serialization",
    "TorsionFeaturizer": "._molecules",
    "DistanceFeaturizer": "._molecules",
    "AlignedCoordinates": "._molecules",
    "InternalCoordinates": "._molecules",
    "to_trajectory": "._molecules",
    "sample_to_zarr": "._distributed",
    "open_zarr_trajectories": "._distributed",
    "ZarrTrajectories": "._distributed",
    "set_worker_threads": "._distributed",
    "featurize_to_zarr": "._store",
    "open_feature_store": "._store",
    "FeatureStore": "._store",
    "LazyTrajectory": "._store",
}

__all__ = ["__version__", "split_trajectory", *_LAZY]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
