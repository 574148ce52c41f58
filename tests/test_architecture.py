"""The house rules that `lint-imports` (import-linter, in `make lint`) cannot see by itself:
every module of bot/ has a layer in the contract, and an import placed inside a function says
why it is there (an optional heavy dependency, start-up time), never to dodge a cycle."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
# The command line imports what a command needs inside the command, for start-up time: its
# module docstring says so once for all of them.
LAZY_BY_DESIGN = {BOT / "cli.py"}


def _modules() -> list[str]:
    found = []
    for path in sorted(BOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append(".".join(parts))
    return found


def _layered() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers"]
    named = set()
    for layer in layers["layers"]:
        for each in layer.replace("|", ":").split(":"):
            named.add(each.strip().strip("()"))
    return named


def test_every_module_has_a_layer() -> None:
    layered = _layered()
    missing = [
        module
        for module in _modules()
        if module != "bot"
        and not any(module == name or module.startswith(name + ".") for name in layered)
        # a package's __init__ is its room's front door: the layers name its modules
        and not any(name.startswith(module + ".") for name in layered)
    ]
    assert not missing, f"give these a layer in pyproject.toml [tool.importlinter]: {missing}"


def _said(lines: list[str], node: ast.Import | ast.ImportFrom) -> bool:
    """Whether a comment says why: on the import's lines, or above the run of imports it is
    part of."""
    assert node.end_lineno is not None
    if any("#" in line for line in lines[node.lineno - 1 : node.end_lineno]):
        return True
    above = node.lineno - 2
    while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
        if "#" in lines[above]:
            return True
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def test_an_import_inside_a_function_says_why() -> None:
    silent = set()
    for path in sorted(BOT.rglob("*.py")):
        if path in LAZY_BY_DESIGN:
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for each in ast.walk(node):
                if isinstance(each, ast.Import | ast.ImportFrom) and not _said(lines, each):
                    where = f"{path.relative_to(ROOT)}:{each.lineno}"
                    silent.add(f"{where}: {lines[each.lineno - 1].strip()}")
    assert not silent, "say why each is inside a function:\n" + "\n".join(sorted(silent))
