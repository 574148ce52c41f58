"""The engine against a real git repo (the local forge): open, supersede, leave alone, close."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot import planner, render
from bot.engine import CLOSED_LABEL, Engine, labels, made_by_promobot, prepare, read_state
from bot.forges.base import Head
from bot.forges.local import LocalForge
from bot.signing import Signer
from tests.conftest import MakeRepo, commit_all, git, local_engine
from tests.test_cli import run


def outcomes(engine: Engine, *artifacts: tuple[str, str, str | None]) -> list[tuple[str, str]]:
    return [(a.outcome, a.branch) for a in engine.sync(list(artifacts))]


def bump(repo: Path, path: str, old: str, new: str, message: str) -> None:
    file = repo / path
    file.write_text(file.read_text().replace(old, new))
    commit_all(repo, message)


def test_sync_opens_every_due_promotion_once(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    engine = local_engine(forge)
    assert outcomes(engine) == [
        ("opened", "promobot/staging/api"),
        ("opened", "promobot/staging/web"),
        ("opened", "promobot/prod-eu/api"),
        ("opened", "promobot/prod-us/api"),
    ]
    assert [a.outcome for a in local_engine(forge).sync()] == ["unchanged"] * 4  # idempotent
    pr = forge.find_pr("promobot/staging/api")
    assert pr is not None
    assert set(pr.labels) == {"promotion", "env:staging", "app:api"}
    meta = render.parse_meta(pr.body, local_engine(forge).signer, pr.branch)
    assert meta is not None and meta.commit == pr.head_sha == forge.head("promobot/staging/api")
    assert git(repo, "rev-list", "--count", "main..promobot/staging/api") == "1"


def test_a_newer_version_supersedes_the_open_pr(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    local_engine(forge).sync()
    first = forge.find_pr("promobot/staging/api")
    assert first is not None
    bump(repo, "envs/dev/api/values.yaml", '"1.4.2"', '"1.5.0"', "dev: api 1.5.0")
    assert ("superseded", "promobot/staging/api") in outcomes(local_engine(forge))
    second = forge.find_pr("promobot/staging/api")
    assert second is not None and second.number == first.number
    assert "**1.5.0**" in second.body and second.head_sha != first.head_sha
    assert git(repo, "rev-parse", "promobot/staging/api^") == git(repo, "rev-parse", "main")


def test_a_pr_a_human_closed_is_not_reopened_for_the_same_versions(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    local_engine(forge).sync()
    pr = forge.find_pr("promobot/staging/web")
    assert pr is not None
    forge.close_pr(pr.number)
    assert ("human-closed", "promobot/staging/web") in outcomes(local_engine(forge))
    assert forge.find_pr("promobot/staging/web") is None
    bump(repo, "envs/dev/web/values.yaml", "3.1.0", "3.2.0", "dev: web 3.2.0")
    assert ("opened", "promobot/staging/web") in outcomes(
        local_engine(forge)
    )  # new versions: new PR


def test_a_pr_that_became_a_no_op_is_closed_with_a_comment(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    local_engine(forge).sync()
    pr = forge.find_pr("promobot/staging/web")
    assert pr is not None
    bump(repo, "envs/staging/web/values.yaml", "3.0.2", "3.1.0", "staging: web 3.1.0 by hand")
    assert ("closed", "promobot/staging/web") in outcomes(local_engine(forge))
    closed = forge.get_pr(pr.number)
    assert closed.state == "closed" and CLOSED_LABEL in closed.labels
    assert any("would change nothing" in c.body for c in forge.comments(pr.number))


def test_promobot_stops_rewriting_a_branch_a_human_pushed_to(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    local_engine(forge).sync()
    git(repo, "checkout", "-q", "promobot/staging/api")
    bump(
        repo, "envs/staging/api/values.yaml", "replicaCount: 3", "replicaCount: 4", "more replicas"
    )
    pushed = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    bump(repo, "envs/dev/api/values.yaml", '"1.4.2"', '"1.5.0"', "dev: api 1.5.0")
    for _ in range(2):
        assert ("human-pushed", "promobot/staging/api") in outcomes(local_engine(forge))
    assert forge.head("promobot/staging/api") == pushed
    pr = forge.find_pr("promobot/staging/api")
    assert pr is not None
    assert sum("Someone pushed" in c.body for c in forge.comments(pr.number)) == 1


def test_a_published_version_opens_a_pr_for_the_first_environment(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    engine = local_engine(forge)
    assert ("opened", "promobot/dev/api") in outcomes(
        engine, ("image:ghcr.io/acme/api", "1.6.0", None)
    )
    pr = forge.find_pr("promobot/dev/api")
    assert pr is not None and pr.title == "Promote api to dev: image 1.4.2 → 1.6.0"
    # the same event again changes nothing; an rc the source ignores plans nothing
    again = outcomes(
        engine,
        ("image:ghcr.io/acme/api", "1.6.0", None),
        ("image:ghcr.io/acme/api", "1.7.0-rc.1", None),
    )
    assert ("unchanged", "promobot/dev/api") in again
    assert not [o for o in again if o[0] == "opened"]


def test_merging_a_promotion_cascades_downstream(make_repo: MakeRepo) -> None:
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    local_engine(forge).sync()
    pr = forge.find_pr("promobot/staging/api")
    assert pr is not None
    forge.merge(pr.number, pr.head_sha)
    after = outcomes(local_engine(forge))
    assert ("superseded", "promobot/prod-eu/api") in after  # now image and chart
    prod = forge.find_pr("promobot/prod-eu/api")
    assert (
        prod is not None
        and prod.title == "Promote api to prod-eu: image 1.3.0 → 1.4.2, chart 2.2.1 → 2.3.0"
    )


def test_the_diff_of_a_copied_file_without_a_final_newline_reads_as_git_shows_it(
    make_repo: MakeRepo,
) -> None:
    """A last line without its newline stays a line of its own, marked as git marks it (it
    used to run into the next one: `-  value: https://…staging…+  value: https://…qa…`)."""
    repo = make_repo("kustomize")
    for env in ("qa", "staging"):
        path = repo / f"envs/{env}/settings.yml"
        text = path.read_text().replace("payments.staging", f"payments.{env}")
        path.write_text(text.rstrip("\n"))
    commit_all(repo, "settings without a final newline")
    forge = LocalForge(repo)
    state = read_state(forge)
    [promotion] = planner.plan(state.config, state.status, env="staging", only=["settings"])
    opened = prepare(forge, state, promotion, local_engine(forge).signer)
    shown = opened.body.split("```diff\n", 1)[1].split("\n```", 1)[0].splitlines()
    by_git = git(repo, "diff", "main", promotion.branch, "--", "envs/staging/settings.yml")
    hunks = [line for line in by_git.splitlines()[4:] if not line.startswith("@@")]
    assert [line for line in shown[2:] if not line.startswith("@@")] == hunks
    assert shown[-4:] == [
        "-          value: https://payments.staging.acme.internal",
        "\\ No newline at end of file",
        "+          value: https://payments.qa.acme.internal",
        "\\ No newline at end of file",
    ]
    assert "content changed (+2 −2)" in opened.body


# --- whose branch it is ---------------------------------------------------------------------------


def person_commits_on(repo: Path, branch: str, path: str, line: str) -> str:
    """Ada Lovelace checks out a branch, commits one line to `path`, and goes back to main."""
    git(repo, "checkout", "-q", branch)
    with (repo / path).open("a") as file:
        file.write(line)
    sha = commit_all(repo, "a person's change")
    git(repo, "checkout", "-q", "main")
    return sha


def test_the_service_never_replaces_a_cli_branch_a_person_committed_to(
    make_repo: MakeRepo, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue: `serve` replaced a person's CLI branch with a different promotion."""
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    assert run("promote", "api", "--to", "staging", "--only", "image", "--repo", str(repo))[0] == 0
    branch = "promobot/staging/api"
    person = person_commits_on(repo, branch, "envs/staging/api/values.yaml", "# by hand\n")
    engine = local_engine(forge)
    with caplog.at_level(logging.WARNING, logger="promobot.engine"):
        first = outcomes(engine)
        assert ("taken", branch) in first and ("opened", "promobot/prod-eu/api") in first
        for _ in range(2):  # said once; looked at again, never written
            assert forge.head(branch) == person and forge.find_pr(branch) is None
            problem = engine.problems[branch].error
            assert f"its head {person[:12]} (by Ada Lovelace <ada@example.com>)" in problem
            assert "delete the branch" in problem
            assert ("taken", branch) in outcomes(engine)
    assert [r.getMessage() for r in caplog.records] == ["branch not promobot's"]
    git(repo, "branch", "-D", branch)
    assert ("opened", branch) in outcomes(engine)
    assert branch not in engine.problems


