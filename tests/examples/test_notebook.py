"""examples/autograd_tutorial.ipynb runs top to bottom on ember, every cell without an error."""

import json
import pathlib
import sys

import pytest

NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "examples" / "autograd_tutorial.ipynb"


@pytest.fixture
def kernel_name(tmp_path, monkeypatch):
    """A kernel spec that starts this interpreter, so the notebook runs on the ember under
    test (a 'python3' kernel installed for another Python would not have it)."""
    spec = tmp_path / "jupyter" / "kernels" / "ember-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "ember test", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "ember-test"


def test_the_notebook_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat", reason="reading a notebook needs nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_autograd_tutorial_runs_top_to_bottom(kernel_name, tmp_path):
    for module in ("nbformat", "nbclient", "ipykernel"):
        pytest.importorskip(module, reason=f"running the notebook needs {module} (the test extra)")
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=600,
        allow_errors=False,  # the first cell that raises fails the test, naming the cell
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    # the 2018 spellings still run, each with its warning that says what to write today
    assert "Variable is deprecated" in text and "MyReLU.apply(...)" in text
    # the last cell asserts the fit; its printed gap is what it checked
    assert "largest gap between prediction and target" in text
