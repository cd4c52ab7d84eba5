"""README stays true: its supported-ops table is the op table's."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_ops_table_is_current():
    tool = load_tool("ops_table")
    assert tool.current() == tool.section(), (
        "README's supported-ops table is stale: run `python tools/ops_table.py --write`"
    )


def test_readme_api_coverage_is_current():
    pytest.importorskip("torch", reason="the coverage table is measured against torch")
    tool = load_tool("api_coverage")
    assert tool.current() == tool.section(), (
        "README's API-coverage table is stale: run `python tools/api_coverage.py --write`"
    )
