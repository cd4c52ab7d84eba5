"""The default process group: MPI's COMM_WORLD through mpi4py, imported on first use.

Every collective is started non-blocking (Iallreduce, Ibarrier, ...) and finished by polling
its request, so a rank that exits or hangs makes the others raise a RuntimeError after the
group's timeout instead of waiting forever. Polling is also what progresses OpenMPI's
non-blocking collectives, which have no progress thread of their own.

A rank whose collective timed out ends the whole job when its interpreter exits (MPI_Abort on
COMM_WORLD, after the error has been raised and printed, or caught and handled): MPI's normal
finalize would wait for the peer that never answered, and the launcher would keep every
process of the job alive.
"""

from __future__ import annotations

import atexit
import datetime
import importlib.util
import os
import sys
import threading
import time

default_pg_timeout = datetime.timedelta(minutes=30)

MPI_HELP = (
    "ember.distributed runs on MPI through mpi4py. Install an MPI and mpi4py (e.g. "
    "`apt-get install openmpi-bin libopenmpi-dev` then `pip install mpi4py`) and launch the "
    "script with `mpirun -n 2 python script.py`."
)
NOT_INITIALIZED = (
    "Default process group has not been initialized, please make sure to call init_process_group."
)

# A wait first polls flat out (small messages finish within microseconds), then polls giving
# the core away between tests (sched_yield), then sleeps between polls: a long wait costs at
# most 0.5 ms of extra latency and no longer burns a core.
_BUSY_SECONDS = 1e-4
_SPIN_SECONDS = 20e-3
_MAX_SLEEP = 5e-4


class _Group:
    """The state of the default group: its communicator, rank, size and timeout."""

    def __init__(self, comm, timeout):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = timeout
        self.broken = None  # the name of the collective that timed out, if one did


_group: _Group | None = None
_abort_lock = threading.Lock()
_abort_reason: str | None = None  # set once a collective timed out in this process


def _abort_job_at_exit():
    """atexit: a collective of this process timed out, so end every process of the job."""
    if _abort_reason is None:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    print(
        f"ember.distributed: {_abort_reason}; ending the whole job (MPI_Abort) so that no "
        "process waits for it at exit",
        file=sys.stderr,
        flush=True,
    )
    _mpi().COMM_WORLD.Abort(1)


def _mark_job_broken(reason):
    """Make this process abort the job when it exits (registered once, after mpi4py's own
    exit handlers, so it runs before MPI is finalized)."""
    global _abort_reason
    with _abort_lock:
        if _abort_reason is None:
            _abort_reason = reason
            atexit.register(_abort_job_at_exit)


