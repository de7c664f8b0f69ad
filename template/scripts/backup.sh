#!/usr/bin/env bash
# Back up the database into a dated file, and keep only the newest ones.
#
#   PostgreSQL: pg_dump in its custom format (compressed; pg_restore can restore it whole or table
#   by table), taken while the service runs. SQLite: a consistent copy made with SQLite's online
#   backup, also while the service runs. Each dump is written under a temporary name and renamed
#   once complete, so a failed run leaves no half dump behind and deletes nothing.
#
# Settings, all optional:
#   DATABASE_URL   the database to back up: postgresql://… (the +asyncpg driver suffix is fine)
#                  or sqlite:///path. Unset: the `db` service of compose.yaml, through Compose
#   BACKUP_DIR     where dumps are kept (default: backups/ beside compose.yaml)
#   BACKUP_KEEP    how many dumps to keep, the newest (default: 14; one a night is two weeks)
#
# Run it from cron or a systemd timer, and copy BACKUP_DIR off the host: a dump on the same disk
# as the database is lost with it. docs/operations.md shows how to restore.
#
# Dumps hold password hashes: they are created readable by their owner only (mode 0600), and so is
# a BACKUP_DIR the script creates (0700), whatever the umask of the shell or crontab.
set -euo pipefail
umask 077
cd "$(dirname "$0")/.."

backup_dir="${BACKUP_DIR:-backups}"
keep="${BACKUP_KEEP:-14}"
if ! [[ "$keep" =~ ^[1-9][0-9]*$ ]]; then
  echo "BACKUP_KEEP must be a whole number of at least 1, not '$keep'" >&2
  exit 2
fi
url="${DATABASE_URL:-}"

mkdir -p "$backup_dir"
case "$url" in
  sqlite*) extension="sqlite3" ;;
  *) extension="dump" ;;
esac
# One dump per second at most: names are their UTC time, so that they sort by date.
target="$backup_dir/db-$(date -u +%Y%m%dT%H%M%SZ).$extension"
while [[ -e "$target" ]]; do
  sleep 1
  target="$backup_dir/db-$(date -u +%Y%m%dT%H%M%SZ).$extension"
done
partial="$target.partial"
trap 'rm -f "$partial"' EXIT

case "$url" in
  "")
    # The compose stack's database: pg_dump runs inside the db container, as its own user.
    if docker compose version >/dev/null 2>&1; then
      compose=(docker compose)
    else
      compose=(docker-compose)
    fi
    # shellcheck disable=SC2016  # expanded by the container's shell, from its own environment
    "${compose[@]}" exec -T db sh -c \
      'pg_dump --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" --format=custom' >"$partial"
    ;;
  postgres://* | postgresql://* | postgresql+*://*)
    # libpq does not know SQLAlchemy's driver suffix: postgresql+asyncpg:// -> postgresql://
    pg_dump --format=custom --dbname="postgresql://${url#*://}" >"$partial"
    ;;
  sqlite*)
    path="${url#sqlite*:///}"
    if [[ ! -f "$path" ]]; then
      echo "no SQLite database at $path" >&2
      exit 1
    fi
    "${PYTHON:-python3}" - "$path" "$partial" <<'PY'
import sqlite3
import sys

live, copy = (sqlite3.connect(path) for path in sys.argv[1:])
live.backup(copy)
copy.close()
live.close()
PY
    ;;
  *)
    echo "DATABASE_URL must start with postgresql:// or sqlite:///, not '${url%%://*}://'" >&2
    exit 2
    ;;
esac

mv "$partial" "$target"
echo "backed up to $target"

# Keep the newest $keep dumps (the names sort by date), delete the older ones.
mapfile -t dumps < <(
  find "$backup_dir" -maxdepth 1 \( -name 'db-*Z.dump' -o -name 'db-*Z.sqlite3' \) | sort -r
)
for old in "${dumps[@]:keep}"; do
  rm -f -- "$old"
  echo "deleted $old"
done
