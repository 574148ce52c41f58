"""`.promobot.yaml` files of any size, for the tests and `benchmarks/validate_size.py`."""

from __future__ import annotations


def chain(size: int, apps: int = 3, broken: bool = False) -> str:
    """`size` environments in a chain, dev → e1 → e2 → …, declared last first (the order
    dearest to sort), and `apps` apps; the last app names every environment in its
    `environments:`. `broken`: each `from:` names an environment that does not exist, in
    letters none of theirs has (no "did you mean": difflib's cost is not what is measured)."""
    names = ["dev"] + [f"e{i}" for i in range(1, size)]
    lines = ["version: 1", "environments:"]
    for i in reversed(range(size)):
        upstream = names[i - 1] if i else None
        if upstream is not None and broken:
            upstream = "zz-" + upstream.translate(str.maketrans("0123456789dev", "klmnopqrstxyz"))
        lines.append(
            f"  {names[i]}: {{}}" if upstream is None else f"  {names[i]}: {{from: {upstream}}}"
        )
    lines.append("apps:")
    for a in range(apps):
        lines += [
            f"  app{a}:",
            *([f"    environments: [{', '.join(names)}]"] if a == apps - 1 else []),
            "    components:",
            f"      image: {{source: {{image: ghcr.io/acme/app{a}}}, "
            'target: {file: "envs/{env}/values.yaml", field: image.tag}}',
        ]
    lines += ["notify:", "  'e*': {sre: [merged]}"]
    return "\n".join(lines) + "\n"
