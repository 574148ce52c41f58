from __future__ import annotations

import inspect
from pathlib import Path

import bot.forges
from bot.forges.base import Forge
from bot.forges.registry import FORGES, forge_class

NOT_FORGES = {"__init__", "base", "registry", "archive", "retry", "observe", "httpcache"}


def test_every_forge_module_is_registered_and_implements_the_protocol() -> None:
    folder = Path(bot.forges.__file__).parent
    packages = {p.parent.name for p in folder.glob("*/__init__.py")}  # a forge in rooms
    modules = ({p.stem for p in folder.glob("*.py")} | packages) - NOT_FORGES
    assert {v.split(":")[0].rsplit(".", 1)[1] for v in FORGES.values()} == modules
    protocol = {
        n for n, _ in inspect.getmembers(Forge, inspect.isfunction) if not n.startswith("_")
    }
    for name in FORGES:
        cls = forge_class(name)
        assert cls.name == name
        missing = {m for m in protocol if not callable(getattr(cls, m, None))}
        assert not missing, f"{name} lacks {missing}"
        for method in protocol:
            wanted = list(inspect.signature(getattr(Forge, method)).parameters)
            got = list(inspect.signature(getattr(cls, method)).parameters)
            assert got[: len(wanted)] == wanted, (name, method, got)
