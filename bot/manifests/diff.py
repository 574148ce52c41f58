"""What a promotion changes in the cluster: two renderings of one app × environment compared
object by object and field by field, each change given its impact class (`IMPACTS`) and the
phrase a reviewer reads first, and the rendering after the merge compared with what the
upstream environment runs ("what soaked is what merges").

Pure: parsed, `inventory.redact`ed documents in, `AppDiff`/`ObjectChange` out. A Secret's data
is compared only as the tokens `redact` leaves and shown only as "(changed)", "(added)" or
"(removed)": no value and no token ever reaches an output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import yaml

from bot.manifests.inventory import (
    DATABASE_OPERATORS,
    cluster_scoped,
    normalised,
)
from bot.manifests.model import IMPACTS, AppDiff, FieldChange, Impact, ObjectChange

MAX_TEXT = 200  # a value's text is cut here: the PR shows what changed, not the whole object
# List items keyed by their name rather than their place: inserting a container or an
# environment variable then reads as one added item, not as every later one changed.
NAMED_LISTS = frozenset(
    {
        "containers",
        "initContainers",
        "ephemeralContainers",
        "env",
        "ports",
        "volumes",
        "volumeMounts",
        "volumeClaimTemplates",
    }
)
_CONTAINERS = frozenset({"containers", "initContainers", "ephemeralContainers"})
_INGRESS = frozenset({("networking.k8s.io", "Ingress"), ("extensions", "Ingress")})
_EXPOSING = frozenset(
    {
        ("route.openshift.io", "Route"),
        ("networking.istio.io", "VirtualService"),
        ("networking.istio.io", "Gateway"),
    }
)
_SERVICE_EXPOSURE = ("type", "ports", "externalIPs", "externalName", "externalTrafficPolicy")
_SECRET_FIELDS = frozenset({"data", "stringData"})
# Where a name of the environment stands in a value compared across environments.
_ENV = "⟨env⟩"

Key = tuple[str, str, str | None, str]  # (group, kind, namespace, name)
Part = str | tuple[str]  # a map's key, or a list item (its name, or its index as text)
Path = tuple[Part, ...]


@dataclass(frozen=True)
class _Field:
    path: Path
    before: Any  # the values themselves: compared here, only their text leaves the module
    after: Any
    masked: bool = False  # a Secret's value: shown as (changed)/(added)/(removed) only


# --- the diff ------------------------------------------------------------------------------


def diff(
    app: str,
    env: str,
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    namespace: str | None = None,
    *,
    upstream: str | None = None,
    upstream_docs: Sequence[Mapping[str, Any]] = (),
) -> AppDiff:
    """What merging changes in `app`'s rendering in `env`: objects matched by (group, kind,
    namespace — their own, else `namespace` — and name), each added, removed or changed.
    Changes that are only noise (chart labels, `checksum/*` annotations, empty fields, key
    order) are none. With `upstream` (an environment's name) and its current rendering,
    `unsoaked` is filled too."""
    old = _keyed(before, namespace)
    new = _keyed(after, namespace)
    changes: list[ObjectChange] = []
    lines: list[tuple[Impact, str]] = []
    for key in sorted(old.keys() | new.keys(), key=_sort_key):
        was, now = old.get(key), new.get(key)
        fields = _fields(was[1], now[1], key) if was is not None and now is not None else []
        if was is not None and now is not None and not fields:
            continue
        change, line = _object_change(key, was, now, fields)
        changes.append(change)
        lines.extend(line)
    found = AppDiff(
        app,
        env,
        changes=tuple(changes),
        impact=_ordered(i for c in changes for i in c.impact),
        summary=_app_summary(lines),
    )
    if upstream is None:
        return found
    soaked = unsoaked(after, upstream_docs, before, env=env, upstream_env=upstream)
    return replace(found, upstream=upstream, unsoaked=soaked)


def _keyed(
    docs: Sequence[Mapping[str, Any]], namespace: str | None
) -> dict[Key, tuple[Mapping[str, Any], dict[str, Any]]]:
    """Each object by its key: (as rendered, normalised)."""
    scoped = cluster_scoped(docs)
    out: dict[Key, tuple[Mapping[str, Any], dict[str, Any]]] = {}
    for doc in docs:
        group, kind = _group(doc), str(doc.get("kind") or "")
        metadata = _map(doc.get("metadata"))
        own = metadata.get("namespace") or namespace or "default"
        name = str(metadata.get("name") or metadata.get("generateName") or "")
        where = None if (group, kind) in scoped else str(own)
        (clean,) = normalised([doc])
        out[(group, kind, where, name)] = (doc, clean)
    return out


def _sort_key(key: Key) -> tuple[str, str, str, str]:
    return (key[0], key[1], key[2] or "", key[3])


def _object_change(
    key: Key,
    was: tuple[Mapping[str, Any], dict[str, Any]] | None,
    now: tuple[Mapping[str, Any], dict[str, Any]] | None,
    fields: list[_Field],
) -> tuple[ObjectChange, list[tuple[Impact, str]]]:
    """The change of one object, and its phrases for the app's impact line."""
    doc = (now or was or ({}, {}))[1]
    change: Literal["added", "removed", "changed"] = (
        "added" if was is None else "removed" if now is None else "changed"
    )
    impact = _impacts(key, change, fields)
    phrases = [_phrase(key, change, i, fields, doc) for i in impact]
    found = ObjectChange(
        api_version=str(doc.get("apiVersion") or ""),
        kind=key[1],
        namespace=key[2],
        name=key[3],
        change=change,
        impact=impact,
        fields=tuple(_shown(f) for f in fields),
        summary="; ".join(dict.fromkeys(p for p, _ in phrases)),
    )
    return found, [(i, line) for i, (_, line) in zip(impact, phrases, strict=True)]


# --- field by field


def _fields(before: Mapping[str, Any], after: Mapping[str, Any], key: Key) -> list[_Field]:
    secret = key[:2] == ("", "Secret")
    out: list[_Field] = []
    _walk((), before, after, out, secret=secret, deep=False)
    return out


def _walk(
    path: Path, before: Any, after: Any, out: list[_Field], *, secret: bool, deep: bool
) -> None:
    """The differences of two normalised values, by path. `deep`: into a map or list that
    only one side has, down to its scalars (to compare paths across three renderings)."""
    if before == after:
        return
    if secret and len(path) == 1 and path[0] in _SECRET_FIELDS:
        _secret_keys(path, before, after, out)
        return
    if deep:
        if before is None and isinstance(after, dict | list):
            before = type(after)()
        elif after is None and isinstance(before, dict | list):
            after = type(before)()
    if isinstance(before, dict) and isinstance(after, dict):
        for name in sorted(before.keys() | after.keys()):
            _walk((*path, name), before.get(name), after.get(name), out, secret=secret, deep=deep)
        return
    if isinstance(before, list) and isinstance(after, list):
        field = path[-1] if path and isinstance(path[-1], str) else ""
        old, new = _items(field, before), _items(field, after)
        if old is None or new is None:
            old = {str(n): item for n, item in enumerate(before)}
            new = {str(n): item for n, item in enumerate(after)}
        for name in dict.fromkeys([*old, *new]):
            _walk((*path, (name,)), old.get(name), new.get(name), out, secret=secret, deep=deep)
        return
    out.append(_Field(path, before, after))


def _items(field: str, items: list[Any]) -> dict[str, Any] | None:
    """A named list's items by name; None when the list is not one, or a name is missing or
    repeated (then items go by index)."""
    if field not in NAMED_LISTS:
        return None
    named: dict[str, Any] = {}
    for item in items:
        holder = _map(item).get("metadata") if field == "volumeClaimTemplates" else item
        name = _map(holder).get("name")
        if not isinstance(name, str | int) or str(name) in named:
            return None
        named[str(name)] = item
    return named


def _secret_keys(path: Path, before: Any, after: Any, out: list[_Field]) -> None:
    """A Secret's keys compared by their redaction tokens: which changed, never to what."""
    if not (isinstance(before, dict | None) and isinstance(after, dict | None)):
        out.append(_Field(path, before, after, masked=True))
        return
    old, new = before or {}, after or {}
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            out.append(_Field((*path, name), old.get(name), new.get(name), masked=True))


def _shown(field: _Field) -> FieldChange:
    if field.masked:
        if field.before is None:
            return FieldChange(_path_text(field.path), None, "(added)")
        if field.after is None:
            return FieldChange(_path_text(field.path), "(removed)", None)
        return FieldChange(_path_text(field.path), "(changed)", "(changed)")
    return FieldChange(_path_text(field.path), _short(field.before), _short(field.after))


def _path_text(path: Path) -> str:
    text = ""
    for part in path:
        if isinstance(part, tuple):
            text += f"[{part[0]}]"
        elif "." in part or "[" in part or not part:
            text += f"[{part}]"  # a label like app.kubernetes.io/name, kept whole
        else:
            text += f".{part}" if text else part
    return text


def _short(value: Any) -> str | None:
    """A value as one short line: scalars as they are, maps and lists as flow YAML."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict | list):
        text = yaml.safe_dump(
            value, default_flow_style=True, width=1_000_000, sort_keys=True, allow_unicode=True
        ).strip()
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


# --- impact --------------------------------------------------------------------------------


def _ordered(impacts: Iterable[Impact]) -> tuple[Impact, ...]:
    found = set(impacts)
    return tuple(i for i in IMPACTS if i in found)


def _impacts(key: Key, change: str, fields: list[_Field]) -> tuple[Impact, ...]:
    whole = _object_impact(key, change)
    if whole is not None:
        return (whole,)
    return _ordered(_field_impact(key, f.path) for f in fields) or ("other",)


def _object_impact(key: Key, change: str) -> Impact | None:
    """The class of an object added or removed, or of any change to its kind; None: by field."""
    group, kind = key[0], key[1]
    if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        return "crd"
    if group == "rbac.authorization.k8s.io" and kind in ("ClusterRole", "ClusterRoleBinding"):
        return "rbac"
    if (group, kind) == ("", "Namespace"):
        return "namespace" if change == "removed" else "other"
    if (group, kind) == ("", "PersistentVolumeClaim") or group in DATABASE_OPERATORS:
        return "data"
    if change == "changed":
        return None
    if (group, kind) == ("apps", "StatefulSet"):
        return "data"
    if _exposes(group, kind):
        return "exposure"
    if (group, kind) == ("", "Secret"):
        return "secret"
    if (group, kind) == ("", "ConfigMap"):
        return "config"
    if group == "autoscaling" and kind == "HorizontalPodAutoscaler":
        return "scale"
    return "other"


def _exposes(group: str, kind: str) -> bool:
    return (
        (group, kind) in _INGRESS
        or (group, kind) in _EXPOSING
        or group == "gateway.networking.k8s.io"
    )


def _field_impact(key: Key, path: Path) -> Impact:
    group, kind = key[0], key[1]
    names = [p for p in path if isinstance(p, str)]
    top = names[0] if names else ""
    if top == "metadata":
        return "other"
    if kind == "Secret" and group == "":
        return "secret" if top in _SECRET_FIELDS or top == "type" else "other"
    if kind == "ConfigMap" and group == "":
        return "config" if top in ("data", "binaryData") else "other"
    if kind == "StatefulSet" and len(names) > 1 and names[1] == "volumeClaimTemplates":
        return "data"
    if _exposes(group, kind):
        return "exposure"
    if (group, kind) == ("", "Service"):
        second = names[1] if len(names) > 1 else ""
        exposed = second in _SERVICE_EXPOSURE or second.startswith("loadBalancer")
        return "exposure" if exposed else "other"
    if group == "autoscaling" and kind == "HorizontalPodAutoscaler":
        return "scale"
    if top == "spec" and names[-1] == "replicas":
        return "scale"
    container = _container_field(path)
    if container is not None:
        field = container[1]
        if field == "image":
            return "image"
        if field in ("env", "envFrom"):
            return "config"
        if field == "resources":
            return "scale"
    return "other"


def _container_field(path: Path) -> tuple[str, str] | None:
    """(container, field) for a path inside a pod's container: `…containers[api].image`."""
    for n, part in enumerate(path[:-2]):
        item = path[n + 1]
        if part in _CONTAINERS and isinstance(item, tuple) and isinstance(path[n + 2], str):
            return item[0], str(path[n + 2])
    return None


# --- what a person reads first ----------------------------------------------------------------

Phrase = tuple[str, str]  # (the object's summary, the app's impact line phrase)


def _phrase(
    key: Key, change: str, impact: Impact, fields: list[_Field], doc: Mapping[str, Any]
) -> Phrase:
    kind, name = key[1], key[3]
    label = f"{kind} {name}"
    if change != "changed":
        summary, shown = _detail(key, doc)
        verb = "adds" if change == "added" else "removes"
        return (summary or change, f"{verb} {kind} {shown or name}")
    mine = [f for f in fields if _field_impact(key, f.path) == impact] or fields
    if impact == "image":
        return _image_phrase(mine)
    if impact == "secret":
        keys = ", ".join(f"{_key_name(f.path)} {_shown(f).after or '(removed)'}" for f in mine)
        return (f"keys {keys}", f"{label} keys {keys}")
    if impact == "scale":
        parts = [_scale_part(f) for f in mine]
        text = ", ".join(dict.fromkeys(parts))
        return (text, f"{label} {text}")
    if impact == "exposure" and (key[0], kind) == ("", "Service"):
        types = [f for f in mine if f.path == ("spec", "type")]
        if types:
            text = f"{types[0].before or 'ClusterIP'} → {types[0].after or 'ClusterIP'}"
            return (text, f"{label} {text}")
    if impact == "exposure" and (key[0], kind) in _INGRESS:
        was, now = _hosts(fields, before=True), _hosts(fields, before=False)
        if was != now:
            text = f"hosts {', '.join(was) or 'none'} → {', '.join(now) or 'none'}"
            return (text, f"{label} {text}")
    if impact == "data" and kind == "StatefulSet":
        parts = [_claim_part(f) for f in mine]
        return (", ".join(dict.fromkeys(parts)), f"changes {label} volumeClaimTemplates")
    if impact == "config":
        names = ", ".join(dict.fromkeys(_config_name(f.path) for f in mine))
        return (names, f"{label} {names}")
    where = ", ".join(dict.fromkeys(_path_text(f.path[:2]) for f in mine))
    return (where, f"changes {label} {where}")


def _detail(key: Key, doc: Mapping[str, Any]) -> tuple[str, str]:
    """What an added or removed object is, in a few words: (its summary, what the impact
    line names it by): an Ingress's hosts, a Service's exposed type, a StatefulSet's claims."""
    spec = _map(doc.get("spec"))
    hosts: list[str] = []
    if key[:2] in _INGRESS:
        hosts = [str(_map(r).get("host") or "*") for r in _list(spec.get("rules"))]
    elif key[0] == "gateway.networking.k8s.io":
        hosts = [str(h) for h in _list(spec.get("hostnames"))]
    if hosts:
        shown = ", ".join(dict.fromkeys(hosts))
        return (f"host{'s' if len(set(hosts)) > 1 else ''} {shown}", shown)
    if key[:2] == ("", "Service") and spec.get("type") in ("LoadBalancer", "NodePort"):
        return (str(spec["type"]), f"{key[3]} {spec['type']}")
    if key[:2] == ("apps", "StatefulSet"):
        claims = [
            f"{_map(_map(c).get('metadata')).get('name')} {_storage(_map(c).get('spec'))}"
            for c in _list(spec.get("volumeClaimTemplates"))
        ]
        if claims:
            summary = f"volumeClaimTemplates {', '.join(claims)}".strip()
            return (summary, f"{key[3]} {summary}")
    return ("", "")


def _image_phrase(fields: list[_Field]) -> Phrase:
    mine: list[str] = []
    line: list[str] = []
    for field in fields:
        container = _container_field(field.path)
        who = container[0] if container else _path_text(field.path)
        was, now = str(field.before or ""), str(field.after or "")
        (repo_was, tag_was), (repo_now, tag_now) = _image(was), _image(now)
        if repo_was == repo_now:
            mine.append(f"image {who} …:{tag_was} → …:{tag_now}")
            line.append(f"image {repo_now.rsplit('/', 1)[-1]} {tag_was} → {tag_now}")
        else:
            mine.append(f"image {who} {was or 'none'} → {now or 'none'}")
            short_was = f"{repo_was.rsplit('/', 1)[-1]}:{tag_was}" if was else "none"
            line.append(f"image {short_was} → {repo_now.rsplit('/', 1)[-1]}:{tag_now}")
    return ", ".join(dict.fromkeys(mine)), ", ".join(dict.fromkeys(line))


def _image(image: str) -> tuple[str, str]:
    """(repository, tag or digest) of an image reference; digests cut to 12 hex digits."""
    name, _, digest = image.partition("@")
    tag = "latest"
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    if digest:
        short = digest.partition(":")[2][:12] or digest
        tag = f"{tag}@{short}" if tag != "latest" else f"@{short}"
    return name, tag


def _key_name(path: Path) -> str:
    return str(path[-1]) if len(path) > 1 else str(path[0])


def _scale_part(field: _Field) -> str:
    names = [p for p in field.path if isinstance(p, str)]
    container = _container_field(field.path)
    what = names[-1]
    if container is not None and container[1] == "resources":
        what = f"{container[0]} {'.'.join(names[-2:])}"
    return f"{what} {_short(field.before) or 'none'} → {_short(field.after) or 'none'}"


def _claim_part(field: _Field) -> str:
    claim = next((p[0] for p in field.path if isinstance(p, tuple)), "")
    if field.path[-1] == "storage":
        return f"volumeClaimTemplates {claim} {field.before} → {field.after}".replace("  ", " ")
    return f"volumeClaimTemplates {claim} {_path_text(field.path[3:])}".strip()


def _config_name(path: Path) -> str:
    container = _container_field(path)
    if container is not None:
        n = path.index(container[1]) if container[1] in path else len(path) - 1
        item = path[n + 1] if n + 1 < len(path) else None
        named = f" {item[0]}" if isinstance(item, tuple) else ""
        return f"{container[1]}{named}"
    return _path_text(path[:2])


def _hosts(fields: list[_Field], *, before: bool) -> list[str]:
    found: list[str] = []
    for field in fields:
        value = field.before if before else field.after
        if field.path and field.path[-1] == "host" and value is not None:
            found.append(str(value))
        elif field.path[:2] == ("spec", "rules"):
            found.extend(
                str(_map(r).get("host") or "*")
                for r in (value if isinstance(value, list) else [value])
                if isinstance(r, dict)
            )
    return list(dict.fromkeys(found))


def _app_summary(phrases: Sequence[tuple[Impact, str]]) -> tuple[str, ...]:
    """The impact line: the changes' phrases in IMPACTS order, identical ones merged with how
    many objects share them."""
    by_impact: dict[Impact, dict[str, int]] = {}
    for impact, phrase in phrases:
        seen = by_impact.setdefault(impact, {})
        seen[phrase] = seen.get(phrase, 0) + 1
    line: list[str] = []
    for impact in IMPACTS:
        for phrase, count in by_impact.get(impact, {}).items():
            what = "workloads" if impact == "image" else "objects"
            line.append(phrase if count == 1 else f"{phrase} ({count} {what})")
    return tuple(line)


# --- what soaked is what merges ------------------------------------------------------------


def unsoaked(
    after: Sequence[Mapping[str, Any]],
    upstream: Sequence[Mapping[str, Any]],
    before: Sequence[Mapping[str, Any]],
    *,
    env: str,
    upstream_env: str,
) -> tuple[ObjectChange, ...]:
    """What the target would run after the merge that the upstream environment never ran.

    `after` and `before`: the target's rendering after the merge and now; `upstream`: what the
    upstream environment renders now; `env`, `upstream_env`: their names. The rule: a field
    counts when the merge changes it (after ≠ before) to a value the upstream does not run
    (after ≠ upstream). What sets the environments apart and the merge leaves alone (hosts,
    replicas, resources, namespaces, an env prefix in names) is in both renderings now, so it
    never counts. Objects are matched across environments by group, kind and name, with each
    environment's own name (as a whole word: `prod-us-api`, `api.staging.example.com`) read as
    one placeholder and namespaces left out; values are compared the same way. An object the
    merge adds that the upstream lacks counts whole, and so does one it removes that the
    upstream still runs. A field's `before` is the upstream's value (the target's current one
    for an object the upstream has no match of), `after` the target's.
    """
    now_ = _across(after, env)
    was_ = _across(before, env)
    ran_ = _across(upstream, upstream_env)
    found: list[ObjectChange] = []
    for key in sorted(now_.keys() | was_.keys()):
        now, was, ran = now_.get(key), was_.get(key), ran_.get(key)
        secret = key[:2] == ("", "Secret")
        if now is None:
            if was is not None and ran is not None:
                found.append(_object_change(was[0], was[1], None, [])[0])
            continue
        if was is None and ran is None:
            found.append(_object_change(now[0], None, now[1], [])[0])
            continue
        merged = _deep(was[2] if was else None, now[2], secret)
        if ran is None:
            fields = merged
            base = env
        else:
            paths = {f.path for f in merged}
            fields = [f for f in _deep(ran[2], now[2], secret) if f.path in paths]
            base = upstream_env
        if not fields:
            continue
        shown = [
            replace(f, before=_named(f.before, base), after=_named(f.after, env)) for f in fields
        ]
        found.append(
            _object_change(now[0], was[1] if was else ran[1] if ran else None, now[1], shown)[0]
        )
    return tuple(found)


# an object compared across environments: its key, (as rendered, normalised), and normalised
# with the environment's name as the placeholder
_Across = tuple[Key, tuple[Mapping[str, Any], dict[str, Any]], Any]


def _across(docs: Sequence[Mapping[str, Any]], env: str) -> dict[tuple[str, str, str], _Across]:
    """Each object by (group, kind, name with `env` as a placeholder): its own key, (as
    rendered, normalised), and normalised with `env` as the placeholder everywhere."""
    word = re.compile(rf"(?<![A-Za-z0-9]){re.escape(env)}(?![A-Za-z0-9])") if env else None
    out: dict[tuple[str, str, str], _Across] = {}
    for key, pair in _keyed(docs, None).items():
        generic = _placed(pair[1], word, key[:2] == ("", "Secret"))
        name = _map(generic.get("metadata")).get("name") or key[3]
        where = (key[0], key[1], str(name))
        if where in out:  # the same name in two namespaces: keep both apart
            where = (key[0], key[1], f"{name}@{key[2]}")
        out[where] = (key, pair, generic)
    return out


def _placed(value: Any, word: re.Pattern[str] | None, secret: bool) -> Any:
    if word is None:
        return value
    if isinstance(value, dict):
        return {
            k: v if secret and k in _SECRET_FIELDS else _placed(v, word, False)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_placed(item, word, False) for item in value]
    if isinstance(value, str):
        return word.sub(_ENV, value)
    return value


def _named(value: Any, env: str) -> Any:
    """A value with the placeholder turned back into an environment's name, for people."""
    if isinstance(value, dict):
        return {k: _named(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_named(item, env) for item in value]
    if isinstance(value, str):
        return value.replace(_ENV, env)
    return value


def _deep(before: Any, after: Any, secret: bool) -> list[_Field]:
    out: list[_Field] = []
    _walk((), before or {}, after, out, secret=secret, deep=True)
    return out


# --- text ----------------------------------------------------------------------------------


def to_text(found: AppDiff) -> str:
    """The diff as plain text for a terminal: the impact line, then one block per object with
    its fields indented; a Secret's fields say only which keys changed."""
    head = f"{found.app} in {found.env}"
    if found.error is not None:
        return f"{head}: impact unknown, not rendered: {found.error}\n"
    if not found.changes:
        lines = [f"{head}: no rendered change"]
    else:
        count = len(found.changes)
        lines = [f"{head}: {count} object{'' if count == 1 else 's'} changed"]
        lines.append(f"impact: {', '.join(found.impact)}")
        lines.extend(f"  {phrase}" for phrase in found.summary)
        lines.extend(_blocks(found.changes))
    if found.upstream is not None:
        if found.unsoaked:
            lines.append("")
            lines.append(f"not run in {found.upstream} (what soaked is not all that merges):")
            lines.extend(_blocks(found.unsoaked))
        else:
            lines.append(f"everything it changes runs in {found.upstream} already")
    return "\n".join(lines) + "\n"


def _blocks(changes: Iterable[ObjectChange]) -> list[str]:
    lines: list[str] = []
    for change in changes:
        where = f"{change.namespace}/" if change.namespace else ""
        summary = f": {change.summary}" if change.summary else ""
        lines.append("")
        lines.append(
            f"{change.change} {change.kind} {where}{change.name} "
            f"[{', '.join(change.impact)}]{summary}"
        )
        for field in change.fields:
            was = "(none)" if field.before is None else field.before
            now = "(none)" if field.after is None else field.after
            lines.append(f"    {field.path}: {was} → {now}")
    return lines


# --- reading parsed YAML of any shape without an exception


def _group(doc: Mapping[str, Any]) -> str:
    return str(doc.get("apiVersion") or "").rpartition("/")[0]


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _storage(spec: Any) -> str:
    return str(_map(_map(_map(spec).get("resources")).get("requests")).get("storage") or "")
