"""The documentation stays true: docstring examples, the docs pages' code and README's snippets
run, and the site builds with `mkdocs build --strict` (when MkDocs is installed)."""

import doctest
import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

import ember
from ember import nn, optim
from ember.utils import data

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)

# the main entry points: each docstring has arguments, shapes where they apply, and examples
ENTRY_POINTS = [
    nn.Linear,
    nn.Conv2d,
    nn.LSTM,
    nn.BatchNorm2d,
    nn.CrossEntropyLoss,
    nn.MSELoss,
    nn.Sequential,
    nn.Module,
    optim.SGD,
    optim.Adam,
    data.DataLoader,
    data.Dataset,
    data.TensorDataset,
    ember.autograd.Function,
    ember.no_grad,
]


@pytest.mark.parametrize("obj", ENTRY_POINTS, ids=lambda o: o.__qualname__)
def test_entry_point_examples_run(obj):
    tests = [t for t in doctest.DocTestFinder().find(obj, obj.__qualname__) if t.examples]
    assert tests, f"{obj.__qualname__}'s docstring has no example"
    runner = doctest.DocTestRunner()
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {obj.__qualname__}'s examples failed"


@pytest.mark.parametrize("obj", ENTRY_POINTS, ids=lambda o: o.__qualname__)
def test_entry_point_docstrings_explain_themselves(obj):
    doc = obj.__doc__
    assert not doc.startswith("Same as"), "the first line says what it does, not only its twin"
    assert "Examples:" in doc
    takes_arguments = obj not in (nn.Module, data.Dataset, ember.no_grad, ember.autograd.Function)
    assert ("Args:" in doc) == takes_arguments


def python_blocks(text):
    return PYTHON_BLOCK.findall(text)


@pytest.mark.parametrize("page", ["getting-started.md", "autograd.md"])
def test_docs_page_code_runs_in_order(page, tmp_path, monkeypatch, capsys):
    """A page's blocks build on each other, as a reader runs them: one namespace, in order."""
    monkeypatch.chdir(tmp_path)  # the pages save checkpoints to the working directory
    blocks = python_blocks((DOCS / page).read_text())
    assert blocks
    namespace = {"__name__": "__docs__"}
    for k, block in enumerate(blocks):
        exec(compile(block, f"{page} block {k + 1}", "exec"), namespace)
    printed = capsys.readouterr().out
    if page == "getting-started.md":
        accuracy = [float(a) for a in re.findall(r"test accuracy ([\d.]+)%", printed)]
        assert len(accuracy) == 5 and accuracy[-1] > 80
        assert "True" in printed  # the restored model gives the same outputs


def test_readme_sections_the_site_includes_exist():
    headings = set(re.findall(r"^## (.+)$", README.read_text(), re.MULTILINE))
    included = re.findall(r"^<!-- readme: (.+?) -->", _all_pages(), re.MULTILINE)
    assert included and set(included) <= headings


def _all_pages():
    return "\n".join(p.read_text() for p in DOCS.rglob("*.md"))


README_SNIPPETS = python_blocks(README.read_text())


@pytest.mark.parametrize("k", range(len(README_SNIPPETS)), ids=lambda k: f"snippet{k + 1}")
def test_readme_snippet_runs_on_its_own(k, tmp_path):
    """Each python block of README runs alone in a fresh interpreter, as a reader pastes it."""
    snippet = README_SNIPPETS[k]
    if "init_process_group" in snippet and importlib.util.find_spec("mpi4py") is None:
        pytest.skip("the multi-process snippet needs mpi4py (pip install mpi4py)")
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"README snippet {k + 1} failed:\n{snippet}\n{result.stderr}"


def test_the_site_builds_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.skip(f"building the site needs {module} (pip install -e '.[docs]')")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    reference = (tmp_path / "api" / "nn" / "index.html").read_text()
    assert 'id="ember.nn.Linear"' in reference and "in_features" in reference
    assert (tmp_path / "graph.svg").exists()  # README's picture, included with its section
