"""The one training loop every sklss network uses.

Minibatches over a random permutation, an optional validation split, early stopping on
the validation loss with the best weights restored, a learning-curve history, a tqdm
progress bar when ``verbose``, and honest failure states:

- a ``ConvergenceWarning`` when ``max_epochs`` runs out before early stopping triggers,
  and another when the monitored loss never improved on its first epoch;
- a :class:`~sklss.exceptions.TrainingDivergedError` carrying the history when a loss
  or a weight becomes NaN or infinite (the modules are left with the weights a normal
  end of training would have kept, from the epochs before);
- a ``KeyboardInterrupt`` after at least one complete epoch ends training like a normal
  stop (best or last complete weights restored, ``converged`` False) with a
  ``ConvergenceWarning``; during the first epoch it propagates.
"""

import math
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from ._warnings import user_stacklevel
from .exceptions import TrainingDivergedError

__all__ = ["Callback", "train", "train_validation_split"]


def train_validation_split(n_samples, validation_fraction, generator, min_samples=2):
    """Random split of sample indices into training and validation parts.

    Returns ``(train_idx, val_idx)`` as CPU ``LongTensor``; ``val_idx`` is None when
    ``validation_fraction`` is 0 or either part would hold fewer than ``min_samples``
    samples (then the training loss drives early stopping).
    """
    perm = torch.randperm(n_samples, generator=generator)
    n_val = int(round(validation_fraction * n_samples))
    if n_val < min_samples or n_samples - n_val < min_samples:
        return perm.sort().values, None
    return perm[n_val:].sort().values, perm[:n_val].sort().values


class Callback:
    """Hooks into :func:`train`; subclasses override what they need.

    ``on_batch_end`` runs after every optimisation step (learning-rate schedules,
    weight averaging); ``on_epoch_end`` receives the epoch's history row, may add
    entries to it, and returns True to stop training.
    """

    def on_batch_end(self, losses):
        pass

    def on_epoch_end(self, record):
        return False


class EpochEndCallback(Callback):
    """Wrap a user function ``f(record) -> bool`` as an epoch-end callback."""

    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, record):
        return bool(self.function(record))


def _snapshot(modules):
    return {
        name: {k: v.detach().clone() for k, v in m.state_dict().items()}
        for name, m in modules.items()
    }


def _non_finite(modules):
    """The name of the first module with a NaN or infinite parameter, or None.

    Buffers are not checked: they hold statistics (an input scaling may hold
    float32 infinities for data beyond its range, which it never applies).
    """
    for name, m in modules.items():
        for p in m.parameters():
            if not bool(torch.isfinite(p).all()):
                return name
    return None


def _restore(modules, snapshot):
    for name, m in modules.items():
        m.load_state_dict(snapshot[name])


def _progress(total, desc, verbose):
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", leave=True)


