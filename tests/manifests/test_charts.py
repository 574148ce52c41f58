from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import RenderError
from bot.manifests.charts import Charts, Limits, build_archive, check_archive
from bot.manifests.model import ChartRef
from bot.manifests.worker import HelmJob, helm
from bot.sources.helm import HelmRepository
from bot.sources.oci import OciRegistry
from tests.manifests.charts import PODINFO, folder_files, push_chart, sha256
from tests.registry import Registry
from tests.sources.servers import serve

PODINFO_TGZ = build_archive(folder_files(PODINFO, "charts/podinfo"), "charts/podinfo").data


@pytest.fixture
def registry() -> Iterator[Registry]:
    with Registry() as running:
        yield running


class ChartRepo:
    """An HTTP chart repository on 127.0.0.1: `index.yaml` and the archives it names."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.asked: Counter[str] = Counter()

    def add(self, name: str, version: str, data: bytes, digest: str | None = None) -> None:
        path = f"charts/{name}-{version}.tgz"
        self.files[path] = data
        index = yaml.safe_load(self.files.get("index.yaml", b"")) or {"apiVersion": "v1"}
        entry = {"name": name, "version": version, "urls": [path]}
        entry["digest"] = digest or hashlib.sha256(data).hexdigest()
        index.setdefault("entries", {}).setdefault(name, []).append(entry)
        self.files["index.yaml"] = yaml.safe_dump(index).encode()

    def app(self) -> Starlette:
        async def get(request: Request) -> Response:
            path = request.path_params["path"]
            self.asked[path] += 1
            data = self.files.get(path)
            return Response(data, 200) if data is not None else Response("no", 404)

        return Starlette(routes=[Route("/{path:path}", get)])


@pytest.fixture
def repo() -> Iterator[tuple[ChartRepo, str]]:
    charts = ChartRepo()
    with serve(charts.app()) as url:
        yield charts, url


def make_charts(cache: Path) -> Charts:
    return Charts(cache, OciRegistry(), HelmRepository())


def test_an_oci_chart_is_fetched_once_and_renders(registry: Registry, tmp_path: Path) -> None:
    push_chart(registry, "charts/podinfo", "6.14.1", PODINFO_TGZ)
    ref = ChartRef(repo=f"oci://{registry.host}/charts", name="podinfo", version="6.14.1")
    archive = make_charts(tmp_path).get(ref)
    assert archive.digest == sha256(PODINFO_TGZ)
    assert (
        tmp_path / "charts" / "sha256" / f"{archive.digest[7:]}.tgz"
    ).read_bytes() == PODINFO_TGZ
    rendered = helm(HelmJob(chart=archive.data, label=ref.label, release="web"))
    assert "name: web-podinfo" in rendered.text
    registry.stop()  # a restart with the registry gone still has the chart
    assert make_charts(tmp_path).get(ref) == archive


def test_an_oci_tag_that_is_not_a_chart_is_named(registry: Registry, tmp_path: Path) -> None:
    registry.push("charts/api", "1.0.0")  # an image, not a chart
    ref = ChartRef(repo=f"oci://{registry.host}/charts", name="api", version="1.0.0")
    with pytest.raises(
        RenderError, match=r"could not be fetched: .*charts/api:1.0.0 is not a Helm chart"
    ):
        make_charts(tmp_path).get(ref)


def test_an_http_chart_is_downloaded_once_across_restarts(
    repo: tuple[ChartRepo, str], tmp_path: Path
) -> None:
    charts, url = repo
    charts.add("podinfo", "6.14.1", PODINFO_TGZ)
    ref = ChartRef(repo=url, name="podinfo", version="6.14.1")
    first = make_charts(tmp_path).get(ref)
    again = make_charts(tmp_path).get(ref)  # a new process: the index on disk says where it is
    assert first == again and first.data == PODINFO_TGZ
    assert charts.asked["charts/podinfo-6.14.1.tgz"] == 1


def test_an_http_chart_that_does_not_match_its_digest_is_refused(
    repo: tuple[ChartRepo, str], tmp_path: Path
) -> None:
    charts, url = repo
    charts.add("podinfo", "6.14.1", PODINFO_TGZ, digest="0" * 64)
    ref = ChartRef(repo=url, name="podinfo", version="6.14.1")
    with pytest.raises(RenderError, match=r"does not match the digest .*index.yaml gives"):
        make_charts(tmp_path).get(ref)
    assert not (tmp_path / "charts" / "sha256").exists()


def test_an_unknown_version_is_named(repo: tuple[ChartRepo, str], tmp_path: Path) -> None:
    charts, url = repo
    charts.add("podinfo", "6.14.1", PODINFO_TGZ)
    ref = ChartRef(repo=url, name="podinfo", version="9.9.9")
    with pytest.raises(RenderError, match=r"has no chart 'podinfo' 9.9.9"):
        make_charts(tmp_path).get(ref)


def test_a_folder_of_the_repo_is_the_same_archive_every_time(tmp_path: Path) -> None:
    files = folder_files(PODINFO, "apps/web/chart")
    one = make_charts(tmp_path).from_files(files, "apps/web/chart")
    two = make_charts(tmp_path).from_files(dict(reversed(files.items())), "apps/web/chart/")
    assert one == two
    changed = {**files, "apps/web/chart/values.yaml": b"replicaCount: 2\n"}
    assert make_charts(tmp_path).from_files(changed, "apps/web/chart").digest != one.digest
    with pytest.raises(RenderError, match=r"apps/web has no Chart\.yaml"):
        make_charts(tmp_path).from_files(files, "apps/web")


# --- hostile archives ----------------------------------------------------------------------


def tgz(*members: tarfile.TarInfo, data: bytes = b"") -> bytes:
    """The same bytes every time (no gzip time stamp): pytest-xdist's workers must collect
    the same test ids."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return gzip.compress(out.getvalue(), mtime=0)


