#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the store tests, on 127.0.0.1 only, a free port, trust
# authentication, in a temporary directory; fsync off unless CELLWISE_PG_FSYNC=on (benchmarks).
#   eval "$(scripts/postgres-test.sh start)"   # exports CELLWISE_TEST_POSTGRES and CELLWISE_TEST_PGDIR
#   scripts/postgres-test.sh stop "$CELLWISE_TEST_PGDIR"
# Installs Debian's `postgresql` package when no server binaries are found (needs root).
# As root the cluster runs as the `postgres` user (the server refuses to run as root).
set -euo pipefail

bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    return 1
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    if ! bindir >/dev/null; then
        echo "installing postgresql (Debian package)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    bin=$(bindir)
    dir=$(mktemp -d /tmp/cellwise-pg.XXXXXX)
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=${CELLWISE_PG_FSYNC:-off}" start >&2 \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export CELLWISE_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port/postgres"
    echo "export CELLWISE_TEST_PGDIR=$dir"
    ;;
stop)
    dir=${2:?usage: $0 stop DIR}
    bin=$(bindir)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac
