"""ember.distributed without a launcher: imports, availability and argument errors."""

import datetime
import subprocess
import sys

import pytest

import ember
import ember.distributed as dist
from ember.nn.parallel import DistributedDataParallel


def test_ember_imports_without_touching_mpi():
    code = (
        "import sys; import ember, ember.distributed, ember.nn.parallel, "
        "ember.utils.data.distributed; assert 'mpi4py.MPI' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # makes `import mpi4py` fail
    assert dist.is_available() is False
    with pytest.raises(RuntimeError, match="pip install mpi4py"):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_other_backends_are_refused():
    for backend in ("nccl", "gloo"):
        with pytest.raises(ValueError, match=f"backend '{backend}' is not supported.*mpirun"):
            dist.init_process_group(backend)
    with pytest.raises(TypeError, match="timedelta"):
        dist.init_process_group("mpi", timeout=30)
    assert not dist.is_initialized()


def test_calls_before_init_raise_pytorchs_error():
    message = "Default process group has not been initialized"
    for call in (
        dist.get_rank,
        dist.get_world_size,
        dist.barrier,
        dist.destroy_process_group,
        lambda: dist.all_reduce(ember.ones(2)),
        lambda: DistributedDataParallel(ember.nn.Linear(2, 2)),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match="expected tensor to be a Tensor"):
        dist.broadcast([1.0], src=0)


def test_reduce_op_and_default_timeout():
    assert [op.name for op in dist.ReduceOp][:5] == ["SUM", "AVG", "PRODUCT", "MIN", "MAX"]
    assert dist.default_pg_timeout == datetime.timedelta(minutes=30)
