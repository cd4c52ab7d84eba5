"""Packaging: one version source, the license, the metadata, and `python -m ember` alone."""

import importlib.metadata
import pathlib
import re
import subprocess
import sys

import pytest

import ember

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def project():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_written_once_in_ember_and_read_by_pyproject(project):
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "ember.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", ember.__version__)
    # setuptools reads the assignment without importing ember: it must stay a plain literal
    init = (ROOT / "src" / "ember" / "__init__.py").read_text()
    assert f'\n__version__ = "{ember.__version__}"\n' in init
    assert init.count("__version__ =") == 1


def test_installed_metadata_carries_the_same_version():
    try:
        installed = importlib.metadata.version("ember")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("ember is not installed (pip install -e .)")
    assert installed == ember.__version__


def test_license_is_an_spdx_string_with_its_file(project):
    meta = project["project"]
    assert meta["license"] == "MIT"
    assert meta["license-files"] == ["LICENSE"]
    # a license expression excludes License :: classifiers (setuptools refuses both)
    assert not [c for c in meta["classifiers"] if c.startswith("License ::")]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the ember authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_metadata_names_authors_and_classifiers(project):
    meta = project["project"]
    assert meta["authors"] == [{"name": "the ember authors"}]
    assert "Typing :: Typed" in meta["classifiers"]
    assert any(c.startswith("Development Status ::") for c in meta["classifiers"])
    assert "urls" not in meta  # ember has no public home yet: no made-up addresses


def test_changelog_names_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## {re.escape(ember.__version__)}\b", text, re.M)


def test_python_dash_m_ember_alone_prints_help_and_exits_2():
    result = subprocess.run(
        [sys.executable, "-m", "ember"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: python -m ember")
    for command in ("demo", "train", "evaluate", "graph"):
        assert re.search(rf"^\s+{command}\s", result.stderr, re.M)


def test_python_dash_m_ember_version():
    result = subprocess.run(
        [sys.executable, "-m", "ember", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert result.stdout == f"ember {ember.__version__}\n"
