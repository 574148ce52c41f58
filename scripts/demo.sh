#!/usr/bin/env bash
# `make demo`: promobot's main job on a throw-away copy of an example environment repo, on the
# local forge — no server, no credentials. Each step prints the command a person would type.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/promobot-demo.XXXXXX")"
repo="$work/env-repo"
export GIT_AUTHOR_NAME="Demo User" GIT_AUTHOR_EMAIL="demo@example.com"
export GIT_COMMITTER_NAME="Demo User" GIT_COMMITTER_EMAIL="demo@example.com"

step() { printf '\n\033[1;36m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@"; }

cp -r "$here/config/examples/helm-values" "$repo"
cd "$repo"
git init -q -b main && git add -A && git commit -q -m "Environments as they are today"
printf '\033[1mAn environment repo (Helm values per environment) is at %s\033[0m\n' "$repo"

run promobot validate
run promobot status

printf '\n\033[1mCI published ghcr.io/acme/api:1.5.0 and bumps the first environment:\033[0m\n'
run promobot set api image 1.5.0 --env dev --write
run git commit -q -am "dev: api image 1.5.0"

run promobot plan
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
