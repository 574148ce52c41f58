from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import events
from bot.events import (
    Artifact,
    CommentEvent,
    Event,
    EventError,
    Ignored,
    Installation,
    Ping,
    PullRequestEvent,
    Push,
    ReviewEvent,
    StatusEvent,
    parse_artifact,
    parse_github,
    parse_gitlab,
    parse_registry,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
ENVELOPE_V1 = "application/vnd.docker.distribution.events.v1+json"
ENVELOPE_V2 = "application/vnd.docker.distribution.events.v2+json"
HELLO = "Codertocat/Hello-World"
PR_HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def read(folder: str, name: str) -> bytes:
    return (FIXTURES / folder / name).read_bytes()


def payload(folder: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(read(folder, name))
    return data


def dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


# --- one case per fixture file -----------------------------------------------------------------

GITHUB: list[tuple[str, str, Event]] = [
    (
        "check_suite.completed.json",
        "check_suite",
        StatusEvent(
            sender_id=21031067,
            repo=HELLO,
            sha=PR_HEAD,
            context="octocoders-linter",
            state="success",
        ),
    ),
    (
        "create.tag.json",
        "create",
        Artifact(source_key=f"git:{HELLO}", version="simple-tag", repository=HELLO),
    ),
    (
        "installation.created.json",
        "installation",
        Installation(installation_id=957387, action="created", repos=(HELLO,)),
    ),
    (
        "installation_repositories.added.json",
        "installation_repositories",
        Installation(installation_id=957387, action="added", repos=("Codertocat/Space",)),
    ),
    (
        "installation_repositories.removed.json",
        "installation_repositories",
        Installation(installation_id=2, action="removed", repos=("octocat/Hello-World",)),
    ),
    (
        "issue_comment.created.on-issue.json",
        "issue_comment",
        CommentEvent(
            repo=HELLO,
            sender_id=21031067,
            number=1,
            comment_id=492700400,
            body="You are totally right! I'll get this fixed right away.",
            author="Codertocat",
            author_is_bot=False,
            action="created",
            on_pull_request=False,  # quirk: a comment on an issue, no issue.pull_request
            from_fork=False,
        ),
    ),
    (
        "issue_comment.edited.json",
        "issue_comment",
        CommentEvent(
            repo=HELLO,
            sender_id=21031067,
            number=1,
            comment_id=492700400,
            body="You are totally right! I'll get this fixed today.",
            author="Codertocat",
            author_is_bot=False,
            action="edited",
            on_pull_request=False,
            from_fork=False,
        ),
    ),
    (
        # quirks: package_type says npm (the registry says CONTAINER), package.name says
        # hello-world-npm (package_url, namespace and manifest say hello-world), the tag name is
        # empty and package_version.version is a digest: the tag comes from the image's
        # org.opencontainers.image.version label, and is not pinned to a digest.
        "package.published.container.json",
        "package",
        Artifact(
            source_key="image:ghcr.io/codertocat/hello-world",
            version="nightly",
            repository="Codertocat/hello-world-npm",
        ),
    ),
    (
        # quirk: ecosystem says docker; the registry (npm.pkg.github.com) and package_type say npm
        "package.published.npm.json",
        "package",
        Ignored(reason="'npm' packages are not used"),
    ),
    ("ping.app.json", "ping", Ping()),
    ("ping.json", "ping", Ping()),
    *(
        (
            f"pull_request.{name}.json",
            "pull_request",
            PullRequestEvent(
                repo=HELLO,
                sender_id=21031067,
                number=2,
                action=action,
                branch="changes",
                base="master",
                head_sha=PR_HEAD,
                merged=False,
                state=state,
                author="Codertocat",
                from_fork=False,
                labels=("bug",),
            ),
        )
        for name, action, state in [
            ("closed", "closed", "closed"),
            ("opened", "opened", "open"),
            ("opened.null-body", "opened", "open"),  # quirk: body null
            ("synchronize", "synchronize", "open"),
        ]
    ),
    (
        "pull_request_review.dismissed.json",
        "pull_request_review",
        ReviewEvent(
            repo=HELLO,
            sender_id=21031067,
            number=2,
            action="dismissed",
            reviewer="Codertocat",
            state="dismissed",
            sha=PR_HEAD,
        ),
    ),
    (
        "pull_request_review.submitted.commented.json",
        "pull_request_review",
        ReviewEvent(  # quirk: submitted, but a comment, not an approval
            repo=HELLO,
            sender_id=21031067,
            number=2,
            action="submitted",
            reviewer="Codertocat",
            state="commented",
            sha=PR_HEAD,
        ),
    ),
    (
        "push.new-branch.json",
        "push",
        Push(
            repo=HELLO,
            sender_id=21031067,
            ref="refs/heads/master",
            branch="master",
            tag=None,
            before="0" * 40,
            after="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            created=True,
            deleted=False,
            pusher="Codertocat",
        ),
    ),
    (
        "push.tag-created.json",
        "push",
        Artifact(source_key=f"git:{HELLO}", version="simple-tag", repository=HELLO),
    ),
    (
        "push.tag-deleted.json",  # quirk: deleted, after is all zeros
        "push",
        Ignored(reason="tag 'simple-tag' was deleted"),
    ),
    (
        "registry_package.published.container.json",  # the same quirks as the package one
        "registry_package",
        Artifact(
            source_key="image:ghcr.io/codertocat/hello-world",
            version="nightly",
            repository="Codertocat/hello-world-npm",
        ),
    ),
    (
        "status.json",
        "status",
        StatusEvent(
            repo=HELLO,
            sender_id=21031067,
            sha="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            context="default",
            state="success",
        ),
    ),
]

GITLAB: list[tuple[str, str, Event]] = [
    (
        "merge_request.json",
        "Merge Request Hook",
        PullRequestEvent(
            repo="gitlabhq/gitlab-test",
            sender_id=1,
            number=1,
            action="opened",
            branch="ms-viewport",
            base="master",
            head_sha="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            merged=False,
            state="open",
            author="user1",
            from_fork=False,
            labels=("API",),
        ),
    ),
    (
        "note_issue.json",
        "Note Hook",
        CommentEvent(
            repo="gitlab-org/gitlab-test",
            sender_id=42,
            number=17,
            comment_id=1241,
            body="Hello world",
            author="user1",
            author_is_bot=False,
            action="created",
            on_pull_request=False,
            from_fork=False,
        ),
    ),
    (
        "note_merge_request.json",
        "Note Hook",
        CommentEvent(
            repo="gitlab-org/gitlab-test",
            sender_id=1,
            number=1,
            comment_id=1244,
            body="This MR needs work.",
            author="root",
            author_is_bot=False,
            action="created",
            on_pull_request=True,
            from_fork=False,
        ),
    ),
    (
        "pipeline.json",
        "Pipeline Hook",
        StatusEvent(
            repo="gitlab-org/gitlab-test",
            sender_id=42,
            sha="bcbb5ec396a2c0f828686f14fac9b80b780504f2",
            context="pipeline",
            state="success",
        ),
    ),
    (
        "push.json",
        "Push Hook",
        Push(
            repo="mike/diaspora",
            sender_id=4,
            ref="refs/heads/master",
            branch="master",
            tag=None,
            before="95790bf891e76fee5e1747ab589903a6a1f80f22",
            after="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            created=False,
            deleted=False,
            pusher="jsmith",
        ),
    ),
    (
        "tag_push.json",
        "Tag Push Hook",
        Artifact(source_key="git:jsmith/example", version="v1.0.0", repository="jsmith/example"),
    ),
]

MANIFEST_DIGEST = "sha256:c457e658eb77cfcc23241059b1dd313d18488b86c825c0020b6b13ed179067c7"
HARBOR_DIGEST = "sha256:3e8c0a4f1b9d2e7c6a5b4f3e2d1c0b9a8f7e6d5c4b3a29180716253443526170"
REGISTRY: list[tuple[str, str, list[Artifact]]] = [
    ("distribution.push.blob.json", ENVELOPE_V1, []),  # a blob: no tag, not a manifest
    (
        "distribution.push.manifest.json",
        ENVELOPE_V1,
        [
            Artifact(
                source_key="image:127.0.0.1:5055/team/api", version="1.4.2", digest=MANIFEST_DIGEST
            )
        ],
    ),
    (
        "dockerhub.push.json",
        "application/json",
        [Artifact(source_key="image:docker.io/svendowideit/testhook", version="latest")],
    ),
    (
        "harbor.push.json",
        "application/json",
        [
            Artifact(
                source_key="image:harbor.example.com/acme/api",
                version="1.5.0",
                digest=HARBOR_DIGEST,
            )
        ],
    ),
]


def test_every_fixture_has_a_case() -> None:
    for folder, cases in (("github", GITHUB), ("gitlab", GITLAB), ("registry", REGISTRY)):
        files = {p.name for p in (FIXTURES / folder).glob("*.json")}
        assert files == {case[0] for case in cases}, folder


@pytest.mark.parametrize(("name", "event", "expected"), GITHUB, ids=[c[0] for c in GITHUB])
def test_github_fixture(name: str, event: str, expected: Event) -> None:
    body = read("github", name)
    key, got = parse_github(event, DELIVERY, body, "109948940")
    assert got == expected
    assert key == f"github:sha256-{hashlib.sha256(body).hexdigest()}"


@pytest.mark.parametrize(("name", "event", "expected"), GITLAB, ids=[c[0] for c in GITLAB])
def test_gitlab_fixture(name: str, event: str, expected: Event) -> None:
    key, got = parse_gitlab(event, "retry-1", "3b2c8f1e", read("gitlab", name))
    assert got == expected
    assert key == "gitlab:retry-1"


@pytest.mark.parametrize(
    ("name", "content_type", "expected"), REGISTRY, ids=[c[0] for c in REGISTRY]
)
def test_registry_fixture(name: str, content_type: str, expected: list[Artifact]) -> None:
    found = parse_registry(content_type, read("registry", name))
    assert [event for _, event in found] == expected
    assert len({key for key, _ in found}) == len(found)


# --- delivery keys -----------------------------------------------------------------------------


def test_github_key_is_the_signed_body_so_a_replay_under_other_ids_dedupes() -> None:
    """Webhook sender: X-GitHub-Delivery and X-GitHub-Hook-ID are not signed, so a captured
    delivery re-sent with other ids must get the key it had the first time."""
    body = read("github", "push.new-branch.json")
    first = parse_github("push", DELIVERY, body, "1")[0]
    assert parse_github("push", DELIVERY, body, "1")[0] == first  # a redelivery
    assert parse_github("push", DELIVERY, body, "2")[0] == first  # another hook id
    assert parse_github("push", "another-guid", body, "1")[0] == first  # another delivery id
    assert parse_github("push", None, body)[0] == first
    other = read("github", "push.tag-created.json")
    assert parse_github("push", DELIVERY, other, "1")[0] != first


@pytest.mark.parametrize(
    ("idempotency_key", "uuid", "expected"),
    [
        ("retry-1", "uuid-1", "gitlab:retry-1"),
        (None, "uuid-1", "gitlab:uuid-1"),
        ("", "uuid-1", "gitlab:uuid-1"),
    ],
)
def test_gitlab_key(idempotency_key: str | None, uuid: str, expected: str) -> None:
    body = read("gitlab", "push.json")
    assert parse_gitlab("Push Hook", idempotency_key, uuid, body)[0] == expected


def test_gitlab_key_without_headers_is_the_body_hash() -> None:
    body = read("gitlab", "push.json")
    assert parse_gitlab("Push Hook", None, None, body)[0].startswith("gitlab:sha256-")


def test_distribution_key_is_the_event_id() -> None:
    [(key, _)] = parse_registry(ENVELOPE_V1, read("registry", "distribution.push.manifest.json"))
    assert key == "registry:f9dba770-08b8-414c-a157-1fcde95cfe78"


def test_dockerhub_key_is_the_push_not_the_body() -> None:
    data = payload("registry", "dockerhub.push.json")
    [(key, _)] = parse_registry("application/json", dumps(data))
    data["repository"]["star_count"] = 7  # the same push, delivered again
    assert parse_registry("application/json", dumps(data))[0][0] == key
    data["push_data"]["pushed_at"] = 1417566999
    assert parse_registry("application/json", dumps(data))[0][0] != key


# --- GitHub details ----------------------------------------------------------------------------


def _package(**version: Any) -> bytes:
    data = payload("github", "package.published.container.json")
    data["package"]["package_version"].update(version)
    return dumps(data)


def test_github_container_tag_pins_the_first_valid_digest() -> None:
    data = payload("github", "package.published.container.json")
    metadata = data["package"]["package_version"]["container_metadata"]
    metadata["tag"]["name"] = "1.4.2"
    # tag.digest and manifest.digest in the fixture are 40 hex digits: not a sha256 digest
    _, event = parse_github("package", DELIVERY, dumps(data))
    assert event == Artifact(
        source_key="image:ghcr.io/codertocat/hello-world",
        version="1.4.2",
        digest="sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498",
        repository="Codertocat/hello-world-npm",
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ({"package_url": "ghcr.io/Codertocat/hello-world:1.5.0"}, "1.5.0"),
        ({"version": "2.0.0"}, "2.0.0"),
        ({"container_metadata": {"tag": {"name": "", "digest": ""}}, "tags": ["3.1.0"]}, "3.1.0"),
    ],
)
def test_github_container_tag_comes_from_elsewhere(version: dict[str, Any], expected: str) -> None:
    _, event = parse_github("package", DELIVERY, _package(**version))
    assert isinstance(event, Artifact) and event.version == expected


def test_github_untagged_container_is_ignored() -> None:
    body = _package(container_metadata={"tag": {"name": ""}}, package_url="ghcr.io/a/b:")
    assert parse_github("package", DELIVERY, body)[1] == Ignored(
        reason="the container version has no tag"
    )


def test_github_comment_on_a_pull_request_by_a_bot() -> None:
    data = payload("github", "issue_comment.created.on-issue.json")
    data["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/1"}
    data["comment"]["user"].update(login="renovate[bot]", type="Bot")
    _, event = parse_github("issue_comment", DELIVERY, dumps(data))
    assert isinstance(event, CommentEvent)
    assert event.on_pull_request and event.author_is_bot and event.author == "renovate[bot]"


def test_github_pull_request_from_a_fork_and_merged() -> None:
    data = payload("github", "pull_request.closed.json")
    data["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    data["pull_request"]["merged"] = True
    _, event = parse_github("pull_request", DELIVERY, dumps(data))
    assert isinstance(event, PullRequestEvent) and event.from_fork and event.merged
    data["pull_request"]["head"]["repo"] = None  # the fork was deleted
    _, event = parse_github("pull_request", DELIVERY, dumps(data))
    assert isinstance(event, PullRequestEvent) and event.from_fork


@pytest.mark.parametrize(
    ("state", "expected"),
    [("APPROVED", "approved"), ("changes_requested", "changes_requested")],
)
def test_github_review_states(state: str, expected: str) -> None:
    data = payload("github", "pull_request_review.submitted.commented.json")
    data["review"]["state"] = state
    _, event = parse_github("pull_request_review", DELIVERY, dumps(data))
    assert isinstance(event, ReviewEvent) and event.state == expected


@pytest.mark.parametrize(
    ("action", "conclusion", "expected"),
    [
        ("completed", "failure", StatusEvent(sender_id=21031067, repo=HELLO, sha=PR_HEAD, context="octocoders-linter",
                                             state="failure")),
        ("completed", "neutral", StatusEvent(sender_id=21031067, repo=HELLO, sha=PR_HEAD, context="octocoders-linter",
                                             state="success")),
        ("requested", None, Ignored(reason="check_suite 'requested'")),
    ],
)  # fmt: skip
def test_github_check_suite(action: str, conclusion: str | None, expected: Event) -> None:
    data = payload("github", "check_suite.completed.json")
    data["action"], data["check_suite"]["conclusion"] = action, conclusion
    assert parse_github("check_suite", DELIVERY, dumps(data))[1] == expected


@pytest.mark.parametrize(
    ("name", "event", "expected"),
    [
        ("create.tag.json", "star", Ignored(reason="GitHub 'star' events are not used")),
        ("push.new-branch.json", "create", Ignored(reason="a 'branch' was created")),
    ],
)
def test_github_irrelevant_deliveries(name: str, event: str, expected: Event) -> None:
    data = payload("github", name)
    data["ref_type"] = "branch"
    assert parse_github(event, DELIVERY, dumps(data))[1] == expected


# --- GitLab details ----------------------------------------------------------------------------


def test_gitlab_tag_deletion_is_ignored() -> None:
    data = payload("gitlab", "tag_push.json")
    data["before"], data["after"] = data["after"], "0" * 40
    _, event = parse_gitlab("Tag Push Hook", None, "u", dumps(data))
    assert event == Ignored(reason="tag 'v1.0.0' was deleted")


def test_gitlab_merge_request_merged_from_a_fork_with_a_new_head() -> None:
    data = payload("gitlab", "merge_request.json")
    attrs = data["object_attributes"]
    attrs.update(action="update", oldrev="0123abcd", source_project_id=99)
    _, event = parse_gitlab("Merge Request Hook", None, "u", dumps(data))
    assert isinstance(event, PullRequestEvent)
    assert (event.action, event.from_fork, event.author) == ("synchronize", True, None)
    attrs.update(action="merge", state="merged")
    _, event = parse_gitlab("Merge Request Hook", None, "u", dumps(data))
    assert isinstance(event, PullRequestEvent)
    assert (event.action, event.state, event.merged) == ("closed", "closed", True)


@pytest.mark.parametrize(
    ("username", "system", "bot"),
    [("user1", False, False), ("project_5_bot_1a2b3c", False, True), ("user1", True, True)],
)
def test_gitlab_note_by_a_bot(username: str, system: bool, bot: bool) -> None:
    data = payload("gitlab", "note_merge_request.json")
    data["user"]["username"] = username
    data["object_attributes"].update(system=system, action="update")
    _, event = parse_gitlab("Note Hook", None, "u", dumps(data))
    assert isinstance(event, CommentEvent)
    assert (event.author_is_bot, event.action) == (bot, "edited")


@pytest.mark.parametrize(
    ("status", "state"),
    [("failed", "failure"), ("running", "pending"), ("canceled", "error"), ("skipped", "success")],
)
def test_gitlab_pipeline_states(status: str, state: str) -> None:
    data = payload("gitlab", "pipeline.json")
    data["object_attributes"]["status"] = status
    _, event = parse_gitlab("Pipeline Hook", None, "u", dumps(data))
    assert isinstance(event, StatusEvent) and event.state == state


def test_gitlab_system_hook_and_unknown_hooks() -> None:
    body = read("gitlab", "push.json")
    assert isinstance(parse_gitlab("System Hook", None, "u", body)[1], Push)
    assert isinstance(parse_gitlab(None, None, "u", body)[1], Push)  # object_kind says push
    assert parse_gitlab("Job Hook", None, "u", body)[1] == Ignored(
        reason="GitLab 'Job Hook' events are not used"
    )


# --- registries --------------------------------------------------------------------------------


def _event(action: str, media_type: str, tag: str | None, id: str) -> dict[str, Any]:
    target = {"mediaType": media_type, "repository": "team/web", "digest": MANIFEST_DIGEST,
              "url": f"https://reg.example.com:5000/v2/team/web/manifests/{MANIFEST_DIGEST}"}  # fmt: skip
    if tag is not None:
        target["tag"] = tag
    return {"id": id, "action": action, "target": target}


def test_distribution_v2_envelope_counts_only_tagged_manifest_pushes() -> None:
    envelope = {
        "events": [
            _event("push", "application/octet-stream", None, "blob"),
            _event("push", "application/vnd.oci.image.manifest.v1+json", None, "by-digest"),
            _event("pull", "application/vnd.oci.image.manifest.v1+json", "2.0.0", "pull"),
            _event("push", "application/vnd.oci.image.index.v1+json", "2.0.0", "index"),
            _event("delete", "application/vnd.oci.image.index.v1+json", "2.0.0", "delete"),
        ]
    }
    found = parse_registry(f"{ENVELOPE_V2}; charset=utf-8", dumps(envelope))
    # no request.host here: the host comes from target.url
    assert found == [
        (
            "registry:index",
            Artifact(
                source_key="image:reg.example.com:5000/team/web",
                version="2.0.0",
                digest=MANIFEST_DIGEST,
            ),
        )
    ]


def test_harbor_other_events_and_untagged_resources_need_nothing() -> None:
    data = payload("registry", "harbor.push.json")
    data["event_data"]["resources"][0]["tag"] = ""
    assert parse_registry("application/json", dumps(data)) == []
    data["type"] = "DELETE_ARTIFACT"
    assert parse_registry("application/json", dumps(data)) == []


def test_quay() -> None:
    body = dumps(
        {
            "repository": "acme/api",
            "namespace": "acme",
            "name": "api",
            "docker_url": "quay.io/acme/api",
            "homepage": "https://quay.io/repository/acme/api",
            "updated_tags": ["1.4.2", "latest"],
        }
    )
    found = parse_registry("application/json", body)
    assert [e for _, e in found] == [
        Artifact(source_key="image:quay.io/acme/api", version="1.4.2"),
        Artifact(source_key="image:quay.io/acme/api", version="latest"),
    ]
    assert found[0][0] != found[1][0]


# --- the generic artifact endpoint -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"image": "ghcr.io/acme/api", "version": "1.4.2", "digest": MANIFEST_DIGEST},
            Artifact(source_key="image:ghcr.io/acme/api", version="1.4.2", digest=MANIFEST_DIGEST),
        ),
        (
            {"image": "localhost:5000/api", "version": 2004},
            Artifact(source_key="image:localhost:5000/api", version="2004"),
        ),
        (
            {"chart": "api", "repo": "oci://ghcr.io/acme/charts/", "version": "2.3.0"},
            Artifact(source_key="chart:oci://ghcr.io/acme/charts/api", version="2.3.0"),
        ),
        (
            {"git": "acme/api-config", "version": "v12"},
            Artifact(source_key="git:acme/api-config", version="v12"),
        ),
    ],
)
def test_artifact(body: dict[str, Any], expected: Artifact) -> None:
    key, event = parse_artifact(dumps(body))
    assert event == expected
    assert key.startswith("artifact:sha256-")


