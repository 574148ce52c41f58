from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.errors import FieldError
from bot.fields import (
    Document,
    Each,
    Index,
    Key,
    Match,
    Selector,
    Step,
    Target,
    Template,
    parse_selector,
    parse_template,
    read,
    write,
)

GOLDEN = Path(__file__).parent / "golden" / "fields"
CASES = sorted(path for path in GOLDEN.iterdir() if path.is_dir())


def target(
    file: str, field: str | None = None, template: str | None = None, marker: str | None = None
) -> Target:
    return Target(
        file,
        parse_selector(field) if field is not None else None,
        parse_template(template) if template is not None else None,
        marker,
    )


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    """The (old, new) pairs of lines that differ; line endings are part of each line."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new), "a write must never add or remove lines"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


# --- selectors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("image.tag", (Key("image"), Key("tag"))),
        (
            "spec.sources[2].targetRevision",
            (Key("spec"), Key("sources"), Index(2), Key("targetRevision")),
        ),
        ("spec.containers[-1]", (Key("spec"), Key("containers"), Index(-1))),
        ("[0].tag", (Index(0), Key("tag"))),
        (
            "images[name=ghcr.io/acme/api:8080].newTag",
            (Key("images"), Match("name", "ghcr.io/acme/api:8080"), Key("newTag")),
        ),
        ("apps[ name = api ].version", (Key("apps"), Match("name", "api"), Key("version"))),
        ('apps[name="a]b"].v', (Key("apps"), Match("name", "a]b"), Key("v"))),
        (
            'labels["app.kubernetes.io/name"=api]',
            (Key("labels"), Match("app.kubernetes.io/name", "api")),
        ),
        ("resources[*]", (Key("resources"), Each())),
        ("spec.containers[*].image", (Key("spec"), Key("containers"), Each(), Key("image"))),
        ('a."b.c".d', (Key("a"), Key("b.c"), Key("d"))),
        ("a['b.c'].d", (Key("a"), Key("b.c"), Key("d"))),
        ('"x\\"y".z', (Key('x"y'), Key("z"))),
        (
            "metadata.annotations.acme.io/version",
            tuple(Key(k) for k in ("metadata", "annotations", "acme", "io/version")),
        ),
    ],
)
def test_parse_selector(text: str, steps: tuple[Step, ...]) -> None:
    assert parse_selector(text) == Selector(text, steps)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "images[name=api.newTag",
            "bad selector 'images[name=api.newTag': missing ']' for the '[' at column 7; "
            "write list matches like images[name=api].newTag",
        ),
        (
            "image..tag",
            "bad selector 'image..tag': empty key at column 7; "
            "write keys between dots, like image.tag",
        ),
        ("image.", "bad selector 'image.': empty key at column 7"),
        ("a[]", "bad selector 'a[]': empty [] at column 2; write [0], [-1], [name=api] or [*]"),
        (
            "a[first]",
            "bad selector 'a[first]': [first] is not an index, a key=value match or [*] "
            "at column 2",
        ),
        ("a[0]b", "bad selector 'a[0]b': expected '.' or '[' but found 'b' at column 5"),
        ("a]", "bad selector 'a]': unexpected ']' at column 2"),
        ('a."b.c', "bad selector 'a.\"b.c': missing closing \" for the quote at column 3"),
        ("a[=api]", "bad selector 'a[=api]': missing key before '=' at column 3"),
        ("a[name=]", "bad selector 'a[name=]': missing value after 'name=' at column 8"),
        ("a[1", "bad selector 'a[1': missing ']' for the '[' at column 2"),
        ("envs.{env}.tag", "bad selector 'envs.{env}.tag': {env} was not expanded at column 6"),
        (
            "image.{tag}",
            "bad selector 'image.{tag}': {tag} is not a placeholder at column 7; "
            "only {env} and {app}",
        ),
        ("", "empty selector; write selectors like image.tag"),
        ("   ", "empty selector"),
    ],
)
def test_parse_selector_errors(text: str, message: str) -> None:
    with pytest.raises(FieldError) as error:
        parse_selector(text)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


# --- templates and targets -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "version"),
    [
        ("ghcr.io/acme/api:{version}", "ghcr.io/acme/api:1.4.2", "1.4.2"),
        ("ghcr.io/acme/api:{version}", "ghcr.io/acme/api:1.4.2@sha256:abc", "1.4.2@sha256:abc"),
        ("ghcr.io/acme/api:{version}", "ghcr.io/acme/web:1.4.2", None),
        ("ghcr.io/acme/api:{version}", "ghcr.io/acme/api:", None),
        (
            "https://github.com/acme/api-config//base?ref={version}",
            "https://github.com/acme/api-config//base?ref=v11",
            "v11",
        ),
        ("v{version}-linux", "v1.2-linux", "1.2"),
        ("v{version}-linux", "v1.2-darwin", None),
        ("{version}", "anything at all", "anything at all"),
    ],
)
def test_template_match_and_render(text: str, value: str, version: str | None) -> None:
    template = parse_template(text)
    assert template.match(value) == version
    if version is not None:
        assert template.render(version) == value


def test_parse_template_splits_around_version() -> None:
    assert parse_template("ghcr.io/acme/api:{version}-alpine") == Template(
        "ghcr.io/acme/api:{version}-alpine", "ghcr.io/acme/api:", "-alpine"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ghcr.io/acme/api:latest",
            "bad template 'ghcr.io/acme/api:latest': it has no {version}; put exactly one",
        ),
        ("{version}-{version}", "bad template '{version}-{version}': it has {version} 2 times"),
        (
            "ghcr.io/acme/{app}:{version}",
            "bad template 'ghcr.io/acme/{app}:{version}': {app} was not expanded",
        ),
        (
            "ghcr.io/acme/api:{tag}",
            "bad template 'ghcr.io/acme/api:{tag}': {tag} is not a placeholder",
        ),
    ],
)
def test_parse_template_errors(text: str, message: str) -> None:
    with pytest.raises(FieldError) as error:
        parse_template(text)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Target("v.yaml"), "v.yaml: a target needs exactly one of a field selector"),
        (
            lambda: Target("v.yaml", parse_selector("image.tag"), marker="api.image"),
            "v.yaml: a target needs exactly one of a field selector",
        ),
        (
            lambda: Target("k.yaml", parse_selector("resources[*]")),
            "k.yaml: resources[*] picks a list item by its template, but there is none",
        ),
        (lambda: Target("v.yaml", marker="api image"), "v.yaml: bad marker name 'api image'"),
    ],
)
def test_target_errors(make: Callable[[], Target], message: str) -> None:
    with pytest.raises(FieldError) as error:
        make()
    assert str(error.value).startswith(message)


# --- reading ---------------------------------------------------------------------------------

VALUES = """\
image:
  repository: ghcr.io/acme/api
  tag: 1.4.2
  pullPolicy: IfNotPresent
