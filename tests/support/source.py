"""Facts read from the service's source code, without importing it."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def settings_fields(config: Path) -> set[str]:
    """Return the fields of the `Settings` class in `config` (a `core/config.py`), via `ast`."""
    tree = ast.parse(config.read_text())
    settings = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name == "Settings"
    )
    return {
        statement.target.id
        for statement in settings.body
        if isinstance(statement, ast.AnnAssign)
        and isinstance(statement.target, ast.Name)
        and statement.target.id != "model_config"
    }


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
