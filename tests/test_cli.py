from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot import render, signing
from bot.cli import main
from bot.forges.local import LocalForge
from tests.conftest import MakeRepo, commit_all, git


def run(*args: str, color: bool = False) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), color=color)
    return result.exit_code, result.output


def test_validate_reports_ok_and_problems_with_file_line_column(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    code, out = run("validate", "--repo", str(repo))
    assert code == 0
    assert out.splitlines()[1:] == [
        "  dev → staging",
        "  ├─ prod-eu",
        "  └─ prod-us",
        f"values read at {git(repo, 'rev-parse', 'HEAD')[:12]} (HEAD): every value read",
    ]
    assert "ok — 4 environments, 2 apps, 0 groups" in out
    config = repo / ".promobot.yaml"
    config.write_text(
        config.read_text().replace("from: dev", "from: deb").replace("auto_merge", "automerge")
    )
    code, out = run("validate", "--repo", str(repo))
    assert code == 2
    lines = out.strip().splitlines()
    assert lines == [
        f"error: {config}:8:5: unknown key 'automerge'; did you mean 'auto_merge'? "
        "allowed here: from, auto_merge, propose, batch, gates, live, verify"
    ]
    config.write_text(config.read_text().replace("automerge", "auto_merge"))
    code, out = run("validate", "--repo", str(repo))
    assert code == 2
    assert out.startswith(
        f"error: {config}:7:11: unknown upstream environment 'deb'; did you mean 'dev'?"
    )


ELEVEN = """\
version: 1
environments:
  dev: {}
  integration-gpu: {from: dev}
  integration-non-gpu: {from: dev}
  qa-gpu: {from: integration-gpu}
  qa-non-gpu: {from: integration-non-gpu}
  prod-gpu-eu: {from: qa-gpu}
  prod-gpu-us: {from: qa-gpu}
  prod-non-gpu-eu: {from: qa-non-gpu}
  prod-non-gpu-us: {from: qa-non-gpu}
  prod-non-gpu-ap: {from: qa-non-gpu}
  sandbox: {}
apps:
  api:
    components:
      image:
        source: {image: ghcr.io/acme/api}
        target: {file: "envs/{env}/api.yaml", field: image.tag}
"""


def test_validate_draws_the_environments_as_the_tree_from_draws(make_repo: MakeRepo) -> None:
    """Eleven environments that fork twice were drawn as one chain (`dev → integration-gpu →
    integration-non-gpu → qa-gpu → …`), as if each fed the next."""
    envs = re.findall(r"^  ([a-z-]+):", ELEVEN, re.MULTILINE)
    files = {f"envs/{env}/api.yaml": "image:\n  tag: 1.0.0\n" for env in envs}
    repo = make_repo(files={".promobot.yaml": ELEVEN, **files})
    code, out = run("validate", "--repo", str(repo))
    assert code == 0, out
    assert out.splitlines()[1:-1] == [
        "  dev",
        "  ├─ integration-gpu → qa-gpu",
        "  │  ├─ prod-gpu-eu",
        "  │  └─ prod-gpu-us",
        "  └─ integration-non-gpu → qa-non-gpu",
        "     ├─ prod-non-gpu-eu",
        "     ├─ prod-non-gpu-us",
        "     └─ prod-non-gpu-ap",
        "  sandbox",
    ]


def test_status_json_is_exactly_the_documented_shape(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    code, out = run("status", "--repo", str(repo), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["ref"] == git(repo, "rev-parse", "HEAD")
    assert data["environments"] == ["dev", "staging", "prod-eu", "prod-us"]
    assert data["apps"]["api"]["dev"] == {
        "composition": data["apps"]["api"]["dev"]["composition"],
        "components": {"image": "1.4.2", "chart": "2.3.0"},
    }
    assert "prod-us" not in data["apps"]["web"]


def test_status_table_is_plain_when_piped_and_coloured_in_a_terminal(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    code, plain = run("status", "--repo", str(repo), "--env", "dev", "--env", "staging")
    assert code == 0
    assert "\x1b[" not in plain
    assert plain.splitlines()[0].split() == ["app", "component", "dev", "staging"]
    assert plain.splitlines()[1].split() == ["api", "image", "1.4.2", "1.3.0"]
    _, coloured = run("status", "--repo", str(repo), color=True)
    assert "\x1b[33m1.3.0" in coloured  # staging's image differs from dev's: yellow


def test_status_markdown_and_filters(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    code, out = run("status", "--repo", str(repo), "--format", "markdown", "--app", "web")
    assert code == 0
    assert out.startswith("| app |") and "| **web** |" in out and "**api**" not in out
    code, out = run("status", "--repo", str(repo), "--app", "nope")
    assert code == 1 and "error: unknown app 'nope'; known: api, web" in out


def test_status_takes_the_globs_the_overview_takes(make_repo: MakeRepo) -> None:
    """`--app 'mc-*'` was refused as an unknown app, while the overview's ?app=mc-* took it."""
    repo = make_repo("helm-values")
    code, out = run("status", "--repo", str(repo), "--app", "w*", "--env", "PROD-*", "--env", "dev")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["app", "component", "dev", "prod-eu", "prod-us"]
    assert lines[1].split()[:2] == ["web", "image"] and lines[2].split()[0] == "id"
    assert "api" not in out
    code, out = run("status", "--repo", str(repo), "--app", "mc-*")
    assert code == 1 and "error: no app matches 'mc-*'; known: api, web" in out
    code, out = run("status", "--repo", str(repo), "--env", "prod")  # a name, not a part of one
    assert code == 1 and "error: unknown environment 'prod'; known: dev, staging," in out


def test_plan_lists_the_promotions_due(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    code, out = run("plan", "--repo", str(repo))
    assert code == 0
    assert "Promote api to staging: image 1.3.0 → 1.4.2" in out
    assert "Promote api to prod-eu: chart 2.2.1 → 2.3.0" in out
    assert "4 promotion(s) due" in out
    code, out = run("plan", "--repo", str(repo), "--format", "json")
    plans = json.loads(out)
    assert [(p["env"], p["name"]) for p in plans] == [
        ("staging", "api"),
        ("staging", "web"),
        ("prod-eu", "api"),
        ("prod-us", "api"),
    ]


def test_json_is_written_as_json_dumps_with_indent_1_writes_it(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    values = repo / "envs/dev/api/values.yaml"
    values.write_text(values.read_text().replace('"1.4.2"', '"1.4.2-é😀\\t"'))
    commit_all(repo, "dev: an unusual tag")
    for command in ("status", "plan"):
        code, out = run(command, "--repo", str(repo), "--format", "json")
        assert code == 0, out
        assert out == json.dumps(json.loads(out), indent=1) + "\n"
        assert "\\u00e9\\ud83d\\ude00\\t" in out  # escaped as json.dumps does


def test_promote_creates_one_commit_on_a_branch_and_prints_the_pr(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    before = (repo / "envs/staging/api/values.yaml").read_text()
    code, out = run("promote", "api", "--to", "staging", "--repo", str(repo))
    assert code == 0, out
    assert "Created branch promobot/staging/api" in out
    assert "Promote api to staging: image 1.3.0 → 1.4.2" in out
    assert "image      ghcr.io/acme/api               1.3.0        1.4.2        1.4.2" in out
    code, out = run("promote", "api", "--to", "staging", "--body", "--repo", str(repo))
    assert code == 0, out
    assert "| image | [ghcr.io/acme/api](https://ghcr.io/acme/api) | 1.3.0 | **1.4.2** |" in out
    meta = render.parse_meta(out, signing.local(LocalForge(repo).key_path), "promobot/staging/api")
    assert meta is not None and meta.env == "staging" and meta.name == "api"
    assert git(repo, "rev-list", "--count", "main..promobot/staging/api") == "1"
    assert git(repo, "diff", "main", "promobot/staging/api", "--stat").startswith(
        "envs/staging/api/values.yaml | 2"
    )
    assert (repo / "envs/staging/api/values.yaml").read_text() == before
    assert git(repo, "status", "--porcelain") == ""


def test_promote_shows_a_person_plain_text_and_the_pr_description_only_when_asked(
    make_repo: MakeRepo,
) -> None:
    """The terminal got the PR's markdown: `&gt;=2.3.0`, `**bold**`, the signed metadata and
    the table of slash commands."""
    repo = make_repo("helm-values")
    chart = repo / "envs/staging/api/Chart.yaml"
    chart.write_text(chart.read_text().replace("version: 2.3.0", 'version: ">=2.3.0"'))
    commit_all(repo, "staging: a chart range")
    code, out = run("promote", "api", "--to", "prod-eu", "--repo", str(repo))
    assert (code, out.splitlines()) == (
        0,
        [
            "Nothing promoted; no branch was created:",
            "  api.chart in prod-eu is 2.2.1, staging has >=2.3.0: a range is a policy, promoted "
            "only when asked (--only chart)",
        ],
    )  # a range changes only when asked for by name
    code, out = run("promote", "api", "--to", "prod-eu", "--only", "chart", "--repo", str(repo))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[2] == "Promote api to prod-eu: chart 2.2.1 → >=2.3.0"
    table = lines[
        lines.index(
            "component  source                         prod-eu now  after merge  staging  changes"
        ) :
    ]
    assert table[1:3] == [
        "image      ghcr.io/acme/api               1.3.0        1.3.0        1.3.0    unchanged",
        "chart      oci://ghcr.io/acme/charts/api  2.2.1        >=2.3.0      >=2.3.0  "
        "⚠ the range of versions allowed changes: 2.2.1 → >=2.3.0",
    ]
    assert "Files\n  envs/prod-eu/api/Chart.yaml  dependencies[name=api].version\n" in out
    gates = out[out.index("Gates of prod-eu") :].splitlines()
    assert gates[0] == "Gates of prod-eu, as they stand now; a person merges the PR"
    assert gates[1] == "  · approvals: 0 of 2 from @acme/sre, alice"
    assert gates[2].startswith("  · soak: staging has run chart >=2.3.0 since ")
    for markup in ("&gt;", "&lt;", "**", "| ", "<details>", "<!--", "promobot:meta", "/approve"):
        assert markup not in out, markup
    assert lines[-1].endswith("the PR's description (markdown): --body")
    code, body = run(
        "promote", "api", "--to", "prod-eu", "--only", "chart", "--body", "--repo", str(repo)
    )
    assert code == 0 and "&gt;=2.3.0" in body and "<!-- promobot:meta " in body


def test_promote_only_the_chart_and_write_into_the_working_tree(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    code, out = run(
        "promote", "api", "--to", "prod-eu", "--only", "chart", "--write", "--repo", str(repo)
    )
    assert code == 0, out
    assert "Wrote 1 file(s): envs/prod-eu/api/Chart.yaml" in out
    assert git(repo, "diff", "--numstat") == "1\t1\tenvs/prod-eu/api/Chart.yaml"
    assert git(repo, "branch", "--list", "promobot/*") == ""


def test_promote_that_is_a_no_op_creates_nothing(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    code, out = run("promote", "api", "--to", "prod-us", "--only", "image", "--repo", str(repo))
    assert code == 0
    assert "Nothing to promote: api in prod-us already runs what staging runs for image" in out
    assert git(repo, "branch", "--list", "promobot/*") == ""


def test_set_then_history(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    code, out = run("set", "api", "image", "1.5.0", "--env", "dev", "--write", "--repo", str(repo))
    assert code == 0, out
    assert git(repo, "diff").count("\n+    tag:") == 1
    commit_all(repo, "dev: api 1.5.0", "2026-02-01T12:00:00Z")
    code, out = run("history", "api", "--env", "dev", "--repo", str(repo))
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert (
        lines[0].startswith("2026-02-01 12:00")
        and "image 1.5.0" in lines[0]
        and "(image changed)" in lines[0]
    )
    assert lines[1].startswith("2026-01-05 10:00") and "image 1.4.2" in lines[1]
    code, out = run("history", "api", "--env", "dev", "--format", "json", "--repo", str(repo))
    assert [e["components"]["image"] for e in json.loads(out)] == ["1.5.0", "1.4.2"]


def test_errors_are_one_line_without_traceback(tmp_path: Path, make_repo: MakeRepo) -> None:
    code, out = run("status", "--repo", str(tmp_path))
    assert code == 1 and out.startswith("error: ") and "is not a git repository" in out
    repo = make_repo("helm-values")
    code, out = run("promote", "nope", "--to", "staging", "--repo", str(repo))
    assert code == 1 and "unknown app 'nope'" in out
    code, out = run("promote", "api", "--to", "dev", "--repo", str(repo))
    assert code == 1 and "dev has no upstream" in out
    (repo / "envs/staging/api/values.yaml").write_text("image: {}\n")
    commit_all(repo, "broken")
    code, out = run("promote", "api", "--to", "staging", "--repo", str(repo))
    assert code == 1 and "envs/staging/api/values.yaml" in out and "Traceback" not in out


def test_the_installed_console_script_runs() -> None:
    promobot = Path(sys.executable).with_name("promobot")
    done = subprocess.run([str(promobot), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("promobot, version ")
    done = subprocess.run(
        [str(promobot), "status", "--repo", "/nonexistent"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert (
        done.returncode == 1
        and "Traceback" not in done.stderr
        and "no such directory" in done.stderr
    )


def test_rollback_restores_the_previous_composition_on_a_branch(make_repo: MakeRepo) -> None:
    repo = make_repo("kustomize")
    bump = repo / "envs/qa/kustomization.yaml"
    bump.write_text(bump.read_text().replace("newTag: 1.8.0", "newTag: 1.9.0"))
    (repo / "envs/qa/settings.yml").write_text("changed: true\n")
    commit_all(repo, "qa: checkout 1.9.0 and new settings", "2026-02-01T12:00:00Z")
    code, out = run("rollback", "checkout", "--env", "qa", "--repo", str(repo))
    assert code == 0, out
    assert "Roll back checkout in qa: image 1.9.0 → 1.8.0, settings updated" in out
    restored = out.split("Restoring ", 1)[1].split()[0]
    branch = f"promobot/qa/_rollback/checkout-{restored}"  # a branch of its own
    assert f"Created branch {branch} " in out
    assert git(repo, "show", f"{branch}:envs/qa/settings.yml") == git(
        repo, "show", "main~1:envs/qa/settings.yml"
    )
    assert "newTag: 1.8.0" in git(repo, "show", f"{branch}:envs/qa/kustomization.yaml")
    code, out = run(
        "rollback", "checkout", "--env", "qa", "--only", "image", "--write", "--repo", str(repo)
    )
    assert code == 0 and git(repo, "diff", "--name-only") == "envs/qa/kustomization.yaml"
    code, out = run(
        "rollback", "checkout", "--env", "qa", "--to", "0123456789ab", "--repo", str(repo)
    )
    assert code == 1 and "is not a composition id or version checkout ran in qa" in out


def test_promote_then_rollback_keep_both_branches(make_repo: MakeRepo) -> None:
    """The issue: a rollback wrote the promotion's branch, and the promotion was lost."""
    repo = make_repo("kustomize")
    staging = repo / "envs/staging/kustomization.yaml"
    staging.write_text(staging.read_text().replace("newTag: 1.7.3", "newTag: 1.8.0"))
    commit_all(repo, "staging: checkout 1.8.0", "2026-02-01T12:00:00Z")
    code, out = run("promote", "checkout", "--to", "staging", "--repo", str(repo))
    assert code == 0 and "Created branch promobot/staging/checkout " in out, out
    promoted = git(repo, "rev-parse", "promobot/staging/checkout")
    code, out = run("rollback", "checkout", "--env", "staging", "--repo", str(repo))
    assert code == 0, out
    back = out.split("Created branch ", 1)[1].split()[0]
    assert back.startswith("promobot/staging/_rollback/checkout-")
    assert git(repo, "rev-parse", "promobot/staging/checkout") == promoted  # still there
    assert "ref=v2.4.0" in git(repo, "show", f"{promoted}:envs/staging/kustomization.yaml")
    assert "newTag: 1.7.3" in git(repo, "show", f"{back}:envs/staging/kustomization.yaml")
    # each run again replaces only its own branch, whose head is promobot's commit
    code, out = run("rollback", "checkout", "--env", "staging", "--repo", str(repo))
    assert code == 0 and f"Created branch {back} " in out, out
    code, out = run("promote", "checkout", "--to", "staging", "--repo", str(repo))
    assert code == 0, out
    assert git(repo, "rev-list", "--count", "main..promobot/staging/checkout") == "1"


def test_promote_never_replaces_a_branch_with_a_persons_commit(make_repo: MakeRepo) -> None:
    repo = make_repo("kustomize")
    staging = repo / "envs/staging/kustomization.yaml"
    code, out = run("promote", "checkout", "--to", "staging", "--repo", str(repo))
    assert code == 0, out
    git(repo, "checkout", "-q", "promobot/staging/checkout")
    staging.write_text(staging.read_text() + "# reviewed by hand\n")
    person = commit_all(repo, "staging: a note")  # Ada Lovelace's commit on promobot's
    git(repo, "checkout", "-q", "main")
    code, out = run("promote", "checkout", "--to", "staging", "--repo", str(repo))
    assert code == 1
    assert out.strip().splitlines() == [
        f"error: branch promobot/staging/checkout exists and its head {person[:12]} (by Ada "
        "Lovelace <ada@example.com>) is not a commit promobot made for it, so promobot leaves "
        "it as it is and wrote nothing; delete the branch (merging what it holds first, if it "
        "is wanted) to let promobot write it (git branch -D promobot/staging/checkout)"
    ]
    assert git(repo, "rev-parse", "promobot/staging/checkout") == person
    git(repo, "branch", "-D", "promobot/staging/checkout")
    code, out = run("promote", "checkout", "--to", "staging", "--repo", str(repo))
    assert code == 0 and "Created branch promobot/staging/checkout " in out, out


def test_status_live_adds_what_each_watched_cluster_reports(make_repo: MakeRepo) -> None:
    repo = make_repo(files={
        ".promobot.yaml": (
            "version: 1\nenvironments:\n  dev: {}\n"
            "  staging: {from: dev, live: {status: {context: 'deploy/{app}-{env}'}}}\n"
            "apps:\n  api:\n    components:\n      image:\n"
            "        source: {image: ghcr.io/acme/api}\n"
            "        target: {file: 'envs/{env}/api.yaml', field: image.tag}\n"
        ),
        "envs/dev/api.yaml": "image:\n  tag: 1.5.0\n",
        "envs/staging/api.yaml": "image:\n  tag: 1.4.2\n",
    })  # fmt: skip
    head = git(repo, "rev-parse", "HEAD")
    LocalForge(repo).set_status(head, "deploy/api-staging", "pending", "syncing")
    code, out = run("status", "--repo", str(repo), "--live")
    assert code == 0, out
    assert f"api in staging: progressing at {head[:10]} since" in out
    code, out = run("status", "--repo", str(repo), "--live", "--format", "json")
    live = json.loads(out)["live"]
    assert list(live) == ["api"] and list(live["api"]) == ["staging"]
    assert (live["api"]["staging"]["health"], live["api"]["staging"]["revision"]) == (
        "progressing",
        head,
    )
    code, out = run("status", "--repo", str(repo))
    assert "progressing" not in out  # without --live: git only, nothing asked of clusters


def test_ref_reads_a_commit_from_before_the_configuration_with_todays(
    make_repo: MakeRepo,
) -> None:
    """`--ref` on a commit from before `.promobot.yaml` was added failed: not found."""
    repo = make_repo("helm-values")
    written = (repo / ".promobot.yaml").read_text()
    git(repo, "rm", "-q", ".promobot.yaml")
    old = commit_all(repo, "the environments as they were before promobot")
    values = repo / "envs/dev/api/values.yaml"
    values.write_text(values.read_text().replace('"1.4.2"', '"1.5.0"'))
    (repo / ".promobot.yaml").write_text(written)
    commit_all(repo, "promobot; dev: api 1.5.0")
    code, out = run("status", "--repo", str(repo), "--ref", old[:10], "--app", "api")
    assert code == 0, out
    assert out.splitlines()[0] == (
        f"note: {old[:10]} ({old[:12]}) has no .promobot.yaml; reading it with today's, "
        f"from HEAD ({git(repo, 'rev-parse', 'HEAD')[:12]})"
    )
    assert out.splitlines()[2].split()[:3] == ["api", "image", "1.4.2"]  # dev then
    code, out = run("history", "api", "--env", "dev", "--repo", str(repo), "--ref", old)
    assert code == 0 and "image 1.4.2" in out
