"""Replace one ``## `` section of a results file, keeping the others."""

from __future__ import annotations

import re
from pathlib import Path


def replace_section(path: Path, heading: str, section: str, *, title: str) -> None:
    """Write ``section`` (starting with ``heading``) into ``path``.

    The section under ``heading`` (a whole line: ``"## A"`` is not found in
    ``"## A: b"``) is replaced up to the next ``## `` heading; a file without
    it gets the section appended, and a missing file is made with ``# title``
    first.
    """
    text = path.read_text() if path.exists() else f"# {title}\n\n"
    found = re.search(f"^{re.escape(heading)}$", text, flags=re.MULTILINE)
    if found:
        head, tail = text[: found.start()], text[found.end() :]
        rest = tail.split("\n## ", 1)
        text = head + section + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)
