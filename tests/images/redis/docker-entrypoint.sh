#!/bin/sh
# Entrypoint of the redis stand-in (test infrastructure): the official image's behaviour.
# Options alone (or a config file first) mean redis-server; without a config file that sets
# protected-mode, protected mode is turned off so that other containers can connect; the
# server runs as the redis user.
set -eu

case "${1:-}" in
  -*|*.conf) set -- redis-server "$@" ;;
  *) ;;
esac

if [ "${1:-}" = redis-server ]; then
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis: {} +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
  fi
  shift
  config=""
  if [ -f "${1:-}" ]; then
    config="$1"
    shift
  fi
  if [ -n "$config" ] && grep -q '^protected-mode' "$config"; then
    set -- "$config" "$@"
  else
    set -- ${config:+"$config"} --protected-mode no "$@"
  fi
  set -- redis-server "$@"
fi

umask 0077
exec "$@"
