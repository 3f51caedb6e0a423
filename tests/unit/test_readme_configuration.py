"""The README's configuration table names every setting of runtime/settings.py, with its real default.

A setting added without a row, or a default changed in one place only, fails here rather than misleading an
operator. Defaults written as words ("generated once", "SQLite in the data dir") are prose and not compared.
"""

from __future__ import annotations

import re
from pathlib import Path

from cellplane.runtime.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
WORDS = {"on": True, "off": False, "`true`": True, "`false`": False, "empty": ""}


def configuration_rows() -> dict[str, str]:
    """CELLPLANE_* variable -> its default cell as written, from the table under "## Configuration"."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`CELLPLANE_"):
            continue
        names = re.findall(r"`(CELLPLANE_[A-Z0-9_]+)`", cells[0])
        defaults = [d.strip() for d in cells[1].split(",")] if len(names) > 1 else [cells[1]]
        if len(defaults) != len(names):
            defaults = [cells[1]] * len(names)
        rows.update(zip(names, defaults, strict=True))
    return rows


def written_value(cell: str) -> object:
    """The default as the README writes it: a number, a word (on/off/empty), a `literal`, or prose (None)."""
    first = cell.split(" (")[0].strip()
    if first in WORDS:
        return WORDS[first]
    literal = first.strip("`")
    try:
        return float(literal)
    except ValueError:
        return literal if first.startswith("`") else None


def test_every_setting_has_a_row_with_its_default() -> None:
    rows = configuration_rows()
    fields = Settings.model_fields
    missing = sorted(f"CELLPLANE_{name.upper()}" for name in fields if f"CELLPLANE_{name.upper()}" not in rows)
    assert missing == [], f"settings missing from the README's configuration table: {missing}"
    unknown = sorted(variable for variable in rows if variable.removeprefix("CELLPLANE_").lower() not in fields)
    assert unknown == [], f"README rows for settings that do not exist: {unknown}"
    wrong = {}
    for name, field in fields.items():
        written = written_value(rows[f"CELLPLANE_{name.upper()}"])
        if written is None or field.default is None:
            continue
        actual = field.default
        if isinstance(actual, bool) or isinstance(written, bool):
            same = written == actual
        elif isinstance(actual, int | float) and isinstance(written, float):
            same = float(actual) == written
        else:
            same = str(written).removeprefix("./") == str(actual)
        if not same:
            wrong[name] = (rows[f"CELLPLANE_{name.upper()}"], actual)
    assert wrong == {}, f"README defaults that differ from settings.py (written, actual): {wrong}"
