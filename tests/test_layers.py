"""The rooms of the code and the one direction of their imports (README "Development", DESIGN "Imports run one way").

Read from the source with ``ast`` (imports inside functions count too), so a forbidden import
fails here before it can hide behind a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEB_FRAMEWORKS = ("flask", "flask_smorest", "werkzeug", "webargs")
API_ROOT_MODULES = ("app", "cli", "config", "config_fields", "db", "demo", "logs", "schema", "serve", "wiring",
                    "acoustic_registration", "ingest_worker", "single_writer", "reprocess_cli", "archive_commands", "backup",
                    "progress", "import_cli", "commands", "stop_signals")

# room -> imports it must never make (module names or their prefixes)
FORBIDDEN = {
    "codecs": ("hydroserve.acoustics", "hydroserve.odc_sync", "hydroserve.api", "hydroserve.samples"),
    "acoustics": ("hydroserve.odc_sync", "hydroserve.api", "hydroserve.samples", *WEB_FRAMEWORKS),
    "odc_sync": ("hydroserve.acoustics", "hydroserve.api", "hydroserve.samples", *WEB_FRAMEWORKS),
    "api/alerts": ("hydroserve.api.web", "hydroserve.api.events", "hydroserve.samples", *WEB_FRAMEWORKS,
                   *(f"hydroserve.api.{m}" for m in API_ROOT_MODULES)),
    "api/events": ("hydroserve.api.web", "hydroserve.api.alerts", "hydroserve.samples", *WEB_FRAMEWORKS,
                   *(f"hydroserve.api.{m}" for m in API_ROOT_MODULES)),
    "api/web": ("hydroserve.samples", *(f"hydroserve.api.{m}" for m in API_ROOT_MODULES if m != "config")),
}


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names, relative imports resolved."""
    package = ".".join(("hydroserve", *path.relative_to(ROOT).parent.parts))
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def sources(room: str) -> list[Path]:
    return sorted((ROOT / room).glob("*.py"))


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_imports_run_one_way(room):
    assert sources(room), f"no modules in {room}"
    broken = {}
    for path in sources(room):
        bad = sorted(name for name in imported_modules(path)
                     if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[room]))
        if bad:
            broken[path.name] = bad
    assert broken == {}


def test_only_the_demo_wiring_imports_the_samples():
    users = {str(p.relative_to(ROOT)) for room in ("codecs", "acoustics", "odc_sync", "api", "api/web", "api/alerts", "api/events")
             for p in sources(room) if any(n.startswith("hydroserve.samples") for n in imported_modules(p))}
    assert users == {"api/demo.py"}


def test_no_production_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for room in ("codecs", "acoustics", "odc_sync", "api", "api/web", "api/alerts",
                                                     "api/events", "samples")
            for p in sources(room) if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_the_checker_resolves_relative_imports():
    """The rules above are only as good as the import reader: relative imports resolve to their full names."""
    assert "hydroserve.api.web.services.services" in imported_modules(ROOT / "api" / "web" / "acoustic.py")
    assert "hydroserve.acoustics.window.Window" in imported_modules(ROOT / "acoustics" / "catalog.py")
