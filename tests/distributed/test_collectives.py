"""ember.distributed collectives on 2 MPI ranks (one mpirun; each check is one test)."""

import pytest

from tests.distributed import mpi_collectives
from tests.distributed._mpirun import check_results, mpirun


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("collectives")
    code, output = mpirun("mpi_collectives.py", args=[str(report_dir)])
    found = check_results(report_dir)
    assert code == 0 and found, f"mpirun exited with {code}:\n{output}"
    return found


@pytest.mark.parametrize("name", list(mpi_collectives.CHECKS))
@pytest.mark.parametrize("rank", [0, 1])
def test_collective(results, name, rank):
    assert results.get((name, rank)) == "ok", results.get((name, rank), "no result")
