"""A rank that exits early makes the others raise a clear RuntimeError, not hang."""

from tests.distributed._mpirun import mpirun


def test_early_exit_times_out(tmp_path):
    code, output = mpirun("mpi_timeout.py", args=[str(tmp_path)], timeout=45)
    report = tmp_path / "rank0.txt"
    assert report.exists(), f"rank 0 wrote nothing (mpirun exit {code}):\n{output}"
    raised, after = report.read_text().splitlines()
    word, seconds, message = raised.split(" ", 2)
    assert word == "RAISED", raised
    assert 2.0 <= float(seconds) < 10.0, raised
    assert "all_reduce timed out after 2 s on rank 0 of 2" in message, message
    assert after.startswith("AFTER barrier: the process group is unusable"), after
    # rank 0 caught the error and exited normally: it still ended the job (rank 1 was
    # waiting for it in MPI's finalize), with a failing status
    assert code != 0 and "ending the whole job (MPI_Abort)" in output, output
