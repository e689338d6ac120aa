"""The README's configuration table is checked against the configuration schema: one source of truth."""

from __future__ import annotations

import re
from pathlib import Path

from hydroserve.api.config import SettingsSchema

README = Path(__file__).resolve().parent.parent / "README.md"


def config_table_rows() -> list[tuple[list[str], list[str]]]:
    """(keys, defaults) of each row of the table under "## Configuration"."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        keys = re.findall(r"`([a-z0-9_]+)`", cells[0])
        defaults = [value.strip().strip("`") for value in cells[1].split(", ")] if len(keys) > 1 else [cells[1].strip("`")]
        rows.append((keys, defaults))
    return rows


def schema_default_text(key: str) -> str | None:
    value = SettingsSchema().fields[key].load_default
    return None if value is None or value == () else str(value)


def test_every_key_and_default_in_the_readme_table_is_the_schemas():
    rows = config_table_rows()
    assert len(rows) > 10
    for keys, defaults in rows:
        assert len(keys) == len(defaults), f"row {keys}: {len(defaults)} defaults"
        for key, shown in zip(keys, defaults):
            assert key in SettingsSchema().fields, f"README names an unknown key {key!r}"
            expected = schema_default_text(key)
            if expected is None:  # no default: 'none', or a value derived from other keys (written with <...>)
                assert shown == "none" or "<" in shown, f"{key}: README says {shown!r}, the schema has no default"
            else:
                assert shown == expected, f"{key}: README says {shown!r}, the schema's default is {expected!r}"
    shown_keys = {key for keys, _ in rows for key in keys}
    assert {"mp3_quality", "timing_tolerance_ticks", "mp3_full_scale_db_re_1upa", "adf_frame_length"} <= shown_keys
