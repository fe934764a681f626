"""The estimator contract over every public sklss estimator and featuriser.

The network estimators run scikit-learn's checks in their own test modules
(test_srv.py, test_mdn.py, test_cwgan.py) with settings that keep them fast; the
meta-estimators run them here. The featurisers take ``mdtraj.Trajectory`` objects,
an input scikit-learn's checks cannot generate, so the same contract is checked on
real molecular data below.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklss
from sklss import (
    AlignedCoordinates,
    DistanceFeaturizer,
    FeatureUnion,
    FrameWise,
    InternalCoordinates,
    TorsionFeaturizer,
)

from .test_simulator import small_simulator


def _estimators():
    return [
        FrameWise(StandardScaler()),
        FeatureUnion([("scale", StandardScaler()), ("pca", PCA(n_components=1))]),
        small_simulator(),
    ]


def _expected_failed_checks(estimator):
    """What scikit-learn itself expects its FeatureUnion to fail (it fits the
    transformers of ``transformer_list`` in place); sklss's union inherits it."""
    if isinstance(estimator, FeatureUnion):
        return {
            "check_estimators_overwrite_params": "sklearn's FeatureUnion (FIXME)",
            "check_dont_overwrite_parameters": "sklearn's FeatureUnion (FIXME)",
        }
    return {}


@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failed_checks)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_every_public_estimator_is_checked():
    """A new public estimator must join the checks above or in its own module."""
    estimators = {
        name
        for name in sklss.__all__
        if isinstance(getattr(sklss, name), type)
        and hasattr(getattr(sklss, name), "fit")
    }
    assert estimators == {
        "SRVTransformer",  # test_srv.py
        "MDNPropagator",  # test_mdn.py
        "CWGANDecoder",  # test_cwgan.py
        "LatentSpaceSimulator",  # here
        "SimulatorEnsemble",  # test_ensemble.py
        "FrameWise",  # here
        "FeatureUnion",  # here, and on molecular data in test_molecules.py
        *FEATURIZERS,  # here, on molecular data
    }


FEATURIZERS = {
    "TorsionFeaturizer": TorsionFeaturizer(),
    "DistanceFeaturizer": DistanceFeaturizer("element != H"),
    "AlignedCoordinates": AlignedCoordinates("element != H"),
    "InternalCoordinates": InternalCoordinates("element != H"),
}


@pytest.fixture(scope="module")
def molecules(alanine_md):
    return [alanine_md(50, seed=0), alanine_md(30, seed=1)]


@pytest.mark.parametrize("name", sorted(FEATURIZERS))
def test_featurizer_contract(name, molecules):
    feat = FEATURIZERS[name]
    params = feat.get_params()
    with pytest.raises(NotFittedError):
        clone(feat).transform(molecules[0])
    fitted = clone(feat)
    assert fitted.fit(molecules) is fitted  # fit returns self
    assert feat.get_params() == params  # fit never changes the parameters
    out = fitted.transform(molecules)
    assert [o.shape[0] for o in out] == [50, 30]  # list in, list out
    single = fitted.transform(molecules[1])
    np.testing.assert_array_equal(single, out[1])
    assert len(fitted.get_feature_names_out()) == single.shape[1]
    # Idempotent fit, fit_transform equal to fit then transform, picklable.
    np.testing.assert_array_equal(
        clone(feat).fit(molecules).transform(molecules[1]), single
    )
    np.testing.assert_array_equal(clone(feat).fit_transform(molecules)[1], single)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(molecules[1]), single)
    # In a Pipeline, followed by a frame-wise step.
    pipe = make_pipeline(clone(feat), FrameWise(StandardScaler())).fit(molecules)
    assert pipe.transform(molecules[1]).shape == single.shape
    with pytest.raises(TypeError, match="mdtraj.Trajectory"):
        fitted.transform(np.zeros((5, 3)))
