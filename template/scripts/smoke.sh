#!/usr/bin/env bash
# Smoke test of the image and of the compose stack, as CI runs it; also runs on any Docker host.
#
#   1. Build the image, run it alone on SQLite until its HEALTHCHECK says healthy, and
#      GET /healthz/live from it.
#   2. Start compose.yaml's stack with that image (writing .env from .env.example, with fresh
#      secrets, when there is none), wait until every service is healthy or, like the migration
#      job, exited 0, then GET /healthz/live and /healthz/ready through nginx (or the app's
#      published port). The stack and its volumes are removed at the end, pass or fail.
#
# Settings, all optional:
#   APP_IMAGE      the image to build, run and start the stack with (default: smoke-test:latest)
#   SMOKE_HOST     where published ports answer (default: 127.0.0.1; "docker" with docker:dind)
#   SMOKE_PORT     host port of the container run alone (default: 8000)
#   SMOKE_TIMEOUT  seconds each container may take to turn healthy (default: 180)
#   HTTP_PORT, APP_PORT, COMPOSE_PROJECT_NAME   read by compose.yaml and Compose as usual
set -euo pipefail
cd "$(dirname "$0")/.."

export APP_IMAGE="${APP_IMAGE:-smoke-test:latest}"
host="${SMOKE_HOST:-127.0.0.1}"
timeout="${SMOKE_TIMEOUT:-180}"
# Compose v2 is a docker CLI plugin; v1 is the separate docker-compose program.
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  compose=(docker-compose)
fi

lone=""
stack_started=""
cleanup() {
  if [[ -n "$lone" ]]; then
    docker rm --force --volumes "$lone" >/dev/null 2>&1 || true
  fi
  if [[ -n "$stack_started" ]]; then
    "${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

# 64 random hexadecimal characters.
random_secret() {
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# Whether container $1 is listed by `docker ps --all` under every filter that follows.
is() {
  local id="$1" filter filters=()
  shift
  for filter in "$@"; do
    filters+=(--filter "$filter")
  done
  [[ -n "$(docker ps --all --quiet --filter "id=$id" "${filters[@]}")" ]]
}

# Wait until container $1 is healthy, or running when it has no HEALTHCHECK, or exited 0.
settle() {
  local id="$1" deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if is "$id" health=healthy || is "$id" health=none status=running ||
      is "$id" status=exited exited=0; then
      return 0
    fi
    if is "$id" health=unhealthy || is "$id" status=exited || is "$id" status=dead; then
      break
    fi
    sleep 1
  done
  echo "container $id did not turn healthy within ${timeout}s; its state and log:" >&2
  docker ps --all --filter "id=$id" >&2
  docker logs --tail 50 "$id" >&2 || true
  return 1
}

# GET $1 and print the answer; fail unless the status is 2xx.
get() {
  echo "GET $1"
  curl --fail --silent --show-error --max-time 10 --retry 5 --retry-connrefused \
    --retry-delay 2 "$1"
  echo
}

echo "--- build $APP_IMAGE"
docker build --tag "$APP_IMAGE" .

echo "--- run $APP_IMAGE alone"
lone="$(docker run --detach --read-only --tmpfs /tmp --cap-drop ALL \
  --security-opt no-new-privileges:true --publish "${SMOKE_PORT:-8000}:8000" \
  --env ENVIRONMENT=production --env "SECRET_KEY=$(random_secret)" \
  --env DATABASE_URL=sqlite+aiosqlite:////tmp/app.db "$APP_IMAGE")"
settle "$lone"
get "http://$host:${SMOKE_PORT:-8000}/healthz/live"
docker rm --force --volumes "$lone" >/dev/null
lone=""

echo "--- compose stack"
if [[ ! -f .env ]]; then
  echo "No .env: writing one from .env.example with fresh secrets"
  sed -e "s/^SECRET_KEY=.*/SECRET_KEY=$(random_secret)/" \
    -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$(random_secret)/" .env.example >.env
fi
stack_started="yes"
"${compose[@]}" up --detach
for id in $("${compose[@]}" ps --all --quiet); do
  settle "$id"
done
if "${compose[@]}" config --services | grep --quiet --line-regexp nginx; then
  port="${HTTP_PORT:-80}"
else
  port="${APP_PORT:-8000}"
fi
get "http://$host:$port/healthz/live"
get "http://$host:$port/healthz/ready"
echo "--- smoke test passed"
