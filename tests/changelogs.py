"""An application repository with tags, releases and a CHANGELOG.md, on the forge simulator,
and a promotion of its image across them: what the changelog tests and the benchmark read."""

from __future__ import annotations

from bot.changelog.hosts import Hosts, Opener
from bot.config import Config
from bot.forges.github import GitHubForge
from bot.forges.gitlab import GitLabForge
from bot.forges.retry import Policy
from bot.planner import AppPlan, Edit, Promotion, Row
from tests.forgesim import Server, World

TOKEN = "ghp_bot-token-not-for-notes"
APP_REPO = "acme/api"
# 1.3.0 → 1.7.2: twelve versions after 1.3.0, up to and including 1.7.2
VERSIONS = [
    "1.3.0", "1.3.1", "1.3.2", "1.4.0", "1.4.1", "1.5.0", "1.5.1", "1.5.2",
    "1.6.0", "1.6.1", "1.7.0", "1.7.1", "1.7.2",
]  # fmt: skip
FAST = Policy(attempts=2, backoff_base=0.01, backoff_max=0.02, rate_limit_max_wait=1)


def notes_of(version: str) -> str:
    return (
        f"## What's changed\n\n- Faster checkout in {version}\n- Fix a crash when the cart is empty"
    )


def app_repo(
    world: World,
    full_name: str = APP_REPO,
    *,
    releases: bool = True,
    changelog: bool = False,
    versions: list[str] = VERSIONS,
    tag_prefix: str = "v",
) -> None:
    """The app's repository: per version a commit "Fix …", a commit "Release …" tagged
    `v<version>`, a GitHub/GitLab release (`releases`), a CHANGELOG.md section (`changelog`)."""
    world.add_user("ada")
    world.add_repo(full_name, {"README.md": "# api\n"})
    sections: list[str] = []
    for version in versions:
        world.push(full_name, "main", {"src/fix.txt": version}, f"Fix the cart for {version}")
        sections.insert(0, f"## [{version}] - 2026-11-01\n\n### Fixed\n\n- The cart in {version}\n")
        files: dict[str, str | bytes | None] = {"src/version.txt": version}
        if changelog:
            files["CHANGELOG.md"] = "# Changelog\n\n## [Unreleased]\n\n" + "\n".join(sections)
        world.tag(
            full_name,
            f"{tag_prefix}{version}",
            files,
            f"Release {version}",
            notes_of(version) if releases else None,
        )


def hosts(server: Server, **extra: tuple[str, Opener]) -> Hosts:
    """github.com and gitlab.com served by the simulator (with the bot's token there)."""

    def github(repo: str) -> GitHubForge:
        return GitHubForge(repo, token=TOKEN, base_url=server.github_url, policy=FAST, timeout=5)

    def gitlab(repo: str) -> GitLabForge:
        return GitLabForge(repo, token=TOKEN, url=server.gitlab_url, policy=FAST, timeout=5)

    return Hosts({"github.com": ("github", github), "gitlab.com": ("gitlab", gitlab), **extra})


def config(
    changelog: str | None = "github.com/acme/api", image: str = "ghcr.io/acme/api"
) -> Config:
    component: dict[str, object] = {
        "source": {"image": image},
        "target": {"file": "envs/{env}/api/values.yaml", "field": "image.tag"},
    }
    if changelog is not None:
        component["changelog"] = changelog
    return Config.model_validate(
        {
            "version": 1,
            "environments": {"dev": {}, "staging": {"from": "dev"}, "prod": {"from": "staging"}},
            "apps": {"api": {"components": {"image": component}}},
        }
    )


def promotion(before: str = "1.3.0", after: str = "1.7.2", env: str = "prod") -> Promotion:
    row = Row(
        component="image",
        source="ghcr.io/acme/api",
        before=before,
        after=after,
        upstream=after,
        change="up",
    )
    plan = AppPlan(
        app="api", before="c0ffee000001", after="c0ffee000002", upstream=None, rows=(row,)
    )
    edit = Edit(
        app="api",
        component="image",
        file=f"envs/{env}/api/values.yaml",
        field="image.tag",
        before=before,
        after=after,
    )
    return Promotion(
        env=env, upstream="staging", name="api", reason="upstream", apps=(plan,), edits=(edit,)
    )


def setup_world(world: World) -> None:
    world.add_user("promobot[bot]", bot=True, token=TOKEN)