def test_artifact_key_is_the_id() -> None:
    body = dumps({"git": "acme/api-config", "version": "v12", "id": "pipeline-881"})
    assert parse_artifact(body)[0] == "artifact:pipeline-881"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "missing fields version and image, chart or git"),
        ({"version": "1"}, "missing field image, chart or git"),
        ({"image": "ghcr.io/acme/api"}, "missing field version"),
        ({"chart": "api"}, "missing fields repo and version"),
        ({"chart": "api", "version": "1"}, "missing field repo"),
        ({"image": "a.io/b", "git": "c/d", "version": "1"}, "name one of image, chart or git, not image and git"),
        ({"image": "ghcr.io/acme/api:1.4.2", "version": "1.4.2"}, "field image must name a repository without tag or digest"),
        ({"image": 7, "version": "1"}, "field image must be a string"),
        ({"git": "a/b", "version": ""}, "field version must be a non-empty string"),
        ({"git": "a/b", "version": True}, "field version must be a non-empty string"),
        ({"git": "a/b", "version": "1", "digest": "sha256:abc"}, "field digest must be sha256: and 64 hex digits"),
    ],
)  # fmt: skip
def test_artifact_errors(body: dict[str, Any], message: str) -> None:
    with pytest.raises(EventError) as caught:
        parse_artifact(dumps(body))
    assert str(caught.value) == message