def train(
    *,
    modules,
    step,
    n_samples,
    batch_size,
    max_epochs,
    generator,
    validate=None,
    early_stopping=True,
    n_iter_no_change=10,
    tol=1e-4,
    device="cpu",
    verbose=False,
    desc="training",
    callbacks=(),
    stacklevel=None,
    batches=None,
):
    """Run minibatch training and return ``(history, converged)``.

    Parameters
    ----------
    modules : dict of str to torch.nn.Module
        Everything whose weights make up the model (and any training state kept in
        modules, such as a weight average): put in train mode for each epoch,
        snapshotted after every complete epoch and restored at the end (and on
        divergence or interruption).
    step : callable
        ``step(idx) -> dict`` performs one optimisation step on the samples ``idx``
        (a ``LongTensor`` on ``device``) and returns the batch's losses as floats; the
        key ``"loss"`` is required. Values are averaged over the epoch, weighted by
        batch size. A step whose loss cannot be computed (for instance a
        factorisation that fails on non-finite outputs) returns a NaN loss.
    n_samples : int
        Number of training samples (indices ``0 .. n_samples - 1``).
    batch_size : int
        Minibatch size; batches are of near-equal size (no tiny remainder batch).
    max_epochs : int
        Upper bound on the number of passes over the data.
    generator : torch.Generator
        CPU generator for the permutations (reproducibility).
    validate : callable or None
        ``validate() -> float`` returns the validation loss (lower is better),
        computed by the caller in eval mode. ``None``: the mean training loss is used.
    early_stopping : bool
        Stop when the monitored loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and restore the best weights. When False, the
        losses are not a criterion of quality: all ``max_epochs`` run, the last
        weights are kept and no ``ConvergenceWarning`` is raised about them.
    device : torch.device or str
    verbose : bool
        Show a tqdm progress bar with the current losses.
    callbacks : sequence of Callback
        Called after every step and every epoch; an ``on_epoch_end`` that returns
        True stops training (counted as converged: the stop was asked for).
    stacklevel : int or None, default=None
        Of the warnings: the frame they point at, counted from here; None points
        at the user's code (the first frame outside sklss, scikit-learn and
        joblib), also inside a grid search.
    batches : callable or None, default=None
        ``batches() -> iterable`` of the minibatches of one epoch, each handed to
        ``step`` (for data streamed from disk): an index tensor or a tuple of
        arrays whose first entry's length is the batch size. None: a random
        permutation of ``0 .. n_samples - 1`` per epoch, cut into near-equal
        batches.

    Returns
    -------
    history : list of dict
        One entry per complete epoch: ``epoch``, the averaged step losses (``loss``
        and any other keys), ``val_loss`` (when ``validate`` is given) and
        ``duration`` (s).
    converged : bool
        True when early stopping triggered (or ``early_stopping`` is False); False
        when ``max_epochs`` ran out or training was interrupted.

    Raises
    ------
    TrainingDivergedError
        When a training or the monitored loss, or a weight of ``modules``, becomes
        NaN or infinite (the weights are checked at the end of every epoch). Its
        ``history`` holds the complete epochs and, last, the one that diverged. The
        modules are restored to the weights a normal end of training would have
        kept (the best epoch with early stopping, else the last complete epoch; the
        initial weights when the first epoch diverged).
    KeyboardInterrupt
        When interrupted before the first epoch was complete (the modules are
        restored to their initial weights). Later interruptions end training
        normally, with a ``ConvergenceWarning``.

    Warns
    -----
    ConvergenceWarning
        When ``max_epochs`` ran out before early stopping triggered; when training
        was interrupted; when (with ``early_stopping``) the monitored loss of no
        later epoch was lower than that of the first one.
    """
    history = []
    n_batches = max(1, math.ceil(n_samples / batch_size))
    best_loss = reference_loss = math.inf
    best_state = _snapshot(modules)
    last_good = best_state
    epochs_without_improvement = 0
    converged = not early_stopping
    interrupted_in = None
    bar = _progress(max_epochs, desc, verbose)

    def kept_state():
        return best_state if early_stopping else last_good

    try:
        for epoch in range(1, max_epochs + 1):
            start = time.perf_counter()
            for m in modules.values():
                m.train()
            if batches is None:
                perm = torch.randperm(n_samples, generator=generator).to(device)
                epoch_batches = torch.tensor_split(perm, n_batches)
            else:
                epoch_batches = batches()
            sums, count = {}, 0
            try:
                for idx in epoch_batches:
                    size = len(idx[0]) if isinstance(idx, tuple) else len(idx)
                    if size == 0:
                        continue
                    losses = step(idx)
                    for callback in callbacks:
                        callback.on_batch_end(losses)
                    for key, value in losses.items():
                        sums[key] = sums.get(key, 0.0) + float(value) * size
                    count += size
                    if not math.isfinite(float(losses["loss"])):
                        break
                record = {"epoch": epoch, **{k: v / count for k, v in sums.items()}}
                for m in modules.values():
                    m.eval()
                if validate is not None and math.isfinite(record["loss"]):
                    record["val_loss"] = float(validate())
                record["duration"] = time.perf_counter() - start
                monitored = record.get("val_loss", record["loss"])
                losses_finite = math.isfinite(record["loss"]) and math.isfinite(
                    monitored
                )
                bad_module = None if not losses_finite else _non_finite(modules)
                if not losses_finite or bad_module is not None:
                    _restore(modules, kept_state())
                    for m in modules.values():
                        m.eval()
                    history.append(record)
                    what = (
                        f"the loss became {record['loss']!r} (monitored {monitored!r})"
                        if not losses_finite
                        else f"the weights of {bad_module} became NaN or infinite"
                    )
                    error = TrainingDivergedError(
                        f"{desc}: {what} in epoch {epoch}; training stopped. Try a "
                        "smaller learning_rate_init or check the input data for "
                        "extreme values."
                    )
                    error.history = history
                    raise error
                stop = False
                for callback in callbacks:
                    stop = bool(callback.on_epoch_end(record)) or stop
            except KeyboardInterrupt:
                if not history:
                    _restore(modules, best_state)
                    for m in modules.values():
                        m.eval()
                    raise
                interrupted_in = epoch
                break
            history.append(record)
            last_good = _snapshot(modules)
            # The best weights are the lowest monitored loss ever seen; patience only
            # resets on an improvement larger than tol.
            if monitored < best_loss:
                best_loss, best_state = monitored, last_good
            if monitored < reference_loss - tol:
                reference_loss = monitored
                epochs_without_improvement = 0
            else:
                epochs_without_improvement += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    {k: f"{v:.4g}" for k, v in record.items() if "loss" in k}
                )
            if stop or (
                early_stopping and epochs_without_improvement >= n_iter_no_change
            ):
                converged = True
                break
    finally:
        if bar is not None:
            bar.close()
    _restore(modules, kept_state())
    for m in modules.values():
        m.eval()
    if stacklevel is None:
        stacklevel = user_stacklevel()
    if interrupted_in is not None:
        converged = False
        kept = "best" if early_stopping else "last"
        warnings.warn(
            f"{desc}: training was interrupted (KeyboardInterrupt) in epoch "
            f"{interrupted_in}, after {len(history)} complete epoch(s); the weights "
            f"of the {kept} complete epoch were kept and the fit is marked as not "
            "converged.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    elif not converged:
        warnings.warn(
            f"{desc}: max_epochs={max_epochs} reached before the validation loss "
            f"stopped improving (tol={tol}, n_iter_no_change={n_iter_no_change}); "
            "consider increasing max_epochs.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    if early_stopping:
        _warn_without_progress(history, desc, validate is not None, stacklevel + 1)
    return history, converged


def _warn_without_progress(history, desc, validated, stacklevel):
    """``ConvergenceWarning`` when no epoch's monitored loss beat the first one's."""
    if len(history) < 2:
        return
    key = "val_loss" if validated else "loss"
    losses = [h.get("val_loss", h["loss"]) for h in history]
    best_later = min(losses[1:])
    if best_later >= losses[0]:
        warnings.warn(
            f"{desc}: the {'validation' if validated else 'training'} loss "
            f"({key} in history_) never improved on its first epoch in "
            f"{len(history)} epochs (first {losses[0]:.6g}, best later "
            f"{best_later:.6g}): training made no progress. The weights of the first "
            "epoch were kept; try a smaller learning_rate_init.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )


def history_array(history, key):
    """One column of a history as a float array (NaN where an epoch lacks it)."""
    return np.array([h.get(key, np.nan) for h in history], dtype=float)
