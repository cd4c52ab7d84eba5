"""ember.onnx imports without the onnx package; export then says how to get it."""

from __future__ import annotations

import subprocess
import sys


def test_import_without_onnx_and_the_install_hint():
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "import ember, ember.onnx\n"
        "try:\n"
        "    ember.onnx.export(ember.nn.Linear(2, 2), ember.randn(1, 2), None)\n"
        "except ModuleNotFoundError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install onnx" in out.stdout
