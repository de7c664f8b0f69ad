"""Facts read from the service's source code, without importing it."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def settings_fields(package: Path) -> set[str]:
    """Return the fields of every settings class of a package's source, via `ast`.

    That is the service's `Settings` and each feature's subclass of `FeatureSettings`, in a
    rendered package or in the template's (whose `{{ package_name }}` is read as a name).
    """
    fields: set[str] = set()
    for path in sorted(package.rglob("*.py*")):
        source = path.read_text().replace("{{ package_name }}", "package")
        if "Settings" not in source or "{%" in source:
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and _is_settings_class(node):
                fields |= {
                    statement.target.id
                    for statement in node.body
                    if isinstance(statement, ast.AnnAssign)
                    and isinstance(statement.target, ast.Name)
                    and statement.target.id.isupper()
                }
    return fields


def _is_settings_class(node: ast.ClassDef) -> bool:
    """Tell whether a class is `Settings` or a feature's settings."""
    bases = {base.id for base in node.bases if isinstance(base, ast.Name)}
    return node.name == "Settings" or "FeatureSettings" in bases


def settings_default(config: Path, name: str) -> object:
    """Return the default of the `Settings` field `name` in `config` (`Field(default=...)`)."""
    tree = ast.parse(config.read_text())
    statement = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == name
    )
    value = statement.value
    if isinstance(value, ast.Call):
        value = next(keyword.value for keyword in value.keywords if keyword.arg == "default")
    assert value is not None, f"{name} has no default"
    return ast.literal_eval(value)
