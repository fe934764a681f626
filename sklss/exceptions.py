"""Warnings and errors raised by sklss."""

from sklearn.exceptions import ConvergenceWarning, NotFittedError

__all__ = [
    "ConvergenceWarning",
    "InconsistentVersionWarning",
    "NotFittedError",
    "TrainingDivergedError",
]


class InconsistentVersionWarning(UserWarning):
    """A model is unpickled with a different sklss version than it was saved with.

    Attributes
    ----------
    saved_version : str
        The sklss version the object was pickled with.
    current_version : str
        The sklss version that is loading it.
    """

    def __init__(self, *, estimator_name, saved_version, current_version):
        self.estimator_name = estimator_name
        self.saved_version = saved_version
        self.current_version = current_version

    def __str__(self):
        return (
            f"Trying to unpickle {self.estimator_name} saved with sklss "
            f"{self.saved_version} using sklss {self.current_version}. This might "
            "lead to breaking code or invalid results. Use at your own risk."
        )


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite.

    The estimator is left as it was before ``fit`` (unfitted, or with its previous
    complete fit). The exception's ``history`` attribute holds the learning curve up
    to and including the epoch that diverged, so the failure can be inspected.
    Lowering ``learning_rate_init`` usually helps.

    Attributes
    ----------
    history : list of dict
        One row per epoch, as the estimators' ``history_``.
    """

    history = None
