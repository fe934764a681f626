"""scikit-learn's estimator checks over sklss's meta-estimators.

Each network estimator runs the same checks in its own test module
(test_srv.py, test_mdn.py, test_cwgan.py) with settings that keep them fast.
"""

import warnings

from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklss import FrameWise

from .test_simulator import small_simulator


def _estimators():
    return [FrameWise(StandardScaler()), small_simulator()]


@parametrize_with_checks(_estimators())
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
