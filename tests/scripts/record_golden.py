"""(Re-)record the golden run directories: tests/golden/<case>/ for every case, or those named.

    /work/main/.venv/bin/python tests/scripts/record_golden.py                  # every case
    /work/main/.venv/bin/python tests/scripts/record_golden.py labeled 'export_*' # names or globs

Run from the repository root (`python -m tests.scripts.record_golden` works too). Review the diff
(`git diff --stat tests/golden`) before committing: the recorded files are the contract that
tests/test_golden.py holds the code to.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.golden_cases import CASES, PACKAGES
from tests.golden_tree import GOLDEN, differences, run_case, write_recorded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help=f"case names or globs (default: all): {', '.join(CASES)}")
    args = parser.parse_args()
    names = [name for name in CASES if not args.cases or any(fnmatch.fnmatchcase(name, p) for p in args.cases)]
    unmatched = [p for p in args.cases if not fnmatch.filter(CASES, p)]
    if unmatched:
        parser.error(f"no case matches {', '.join(unmatched)}; known: {', '.join(CASES)}")
    for name in names:
        files = run_case(CASES[name], name, PACKAGES)
        state = "new" if not (GOLDEN / name).exists() else "changed" if differences(name, files) else "unchanged"
        write_recorded(name, files)
        size = sum(len(data) for data in files.values())
        print(f"{name:<16} {len(files):>3} files {size / 1024:>8.1f} KiB  {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
