"""The generated parts of bench/RESULTS.md: each benchmark rewrites only the text between its own two markers, so
the prose written around a table by hand stays (one function for every benchmark that records this way)."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def replace_generated(begin: str, end: str, block: str, *intro: str, path: Path = RESULTS) -> None:
    """Put `block` between the markers `begin` and `end`; where they are not yet in the file, append the `intro`
    paragraphs (a section heading, its method) and the markers with `block` at its end."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    generated = f"{begin}\n{block}\n{end}"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        text = head + generated + rest.partition(end)[2]
    else:
        text = text.rstrip("\n") + "".join(f"\n\n{paragraph}" for paragraph in intro) + f"\n\n{generated}\n"
    path.write_text(text)
