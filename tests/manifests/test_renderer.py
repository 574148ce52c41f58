"""Every app × environment rendered end to end: the example repo's umbrella charts pulling the
api chart from a real registry, a real Kustomize layout, kept renderings, hostile charts, the
command line and the running service."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from bot import composition, config
from bot.cli import main
from bot.composition import State
from bot.forges.local import LocalForge
from bot.manifests.background import Background
from bot.manifests.charts import Charts
from bot.manifests.model import Sheet
from bot.manifests.renderer import Renderer
from bot.manifests.sandbox import Sandbox
from bot.manifests.store import Store
from bot.manifests.worker import Rendered
from bot.service import Service
from bot.settings import Settings
from bot.sources.helm import HelmRepository
from bot.sources.oci import OciRegistry
from tests import layouts, redis_server
from tests.conftest import commit_all, git
from tests.e2e.service import Promobot, stop_all, wait_for
from tests.manifests.charts import api_chart, push_chart
from tests.registry import Registry, needs_registry
from tests.test_real_layouts import KUSTOMIZE

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "config" / "examples"

pytestmark = needs_registry


class Counting(Sandbox):
    """A real sandbox that counts the renderings handed to it."""

    submitted = 0

    def submit(
        self, fn: Callable[..., Rendered], *args: Any, what: str | None = None
    ) -> Future[Rendered]:
        self.submitted += 1
        return super().submit(fn, *args, what=what)


@pytest.fixture
def registry() -> Iterator[Registry]:
    with Registry() as running:
        push_chart(running, "acme/charts/api", "2.2.1", api_chart("2.2.1"))
        push_chart(running, "acme/charts/api", "2.3.0", api_chart("2.3.0"))
        push_chart(running, "acme/charts/api", "2.5.0", api_chart("2.5.0", ingress=True))
        yield running


@pytest.fixture
def sandbox() -> Iterator[Counting]:
    with Counting(workers=2, timeout=5.0) as pool:
        yield pool


def helm_values(tmp_path: Path, registry: Registry) -> Path:
    """The helm-values example, its charts from the test's registry."""
    repo = tmp_path / "env-repo"
    shutil.copytree(EXAMPLES / "helm-values", repo)
    for path in [repo / ".promobot.yaml", *repo.glob("envs/*/api/Chart.yaml")]:
        text = path.read_text().replace("oci://ghcr.io/", f"oci://{registry.host}/")
        path.write_text(text)
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "environments")
    return repo


def state_of(repo: Path) -> State:
    snapshot = LocalForge(repo).snapshot("HEAD")
    cfg = config.load_at(snapshot.files[config.FILENAME], snapshot.commit)
    return State(cfg, snapshot, composition.status(cfg, snapshot))


def renderer(data: Path, sandbox: Sandbox) -> Renderer:
    registry = OciRegistry()
    return Renderer(Store(data), Charts(data, registry, HelmRepository(registry)), sandbox)


def kinds(sheet: Sheet, app: str, env: str) -> dict[str, int]:
    cell = sheet.get(app, env)
    assert cell is not None and cell.inventory is not None, cell
    return cell.inventory.counts()


def test_each_environment_renders_its_own_chart_version_and_values(
    tmp_path: Path, registry: Registry, sandbox: Counting
) -> None:
    repo = helm_values(tmp_path, registry)
    sheet = renderer(tmp_path / "data", sandbox).sheet(state_of(repo))

    dev = sheet.get("api", "dev")
    assert dev is not None and dev.inventory is not None, dev
    assert dev.origin == "Helm chart envs/dev/api/Chart.yaml"
    assert [(o.kind, o.name, o.namespace, o.images) for o in dev.inventory.objects] == [
        ("Deployment", "api", "dev", ("ghcr.io/acme/api:1.4.2",)),
        ("Service", "api", "dev", ()),
    ]
    assert dev.warnings == ()  # the image promobot writes is the one the Deployment runs
    prod = sheet.get("api", "prod-eu")
    assert prod is not None and prod.inventory is not None
    assert [o.images for o in prod.inventory.objects if o.kind == "Deployment"] == [
        ("ghcr.io/acme/api:1.3.0",)
    ]
    # staging and prod-us run the same chart with the same image: the same objects, but
    # different release namespaces, so different renderings
    assert prod.inventory.rendered_id != dev.inventory.rendered_id
    # web has values but no chart in the repo: said, with what would fix it
    web = sheet.get("web", "dev")
    assert web is not None and web.inventory is None
    assert web.error is not None and "say how with render:" in web.error