def member(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


@pytest.mark.parametrize(
    ("archive", "problem"),
    [
        (tgz(member("evil/templates/x.yaml", tarfile.SYMTYPE, link="/etc/passwd")), "a link"),
        (tgz(member("evil/values.yaml", tarfile.LNKTYPE, link="evil/Chart.yaml")), "a link"),
        (tgz(member("evil/../../etc/cron.d/x", size=1), data=b"x"), "a path outside"),
        (tgz(member("/etc/evil", size=1), data=b"x"), "a path outside"),
        (tgz(member("evil/dev", tarfile.CHRTYPE)), "a device or pipe"),
        (tgz(member("one/Chart.yaml"), member("two/Chart.yaml")), "2 top folders"),
        (b"\x1f\x8b not really gzip", "not a gzipped tar archive"),
    ],
    ids=["symlink", "hardlink", "dotdot", "absolute", "device", "two-tops", "not-gzip"],
)
def test_archives_that_could_escape_are_refused(archive: bytes, problem: str) -> None:
    with pytest.raises(RenderError, match=rf"^chart evil@1 .*{problem}"):
        check_archive(archive, "evil@1")


def test_a_tar_bomb_stops_at_the_cap() -> None:
    bomb = io.BytesIO()
    with gzip.GzipFile(fileobj=bomb, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        size = 8 * 1024 * 1024
        tar.addfile(member("bomb/values.yaml", size=size), io.BytesIO(bytes(size)))
    assert len(bomb.getvalue()) < 20_000  # 8 MiB of zeros in a few KiB
    with pytest.raises(RenderError, match=r"chart bomb@1 inflates past 4 MiB"):
        check_archive(bomb.getvalue(), "bomb@1", Limits(unpacked=4 * 1024 * 1024))
    check_archive(bomb.getvalue(), "bomb@1")  # under the default 100 MiB, it is fine


def test_oversized_and_crowded_archives_are_refused() -> None:
    with pytest.raises(
        RenderError, match=r"chart big@1 is 1 MiB \(1.0 MiB\), more than promobot reads"
    ):
        check_archive(bytes(1024 * 1024 + 1), "big@1", Limits(archive=1024 * 1024))
    crowded = tgz(*(member(f"many/f{n}") for n in range(30)))
    with pytest.raises(RenderError, match=r"chart many@1 holds more than 20 files"):
        check_archive(crowded, "many@1", Limits(members=20))


def test_a_hostile_oci_chart_is_refused_before_it_is_kept(
    registry: Registry, tmp_path: Path
) -> None:
    evil = tgz(member("evil/templates/x.yaml", tarfile.SYMTYPE, link="/etc/shadow"))
    push_chart(registry, "charts/evil", "1.0.0", evil)
    ref = ChartRef(repo=f"oci://{registry.host}/charts", name="evil", version="1.0.0")
    with pytest.raises(RenderError, match=r"holds 'evil/templates/x.yaml', a link"):
        make_charts(tmp_path).get(ref)
    assert not (tmp_path / "charts" / "sha256").exists()
