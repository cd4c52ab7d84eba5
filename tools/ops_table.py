"""Generate README's supported-ops section from the op table, so it cannot drift.

python tools/ops_table.py          print the section
python tools/ops_table.py --write  rewrite it in README.md
"""

from __future__ import annotations

import pathlib
import sys

START, END = "<!-- ops-table:start -->", "<!-- ops-table:end -->"
README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def section() -> str:
    """The markdown between the markers: ops grouped by family, with sample counts."""
    from ember.ops import OPS

    families: dict[str, list] = {}
    for spec in OPS.values():
        families.setdefault(spec.family or "other", []).append(spec)
    n_samples = sum(len(spec.samples) for spec in OPS.values())
    lines = [
        START,
        f"{len(OPS)} ops in the op table, {n_samples} samples; each is checked against finite "
        "differences (first and second order) and against PyTorch (values and vector-Jacobian "
        "products) by `tests/ops/test_op_table.py`.",
        "",
        "| family | ops |",
        "| --- | --- |",
    ]
    for family in sorted(families):
        names = ", ".join(f"`{s.name}`" for s in sorted(families[family], key=lambda s: s.name))
        lines.append(f"| {family} | {names} |")
    lines.append(END)
    return "\n".join(lines)


def current() -> str:
    """The section as README.md has it now."""
    text = README.read_text()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0:
        return ""
    return text[start : end + len(END)]


def main(argv) -> int:
    new = section()
    if "--write" in argv:
        text = README.read_text()
        old = current()
        README.write_text(text.replace(old, new) if old else text + "\n" + new + "\n")
    else:
        print(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
