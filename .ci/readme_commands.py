"""Print one of the README's two commands exactly as written: `first` (install and run the demo) or `test`.

CI runs them word for word, so the README cannot drift from what is checked.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def bash_blocks(text: str) -> list[str]:
    """The non-comment lines of every ```bash block, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = []
    for block in blocks:
        lines += [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return lines


def main(which: str) -> str:
    lines = bash_blocks(README.read_text(encoding="utf-8"))
    if which == "first":
        return lines[0]
    if which == "test":
        found = [ln for ln in lines if "pytest" in ln]
        if not found:
            raise SystemExit("README.md has no test command (a bash line running pytest)")
        return found[0]
    raise SystemExit(f"usage: {sys.argv[0]} first|test")


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else ""))
