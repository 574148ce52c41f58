"""What each environment is made of: every app × environment rendered with Helm's and
Kustomize's own code, and its inventory.

- `model`: the shapes everything here speaks in (how to render a cell, what came out).
- `recipe`: how the deploying tool would render a cell — `render:` in `.promobot.yaml`, or an
  Argo CD Application, Flux HelmRelease/Kustomization or Fleet `fleet.yaml` found in the repo.
- `inventory`: rendered YAML to objects, highlights and a rendered id (pure).
- `charts`: chart archives from OCI registries, HTTP chart repositories and the repo, cached
  by digest.
- `sandbox` and `worker`: the separate processes that run Helm and Kustomize, with time and
  memory limits.
- `store`: renderings kept by the hash of everything they depend on.
- `renderer`: puts them together for a repo at a commit, and for what a promotion changes.
- `background`: the service's thread that renders each new state and keeps the sheet.
- `diff`: what a promotion changes in the cluster, object by object, and its impact.
- `text`: what people read of a cell (a line, highlights, a table).
"""