def test_the_service_replaces_a_branch_whose_head_is_promobots_own(make_repo: MakeRepo) -> None:
    """A CLI branch as the CLI made it, and a branch whose PR a person closed, are promobot's:
    rewritten for new versions."""
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    assert run("set", "api", "image", "1.4.9", "--env", "staging", "--repo", str(repo))[0] == 0
    assert ("opened", "promobot/staging/api") in outcomes(local_engine(forge))
    pr = forge.find_pr("promobot/staging/api")
    assert pr is not None and pr.title == "Promote api to staging: image 1.3.0 → 1.4.2"
    forge.close_pr(pr.number)
    bump(repo, "envs/dev/api/values.yaml", '"1.4.2"', '"1.5.0"', "dev: api 1.5.0")
    assert ("opened", "promobot/staging/api") in outcomes(local_engine(forge))


def test_a_branch_from_before_the_trailer_is_promobots_while_its_pr_names_its_head(
    make_repo: MakeRepo,
) -> None:
    """Branches made before promobot's commits carried a trailer: the signed record of their
    PR (open, or closed by a person) names the head promobot made."""
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    engine = local_engine(forge)
    state = engine.state()
    (promotion,) = [p for p in engine.due(state) if p.branch == "promobot/staging/web"]
    changes = planner.apply(state.config, promotion, state.snapshot)
    title = render.title(promotion)
    old = forge.commit_files(promotion.branch, state.snapshot.commit, changes, title)
    made = promotion.model_copy(update={"commit": old, "base": state.snapshot.commit})
    body = render.body(made, state.config, signer=engine.signer)
    pr = forge.open_pr(promotion.branch, title, body, labels(promotion))
    bump(repo, "envs/dev/web/values.yaml", "3.1.0", "3.2.0", "dev: web 3.2.0")
    assert ("superseded", "promobot/staging/web") in outcomes(local_engine(forge))
    assert forge.head("promobot/staging/web") != old
    forge.close_pr(pr.number)  # a person closes it; its last record names promobot's commit
    bump(repo, "envs/dev/web/values.yaml", "3.2.0", "3.3.0", "dev: web 3.3.0")
    assert ("opened", "promobot/staging/web") in outcomes(local_engine(forge))


