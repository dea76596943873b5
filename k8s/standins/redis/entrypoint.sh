#!/bin/sh
# The upstream image's argument handling: `-flags` or a `*.conf` first argument run
# redis-server with them; protected mode is off unless the arguments set it.
set -eu

case "${1:-}" in
    -* | *.conf) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ]; then
    case " $* " in
        *protected-mode*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
exec "$@"
