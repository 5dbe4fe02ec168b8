"""Replace one ``## `` section of a results file, keeping the others."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, heading: str, section: str, *, title: str) -> None:
    """Write ``section`` (starting with ``heading``) into ``path``.

    The section under ``heading`` is replaced up to the next ``## `` heading;
    a file without it gets the section appended, and a missing file is made
    with ``# title`` first.
    """
    text = path.read_text() if path.exists() else f"# {title}\n\n"
    if heading in text:
        head, _, tail = text.partition(heading)
        rest = tail.split("\n## ", 1)
        text = head + section + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)
