#!/usr/bin/env bash
# `make demo`: promobot's main job on a throw-away copy of an example environment repo, on the
# local forge — no server, no credentials. Each step prints the command a person would type.
# It ends serving the overview until Ctrl-C when standard input is a terminal; DEMO_KEEP=0
# (CI, tests) prints its address and what it says, and stops.
set -euo pipefail
if [ -z "${DEMO_KEEP:-}" ]; then
  if [ -t 0 ]; then DEMO_KEEP=1; else DEMO_KEEP=0; fi
fi
export DEMO_KEEP

here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/promobot-demo.XXXXXX")"
repo="$work/env-repo"
export GIT_AUTHOR_NAME="Demo User" GIT_AUTHOR_EMAIL="demo@example.com"
export GIT_COMMITTER_NAME="Demo User" GIT_COMMITTER_EMAIL="demo@example.com"

step() { printf '\n\033[1;36m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@"; }

# The api's own repository: a tag and a CHANGELOG.md section per release, which promobot reads
# into each promotion PR (`changelog: ../api-app` on the api image; with a registry and a
# forge, the image's org.opencontainers.image.source annotation names it instead).
app="$work/api-app"
mkdir -p "$app" && git -C "$app" init -q -b main
printf '# Changelog\n\n## [Unreleased]\n' > "$app/CHANGELOG.md"
day=10
release() {  # version, then one "### Kind: text" line per change
  local version="$1" section
  shift
  day=$((day + 3))
  section="## [$version] - 2026-10-$day"
  for change in "$@"; do section+=$'\n'"### ${change%%: *}"$'\n'"- ${change#*: }"; done
  python3 - "$app/CHANGELOG.md" "$section" <<'PY'
import sys
path, section = sys.argv[1], sys.argv[2]
text = open(path).read().replace("## [Unreleased]\n", "## [Unreleased]\n\n" + section + "\n", 1)
open(path, "w").write(text)
PY
  git -C "$app" add -A && git -C "$app" commit -q -m "Release $version" && git -C "$app" tag "v$version"
}
release 1.3.0 "Added: Orders API"
release 1.4.0 "Added: Refunds" "Fixed: Totals rounded twice"
release 1.4.2 "Fixed: Timeouts on slow clients (thanks @carol, fixes #41)"
release 1.5.0 "Added: \`GET /v2/orders\` with paging" "Changed: Logs are JSON"
release 1.5.1 "Fixed: A crash on an empty cart"
release 1.6.0 "Added: Gift cards" "Deprecated: \`GET /v1/orders\`"

cp -r "$here/config/examples/helm-values" "$repo"
cd "$repo"
sed -i 's|^\(        target: {file: "envs/{env}/api/values.yaml", field: "api.image.tag"}\)$|\1\n        changelog: ../api-app|' .promobot.yaml
git init -q -b main && git add -A && git commit -q -m "Environments as they are today"
printf '\033[1mAn environment repo (Helm values per environment) is at %s\033[0m\n' "$repo"
printf '\033[1mThe api image names its release notes: changelog: ../api-app (tags v1.3.0 … v1.6.0)\033[0m\n'

run promobot validate
run promobot status

printf '\n\033[1mCI published ghcr.io/acme/api:1.5.0 and bumps the first environment:\033[0m\n'
run promobot set api image 1.5.0 --env dev --write
run git commit -q -am "dev: api image 1.5.0"

run promobot plan
printf '\n\033[1mThe promotion as a reviewer reads it: the versions, the files, what changed in every version staging skips (newest first) and the gates (--body prints the PR description itself):\033[0m\n'
run promobot promote api --to staging
run git log --oneline -n 2 promobot/staging/api
run git show --stat --format='%an: %s' promobot/staging/api

printf '\n\033[1mA reviewer merges the promotion; staging now runs what dev runs:\033[0m\n'
run git merge -q --ff-only promobot/staging/api
run promobot status --app api
run promobot history api --env staging

printf '\n\033[1;36m== Part two: the service ==\033[0m\n'
python "$here/scripts/demo_service.py" "$repo"

printf '\n\033[1mDone. The repo stays at %s for you to try more commands.\033[0m\n' "$repo"