def test_only_a_commit_promobot_signed_for_the_branch_and_its_parent_is_promobots(
    make_repo: MakeRepo,
) -> None:
    """A trailer made with another key, for another branch or parent, or on a commit a person
    amended, makes no branch promobot's."""
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    signer = local_engine(forge).signer
    base = forge.resolve()
    other_base = commit_all_on(repo)
    change: dict[str, bytes | None] = {"envs/dev/api/values.yaml": b"x: 1\n"}

    def made(case: str, trailer: str, parent: str = base) -> Head:
        branch = f"promobot/dev/{case}"
        forge.commit_files(branch, parent, change, f"Promote\n\n{trailer}")
        head = forge.branch_head(branch)
        assert head is not None
        return head

    def mine(case: str, head: Head) -> bool:
        return made_by_promobot(head, f"promobot/dev/{case}", signer)

    genuine = made("genuine", signer.trailer("promobot/dev/genuine", base))
    assert mine("genuine", genuine)
    cases = {
        "other-key": Signer(b"k" * 32, "local").trailer("promobot/dev/other-key", base),
        "other-repo": Signer(forge.key_path.read_bytes().strip(), "acme/else").trailer(
            "promobot/dev/other-repo", base
        ),
        "other-branch": signer.trailer("promobot/dev/genuine", base),
        "other-parent": signer.trailer("promobot/dev/other-parent", other_base),
        "no-trailer": "Signed-off-by: Ada Lovelace <ada@example.com>",
        "not-last": signer.trailer("promobot/dev/not-last", base) + "\nAnd more",
    }
    for case, trailer in cases.items():
        assert not mine(case, made(case, trailer)), case
    git(repo, "checkout", "-q", "promobot/dev/genuine")
    carol = {"GIT_COMMITTER_NAME": "carol", "GIT_COMMITTER_EMAIL": "carol@example.com"}
    git(repo, "commit", "-q", "--amend", "--allow-empty", "--no-edit", env=carol)
    git(repo, "checkout", "-q", "main")
    amended = forge.branch_head("promobot/dev/genuine")
    assert amended is not None and amended.message == genuine.message
    assert not mine("genuine", amended)  # the trailer stayed, the commit is carol's
    assert made_by_promobot(amended, "promobot/dev/genuine", signer, vouched=[amended.sha])


def commit_all_on(repo: Path) -> str:
    """A second commit on main: another parent to sign for."""
    (repo / "NOTES.md").write_text("notes\n")
    return commit_all(repo, "notes")


def test_a_rollback_pr_opened_before_rollbacks_had_branches_of_their_own_stays_promobots(
    make_repo: MakeRepo,
) -> None:
    """Its record has no `own_branch`: it names promobot/<env>/<name>, where it was opened."""
    repo = make_repo("helm-values")
    forge = LocalForge(repo)
    engine = local_engine(forge)
    state = engine.state()
    (forward,) = [p for p in engine.due(state) if p.branch == "promobot/staging/web"]
    old = forward.model_copy(update={"reason": "rollback", "upstream": None})
    new = old.model_copy(update={"own_branch": True})
    assert new.branch == f"promobot/staging/_rollback/web-{new.apps[0].after}"
    assert engine.ensure(state, old).outcome == "opened"
    pr = forge.find_pr("promobot/staging/web")
    assert pr is not None and "own_branch" not in pr.body
    meta = local_engine(forge).promotion_of(pr)
    assert meta is not None and meta.reason == "rollback" and meta.branch == pr.branch