def _mpi():
    """mpi4py's MPI module (importing it initializes MPI)."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(MPI_HELP) from e
    return MPI


def is_available() -> bool:
    """Same as torch.distributed.is_available: True when mpi4py can be imported."""
    try:
        return importlib.util.find_spec("mpi4py.MPI") is not None
    except ImportError:  # no mpi4py package at all
        return False


is_mpi_available = is_available


def is_initialized() -> bool:
    """Same as torch.distributed.is_initialized."""
    return _group is not None


def init_process_group(
    backend=None,
    init_method=None,
    timeout=None,
    world_size=-1,
    rank=-1,
    store=None,
    group_name="",
    pg_options=None,
    device_id=None,
):
    """Same as torch.distributed.init_process_group, on MPI only: rank and world size come from
    the MPI launcher (mpirun); `init_method`, `store` and the rest are accepted and ignored.

    `timeout` (a datetime.timedelta; default `default_pg_timeout`, 30 minutes, as PyTorch's)
    bounds every collective and point-to-point wait of the group; `barrier(timeout=...)` and
    `Work.wait(timeout=...)` override it for one call. When a wait runs past it (a peer
    crashed, exited or hangs), that call raises a RuntimeError naming the collective, the group
    becomes unusable, and when this process exits it ends the whole job with MPI_Abort, so
    the launcher stops every rank instead of leaving them waiting. Pick a timeout above the
    longest time ranks may legitimately drift apart (e.g. rank 0 writing a checkpoint while
    the others wait at the next all_reduce).
    """
    global _group
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(
            f"init_process_group: backend {backend!r} is not supported; ember.distributed runs "
            "on MPI only: use backend='mpi' and launch with `mpirun -n N python script.py`"
        )
    if timeout is None:
        timeout = default_pg_timeout
    if not isinstance(timeout, datetime.timedelta):
        raise TypeError(
            "init_process_group: expected timeout to be a datetime.timedelta, got "
            f"{type(timeout).__name__}"
        )
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if not is_available():
        raise RuntimeError(MPI_HELP)
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()  # our own context: user traffic on COMM_WORLD cannot mix in
    group = _Group(comm, timeout)
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given not in (-1, None) and given != actual:
            comm.Free()
            raise ValueError(
                f"init_process_group: {name}={given}, but the MPI launcher gave this process "
                f"{name}={actual}; leave {name} out (MPI decides it)"
            )
    _group = group


def destroy_process_group(group=None):
    """Same as torch.distributed.destroy_process_group (MPI itself is finalized at exit, or
    the job aborted then if a collective timed out)."""
    global _group
    if _group is None:
        raise ValueError(NOT_INITIALIZED)
    if _group.broken is None:  # a communicator with a stuck request cannot be freed safely
        _group.comm.Free()
    _group = None


def get_group(what, group=None) -> _Group:
    """The default group, checked usable by the collective `what`."""
    if group is not None:
        raise ValueError(f"{what}: only the default group (group=None) is supported")
    if _group is None:
        raise ValueError(NOT_INITIALIZED)
    if _group.broken is not None:
        raise RuntimeError(
            f"{what}: the process group is unusable since `{_group.broken}` timed out; call "
            "destroy_process_group() and exit"
        )
    return _group


def get_rank(group=None) -> int:
    """Same as torch.distributed.get_rank."""
    return get_group("get_rank", group).rank


def get_world_size(group=None) -> int:
    """Same as torch.distributed.get_world_size."""
    return get_group("get_world_size", group).size


def get_backend(group=None) -> str:
    """Same as torch.distributed.get_backend: always "mpi"."""
    get_group("get_backend", group)
    return "mpi"


def wait_all(requests, what, timeout=None, statuses=None):
    """Poll MPI requests until all complete; RuntimeError naming `what` after the timeout."""
    group = _group
    if group is None:
        raise ValueError(NOT_INITIALIZED)
    Testall = _mpi().Request.Testall
    if Testall(requests, statuses):
        return
    limit = (timeout if timeout is not None else group.timeout).total_seconds()
    start = time.monotonic()
    delay = 1e-5
    while not Testall(requests, statuses):
        elapsed = time.monotonic() - start
        if elapsed > limit:
            group.broken = what
            _mark_job_broken(f"{what} timed out after {limit:g} s on rank {group.rank}")
            raise RuntimeError(
                f"ember.distributed.{what} timed out after {limit:g} s on rank {group.rank} of "
                f"{group.size}, waiting for the other ranks (one may have exited, crashed or be "
                "stuck in other work). The limit is init_process_group(timeout=...). This "
                "process will end the whole job (MPI_Abort) when it exits."
            )
        if elapsed < _BUSY_SECONDS:
            continue
        if elapsed < _SPIN_SECONDS:
            os.sched_yield()
        else:
            time.sleep(delay)
            delay = min(delay * 2, _MAX_SLEEP)


class Work:
    """Same as torch.distributed.Work: a started collective that wait() finishes.

    `finish` runs once the MPI requests complete (copying staged data back, averaging);
    `keep` holds the buffers MPI reads and writes until then.
    """

    def __init__(self, requests, what, finish=None, keep=None, statuses=None):
        self._requests = requests
        self._what = what
        self._finish = finish
        self._keep = keep
        self._statuses = statuses
        self._done = False
        self._result = None

    def is_completed(self) -> bool:
        """True once the collective finished (testing also progresses it)."""
        if not self._done and _mpi().Request.Testall(self._requests, self._statuses):
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        """Block until the collective finished; RuntimeError after the timeout."""
        if not self._done:
            wait_all(self._requests, self._what, timeout, self._statuses)
            self._complete()
        return True

    def result(self):
        """What the collective returned (recv: the source rank), after wait()."""
        return self._result

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._result = self._finish()
        self._keep = None
