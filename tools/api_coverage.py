"""Measure how much of PyTorch's public API ember has, per namespace, and keep README's table.

python tools/api_coverage.py                  print the table (needs torch installed)
python tools/api_coverage.py --write          rewrite README's section
python tools/api_coverage.py --missing NS     list the names of namespace NS ember lacks

A public name is one that does not start with an underscore and that the namespace defines
rather than imports (submodules, typing helpers and stdlib functions are left out; each
namespace that matters has its own row). A name counts as
present when the same path exists in ember.
"""

from __future__ import annotations

import importlib
import pathlib
import sys
import types

START, END = "<!-- api-coverage:start -->", "<!-- api-coverage:end -->"
README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
NAMESPACES = [
    "torch",
    "torch.Tensor",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.init",
    "torch.nn.utils",
    "torch.optim",
    "torch.optim.lr_scheduler",
    "torch.utils.data",
    "torch.autograd",
    "torch.linalg",
    "torch.distributions",
    "torch.special",
]


def _resolve(root, path: str):
    obj = root
    for part in path.split(".")[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def public_names(namespace: str) -> list[str]:
    """torch's public names in `namespace` (torch must be importable)."""
    import torch

    obj = _resolve(torch, namespace)
    names = [n for n in dir(obj) if not n.startswith("_")]
    if isinstance(obj, types.ModuleType):
        names = [n for n in names if _is_torch_name(getattr(obj, n, None))]
    return sorted(names)


def _is_torch_name(value) -> bool:
    """False for what a module merely imports: submodules, typing helpers, stdlib functions."""
    if isinstance(value, types.ModuleType):
        return False
    if callable(value):
        return str(getattr(value, "__module__", "") or "").startswith("torch")
    return type(value).__module__ not in ("typing", "__future__", "typing_extensions")


def _has(ember_obj, name: str) -> bool:
    try:
        return ember_obj is not None and getattr(ember_obj, name, None) is not None
    except Exception:  # noqa: BLE001  (a lazily refused name is still a missing one)
        return False


def coverage(namespace: str) -> tuple[list[str], list[str]]:
    """(present, missing) names of `namespace` in ember."""
    import ember

    try:  # a submodule such as ember.nn.utils may need importing
        importlib.import_module("ember" + namespace.removeprefix("torch"))
    except ImportError:
        pass
    ember_obj = _resolve(ember, namespace)
    present, missing = [], []
    for name in public_names(namespace):
        (present if _has(ember_obj, name) else missing).append(name)
    return present, missing


def section() -> str:
    """The README section between the markers."""
    import torch

    lines = [
        START,
        f"Public names of PyTorch {torch.__version__.split('+')[0]} that ember has, per "
        "namespace (`python tools/api_coverage.py --write`; `--missing torch.nn` lists the "
        "rest; a test fails when this table is stale).",
        "",
        "| namespace | PyTorch names | in ember | coverage |",
        "| --- | ---: | ---: | ---: |",
    ]
    for namespace in NAMESPACES:
        present, missing = coverage(namespace)
        total = len(present) + len(missing)
        lines.append(
            f"| `{namespace}` | {total} | {len(present)} | {100 * len(present) / total:.0f}% |"
        )
    lines.append(END)
    return "\n".join(lines)


def current() -> str:
    """The section as README.md has it now."""
    text = README.read_text()
    start, end = text.find(START), text.find(END)
    return "" if start < 0 or end < 0 else text[start : end + len(END)]


def main(argv) -> int:
    if argv[:1] == ["--missing"] and len(argv) == 2:
        print("\n".join(coverage(argv[1])[1]))
        return 0
    new = section()
    if argv == ["--write"]:
        text = README.read_text()
        old = current()
        if not old:
            print(f"README.md has no {START} ... {END} markers", file=sys.stderr)
            return 1
        README.write_text(text.replace(old, new))
        return 0
    print(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
