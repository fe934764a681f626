"""Files: atomic writes and loading saved simulators."""

import contextlib
import os
import pickle
import tempfile
import zlib
from pathlib import Path

__all__ = ["atomic_path", "load_simulator"]


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


def load_simulator(path):
    """Load a simulator saved with ``joblib.dump`` and check what it is.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    LatentSpaceSimulator

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is truncated, not a joblib/pickle file, or holds something other
        than a fitted :class:`~sklss.LatentSpaceSimulator`.
    """
    import joblib

    from ._simulator import LatentSpaceSimulator

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No saved simulator at {str(path)!r}.")
    try:
        obj = joblib.load(path)
    except (
        EOFError,
        pickle.UnpicklingError,
        zlib.error,
        ValueError,
        IndexError,
        KeyError,
    ) as exc:
        raise ValueError(
            f"{str(path)!r} could not be read as a saved sklss simulator (truncated "
            f"or not a joblib file): {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(obj, LatentSpaceSimulator):
        raise ValueError(
            f"{str(path)!r} holds a {type(obj).__name__}, not a sklss "
            "LatentSpaceSimulator."
        )
    if not hasattr(obj, "propagator_"):
        raise ValueError(f"{str(path)!r} holds an unfitted LatentSpaceSimulator.")
    return obj