def test_a_chart_bump_adds_an_ingress_and_only_that_cell_renders_again(
    tmp_path: Path, registry: Registry, sandbox: Counting
) -> None:
    repo = helm_values(tmp_path, registry)
    data = tmp_path / "data"
    first = renderer(data, sandbox).sheet(state_of(repo))
    assert "Ingress" not in kinds(first, "api", "dev")
    rendered = sandbox.submitted
    assert rendered == 4  # api in four environments; web has nothing to render

    chart = repo / "envs" / "dev" / "api" / "Chart.yaml"
    chart.write_text(chart.read_text().replace("version: 2.3.0", "version: 2.5.0"))
    commit_all(repo, "dev: api chart 2.5.0")
    # a new renderer on the same data dir: what was kept is read, only dev renders again
    second = renderer(data, sandbox).sheet(state_of(repo))
    assert sandbox.submitted == rendered + 1
    dev = second.get("api", "dev")
    assert dev is not None and dev.inventory is not None
    assert kinds(second, "api", "dev") == {"Service": 1, "Deployment": 1, "Ingress": 1}
    assert [(h.kind, h.detail) for h in dev.inventory.highlights if h.what == "exposure"] == [
        ("Ingress", "api.example.com/")
    ]
    assert "Ingress" not in kinds(second, "api", "staging")
    assert second.get("api", "staging") == first.get("api", "staging")


def test_a_value_that_never_reaches_the_workload_is_a_warning(
    tmp_path: Path, registry: Registry, sandbox: Counting
) -> None:
    repo = helm_values(tmp_path, registry)
    # as the example once was: image.tag at the top of an umbrella chart's values, where the
    # api subchart never sees it
    values = repo / "envs" / "dev" / "api" / "values.yaml"
    values.write_text(
        'api:\n  replicaCount: 1\nimage:\n  repository: ghcr.io/acme/api\n  tag: "1.4.2"\n'
    )
    cfg = repo / ".promobot.yaml"
    cfg.write_text(cfg.read_text().replace('field: "api.image.tag"', 'field: "image.tag"'))
    commit_all(repo, "image.tag at the top")
    cell = renderer(tmp_path / "data", sandbox).cell(state_of(repo), "api", "dev")
    assert cell.warnings == (
        "ghcr.io/acme/api: the composition asks for 1.4.2, but Deployment api runs latest — "
        "the value never reached the workload",
    )


def test_every_overlay_of_a_real_kustomize_layout_and_what_kustomize_refused(
    tmp_path: Path, sandbox: Counting
) -> None:
    repo = layouts.make("kustomize-envs", tmp_path, {".promobot.yaml": KUSTOMIZE})
    sheet = renderer(tmp_path / "data", sandbox).sheet(state_of(repo))
    assert len(sheet.cells) == 11
    broken = {env for (_, env), cell in sheet.cells.items() if cell.error}
    # upstream's asia variant is a Kustomization used as a component: kustomize refuses it,
    # and the cell says so in kustomize's words, with no path of this machine
    assert broken == {"prod-asia", "staging-asia"}
    refused = sheet.cells[("simple", "prod-asia")].error or ""
    assert refused.startswith("kustomize could not build envs/prod-asia:")
    assert str(tmp_path) not in refused and "/tmp" not in refused
    ids = {}
    for (_, env), cell in sheet.cells.items():
        if cell.inventory is not None:
            assert cell.inventory.counts()["Deployment"] == 1
            ids[env] = cell.inventory.rendered_id
    assert len(set(ids.values())) == len(ids)  # every environment differs on purpose


