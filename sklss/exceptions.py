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


class TrainingDivergedError(FloatingPointError, ValueError):
    """The training loss, the weights or the outputs became NaN or infinite.

    Raised by ``fit`` of every sklss network (also when a linear-algebra step of the
    loss fails on non-finite or degenerate network outputs, or when the trained
    networks produce non-finite values). It is a ``ValueError`` as well as a
    ``FloatingPointError``: the cause is a hyperparameter value the training cannot
    follow (the message names it, usually ``learning_rate_init``) or extreme data,
    so code that handles invalid arguments handles it too. A failed fit never
    leaves an estimator that looks fitted: the estimator is left exactly as it was
    before ``fit`` (unfitted, or with its previous complete fit). What the good
    epochs learned is offered separately, on the exception. Lowering
    ``learning_rate_init`` usually helps.

    Attributes
    ----------
    history : list of dict
        One row per epoch, as the estimators' ``history_``: the complete epochs,
        then the one that diverged.
    partial_estimator : estimator or None
        When at least one epoch completed before the divergence: a fitted copy of
        the estimator with the weights a normal end of training would have kept
        from those epochs (the best epoch where early stopping applies, else the
        last complete one), ``converged_ = False`` and ``history_`` as ``history``.
        None when the first epoch diverged.
    """

    history = None
    partial_estimator = None
