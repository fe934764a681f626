"""Files: atomic writes, checksums and loading saved simulators."""

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "check_path", "file_sha256", "load_simulator"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it into place only on success.

    The temporary file keeps ``path``'s suffix (writers such as mdtraj choose the
    format by extension). If the block raises or is interrupted, the temporary file
    is removed and ``path`` is left as it was: a half-written file never appears
    under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent
    )
    os.close(fd)
    os.unlink(tmp)  # writers that refuse to overwrite get a fresh name
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def check_path(path, name="path"):
    """``path`` as a :class:`~pathlib.Path`, or a TypeError naming the argument."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a str or path-like object; got {type(path).__name__}."
        )
    return Path(path)


def file_sha256(path):
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_simulator(path, *, allow_pickle=False, device="cpu"):
    """Load a fitted simulator and check what it is.

    A ``.sklss`` file (written by :func:`sklss.save`) is opened safely with
    :func:`sklss.load`. A pickle (``joblib.dump``) can run arbitrary code when it
    is opened, so it is refused unless ``allow_pickle=True``: pass that only for a
    file you made yourself or whose source you trust, and re-save it with
    :func:`sklss.save`.

    Parameters
    ----------
    path : str or path-like
    allow_pickle : bool, default=False
        Also open joblib/pickle files (trusted files only).
    device : {"cpu", "cuda", "cuda:N", "auto"}, default="cpu"
        Where to put the networks of a ``.sklss`` file.

    Returns
    -------
    LatentSpaceSimulator

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A pickle without ``allow_pickle=True``; a damaged, truncated or altered
        file; or a file that holds something other than a fitted
        :class:`~sklss.LatentSpaceSimulator`.
    """
    obj = load_estimator(path, allow_pickle=allow_pickle, device=device)
    return check_simulator(obj, path)


def check_simulator(obj, path):
    """``obj``, loaded from ``path``, if it is a fitted simulator; else a
    ``ValueError`` saying what the file holds."""
    from ._simulator import LatentSpaceSimulator

    path = check_path(path)
    if not isinstance(obj, LatentSpaceSimulator):
        hint = ""
        if hasattr(obj, "sample"):
            hint = (
                f" Sample it in Python: sklss.load({str(path)!r}).sample(...) (see "
                f"{type(obj).__name__}.sample)."
            )
        raise ValueError(
            f"path {str(path)!r} holds a {type(obj).__name__}, not a sklss "
            f"LatentSpaceSimulator.{hint}"
        )
    missing = [
        name
        for name in ("encoder_", "propagator_", "start_points_", "lagtime_")
        if not hasattr(obj, name)
    ]
    if missing:
        raise ValueError(
            f"path {str(path)!r} holds an unfitted or incomplete LatentSpaceSimulator "
            f"(missing {', '.join(missing)})."
        )
    return obj


def load_estimator(path, *, allow_pickle=False, device="cpu"):
    """Load any estimator sklss saved: a ``.sklss`` file safely, a pickle only with
    ``allow_pickle=True`` (see :func:`load_simulator`)."""
    from ._serialization import is_sklss_file, load

    path = check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No saved model at {str(path)!r}.")
    if is_sklss_file(path):
        obj = load(path, device=device)
    elif not allow_pickle:
        raise ValueError(
            f"path {str(path)!r} is not a .sklss file. If it is a pickle or joblib "
            "file, opening it can run any code it contains, so it is refused. If you "
            "made it yourself or trust its source, allow pickles "
            "(allow_pickle=True, or --allow-pickle on the command line) and re-save "
            "it with sklss.save."
        )
    else:
        obj = _load_pickle(path)
        if device is not None and str(device) != "cpu" and hasattr(obj, "to_device"):
            obj.to_device(device)
    return obj


def _load_pickle(path):
    """``joblib.load`` (trusted files only); its failures become ValueError."""
    import joblib

    try:
        return joblib.load(path)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise ValueError(
            f"path {str(path)!r} could not be read as a saved sklss simulator "
            f"(truncated or not a joblib file): {type(exc).__name__}: {exc}"
        ) from None
