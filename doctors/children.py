"""Running one of the project's modules as a child Python process (the import
reader's sandbox, the history chain's hasher): its command, and an environment
of its own, without the parent's settings or secrets.

Imported by those modules when they run as the child too: no Django here.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a child keeps of the parent's environment.
KEPT = ("PATH", "LANG", "LC_ALL", "TMPDIR", "HOME")


def command(module: str) -> list[str]:
    """`python -m module` with the parent's interpreter."""
    return [sys.executable, "-m", module]


def environment() -> dict[str, str]:
    """The parent's KEPT variables, and the project on PYTHONPATH."""
    kept = {key: value for key, value in os.environ.items() if key in KEPT}
    kept["PYTHONPATH"] = str(ROOT)
    return kept
