"""The examples in the docstrings run (``>>>``), as a reader would paste them."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import connectors
import hub
import schema


def _modules_with_examples() -> list[str]:
    names = []
    for package in (hub, connectors, schema):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.startswith("hub.state.migrations.") or info.name.endswith(".__main__"):
                continue  # Alembic's scripts run only inside Alembic
            module = importlib.import_module(info.name)
            if ">>>" in (module.__doc__ or "") or any(
                    ">>>" in (getattr(v, "__doc__", None) or "") for v in vars(module).values()):
                names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail"