def test_a_hostile_chart_fails_its_cell_within_the_limit_and_the_rest_render(
    tmp_path: Path, registry: Registry
) -> None:
    repo = helm_values(tmp_path, registry)
    evil = repo / "charts" / "evil"
    (evil / "templates").mkdir(parents=True)
    (evil / "Chart.yaml").write_text("apiVersion: v2\nname: evil\nversion: 0.1.0\n")
    (evil / "templates" / "loop.yaml").write_text(
        '{{ define "a" }}{{ include "a" . }}{{ end }}{{ include "a" . }}\n'
    )
    cfg = repo / ".promobot.yaml"
    cfg.write_text(
        cfg.read_text().replace("  web:\n", "  web:\n    render: {helm: {chart: ./charts/evil}}\n")
    )
    commit_all(repo, "a chart nobody reviewed")
    with Counting(workers=2, timeout=3.0) as pool:
        sheet = renderer(tmp_path / "data", pool).sheet(state_of(repo))
        web = sheet.get("web", "dev")
        assert web is not None and web.inventory is None
        # Helm's own guard stops the recursion; its message, shortened, names the template
        assert web.error is not None and len(web.error) < 1000, web.error
        assert web.error.startswith("Helm could not render charts/evil: template: evil/")
        assert "a template includes itself" in web.error
        assert kinds(sheet, "api", "dev") == {"Service": 1, "Deployment": 1}


