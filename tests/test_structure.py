"""The codebase's shape (issue 14): the CLI layer is imported only by the CLI, and no source
module grows past 500 lines (split by idea before it does)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "emergence_law"
CLI_LAYER = ("emergence_law.cli", "emergence_law.commands")


def _library_modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py")
            if p.name not in ("cli.py", "__main__.py")
            and "commands" not in p.relative_to(PACKAGE).parts]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_only_the_cli_imports_the_cli_layer():
    modules = _library_modules()
    assert len(modules) > 100
    offenders = sorted(f"{p.relative_to(PACKAGE)}: {name}" for p in modules
                       for name in _imports(p)
                       if name.startswith(CLI_LAYER) or name == "emergence_law.commands")
    assert offenders == []


def test_no_source_module_is_over_500_lines():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert {k: n for k, n in sizes.items() if n > 500} == {}
