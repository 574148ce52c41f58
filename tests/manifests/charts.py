"""Small charts written by the tests, and the real ones in tests/fixtures/charts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "charts"
PODINFO = FIXTURES / "podinfo"
ETCD = FIXTURES / "etcd"


def write_chart(
    where: Path,
    templates: Mapping[str, str],
    values: str = "",
    crds: Mapping[str, str] = {},
    name: str = "probe",
) -> Path:
    """A chart folder `where/name` holding the given templates (and CRDs)."""
    chart = where / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(values)
    for path, text in templates.items():
        (chart / "templates" / path).write_text(text)
    for path, text in crds.items():
        (chart / "crds").mkdir(exist_ok=True)
        (chart / "crds" / path).write_text(text)
    return chart


def folder_files(chart: Path, under: str) -> dict[str, bytes]:
    """A chart folder as the env repo's files (path → bytes), under `under`."""
    return {
        f"{under}/{p.relative_to(chart).as_posix()}": p.read_bytes()
        for p in sorted(chart.rglob("*"))
        if p.is_file()
    }