# --- malformed deliveries ----------------------------------------------------------------------


def _without(folder: str, name: str, *path: str | int) -> bytes:
    data = payload(folder, name)
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return dumps(data)


def _with(folder: str, name: str, value: Any, *path: str | int) -> bytes:
    data = payload(folder, name)
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return dumps(data)


PR = "pull_request.opened.json"
MALFORMED: list[tuple[Callable[[bytes], object], bytes, str]] = [
    (lambda b: parse_github("push", DELIVERY, b), b"{not json", "body is not JSON"),
    (lambda b: parse_github("push", DELIVERY, b), b"", "body is not JSON"),
    (lambda b: parse_github("push", DELIVERY, b), b"\xff\xfe{", "body is not JSON"),
    (lambda b: parse_github("push", DELIVERY, b), b"[" * 100_000, "body is not JSON"),
    (lambda b: parse_github("push", DELIVERY, b), b"[]", "body is not a JSON object"),
    (lambda b: parse_github("push", DELIVERY, b), b'"push"', "body is not a JSON object"),
    (lambda b: parse_github(None, DELIVERY, b), b"{}", "missing X-GitHub-Event header"),
    (lambda b: parse_github("pull_request", DELIVERY, b), _without("github", PR, "pull_request", "number"),
     "missing field pull_request.number"),
    (lambda b: parse_github("pull_request", DELIVERY, b), _with("github", PR, "2", "pull_request", "number"),
     "field pull_request.number must be an integer"),
    (lambda b: parse_github("pull_request", DELIVERY, b), _with("github", PR, True, "pull_request", "number"),
     "field pull_request.number must be an integer"),
    (lambda b: parse_github("pull_request", DELIVERY, b), _with("github", PR, [], "pull_request", "head"),
     "field pull_request.head must be an object"),
    (lambda b: parse_github("pull_request", DELIVERY, b), _with("github", PR, "", "pull_request", "state"),
     "field pull_request.state is empty"),
    (lambda b: parse_github("pull_request", DELIVERY, b), _with("github", PR, 5, "pull_request", "head", "sha"),
     "field pull_request.head.sha must be a string"),
    (lambda b: parse_github("pull_request", DELIVERY, b), _with("github", PR, ["bug"], "pull_request", "labels"),
     "field pull_request.labels[0] must be an object"),
    (lambda b: parse_github("pull_request", DELIVERY, b), _with("github", PR, "draft", "pull_request", "state"),
     "field pull_request.state must be open or closed, not 'draft'"),
    (lambda b: parse_github("push", DELIVERY, b), _without("github", "push.new-branch.json", "repository"),
     "missing field repository"),
    (lambda b: parse_github("status", DELIVERY, b), _with("github", "status.json", "ok", "state"),
     "field state must be pending, success, failure or error, not 'ok'"),
    (lambda b: parse_gitlab("Note Hook", None, "u", b), _without("gitlab", "note_merge_request.json", "merge_request"),
     "missing field merge_request"),
    (lambda b: parse_gitlab("Merge Request Hook", None, "u", b),
     _with("gitlab", "merge_request.json", "1", "object_attributes", "iid"),
     "field object_attributes.iid must be an integer"),
    (lambda b: parse_gitlab(None, None, "u", b), b"{}", "missing X-Gitlab-Event header"),
    (lambda b: parse_registry(ENVELOPE_V1, b), b"{}", "missing field events"),
    (lambda b: parse_registry(None, b), b'{"events": {}}', "field events must be a list"),
    (lambda b: parse_registry(None, b), b'{"events": [1]}', "field events[0] must be an object"),
    (lambda b: parse_registry(None, b), b'{"hello": "world"}',
     "body is not a Distribution, Docker Hub, Harbor or Quay notification"),
    (lambda b: parse_registry(None, b), _without("registry", "distribution.push.manifest.json", "events", 0, "id"),
     "missing field events[0].id"),
    (lambda b: parse_registry(None, b), _with("registry", "harbor.push.json", "acme/api:1", "event_data", "resources", 0, "resource_url"),
     "field event_data.resources[0].resource_url names no registry host and repository"),
    (lambda b: parse_artifact(b), b"[1, 2]", "body is not a JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(("parse", "body", "message"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_malformed(parse: Callable[[bytes], object], body: bytes, message: str) -> None:
    with pytest.raises(EventError) as caught:
        parse(body)
    assert str(caught.value) == message


# --- fields that do not route an event may be missing ------------------------------------------

# (fixture, path of the field older or other editions of the forge do not send, what still holds)
LENIENT: list[tuple[str, tuple[str | int, ...], Callable[[Event], bool]]] = [
    # GitHub Enterprise before reviews carried it
    ("github/pull_request_review.submitted.commented.json", ("review", "commit_id"),
     lambda e: isinstance(e, ReviewEvent) and e.number == 2 and e.sha is None),
    ("github/pull_request_review.dismissed.json", ("review", "user"),
     lambda e: isinstance(e, ReviewEvent) and e.reviewer is None and e.state == "dismissed"),
    ("github/pull_request_review.dismissed.json", ("review", "state"),
     lambda e: isinstance(e, ReviewEvent) and e.state is None),
    ("github/pull_request.opened.json", ("pull_request", "head"),
     lambda e: isinstance(e, PullRequestEvent) and e.number == 2 and e.head_sha is None),
    ("github/pull_request.opened.json", ("pull_request", "base"),
     lambda e: isinstance(e, PullRequestEvent) and e.base is None and e.state == "open"),
    ("github/pull_request.opened.json", ("pull_request", "user"),
     lambda e: isinstance(e, PullRequestEvent) and e.author is None),
    ("github/pull_request.closed.json", ("action",),
     lambda e: isinstance(e, PullRequestEvent) and e.action is None and e.state == "closed"),
    ("github/push.new-branch.json", ("pusher",),
     lambda e: isinstance(e, Push) and e.pusher is None and e.branch == "master"),
    ("github/push.new-branch.json", ("before",),
     lambda e: isinstance(e, Push) and e.before is None),
    ("github/registry_package.published.container.json", ("repository", "full_name"),
     lambda e: isinstance(e, Artifact) and e.repository is None),
    ("github/check_suite.completed.json", ("check_suite", "app", "name"),
     lambda e: isinstance(e, StatusEvent) and e.context == "check_suite" and e.sha == PR_HEAD),
    # GitLab before `user_username` was added to push hooks
    ("gitlab/push.json", ("user_username",),
     lambda e: isinstance(e, Push) and e.pusher is None and e.branch == "master"),
    ("gitlab/push.json", ("before",),
     lambda e: isinstance(e, Push) and e.before is None and not e.created),
    ("gitlab/merge_request.json", ("object_attributes", "last_commit"),
     lambda e: isinstance(e, PullRequestEvent) and e.head_sha is None and e.number == 1),
    ("gitlab/merge_request.json", ("object_attributes", "source_project_id"),
     lambda e: isinstance(e, PullRequestEvent) and not e.from_fork),
    ("gitlab/merge_request.json", ("object_attributes", "source_branch"),
     lambda e: isinstance(e, PullRequestEvent) and e.branch is None),
    ("gitlab/note_merge_request.json", ("merge_request", "target_project_id"),
     lambda e: isinstance(e, CommentEvent) and not e.from_fork and e.number == 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "path", "holds"), LENIENT, ids=[f"{n} without {'.'.join(map(str, p))}" for n, p, _ in LENIENT]
)  # fmt: skip
def test_a_missing_field_that_routes_nothing_is_not_a_400(
    name: str, path: tuple[str | int, ...], holds: Callable[[Event], bool]
) -> None:
    folder, file = name.split("/")
    body = _without(folder, file, *path)
    fixture = FIXTURES / folder / file
    _, event = _parser(fixture)(body)  # type: ignore[misc]
    assert holds(event), event
    assert events.load(json.loads(event.model_dump_json())) == event  # and it queues


# --- whatever comes in, only an event or an EventError comes out -------------------------------

_HOOKS = {
    "merge_request": "Merge Request Hook",
    "note_issue": "Note Hook",
    "note_merge_request": "Note Hook",
    "pipeline": "Pipeline Hook",
    "push": "Push Hook",
    "tag_push": "Tag Push Hook",
}
_ODD_VALUES: list[Any] = [None, 0, True, "", "x", [], {}, [1], 1.5, "0" * 40, "\ud800:/"]


def _parser(path: Path) -> Callable[[bytes], object]:
    if path.parent.name == "github":
        return lambda body: parse_github(path.name.split(".")[0], DELIVERY, body, "1")
    if path.parent.name == "gitlab":
        return lambda body: parse_gitlab(_HOOKS[path.stem], "k", None, body)
    return lambda body: parse_registry(ENVELOPE_V1, body)


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) in a JSON document, depth first."""
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in list(items):
        yield node, key
        yield from _slots(value)


def _variants(body: bytes, rng: random.Random) -> Iterator[bytes]:
    for cut in range(0, len(body), max(1, len(body) // 48)):  # truncated
        yield body[:cut]
    for _ in range(32):  # garbled bytes
        garbled = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            garbled[rng.randrange(len(garbled))] = rng.randrange(256)
        yield bytes(garbled)
    data = json.loads(body)
    for i, (node, key) in enumerate(_slots(data)):  # every field once: odd, mistyped or gone
        original = node[key]
        node[key] = _ODD_VALUES[i % len(_ODD_VALUES)]
        yield dumps(data)
        if isinstance(node, dict) and i % 3 == 0:
            del node[key]
            yield dumps(data)
        node[key] = original


FILES = sorted(
    p for folder in ("github", "gitlab", "registry") for p in (FIXTURES / folder).glob("*.json")
)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_damaged_fixtures_give_an_event_or_an_event_error(path: Path) -> None:
    parse, rng, outcomes = _parser(path), random.Random(path.name), set()
    for body in _variants(path.read_bytes(), rng):
        try:
            result = parse(body)
        except EventError as exc:
            message = str(exc)
            assert message and "\n" not in message and len(message) < 200, message
            outcomes.add("error")
            continue
        found: list[Any] = result if isinstance(result, list) else [result]
        for key, event in found:
            assert isinstance(key, str) and key
            assert events.load(json.loads(event.model_dump_json())) == event
        outcomes.add("event")
    assert outcomes == {"error", "event"}


# --- events go through the queue as JSON -------------------------------------------------------


def test_events_round_trip_through_json() -> None:
    for name, event, _ in GITHUB:
        parsed = parse_github(event, DELIVERY, read("github", name))[1]
        assert events.load(json.loads(parsed.model_dump_json())) == parsed


def test_load_refuses_what_is_not_an_event() -> None:
    with pytest.raises(EventError):
        events.load({"kind": "nope"})
    with pytest.raises(EventError):
        events.load({"kind": "artifact", "source_key": "git:a/b"})
