"""Print lines of code per package under src/ember, so growth is seen in CI."""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "src" / "ember"
BUDGET_PER_FILE = 800  # files by op family stay well under this


def main() -> int:
    totals = {}
    too_long = []
    for path in sorted(ROOT.rglob("*.py")):
        lines = sum(1 for line in path.read_text().splitlines() if line.strip())
        package = path.parent.relative_to(ROOT.parent).as_posix()
        totals[package] = totals.get(package, 0) + lines
        if lines > BUDGET_PER_FILE:
            too_long.append(f"{path.relative_to(ROOT.parent)} ({lines})")
    width = max(len(p) for p in totals)
    for package, lines in totals.items():
        print(f"{package:<{width}}  {lines:6d}")
    print(f"{'total':<{width}}  {sum(totals.values()):6d}")
    if too_long:
        print(f"files over {BUDGET_PER_FILE} non-blank lines: {', '.join(too_long)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
