#!/bin/sh
# Entrypoint of the postgres stand-in (test infrastructure): a subset of the official image's.
# On the first start it initialises PGDATA with POSTGRES_USER/POSTGRES_PASSWORD, creates
# POSTGRES_DB and runs /docker-entrypoint-initdb.d/*.sql and *.sh; then it runs the server in the
# foreground as the postgres user.
set -eu

if [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
  exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
  install -d -o postgres -g postgres -m 700 "$PGDATA"
  install -d -o postgres -g postgres -m 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

quote_ident() {
  printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user="${POSTGRES_USER:-postgres}"
  database="${POSTGRES_DB:-$user}"
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "error: POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust)" >&2
    exit 1
  fi

  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  # POSTGRES_INITDB_ARGS holds several options, split as the official image splits them.
  # shellcheck disable=SC2086
  initdb --username="$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host="$auth" -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  printf 'host all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

  if [ "$database" != postgres ]; then
    printf 'CREATE DATABASE %s;\n' "$(quote_ident "$database")" \
      | postgres --single -D "$PGDATA" postgres >/dev/null
  fi

  if [ -d /docker-entrypoint-initdb.d ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    for script in /docker-entrypoint-initdb.d/*; do
      case "$script" in
        *.sh)
          echo "running $script"
          # shellcheck source=/dev/null
          . "$script"
          ;;
        *.sql) echo "running $script"; psql -v ON_ERROR_STOP=1 -U "$user" -d "$database" -f "$script" ;;
        *) ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