"""
LISTS = """\
images:
- name: ghcr.io/acme/web
  newTag: 2.0.0
- name: ghcr.io/acme/api
  newTag: 1.4.2
resources:
- ../base
- https://github.com/acme/api-config//base?ref=v11
"""


@pytest.mark.parametrize(
    ("file", "text", "field", "template", "version"),
    [
        ("v.yaml", VALUES, "image.tag", None, "1.4.2"),
        ("v.yaml", VALUES, "image.repository", "ghcr.io/acme/{version}", "api"),
        ("k.yaml", LISTS, "images[1].newTag", None, "1.4.2"),
        ("k.yaml", LISTS, "images[-2].newTag", None, "2.0.0"),
        ("k.yaml", LISTS, "images[name=ghcr.io/acme/api].newTag", None, "1.4.2"),
        (
            "k.yaml",
            LISTS,
            "resources[*]",
            "https://github.com/acme/api-config//base?ref={version}",
            "v11",
        ),
        (
            "k.yaml",
            LISTS,
            "resources[-1]",
            "https://github.com/acme/api-config//base?ref={version}",
            "v11",
        ),
        ("k.yaml", LISTS, "images[*].name", "ghcr.io/acme/{version}", "web"),
        ("v.yaml", "tag: 1.10\n", "tag", None, "1.10"),
        ("v.yaml", "tag: 2004\n", "tag", None, "2004"),
        ("v.yaml", "tag: 1.0e3\n", "tag", None, "1.0e3"),
        ("v.yaml", "tag: 0x1F\n", "tag", None, "0x1F"),
        ("v.yaml", "enabled: yes\n", "enabled", None, "yes"),
        ("v.yaml", "tag: 'it''s'\n", "tag", None, "it's"),
        ("v.yaml", 'tag: "1.4\\x2e2"\n', "tag", None, "1.4.2"),
        ("v.yaml", "a:\n  b.c:\n    d: 7.1\n", 'a."b.c".d', None, "7.1"),
        ("v.yaml", "a:\n  b.c:\n    d: 7.1\n", "a['b.c'].d", None, "7.1"),
        ("v.yaml", "base: &base\n  tag: 1.4.2\nprod: *base\n", "prod.tag", None, "1.4.2"),
        ("v.yaml", "base: &b {tag: 1.4.2}\nprod:\n  <<: *b\n  n: 2\n", "prod.tag", None, "1.4.2"),
        ("v.yaml", "a: &a {p: 1}\nb: &b {tag: 2}\nc: {<<: [*a, *b]}\n", "c.tag", None, "2"),
        (
            "v.yaml",
            "kind: A\n---\nkind: B\nspec: {tag: 3.0.0}\n---\nspec: {tag: 4.0.0}\n",
            "spec.tag",
            None,
            "3.0.0",
        ),
        ("v.yaml", "---\n---\nspec: {tag: 3.0.0}\n...\n", "spec.tag", None, "3.0.0"),
        ("v.yaml", "- a\n- b\n", "[1]", None, "b"),
        ("c.json", '{"chart": {"version": 2004}}', "chart.version", None, "2004"),
        ("c.json", '{"chart": {"version": 1.10}}', "chart.version", None, "1.10"),
        (
            "c.json",
            '{"apps": [{"name": "api", "port": 8080, "v": "1"}]}',
            "apps[port=8080].v",
            None,
            "1",
        ),
        ("C.JSON", '{"tag": "1.4.2"}', "tag", None, "1.4.2"),
    ],
)
def test_read(file: str, text: str, field: str, template: str | None, version: str) -> None:
    assert read(text, target(file, field, template)) == version


@pytest.mark.parametrize(
    ("text", "template", "version"),
    [
        ("tag: 1.4.2 # promobot: api\n", None, "1.4.2"),
        ("tag: '1.4.2'   #promobot: api\n", None, "1.4.2"),
        ('tag: "1.4.2"\t# promobot:api\n', None, "1.4.2"),
        ("- ghcr.io/acme/api:1.4.2 # promobot: api\n", "ghcr.io/acme/api:{version}", "1.4.2"),
        ("- name: api # promobot: api\n  tag: 2\n", None, "api"),
        ("a: 1\n---\nb: 2  # promobot: api\n", None, "2"),
        ("tag: 1.4.2 # promobot: api.other\nx: 2 # promobot: api\n", None, "2"),
    ],
)
def test_read_marker(text: str, template: str | None, version: str) -> None:
    assert read(text, target("v.yaml", template=template, marker="api")) == version


@pytest.mark.parametrize(
    ("file", "text", "field", "template", "message"),
    [
        (
            "envs/dev/values.yaml",
            "image:\n  repository: x\n  pullPolicy: Always\n",
            "image.tag",
            None,
            "envs/dev/values.yaml: no value at image.tag (image has keys: repository, pullPolicy)",
        ),
        (
            "v.yaml",
            "tag: 1\n",
            "image.tag",
            None,
            "v.yaml: no value at image.tag (the document has keys: tag)",
        ),
        (
            "v.yaml",
            VALUES,
            "image",
            None,
            "v.yaml: image is a mapping (keys: repository, tag, pullPolicy), not a version; "
            "select one of its keys, like image.repository",
        ),
        (
            "k.yaml",
            LISTS,
            "images",
            None,
            "k.yaml: images is a list of 2, not a version; select an item",
        ),
        (
            "k.yaml",
            LISTS,
            "images.name",
            None,
            "k.yaml: no value at images.name (images is a list, not a mapping)",
        ),
        (
            "v.yaml",
            VALUES,
            "image[0]",
            None,
            "v.yaml: no value at image[0] (image is a mapping, not a list)",
        ),
        (
            "v.yaml",
            VALUES,
            "image.tag.x",
            None,
            "v.yaml: no value at image.tag.x (image.tag is the text '1.4.2', not a mapping)",
        ),
        (
            "k.yaml",
            LISTS,
            "images[2].newTag",
            None,
            "k.yaml: no value at images[2].newTag (images has 2 items, so [2] is out of range)",
        ),
        (
            "k.yaml",
            LISTS,
            "images[name=ghcr.io/acme/worker].newTag",
            None,
            "k.yaml: no value at images[name=ghcr.io/acme/worker].newTag (no item of images has "
            "name=ghcr.io/acme/worker; name values: ghcr.io/acme/web, ghcr.io/acme/api)",
        ),
        (
            "k.yaml",
            LISTS,
            "resources[*]",
            "https://github.com/acme/other//base?ref={version}",
            "k.yaml: no item of resources matches the template "
            "'https://github.com/acme/other//base?ref={version}' (found: '../base', "
            "'https://github.com/acme/api-config//base?ref=v11')",
        ),
        (
            "d.yaml",
            "containers:\n- name: a\n  image: ghcr.io/acme/web:1\n",
            "containers[*].image",
            "ghcr.io/acme/api:{version}",
            "d.yaml: no containers[*].image matches the template 'ghcr.io/acme/api:{version}' "
            "(found: 'ghcr.io/acme/web:1')",
        ),
        (
            "v.yaml",
            "image: ghcr.io/acme/web:1.4.2\n",
            "image",
            "ghcr.io/acme/api:{version}",
            "v.yaml: image is 'ghcr.io/acme/web:1.4.2', which does not match the template "
            "'ghcr.io/acme/api:{version}'",
        ),
        ("v.yaml", "tag:\n", "tag", None, "v.yaml: tag is empty; put the current version there"),
        ("v.yaml", "tag: ''\n", "tag", None, "v.yaml: tag is empty"),
        ("v.yaml", "", "tag", None, "v.yaml: the file is empty; expected a value at tag"),
        ("v.yaml", "# nothing yet\n", "tag", None, "v.yaml: the file is empty"),
        (
            "v.yaml",
            "kind: ConfigMap\n---\nkind: Deployment\nspec: {replicas: 1}\n",
            "spec.tag",
            None,
            "v.yaml: no value at spec.tag (spec has keys: replicas); none of its 2 YAML documents "
            "has it (this is document 2)",
        ),
        (
            "v.yaml",
            "image:\n  tag: [1.4.2\n",
            "image.tag",
            None,
            "v.yaml: not valid YAML at line 3, column 1:",
        ),
        (
            "c.json",
            '{"tag": "1.4.2",}',
            "tag",
            None,
            "c.json: not valid JSON at line 1, column 17:",
        ),
        (
            "c.json",
            '{"tag": true}',
            "tag",
            None,
            "c.json: tag is true, not a version; write the version as text",
        ),
        ("c.json", '{"tag": null}', "tag", None, "c.json: tag is null, not a version"),
        ("c.json", '{"tag": {}}', "tag", None, "c.json: tag is an empty mapping, not a version"),
    ],
)
def test_read_errors(file: str, text: str, field: str, template: str | None, message: str) -> None:
    with pytest.raises(FieldError) as error:
        read(text, target(file, field, template))
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("file", "text", "template", "message"),
    [
        (
            "v.yaml",
            "a: 1 # promobot: api\nb: 2\nc: 3 # promobot: api\n",
            None,
            "v.yaml: the marker '# promobot: api' is on lines 1, 3; it must mark exactly one value",
        ),
        (
            "v.yaml",
            "a: 1 # promobot: web\n",
            None,
            "v.yaml: no '# promobot: api' marker (markers here: web); add one at the end of the "
            "version's line, like 'tag: 1.4.2  # promobot: api'",
        ),
        (
            "v.yaml",
            "# promobot: api\ntag: 1.4.2\n",
            None,
            "v.yaml: line 1 has the marker '# promobot: api' but no value; put the marker at the "
            "end of the version's own line",
        ),
        (
            "v.yaml",
            "image:  # promobot: api\n  tag: 1\n",
            None,
            "v.yaml: line 1 has the marker '# promobot: api' but no value",
        ),
        (
            "v.yaml",
            "tags: [1, 2]  # promobot: api\n",
            None,
            "v.yaml: line 1 has the marker '# promobot: api' but 2 values",
        ),
        (
            "v.yaml",
            "- ghcr.io/acme/web:1 # promobot: api\n",
            "ghcr.io/acme/api:{version}",
            "v.yaml: the value on line 1 ('# promobot: api') is 'ghcr.io/acme/web:1', which does "
            "not match the template 'ghcr.io/acme/api:{version}'",
        ),
        (
            "c.json",
            '{"tag": "1.4.2"}',
            None,
            "c.json: JSON has no comments, so it cannot carry a '# promobot: api' marker",
        ),
    ],
)
def test_read_marker_errors(file: str, text: str, template: str | None, message: str) -> None:
    with pytest.raises(FieldError) as error:
        read(text, target(file, template=template, marker="api"))
    assert str(error.value).startswith(message)


def test_document_reads_several_targets_from_one_parse() -> None:
    document = Document("k.yaml", LISTS)
    assert document.read(target("k.yaml", "images[name=ghcr.io/acme/web].newTag")) == "2.0.0"
    assert document.read(target("k.yaml", "images[name=ghcr.io/acme/api].newTag")) == "1.4.2"
    assert document.read(target("k.yaml", "images[0].name", "ghcr.io/acme/{version}")) == "web"


def test_document_reports_bad_yaml_on_read_not_on_creation() -> None:
    document = Document("v.yaml", "image: [\n")
    with pytest.raises(FieldError, match=r"^v\.yaml: not valid YAML at line 2"):
        document.read(target("v.yaml", "image"))


# --- writing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "text", "field", "template", "version", "expected"),
    [
        # plain stays plain unless the new text would read as something else
        ("v.yaml", "tag: 1.4.2\n", "tag", None, "1.5.0", "tag: 1.5.0\n"),
        ("v.yaml", "tag: 2004  # int\n", "tag", None, "1909", "tag: 1909  # int\n"),
        ("v.yaml", "tag: 1.9\n", "tag", None, "1.10", "tag: 1.10\n"),
        ("v.yaml", "tag: 1.4.2\n", "tag", None, "1.10", 'tag: "1.10"\n'),
        ("v.yaml", "tag: 1.4.2\n", "tag", None, "2004", 'tag: "2004"\n'),
        ("v.yaml", "tag: 2004\n", "tag", None, "1.5.0", "tag: 1.5.0\n"),
        ("v.yaml", "tag: v1\n", "tag", None, "yes", 'tag: "yes"\n'),
        ("v.yaml", "tag: v1\n", "tag", None, "a: b", 'tag: "a: b"\n'),
        ("v.yaml", "tag: v1\n", "tag", None, "a #b", 'tag: "a #b"\n'),
        ("v.yaml", "tag: v1\n", "tag", None, "*latest", 'tag: "*latest"\n'),
        ("v.yaml", "tag: v1\n", "tag", None, "- x", 'tag: "- x"\n'),
        ("v.yaml", "tag: v1\n", "tag", None, "-rc1", "tag: -rc1\n"),
        ("v.yaml", "tag: v1\n", "tag", None, 'say "hi"', 'tag: say "hi"\n'),
        (
            "v.yaml",
            "image: repo:v1  # x\n",
            "image",
            "repo:{version}",
            "a: b",
            'image: "repo:a: b"  # x\n',
        ),
        (
            "v.yaml",
            "image: {tag: v1, pull: Always}\n",
            "image.tag",
            None,
            "v2,3",
            'image: {tag: "v2,3", pull: Always}\n',
        ),
        ("v.yaml", "tags: [v1, v2]\n", "tags[1]", None, "v3", "tags: [v1, v3]\n"),
        # quoted styles keep their quotes and escape what they must
        ("v.yaml", "tag: 'v1'\n", "tag", None, "it's", "tag: 'it''s'\n"),
        ("v.yaml", "tag: 'it''s v1'\n", "tag", "it's {version}", "v2", "tag: 'it''s v2'\n"),
        ("v.yaml", 'tag: "v1"\n', "tag", None, 'a"b\\c', 'tag: "a\\"b\\\\c"\n'),
        (
            "v.yaml",
            'tag: "repo\\/api:v1"\n',
            "tag",
            "repo/api:{version}",
            "v2",
            'tag: "repo\\/api:v2"\n',
        ),
        ("v.yaml", 'tag: "v1"\n', "tag", None, "1.10", 'tag: "1.10"\n'),
        ("v.yaml", "tag: 'true'\n", "tag", None, "false", "tag: 'false'\n"),
        # anchors and tags around the scalar stay
        ("v.yaml", "tag: &t v1\n", "tag", None, "v2", "tag: &t v2\n"),
        ("v.yaml", "tag: !!str 1.0\n", "tag", None, "1.1", "tag: !!str 1.1\n"),
        ("v.yaml", "tag: !custom 'v1'\n", "tag", None, "v2", "tag: !custom 'v2'\n"),
        # the document the selector resolves in, and nothing else
        (
            "v.yaml",
            "tag: 1\n---\nspec: {tag: 1}\n---\nspec: {tag: 1}\n",
            "spec.tag",
            None,
            "2",
            "tag: 1\n---\nspec: {tag: 2}\n---\nspec: {tag: 1}\n",
        ),
        (
            "v.yaml",
            "\ufeffimage:\n  tag: v1\n",
            "image.tag",
            None,
            "v2",
            "\ufeffimage:\n  tag: v2\n",
        ),
        ("v.yaml", "tag: v1   \n\n\n", "tag", None, "v2", "tag: v2   \n\n\n"),
        (
            "v.yaml",
            "tag: 1  # overridden\ntag: 2\n",
            "tag",
            None,
            "3",
            "tag: 1  # overridden\ntag: 3\n",
        ),
        (
            "v.yaml",
            "tag: 1.4.2 # promobot: api\n",
            None,
            None,
            "1.5.0",
            "tag: 1.5.0 # promobot: api\n",
        ),
        (
            "v.yaml",
            "image: {tag: v1}  # promobot: api\n",
            None,
            None,
            "v2,3",
            'image: {tag: "v2,3"}  # promobot: api\n',
        ),
        # JSON
        ("c.json", '{"tag": "v1"}', "tag", None, 'a"b', '{"tag": "a\\"b"}'),
        (
            "c.json",
            '{"tag": "repo\\/api:v1"}',
            "tag",
            "repo/api:{version}",
            "v2",
            '{"tag": "repo\\/api:v2"}',
        ),
        ("c.json", '{"tag": "\\u0076\\u0031"}', "tag", "v{version}", "2", '{"tag": "\\u00762"}'),
        (
            "c.json",
            '{"tag": "v1 \\ud83d\\ude80"}',
            "tag",
            "v{version} \U0001f680",
            "2",
            '{"tag": "v2 \\ud83d\\ude80"}',
        ),
        ("c.json", '{"n": 5}', "n", None, "6.1", '{"n": 6.1}'),
        ("c.json", '{"n": 5}', "n", None, "1.4.2", '{"n": "1.4.2"}'),
        ("c.json", '{"n": [1, 2, {"x": 3}]}', "n[2].x", None, "4e2", '{"n": [1, 2, {"x": 4e2}]}'),
        ("c.json", '{"tag": "a", "tag": "b"}', "tag", None, "c", '{"tag": "a", "tag": "c"}'),
        (
            "c.json",
            '{"a": {"tag": "b"}, "tag": "b"}',
            "tag",
            None,
            "c",
            '{"a": {"tag": "b"}, "tag": "c"}',
        ),
        ("c.json", '[{"v": "1"}, {"v": "1"}]', "[-1].v", None, "2", '[{"v": "1"}, {"v": "2"}]'),
    ],
)
def test_write(
    file: str, text: str, field: str | None, template: str | None, version: str, expected: str
) -> None:
    where = target(file, field, template, None if field else "api")
    written = write(text, where, version)
    assert written == expected
    assert read(written, where) == version
    assert len(changed_lines(text, written)) == 1


def test_write_the_same_version_returns_the_text_unchanged() -> None:
    text = "image:\n  tag: '1.4.2'   # keep\n"
    assert write(text, target("v.yaml", "image.tag"), "1.4.2") is text


@pytest.mark.parametrize(
    ("file", "text", "field", "version", "message"),
    [
        (
            "v.yaml",
            "tag: |\n  1.4.2\n",
            "tag",
            "1.5.0",
            "v.yaml: cannot edit tag: it is a block scalar (|); write the value on one line",
        ),
        (
            "v.yaml",
            "tag: >-\n  1.4.2\n",
            "tag",
            "1.5.0",
            "v.yaml: cannot edit tag: it is a block scalar (>)",
        ),
        (
            "v.yaml",
            "tag: 'a\n  b'\n",
            "tag",
            "1.5.0",
            "v.yaml: cannot edit tag: the value spans several lines",
        ),
        (
            "v.yaml",
            "base: &b {tag: 1.4.2}\nprod:\n  <<: *b\n",
            "prod.tag",
            "1.5.0",
            "v.yaml: cannot edit prod.tag: it is shared through the YAML anchor &b",
        ),
        (
            "v.yaml",
            "base: &base\n  tag: 1.4.2\nprod: *base\n",
            "prod.tag",
            "1.5.0",
            "v.yaml: cannot edit prod.tag: it is shared through the YAML anchor &base, "
            "so writing it would also change every *base; give this place its own value",
        ),
        (
            "v.yaml",
            "a: &v 1.4.2\nb: *v\n",
            "b",
            "1.5.0",
            "v.yaml: cannot edit b: it is shared through the YAML anchor &v",
        ),
        (
            "v.yaml",
            "a: &v 1.4.2\nb: *v\n",
            "a",
            "1.5.0",
            "v.yaml: cannot edit a: it is shared through the YAML anchor &v",
        ),
        (
            "v.yaml",
            "tag: 1\n",
            "tag",
            "",
            "v.yaml: cannot write '' at tag: a version must be one line",
        ),
        (
            "v.yaml",
            "tag: 1\n",
            "tag",
            "2\n3",
            "v.yaml: cannot write '2\\n3' at tag: a version must be one line",
        ),
        ("v.yaml", "tag: 1\n", "tag", " 2", "v.yaml: cannot write ' 2' at tag"),
        (
            "v.yaml",
            "image: {}\n",
            "image.tag",
            "2",
            "v.yaml: no value at image.tag (image is an empty mapping)",
        ),
        (
            "v.yaml",
            "apps:\n- name: 1.0\n",
            "apps[name=1.0].name",
            "2.0",
            "v.yaml: writing '2.0' at apps[name=1.0].name would not read back: no value at "
            "apps[name=1.0].name (no item of apps has name=1.0; name values: 2.0)",
        ),
        (
            "v.yaml",
            "apps:\n- name: api\n- name: api\n",
            "apps[name=api].name",
            "web",
            "v.yaml: writing 'web' at apps[name=api].name would read back as 'api'",
        ),
    ],
)
def test_write_errors(file: str, text: str, field: str, version: str, message: str) -> None:
    with pytest.raises(FieldError) as error:
        write(text, target(file, field), version)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_write_refuses_a_marked_value_inside_a_shared_anchor() -> None:
    text = "base: &base\n  tag: 1.4.2  # promobot: api\nprod: *base\n"
    with pytest.raises(FieldError) as error:
        write(text, target("v.yaml", marker="api"), "1.5.0")
    assert str(error.value) == (
        "v.yaml: cannot edit the '# promobot: api' line: it is shared through the YAML anchor "
        "&base, so writing it would also change every *base; give this place its own value"
    )


# --- golden files ----------------------------------------------------------------------------


def load_case(folder: Path) -> tuple[dict[str, Any], Target, str, str]:
    case = json.loads((folder / "case.json").read_text())
    suffix = Path(case["file"]).suffix
    # bytes, not read_text(): universal newlines would hide a changed CRLF
    text = (folder / f"input{suffix}").read_bytes().decode()
    expected = (folder / f"expected{suffix}").read_bytes().decode()
    return (
        case,
        target(case["file"], case["field"], case["template"], case["marker"]),
        text,
        expected,
    )


@pytest.mark.parametrize("folder", CASES, ids=[folder.name for folder in CASES])
def test_golden(folder: Path) -> None:
    case, where, text, expected = load_case(folder)
    assert read(text, where) == case["before"]
    written = write(text, where, case["version"])
    assert written == expected
    assert read(written, where) == case["version"]


@pytest.mark.parametrize("folder", CASES, ids=[folder.name for folder in CASES])
def test_golden_write_changes_only_the_version_on_one_line(folder: Path) -> None:
    case, where, text, _ = load_case(folder)
    [(old, new)] = changed_lines(text, write(text, where, case["version"]))
    assert old.replace(case["before"], case["version"]) == new


@pytest.mark.parametrize(
    ("file", "text"),
    [
        ("values.yaml", "deep: " + "[" * 900 + "]" * 900 + "\nimage:\n  tag: 1.0  # promobot: m\n"),
        ("config.json", '{"deep": ' + "[" * 900 + "]" * 900 + ', "image": {"tag": "1.0"}}'),
    ],
)
def test_a_file_nested_hundreds_deep_is_a_field_error_not_a_crash(file: str, text: str) -> None:
    by_field = Target(file, selector=parse_selector("image.tag"))
    by_marker = Target(file, marker="m")
    for target in (by_field, by_marker) if file.endswith(".yaml") else (by_field,):
        with pytest.raises(FieldError, match=f"^{file}: nested too deeply to read"):
            write(text, target, "2.0")
    if file.endswith(".yaml"):  # json.loads itself goes 900 deep; only writing does not
        with pytest.raises(FieldError, match="nested too deeply"):
            read(text, by_field)
    else:
        assert read(text, by_field) == "1.0"


def test_reading_does_without_ruamel_yaml() -> None:
    # ruamel.yaml is imported only by a write: `promobot status`, which only reads, starts
    # without it. A fresh interpreter, as other tests here have imported it already.
    code = (
        "import sys\n"
        "from bot import fields\n"
        "document = fields.Document('v.yaml', 'image:\\n  tag: 1.2.3  # promobot: api\\n')\n"
        "assert document.read(fields.Target('v.yaml', fields.parse_selector('image.tag'))) == '1.2.3'\n"
        "assert document.read(fields.Target('v.yaml', marker='api')) == '1.2.3'\n"
        "assert not [name for name in sys.modules if name.startswith('ruamel')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
