"""Beyond one machine: threads per worker, and generation into Zarr stores.

Generation is split into chunks of whole trajectories. Each chunk is sampled with
a seed derived only from the run's seed and the chunk's index, and written into
its own region of a Zarr store, so the store is the same bit for bit however many
workers (or none) wrote it (given the same torch threads in each), and an
interrupted run resumes where it stopped.

dask.distributed and zarr are optional dependencies (``pip install
sklss[distributed]``); they are imported only when used.
"""

import contextlib
import ctypes
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ._data import (
    check_bool,
    check_fits_in_memory,
    check_int,
    check_seed,
)
from ._io import check_path
from ._version import __version__

__all__ = [
    "ZarrTrajectories",
    "limit_threads_in_worker",
    "open_zarr_trajectories",
    "sample_to_zarr",
    "set_worker_threads",
    "torch_threads_for_worker",
]

STORE_FORMAT = "sklss-trajectories"
STORE_FORMAT_VERSION = 1
# Output bytes a chunk aims at: large enough for efficient writes, small enough
# that a worker holds it (and the sampler's working copies) easily.
_CHUNK_BYTES = 64 * 2**20
# Trajectories a chunk holds at least (when there are as many): the sampler advances
# them together, and a step of 32 costs little more than a step of one.
_MIN_CHUNK_TRAJECTORIES = 32
# How long a worker trusts its count of workers on its host (the cluster may scale).
_HOST_COUNT_SECONDS = 30.0

_HOST_COUNTS = {}
# Threads chosen with set_worker_threads(n): they override the automatic sizing.
_CHOSEN_THREADS = None
_WORKER_LOCKS = {}
_LOCKS_GUARD = threading.Lock()


def _require(module):
    """Import an optional dependency, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"This needs the optional dependency {module.split('.')[0]!r}; install "
            "it with: pip install 'sklss[distributed]'"
        ) from None


# ------------------------------------------------------------ threads per worker


def _dask_worker():
    """The dask.distributed worker running this code, or None."""
    if "distributed" not in sys.modules:  # a worker has imported it
        return None
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return get_worker()
    except ValueError:  # not inside a worker
        return None


def _host_cores():
    try:
        from distributed.system import CPU_COUNT

        return int(CPU_COUNT)
    except ImportError:
        return _process_cores()


def _process_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _workers_on_host(worker):
    """How many workers of this worker's cluster run on its host, or None."""
    from distributed.comm import get_address_host
    from distributed.utils import sync

    cached = _HOST_COUNTS.get(worker.address)
    now = time.monotonic()
    if cached is not None and now - cached[1] < _HOST_COUNT_SECONDS:
        return cached[0]
    try:
        info = sync(worker.loop, worker.scheduler.identity, callback_timeout=10)
        host = get_address_host(worker.address)
        count = sum(get_address_host(a) == host for a in info["workers"])
    except Exception:  # no answer from the scheduler: the caller assumes little
        return None
    count = max(1, count)
    _HOST_COUNTS[worker.address] = (count, now)
    return count