def test_the_commands_print_the_inventory_and_the_manifests(
    tmp_path: Path, registry: Registry
) -> None:
    repo = helm_values(tmp_path, registry)
    secret = repo / "envs" / "dev" / "api" / "templates" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: api-db}\n"
        "stringData: {password: hunter2-very-secret}\n"
    )
    commit_all(repo, "dev's own secret")
    runner = CliRunner()
    shown = runner.invoke(main, ["inventory", "--repo", str(repo), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    cells = {(c["app"], c["env"]): c for c in json.loads(shown.output)["cells"]}
    dev = cells[("api", "dev")]
    assert dev["error"] is None and len(dev["rendered_id"]) == 12
    assert {(o["kind"], o["name"]) for o in dev["objects"]} == {
        ("Deployment", "api"),
        ("Service", "api"),
        ("Secret", "api-db"),
    }
    assert cells[("web", "dev")]["error"].startswith("promobot found no")

    printed = runner.invoke(main, ["render", "api", "--env", "dev", "--repo", str(repo)])
    assert printed.exit_code == 0, printed.output
    assert "image: ghcr.io/acme/api:1.4.2" in printed.output
    assert "password: <redacted>" in printed.output
    for output in (shown.output, printed.output):
        assert "hunter2" not in output

    table = runner.invoke(main, ["inventory", "--repo", str(repo), "--app", "api"])
    assert table.exit_code == 0, table.output
    assert "Deployment" in table.output and "prod-us" in table.output
    status = runner.invoke(main, ["status", "--repo", str(repo), "--contents", "--env", "dev"])
    assert status.exit_code == 0, status.output
    assert "api in dev: Deployment" in status.output

    unknown = runner.invoke(main, ["render", "nope", "--env", "dev", "--repo", str(repo)])
    assert unknown.exit_code != 0 and "unknown app 'nope'" in unknown.output
    assert "Traceback" not in unknown.output


def test_the_background_renders_a_new_state_once(
    tmp_path: Path, registry: Registry, sandbox: Counting
) -> None:
    repo = helm_values(tmp_path, registry)
    background = Background(renderer(tmp_path / "data", sandbox), str(repo))
    state = state_of(repo)
    background.want(state)
    background.want(state)  # asked again while it renders: still once
    assert background.wait(60)
    sheet = background.sheet()
    assert sheet is not None and sheet.commit == state.snapshot.commit
    assert sheet.pending == 0 and kinds(sheet, "api", "dev") == {"Service": 1, "Deployment": 1}
    assert sandbox.submitted == 4
    background.want(state)  # the same commit: nothing to do
    assert background.wait(10) and sandbox.submitted == 4
    background.stop()


def test_the_service_renders_after_it_starts_and_the_api_says_what_dev_contains(
    tmp_path: Path, registry: Registry
) -> None:
    repo = helm_values(tmp_path, registry)
    settings = {
        "PROMOBOT_REPO": str(repo),
        "PROMOBOT_DATA_DIR": str(tmp_path / "data"),
        "PROMOBOT_RECONCILE_INTERVAL": "1h",
    }
    try:
        with Promobot(settings, data=tmp_path) as promobot:

            def rendered() -> dict[str, Any] | None:
                answer = httpx.get(f"{promobot.url}/api/v1/apps/api/inventory?env=dev")
                return answer.json() if answer.status_code == 200 else None

            found = wait_for("the inventory", rendered, timeout=120)
            assert isinstance(found, dict)
            (cell,) = found["cells"]
            assert cell["env"] == "dev" and cell["error"] is None
            assert {o["kind"] for o in cell["objects"]} == {"Deployment", "Service"}
            page = httpx.get(f"{promobot.url}/apps/api").text
            assert "What each environment contains" in page
    finally:
        stop_all()


def test_a_registry_that_was_down_is_asked_again_and_nothing_of_it_is_kept(
    tmp_path: Path, registry: Registry, sandbox: Counting
) -> None:
    repo = helm_values(tmp_path, registry)
    now = [1000.0]
    background = Background(renderer(tmp_path / "data", sandbox), str(repo), lambda: now[0])
    state = state_of(repo)
    registry.stop()
    background.want(state)
    assert background.wait(120)
    down = background.sheet()
    assert down is not None
    dev = down.get("api", "dev")
    assert dev is not None and dev.inventory is None
    assert (
        dev.error
        == f"not rendered yet: registry {registry.host} is unreachable: [Errno 111] Connection refused"
    )
    assert background.renderer.unsure == 4

    registry.start()
    background.want(state)  # within a minute of the failure: not asked again yet
    assert background.wait(10) and background.sheet() == down
    now[0] += 61
    background.want(state)  # the minute is over (the next job after it): asked again
    background.want(state)
    assert background.wait(120)
    sheet = background.sheet()
    assert sheet is not None and kinds(sheet, "api", "dev") == {"Service": 1, "Deployment": 1}
    background.stop()


def test_a_web_process_reads_the_sheet_a_worker_rendered_through_the_shared_queue(
    tmp_path: Path, registry: Registry
) -> None:
    repo = helm_values(tmp_path, registry)
    shared = {"repo": str(repo), "queue_url": redis_server.url(8), "workers": 0}
    worker = Service(Settings(**shared, data_dir=tmp_path / "worker"))  # type: ignore[arg-type]
    web = Service(Settings(**shared, data_dir=tmp_path / "web"))  # type: ignore[arg-type]
    assert worker.rendering is not None and web.rendering is not None
    worker.queue.queue.huey.storage.conn.flushdb()
    assert web.rendering.sheet() is None  # nothing rendered yet: the API answers 503

    worker.rendering.want(worker.engine.state())
    assert worker.rendering.wait(120)
    # another process, its own data dir: it reads what the worker rendered from the queue's
    # store, and parses it again only when it changed
    sheet = web.rendering.sheet()
    assert sheet is not None and kinds(sheet, "api", "dev") == {"Service": 1, "Deployment": 1}
    assert web.rendering.sheet() is sheet
    worker.rendering.stop()


def test_a_rendering_that_outruns_its_time_is_not_kept_and_is_tried_again(
    tmp_path: Path, registry: Registry
) -> None:
    repo = helm_values(tmp_path, registry)
    spin = repo / "charts" / "spin"
    (spin / "templates").mkdir(parents=True)
    (spin / "Chart.yaml").write_text("apiVersion: v2\nname: spin\nversion: 0.1.0\n")
    (spin / "templates" / "a.yaml").write_text(
        "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n"
    )
    cfg = repo / ".promobot.yaml"
    cfg.write_text(
        cfg.read_text().replace("  web:\n", "  web:\n    render: {helm: {chart: ./charts/spin}}\n")
    )
    commit_all(repo, "a slow chart")
    with Counting(workers=2, timeout=2.0) as pool:
        chosen = renderer(tmp_path / "data", pool)
        first = chosen.sheet(state_of(repo), ["web"], ["dev"]).get("web", "dev")
        assert first is not None and first.error is not None
        assert "took longer than 2 s" in first.error
        assert chosen.unsure == 1  # the service's background asks again, at most once a minute
        again = chosen.cell(state_of(repo), "web", "dev")  # not kept: rendered once more
        assert again.error == first.error
        assert pool.submitted == 2
