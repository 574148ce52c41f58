"""Generate config/README.md, the `.promobot.yaml` reference, from the JSON Schema.

    .venv/bin/python scripts/config_reference.py > config/README.md

A test regenerates it and fails when the file is out of step with the model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import schema

TEMPLATE = Path(__file__).resolve().parent / "config_reference.md"
SECTIONS = [
    ("Config", "The file", "the top level of `.promobot.yaml`"),
    ("Environment", "`environments.<name>`", "one environment"),
    ("Gates", "`environments.<name>.gates`", "what must hold before a promotion merges"),
    ("ImpactRule", "`…gates.impact.<class>`", "a rule on one class of change (or `manual`)"),
    ("AutoMerge", "`environments.<name>.auto_merge`", "auto-merge depending on the impact"),
    ("LiveSource", "`environments.<name>.live`", "where to learn what the cluster runs"),
    ("ArgoCDLive", "`…live.argocd`", "an Argo CD Application per app"),
    ("FluxLive", "`…live.flux`", "the Flux object whose events speak for the app"),
    ("FleetLive", "`…live.fleet`", "the Fleet bundle deployed for the app"),
    ("StatusLive", "`…live.status`", "a commit status that reports the deployment"),
    ("Verify", "`environments.<name>.verify`", "watching the cluster after a merge"),
    ("App", "`apps.<name>`", "one app"),
    ("Component", "`apps.<name>.components.<name>`", "one independently versioned input"),
    ("Source", "`…components.<name>.source`", "where new versions come from"),
    ("Target", "`…components.<name>.target`", "where the version lives in the repo"),
    ("Render", "`render` and `apps.<name>.render`", "how an app is rendered (or `none`)"),
    ("KustomizeRender", "`…render.kustomize`", "a folder built by kustomize (or its path)"),
    ("HelmRender", "`…render.helm`", "a chart rendered as `helm template` would"),
    ("DirectoryRender", "`…render.directory`", "a folder of plain manifests (or its path)"),
]


def kind(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return f"[{prop['$ref'].rsplit('/', 1)[1]}](#{prop['$ref'].rsplit('/', 1)[1].lower()})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "anyOf" in prop or "oneOf" in prop:
        forms = prop.get("anyOf") or prop["oneOf"]
        return " or ".join(kind(p) for p in forms if p.get("type") != "null")
    t = prop.get("type", "any")
    if t == "array":
        return f"list of {kind(prop.get('items', {}))}"
    if t == "object":
        inner = prop.get("additionalProperties")
        return f"map of {kind(inner)}" if isinstance(inner, dict) else "map"
    pattern = f" (`{prop['pattern']}`)" if "pattern" in prop else ""
    return f"{t}{pattern}"


def table(definition: dict[str, Any]) -> str:
    # a model also written as one string (`kustomize: PATH`) has its mapping in anyOf
    definition = next((d for d in definition.get("anyOf", ()) if "properties" in d), definition)
    required = set(definition.get("required", []))
    rows = ["| key | type | default | what |", "|---|---|---|---|"]
    for name, prop in definition["properties"].items():
        default = "required" if name in required else f"`{json.dumps(prop.get('default'))}`"
        what = prop.get("description", "").replace("|", "\\|")
        rows.append(f"| `{name}` | {kind(prop)} | {default} | {what} |")
    return "\n".join(rows)


def generate() -> str:
    document = schema()
    definitions = {**document.get("$defs", {}), "Config": document}
    parts = []
    for name, title, what in SECTIONS:
        parts.append(f"### {name}\n\n{title}: {what}.\n\n{table(definitions[name])}\n")
    return TEMPLATE.read_text().replace("{{FIELDS}}", "\n".join(parts).rstrip() + "\n")


if __name__ == "__main__":
    sys.stdout.write(generate())