def _dask_threads(worker, *, per_task):
    """Torch threads for work on a dask worker.

    The worker's share of its host is ``cores // workers on the host``; a task
    gets ``share // nthreads`` of it, since the worker runs ``nthreads`` tasks at
    once (``per_task=False``: the whole share, for work that runs alone).
    """
    state = getattr(worker, "state", worker)
    nthreads = max(1, int(getattr(state, "nthreads", 1)))
    n_workers = _workers_on_host(worker)
    if n_workers is None:
        share = min(nthreads, _host_cores())
    else:
        share = max(1, _host_cores() // n_workers)
    return max(1, share // nthreads) if per_task else share


def _omp_num_threads():
    """``OMP_NUM_THREADS`` as a positive int, or None when unset or invalid."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 1 else None


def _in_joblib_worker():
    """Whether this process is a joblib/loky (or multiprocessing pool) worker."""
    process = multiprocessing.current_process()
    return multiprocessing.parent_process() is not None and (
        type(process).__name__ == "LokyProcess"
        or process.name.startswith(
            ("LokyProcess", "ForkPoolWorker", "SpawnPoolWorker", "ForkServerPoolWorker")
        )
    )


def _worker_threads(*, per_task=True):
    """Torch threads for this worker, or None outside any worker."""
    worker = _dask_worker()
    if worker is None and not _in_joblib_worker():
        return None
    if _CHOSEN_THREADS is not None:
        return _CHOSEN_THREADS
    if worker is not None:
        return _dask_threads(worker, per_task=per_task)
    return _omp_num_threads()


def _set_torch_threads(n):
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def set_worker_threads(n=None):
    """Set the number of threads torch uses in this process.

    Several workers on one machine, each running torch with one thread per core,
    oversubscribe the cores and run slower than one worker alone. sklss sizes
    torch's intra-op threads to each worker's share of the cores at the start of
    its parallel tasks (ensemble fits, :func:`sample_to_zarr` chunks); call this
    to do the same in your own tasks, or to choose the number by hand.

    Parameters
    ----------
    n : int or None, default=None
        Threads to use; the choice stays for this process: sklss's own sizing at
        the start of later tasks keeps it. None returns to automatic sizing, to
        this process's share of the cores:

        - in a dask.distributed worker, ``cores // workers`` on the worker's host,
          divided among the worker's ``nthreads`` concurrent tasks (at least 1);
        - elsewhere (a joblib worker, or the main process), ``OMP_NUM_THREADS``
          when it is set (joblib sets it to ``cores // n_jobs`` in its workers),
          else all cores available to the process.

    Returns
    -------
    int
        The number of threads torch now uses.

    Raises
    ------
    TypeError
        ``n`` is not an int or None.
    ValueError
        ``n < 1``.

    See Also
    --------
    torch.set_num_threads : the same, by hand, for the current process.

    Notes
    -----
    To choose the threads of every worker of a Dask cluster, run this on each:
    ``client.run(sklss.set_worker_threads, 4)``. Setting ``OMP_NUM_THREADS``
    before Python starts (``OMP_NUM_THREADS=4 python run.py``) sets torch's
    threads for a whole process, and also the BLAS threads numpy uses.
    dask.distributed starts its worker processes with ``OMP_NUM_THREADS=1``.

    Examples
    --------
    >>> import torch
    >>> from sklss import set_worker_threads
    >>> previous = torch.get_num_threads()
    >>> set_worker_threads(1)
    1
    >>> torch.get_num_threads()
    1
    >>> _ = set_worker_threads()  # back to automatic sizing
    >>> _ = torch.set_num_threads(previous)
    """
    global _CHOSEN_THREADS

    if n is None:
        _CHOSEN_THREADS = None
        n = _worker_threads()
        if n is None:
            n = _omp_num_threads() or _process_cores()
    else:
        n = _CHOSEN_THREADS = check_int(n, "n", 1)
    _set_torch_threads(n)
    return n


# glibc's mallopt parameters, and the values glibc's own dynamic thresholds reach.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MALLOC_TUNED = False


def _tune_malloc_in_dask_worker():
    """Undo the static malloc thresholds dask.distributed gives its workers.

    The nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; setting it
    switches off glibc's dynamic thresholds, so every block over 128 KiB is
    mapped and unmapped anew. Training's many short-lived tensors then run about
    1.6 times slower than in an ordinary process. The thresholds are raised to
    the values the dynamic adjustment reaches (32 MiB mapped, 64 MiB trimmed),
    once per process, on Linux with glibc only.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    _MALLOC_TUNED = True
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**20)
    except (OSError, AttributeError):  # not glibc
        pass


def limit_threads_in_worker():
    """Size torch's threads to this worker's share of the cores, inside workers only.

    The call at the start of each fit and parallel task: in a dask.distributed
    or joblib worker it sets the threads chosen with :func:`set_worker_threads`,
    or else the worker's share of the cores (and, in a dask.distributed worker,
    restores glibc's usual malloc thresholds); in the main process (a
    sequential run) it changes nothing.

    Returns
    -------
    int or None
        The threads set, or None when not running in a worker.
    """
    n = _worker_threads()
    if n is not None:
        _set_torch_threads(n)
    if _dask_worker() is not None:
        _tune_malloc_in_dask_worker()
    return n


@contextlib.contextmanager
def torch_threads_for_worker(n=None):
    """Context manager: torch threads sized for this worker while the block runs.

    Parameters
    ----------
    n : int or None, default=None
        Threads to use; None is this worker's share of the cores (see
        :func:`set_worker_threads`), and changes nothing outside a worker.

    Yields
    ------
    int or None
        The threads in use in the block (None: unchanged).

    Examples
    --------
    >>> import torch
    >>> from sklss._distributed import torch_threads_for_worker
    >>> before = torch.get_num_threads()
    >>> with torch_threads_for_worker(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    n = _worker_threads() if n is None else check_int(n, "n", 1)
    previous = torch.get_num_threads()
    if n is not None:
        _set_torch_threads(n)
    try:
        yield n
    finally:
        if n is not None:
            _set_torch_threads(previous)


def _worker_lock(worker):
    """One lock per dask worker: a worker generates one chunk at a time."""
    if worker is None:
        return contextlib.nullcontext()
    with _LOCKS_GUARD:
        return _WORKER_LOCKS.setdefault(worker.address, threading.Lock())


# ------------------------------------------------------------------ Zarr stores


def _create_array(group, name, *, shape, chunks, dtype, fill_value, dims):
    if hasattr(group, "create_array"):  # zarr >= 3
        return group.create_array(
            name,
            shape=shape,
            chunks=chunks,
            dtype=dtype,
            fill_value=fill_value,
            dimension_names=dims,
        )
    return group.create_dataset(  # zarr 2
        name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill_value
    )


def _update_attrs(group, values):
    if hasattr(group, "update_attributes"):  # zarr >= 3: one write
        group.update_attributes(values)
    else:
        group.attrs.update(values)


def _read_attrs(path, store_format=STORE_FORMAT):
    """The attributes of the sklss store of ``store_format`` at ``path``, or None
    if it is not one."""
    zarr = _require("zarr")
    try:
        attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception:  # not a Zarr group at all
        return None
    return attrs if attrs.get("format") == store_format else None


def _chunk_done(path):
    zarr = _require("zarr")
    group = zarr.open_group(str(path), mode="r")
    return np.asarray(group["chunk_done"][:]).astype(bool)


def _chunk_seed(seed, index):
    """The seed of chunk ``index``: a function of the run's seed and index only."""
    sequence = np.random.SeedSequence(seed, spawn_key=(index,))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def _simulator_checksum(simulator):
    """sha256 of the ``.sklss`` file of ``simulator`` (of its pickle if it has none)."""
    import hashlib
    import pickle

    from ._serialization import save

    with tempfile.TemporaryDirectory(prefix="sklss-") as tmp:
        try:
            return save(simulator, Path(tmp) / "simulator.sklss"), ".sklss file"
        except (TypeError, ValueError):  # holds something a .sklss file cannot
            pass
    return hashlib.sha256(pickle.dumps(simulator, protocol=4)).hexdigest(), "pickle"


def _topology_json(simulator):
    from ._serialization import _topology_to_json

    coordinates = getattr(simulator, "coordinates_", None)
    topology = getattr(coordinates, "topology_", None)
    if topology is None or getattr(simulator, "decoder_", None) is None:
        return None
    return _topology_to_json(topology)


def _check_simulator(simulator):
    from sklearn.utils.validation import check_is_fitted

    from ._simulator import LatentSpaceSimulator

    if not isinstance(simulator, LatentSpaceSimulator):
        raise TypeError(
            "simulator must be a fitted sklss LatentSpaceSimulator; got "
            f"{type(simulator).__name__}."
        )
    check_is_fitted(simulator)


def _check_client(client):
    if client is None:
        return None
    distributed = _require("distributed")
    if not isinstance(client, distributed.Client):
        raise TypeError(
            "client must be None or a dask.distributed.Client; got "
            f"{type(client).__name__}."
        )
    return client


def _layout(n_trajectories, n_frames, widths, itemsizes, decode_stride, chunk):
    """Trajectories per chunk, latent frames per segment, and the Zarr chunk
    shape of each array.

    A chunk holds at least ``_MIN_CHUNK_TRAJECTORIES`` trajectories (when there
    are as many): they advance together, at almost the cost of one. When their
    output exceeds ``_CHUNK_BYTES``, they are generated in time segments of about
    that size, each segment one Zarr chunk of each array.
    """
    frame_bytes = widths[0] * itemsizes[0] + widths[1] * itemsizes[1] / decode_stride
    if chunk is None:
        whole = int(_CHUNK_BYTES // max(1.0, n_frames * frame_bytes))
        chunk = max(whole, _MIN_CHUNK_TRAJECTORIES)
    chunk = min(chunk, n_trajectories)
    segment = int(_CHUNK_BYTES // max(1.0, chunk * frame_bytes))
    segment = max(decode_stride, segment // decode_stride * decode_stride)
    if segment >= n_frames:
        segment = n_frames
    n_decoded = -(-n_frames // decode_stride)
    return (
        chunk,
        segment,
        (chunk, segment, widths[0]),
        (chunk, min(n_decoded, -(-segment // decode_stride)), widths[1])
        if widths[1]
        else None,
    )


def create_group_atomically(path, meta, populate=None):
    """Write a Zarr group with attributes ``meta`` next to ``path`` (and whatever
    ``populate(group)`` adds), then move it into place at once, replacing
    ``path``."""
    zarr = _require("zarr")
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        group = zarr.open_group(str(tmp), mode="w")
        if populate is not None:
            populate(group)
        _update_attrs(group, meta)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _create_store(path, meta, shapes, dtypes, chunks):
    """Write an empty store next to ``path`` and move it into place at once."""
    dims = {
        "latent": ("trajectory", "frame", "component"),
        "configurations": ("trajectory", "decoded_frame", "output"),
    }

    def populate(group):
        for name in shapes:
            _create_array(
                group,
                name,
                shape=shapes[name],
                chunks=chunks[name],
                dtype=dtypes[name],
                fill_value=np.nan,
                dims=dims[name],
            )
        _create_array(
            group,
            "chunk_done",
            shape=(meta["n_chunks"],),
            chunks=(1,),
            dtype="uint8",
            fill_value=0,
            dims=("chunk",),
        )

    create_group_atomically(path, meta, populate)


def _check_resume(path, attrs, requested):
    """Refuse to complete a run with other arguments than it was started with."""
    for name, value in requested.items():
        if value is None:
            continue
        key = "seed" if name == "random_state" else name
        stored = attrs.get(key)
        if name == "simulator":
            stored = attrs.get("simulator_sha256")
        if stored != value:
            if name == "simulator":
                what = (
                    "a different simulator (sha256 of its .sklss file "
                    f"{stored} in the store, {value} now)"
                )
            else:
                what = f"{name}={stored!r} (this call passes {name}={value!r})"
            raise ValueError(
                f"path {str(path)!r} holds an incomplete run started with {what}. "
                "Pass the same arguments to complete it, or overwrite=True to start "
                "over."
            )
    if attrs.get("format_version") != STORE_FORMAT_VERSION:
        raise ValueError(
            f"path {str(path)!r} holds a run in store format version "
            f"{attrs.get('format_version')!r}; this sklss ({__version__}) completes "
            f"version {STORE_FORMAT_VERSION}. Pass overwrite=True to start over."
        )
    if attrs.get("sklss_version") != __version__:
        raise ValueError(
            f"path {str(path)!r} holds an incomplete run started with sklss "
            f"{attrs.get('sklss_version')}; completing it with sklss {__version__} "
            "could mix trajectories of two versions. Complete it with that version "
            "or pass overwrite=True to start over."
        )


def _write_chunk(
    simulator, path, index, start, stop, seed, n_steps, decode, decode_stride, segment
):
    """Generate trajectories ``start:stop`` and write them into the store, one time
    segment of ``segment`` latent frames after the other."""
    zarr = _require("zarr")
    worker = _dask_worker()
    with _worker_lock(worker):
        if worker is not None:
            # The lock makes this chunk the worker's only one: all its cores.
            _set_torch_threads(_CHOSEN_THREADS or _dask_threads(worker, per_task=False))
        group = zarr.open_group(str(path), mode="r+")
        # The seeds are drawn as LatentSpaceSimulator.sample draws them: a chunk of
        # one segment is that of sample(n_steps, stop - start, random_state=seed).
        rng = np.random.RandomState(seed)
        z0 = simulator._start(None, stop - start, "auto", rng)
        for lo, hi, latent, configurations in simulator._segments(
            z0,
            n_steps,
            rng,
            decode=decode,
            decode_stride=decode_stride,
            segment=segment,
        ):
            group["latent"][start:stop, lo:hi] = latent
            if "configurations" in group:
                first = lo // decode_stride
                group["configurations"][
                    start:stop, first : first + configurations.shape[1]
                ] = configurations
            del latent, configurations
        # After the data: a chunk marked done is complete on disk.
        group["chunk_done"][index] = 1
    return index


def sample_to_zarr(
    simulator,
    path,
    *,
    n_steps,
    n_trajectories,
    decode=True,
    decode_stride=1,
    chunk_trajectories=None,
    client=None,
    random_state=None,
    overwrite=False,
    verbose=True,
):
    """Generate trajectories into a Zarr store, on a Dask cluster or locally.

    For runs larger than one machine's memory, or to spread generation over many
    machines. The trajectories are generated in chunks of ``chunk_trajectories``;
    each chunk is sampled like :meth:`LatentSpaceSimulator.sample` with a seed
    derived only from ``random_state`` and the chunk's index, and written into
    its own region of the store. Trajectories too long for a chunk to hold in
    about 64 MiB are generated in time segments of that size, each continuing
    from the last frame of the one before. The store is therefore identical bit
    for bit whether one worker, many workers or the local process wrote it (with
    the same number of torch threads in each; see Notes), and a run that was
    interrupted (a killed job, a lost worker) is completed by
    calling this function again with the same arguments: only the missing chunks
    are generated.

    Parameters
    ----------
    simulator : LatentSpaceSimulator
        A fitted simulator.
    path : str or path-like
        The store: a directory (conventionally ``*.zarr``; missing parent
        directories are created). On a cluster, every worker must see it at this
        path (a shared file system).
    n_steps : int
        Propagator steps per trajectory (``n_steps + 1`` latent frames).
    n_trajectories : int
        Trajectories to generate.
    decode : bool, default=True
        Decode and store configurations (when the simulator has a decoder).
    decode_stride : int, default=1
        Decode every ``decode_stride``-th latent frame.
    chunk_trajectories : int or None, default=None
        Trajectories per chunk, advanced together: the unit of work and of
        resumption. A worker generates one chunk at a time, holding at most about
        64 MiB of it in memory (one time segment). None chooses as many whole
        trajectories as make about 64 MiB of output, and at least 32. The result
        depends on it (it sets the seeds), not on the number of workers.
    client : dask.distributed.Client or None, default=None
        Generate on this cluster: the simulator is sent to every worker once, and
        each worker writes its chunks directly into the store, one chunk at a
        time, with torch using the worker's share of its host's cores. None
        generates the chunks one after the other in this process.
    random_state : int or None, default=None
        Seed of the run. None draws one; it is recorded in the store, and a
        resumed run uses the recorded seed.
    overwrite : bool, default=False
        Replace a store already at ``path`` (complete or not) by a new run.
    verbose : bool, default=True
        Show a progress bar over the chunks.

    Returns
    -------
    ZarrTrajectories
        The complete store, opened for reading (see
        :func:`open_zarr_trajectories`).

    Raises
    ------
    TypeError
        An argument has the wrong type (``simulator`` is not a
        ``LatentSpaceSimulator``, ``client`` is not a ``dask.distributed.Client``,
        ``random_state`` is a ``RandomState``...).
    ValueError
        A size is out of range; ``path`` holds a complete run (and
        ``overwrite=False``), an incomplete run started with other arguments, or
        something that is not a sklss store (never deleted); the output would
        not fit on the disk, or one time segment of a chunk in memory.
    ImportError
        zarr (or, with a ``client``, dask.distributed) is not installed.

    See Also
    --------
    open_zarr_trajectories : read a store back, lazily.
    LatentSpaceSimulator.sample : the generation in memory.

    Notes
    -----
    The store holds the arrays ``latent`` ``(n_trajectories, n_steps + 1,
    n_components)`` and, when decoding, ``configurations`` ``(n_trajectories,
    n_decoded, n_outputs)``, in the simulator's dtype; ``chunk_done`` marks the
    chunks written (each chunk's marker is written after its data). Its
    attributes record the sklss version, the simulator's class and checksum (the
    sha256 of its ``.sklss`` file), the seed and every chunk's seed, the lag
    time, time step (and ``time_unit`` when named), decode stride, sizes and
    chunk layout (``segment_frames``:
    the latent frames of a time segment, also the Zarr chunk length along time),
    the topology (for molecular simulators) and, last, ``complete=True``.

    A chunk of one segment is exactly ``simulator.sample(n_steps,
    chunk_trajectories, random_state=seed)`` with the chunk's seed; later
    segments draw their seeds from the same generator in turn. Bit for bit
    equality needs the same CPU kind and library builds, and the same number of
    torch threads in every worker: float32 matrix products can differ in the
    last bits with the number of threads (``client.run(set_worker_threads, 1)``
    gives every worker one).

    Examples
    --------
    >>> import os, tempfile
    >>> from sklss import LatentSpaceSimulator, MDNPropagator, SRVTransformer
    >>> from sklss import open_zarr_trajectories, sample_to_zarr
    >>> from sklss.datasets import make_metastable_hmm
    >>> X = make_metastable_hmm(n_frames=1_000, n_trajectories=2, random_state=0)
    >>> sim = LatentSpaceSimulator(
    ...     encoder=SRVTransformer(n_components=1, max_epochs=2),
    ...     propagator=MDNPropagator(n_kernels=2, max_epochs=2),
    ...     lagtime=5, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.zarr")
    >>> store = sample_to_zarr(sim, path, n_steps=100, n_trajectories=4,
    ...                        chunk_trajectories=2, random_state=0, verbose=False)
    >>> store.latent.shape
    (4, 101, 1)
    >>> open_zarr_trajectories(path).latent[:, -1].compute().shape
    (4, 1)
    """
    zarr = _require("zarr")
    _check_simulator(simulator)
    path = check_path(path).absolute()
    n_steps = check_int(n_steps, "n_steps", 0)
    n_trajectories = check_int(n_trajectories, "n_trajectories", 1)
    decode = check_bool(decode, "decode")
    decode_stride = check_int(decode_stride, "decode_stride", 1)
    if chunk_trajectories is not None:
        chunk_trajectories = min(
            check_int(chunk_trajectories, "chunk_trajectories", 1), n_trajectories
        )
    client = _check_client(client)
    seed = random_state = check_seed(
        random_state,
        reason="the seed is recorded in the store to resume and reproduce the run",
    )
    overwrite = check_bool(overwrite, "overwrite")
    verbose = check_bool(verbose, "verbose")
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"path {str(path)!r} is a file; expected a directory for the Zarr "
            "store (or a path that does not exist yet)."
        )
    path.parent.mkdir(parents=True, exist_ok=True)

    attrs = _read_attrs(path) if path.exists() else None
    if path.exists() and attrs is None and any(path.iterdir()):
        raise ValueError(
            f"path {str(path)!r} exists and is not a sklss trajectory store; it is "
            "left alone (also with overwrite=True). Choose another path."
        )
    checksum, checksum_of = _simulator_checksum(simulator)
    resuming = attrs is not None and not overwrite
    if resuming:
        if attrs.get("complete"):
            raise ValueError(
                f"path {str(path)!r} holds a complete run already; open it with "
                "open_zarr_trajectories, or pass overwrite=True to replace it."
            )
        _check_resume(
            path,
            attrs,
            {
                "simulator": checksum,
                "n_steps": n_steps,
                "n_trajectories": n_trajectories,
                "decode": decode,
                "decode_stride": decode_stride,
                "chunk_trajectories": chunk_trajectories,
                "random_state": seed,
            },
        )
    else:
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
        attrs, shapes, dtypes, chunks = _plan_run(
            simulator,
            n_steps=n_steps,
            n_trajectories=n_trajectories,
            decode=decode,
            decode_stride=decode_stride,
            chunk_trajectories=chunk_trajectories,
            random_state=random_state,
            seed=seed,
            checksum=checksum,
            checksum_of=checksum_of,
        )
        replaced = _directory_bytes(path) if path.exists() else 0
        _check_space(
            path.parent,
            attrs,
            _chunk_bytes(shapes, dtypes, attrs["chunk_trajectories"]),
            attrs["n_chunks"],
            per_segment=_chunk_bytes(chunks, dtypes, attrs["chunk_trajectories"]),
            freed=replaced,
            local=client is None,
        )
        _create_store(path, attrs, shapes, dtypes, chunks)

    chunk = attrs["chunk_trajectories"]
    seeds = attrs["chunk_seeds"]
    missing = np.flatnonzero(~_chunk_done(path)).tolist()
    if resuming:
        group = zarr.open_group(str(path), mode="r")
        names = [n for n in ("latent", "configurations") if n in group]
        dtypes = {n: np.dtype(group[n].dtype) for n in names}
        _check_space(
            path.parent,
            attrs,
            _chunk_bytes({n: group[n].shape for n in names}, dtypes, chunk),
            len(missing),
            per_segment=_chunk_bytes(
                {n: group[n].chunks for n in names}, dtypes, chunk
            ),
            freed=0,
            local=client is None,
        )
    tasks = [
        (i, i * chunk, min((i + 1) * chunk, n_trajectories), seeds[i]) for i in missing
    ]
    args = (n_steps, decode, decode_stride, attrs["segment_frames"])
    from tqdm.auto import tqdm

    with tqdm(
        total=attrs["n_chunks"],
        initial=attrs["n_chunks"] - len(missing),
        desc="sample_to_zarr",
        unit="chunk",
        disable=not verbose,
    ) as bar:
        if client is None:
            for i, start, stop, s in tasks:
                _write_chunk(simulator, path, i, start, stop, s, *args)
                bar.update()
        else:
            _run_on_cluster(client, simulator, path, tasks, args, bar)
    group = zarr.open_group(str(path), mode="r+")
    if not np.asarray(group["chunk_done"][:]).all():  # pragma: no cover - defensive
        raise RuntimeError(f"Some chunks of {str(path)!r} were not written.")
    _update_attrs(group, {"complete": True})
    return open_zarr_trajectories(path)


def run_tasks(client, function, tasks, bar):
    """Run ``function(*args)`` for every ``args`` of ``tasks`` on the cluster,
    updating ``bar`` as they finish; the first failure raises its error (and
    cancels the rest)."""
    from distributed import as_completed

    futures = [client.submit(function, *args, pure=False) for args in tasks]
    try:
        for future in as_completed(futures, loop=client.loop):
            future.result()
            bar.update()
    finally:
        client.cancel(futures)


def _run_on_cluster(client, simulator, path, tasks, args, bar):
    if not tasks:
        return
    # A fresh key: one equal to a released earlier scatter could race its release.
    shared = client.scatter(simulator, broadcast=True, hash=False)
    run_tasks(
        client,
        _write_chunk,
        [(shared, str(path), i, start, stop, s, *args) for i, start, stop, s in tasks],
        bar,
    )


def _plan_run(
    simulator,
    *,
    n_steps,
    n_trajectories,
    decode,
    decode_stride,
    chunk_trajectories,
    random_state,
    seed,
    checksum,
    checksum_of,
):
    """The attributes, array shapes, dtypes and Zarr chunks of a new run."""
    # A two-frame sample tells the output dtypes of this simulator.
    probe = simulator.sample(
        1, n_trajectories=1, random_state=0, decode=decode, decode_stride=1
    )
    decoded = probe.configurations is not None
    n_frames = n_steps + 1
    n_decoded = -(-n_frames // decode_stride) if decoded else 0
    widths = (probe.latent.shape[-1], probe.configurations.shape[-1] if decoded else 0)
    dtypes = {"latent": probe.latent.dtype}
    shapes = {"latent": (n_trajectories, n_frames, widths[0])}
    if decoded:
        dtypes["configurations"] = probe.configurations.dtype
        shapes["configurations"] = (n_trajectories, n_decoded, widths[1])
    itemsizes = (
        dtypes["latent"].itemsize,
        dtypes.get("configurations", np.dtype("f8")).itemsize,
    )
    chunk, segment, latent_chunks, decoded_chunks = _layout(
        n_trajectories, n_frames, widths, itemsizes, decode_stride, chunk_trajectories
    )
    chunks = {"latent": latent_chunks, "configurations": decoded_chunks}
    n_chunks = -(-n_trajectories // chunk)
    input_timestep = getattr(simulator, "timestep_", simulator.timestep)
    unit = 1.0 if input_timestep is None else float(input_timestep)
    meta = {
        "format": STORE_FORMAT,
        "format_version": STORE_FORMAT_VERSION,
        "complete": False,
        "sklss_version": __version__,
        "simulator_class": type(simulator).__name__,
        "simulator_sha256": checksum,
        "simulator_checksum_of": checksum_of,
        "n_steps": n_steps,
        "n_trajectories": n_trajectories,
        "decode": decode,
        "decode_stride": decode_stride,
        "lagtime": int(simulator.lagtime_),
        "timestep": int(simulator.lagtime_) * unit,
        "time_unit": (
            getattr(simulator, "time_unit_", None) if input_timestep else None
        ),
        "input_timestep": None if input_timestep is None else float(input_timestep),
        "random_state": random_state,
        "seed": seed,
        "chunk_trajectories": chunk,
        "segment_frames": segment,
        "n_chunks": n_chunks,
        "chunk_seeds": [_chunk_seed(seed, i) for i in range(n_chunks)],
        "topology": _topology_json(simulator) if decoded else None,
    }
    return meta, shapes, dtypes, chunks


def _chunk_bytes(shapes, dtypes, n_trajectories):
    """Bytes of the output of ``n_trajectories`` trajectories (uncompressed), or,
    given the Zarr chunk shapes, of one segment."""
    return sum(
        n_trajectories
        * int(np.prod(shapes[name][1:]))
        * np.dtype(dtypes[name]).itemsize
        for name in shapes
        if shapes[name] is not None
    )


def _directory_bytes(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _check_space(directory, attrs, per_chunk, n_chunks, *, per_segment, freed, local):
    """Refuse a run whose output cannot fit on the disk (or a segment of a chunk
    in memory)."""
    needed = per_chunk * n_chunks
    free = shutil.disk_usage(directory).free + freed
    if needed > free:
        raise ValueError(
            f"n_steps={attrs['n_steps']}, n_trajectories={attrs['n_trajectories']} "
            f"and decode_stride={attrs['decode_stride']} write about "
            f"{needed / 2**30:.2f} GiB (before compression) and {str(directory)!r} "
            f"has {free / 2**30:.2f} GiB free; reduce n_steps or n_trajectories, "
            "raise decode_stride, or choose another path."
        )
    if local:
        # The sampler's working copies roughly double a segment while it decodes.
        check_fits_in_memory(
            2 * per_segment, {"chunk_trajectories": attrs["chunk_trajectories"]}
        )


# --------------------------------------------------------------------- reading


class ZarrTrajectories:
    """Trajectories written by :func:`sample_to_zarr`, read lazily.

    Returned by :func:`open_zarr_trajectories` (and :func:`sample_to_zarr`).
    Nothing is read until asked for: slice the Dask arrays and call
    ``.compute()``, or use :meth:`to_numpy` and :meth:`to_mdtraj`.

    Attributes
    ----------
    path : pathlib.Path
        The store.
    latent : dask.array.Array of shape (n_trajectories, n_steps + 1, n_components)
        The latent trajectories; frame 0 is the start.
    configurations : dask.array.Array of shape (n_trajectories, n_decoded, \
n_outputs) or None
        Decoded configurations of every ``decode_stride``-th latent frame, None
        when the run did not decode.
    attrs : dict
        Everything the store records about the run (see :func:`sample_to_zarr`).
    complete : bool
        Whether every chunk has been written.
    chunk_done : ndarray of bool of shape (n_chunks,)
        Which chunks have been written; trajectories of missing chunks read as
        NaN.
    timestep : float
        Time between consecutive latent frames, in the simulator's time units.
    decode_stride : int
        Latent frames between consecutive decoded configurations.
    topology : mdtraj.Topology or None
        The atoms of the decoded configurations, for molecular simulators.
    """

    def __init__(self, path, attrs, latent, configurations, chunk_done):
        self.path = path
        self.attrs = attrs
        self.latent = latent
        self.configurations = configurations
        self.chunk_done = chunk_done
        self.complete = bool(attrs.get("complete")) and bool(chunk_done.all())
        self.timestep = attrs["timestep"]
        self.decode_stride = attrs["decode_stride"]
        self._topology = None

    @property
    def n_trajectories(self):
        return self.latent.shape[0]

    @property
    def topology(self):
        if self._topology is None and self.attrs.get("topology") is not None:
            from ._serialization import _topology_from_json

            self._topology = _topology_from_json(self.attrs["topology"])
        return self._topology

    def to_numpy(self):
        """Read the whole store into memory.

        Returns
        -------
        sklearn.utils.Bunch
            ``latent`` and ``configurations`` (None without decoding) as
            ndarrays, with ``timestep`` and ``decode_stride``.

        Raises
        ------
        ValueError
            The arrays would not fit in the available memory.
        """
        from sklearn.utils import Bunch

        arrays = [self.latent] + (
            [] if self.configurations is None else [self.configurations]
        )
        check_fits_in_memory(
            sum(a.nbytes for a in arrays), {"the store": str(self.path)}
        )
        return Bunch(
            latent=np.asarray(self.latent.compute()),
            configurations=None
            if self.configurations is None
            else np.asarray(self.configurations.compute()),
            timestep=self.timestep,
            decode_stride=self.decode_stride,
        )

    def to_mdtraj(self, trajectory):
        """One generated trajectory's decoded configurations as a Trajectory.

        Parameters
        ----------
        trajectory : int
            Index of the trajectory (negative indices count from the end).

        Returns
        -------
        mdtraj.Trajectory
            Times in the units of the simulator's ``timestep``.

        Raises
        ------
        TypeError
            ``trajectory`` is not an int.
        ValueError
            ``trajectory`` is out of range or not written yet, or the store holds
            no configurations or no topology.
        """
        from ._molecules import to_trajectory

        n = self.n_trajectories
        trajectory = check_int(trajectory, "trajectory")
        if not -n <= trajectory < n:
            raise ValueError(
                f"trajectory must be an index in [{-n}, {n - 1}] (the store holds "
                f"{n} trajectories); got {trajectory}."
            )
        if self.configurations is None:
            raise ValueError(
                "This store holds no configurations (no decoder, or decode=False)."
            )
        if self.topology is None:
            raise ValueError(
                "This store holds no topology to build structures with (the "
                "simulator was not fitted on molecular targets)."
            )
        index = trajectory % n
        if not self.chunk_done[index // self.attrs["chunk_trajectories"]]:
            raise ValueError(
                f"trajectory {trajectory} has not been written yet (its chunk is "
                "missing); complete the run with sample_to_zarr first."
            )
        X = np.asarray(self.configurations[index].compute())
        traj = to_trajectory(X, self.topology)
        traj.time = np.arange(traj.n_frames) * self.timestep * self.decode_stride
        return traj

    def __repr__(self):
        conf = None if self.configurations is None else self.configurations.shape
        state = "complete" if self.complete else "incomplete"
        return (
            f"ZarrTrajectories({str(self.path)!r}, latent={self.latent.shape}, "
            f"configurations={conf}, {state})"
        )


def open_zarr_trajectories(path, *, allow_incomplete=False):
    """Open trajectories written by :func:`sample_to_zarr`, lazily.

    Parameters
    ----------
    path : str or path-like
        The store.
    allow_incomplete : bool, default=False
        Also open a store whose run has not finished (its missing trajectories
        read as NaN; ``chunk_done`` tells which are written).

    Returns
    -------
    ZarrTrajectories
        ``latent`` and ``configurations`` as Dask arrays, the run's attributes,
        ``to_numpy()`` and ``to_mdtraj(i)``.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    ValueError
        ``path`` is not a sklss trajectory store, was written in a newer store
        format, or holds an incomplete run and ``allow_incomplete=False``.
    ImportError
        zarr or dask is not installed.

    Examples
    --------
    >>> store = open_zarr_trajectories("run.zarr")  # doctest: +SKIP
    >>> store.latent[:, ::10].mean(axis=(0, 1)).compute()  # doctest: +SKIP
    """
    da = _require("dask.array")
    zarr = _require("zarr")
    path = check_path(path).absolute()
    allow_incomplete = check_bool(allow_incomplete, "allow_incomplete")
    if not path.exists():
        raise FileNotFoundError(f"No trajectory store at {str(path)!r}.")
    attrs = _read_attrs(path)
    if attrs is None:
        raise ValueError(
            f"path {str(path)!r} is not a sklss trajectory store (written by "
            "sample_to_zarr)."
        )
    if attrs.get("format_version") != STORE_FORMAT_VERSION:
        raise ValueError(
            f"path {str(path)!r} uses store format version "
            f"{attrs.get('format_version')!r}; this sklss ({__version__}) reads "
            f"version {STORE_FORMAT_VERSION}. Upgrade sklss."
        )
    done = _chunk_done(path)
    if not (attrs.get("complete") and done.all()) and not allow_incomplete:
        raise ValueError(
            f"path {str(path)!r} holds an incomplete run ({int(done.sum())} of "
            f"{len(done)} chunks written). Complete it by calling sample_to_zarr "
            "again with the same arguments, or pass allow_incomplete=True to read "
            "what is there (missing trajectories read as NaN)."
        )
    group = zarr.open_group(str(path), mode="r")
    latent = da.from_zarr(str(path), component="latent")
    configurations = (
        da.from_zarr(str(path), component="configurations")
        if "configurations" in group
        else None
    )
    return ZarrTrajectories(path, attrs, latent, configurations, done)
