#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with a database `test` that trusts local
# TCP connections (what tests/test_postgres.py uses), starting it, or installing it from Debian's
# packages, when needed. Idempotent: a server that already answers is left as it is. Waits at most
# PG_WAIT_SECONDS (default 60) for the server to accept connections.
#
#   bash .ci/start-postgres.sh
#   PG_PORT=5433 PG_CLUSTER=ci bash .ci/start-postgres.sh   # another Debian cluster (tests of this script)
set -euo pipefail

HOST=127.0.0.1
PORT="${PG_PORT:-5432}"
CLUSTER="${PG_CLUSTER:-main}"
DATABASE="${PG_DATABASE:-test}"
WAIT="${PG_WAIT_SECONDS:-60}"

say() { echo "start-postgres: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi; }
as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else as_root runuser -u postgres -- "$@"; fi; }
ready() { pg_isready -q -h "$HOST" -p "$PORT" -t 2 >/dev/null 2>&1; }
version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

wait_ready() {
    local deadline=$((SECONDS + WAIT))
    until ready; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "PostgreSQL does not answer on $HOST:$PORT after ${WAIT}s"
            return 1
        fi
        sleep 1
    done
}

ensure_database() {
    if PGCONNECT_TIMEOUT=5 psql -w -h "$HOST" -p "$PORT" -U postgres -d "$DATABASE" -Atqc 'select 1' >/dev/null 2>&1; then
        return 0
    fi
    say "creating database $DATABASE"
    as_postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -Atqc "create database \"$DATABASE\"" >/dev/null 2>&1 \
        || as_postgres createdb -p "$PORT" "$DATABASE"
}

trust_local_tcp() {  # only for a server this script installed
    local hba="/etc/postgresql/$1/$CLUSTER/pg_hba.conf"
    if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        say "trusting local TCP connections in $hba"
        as_root sed -i '0,/^[[:space:]]*host[[:space:]]/s//host    all all 127.0.0.1\/32 trust\n&/' "$hba"
        grep -Eq '127\.0\.0\.1/32[[:space:]]+trust' "$hba" || echo "host    all all 127.0.0.1/32 trust" | as_root tee -a "$hba" >/dev/null
    fi
}

if ready; then
    say "PostgreSQL already answers on $HOST:$PORT"
    ensure_database
    exit 0
fi

installed_now=0
if ! command -v pg_ctlcluster >/dev/null || [ -z "$(version)" ]; then
    if ! command -v apt-get >/dev/null; then
        say "PostgreSQL is not installed and this is not a Debian/Ubuntu machine: install it, start it on $HOST:$PORT, create database $DATABASE"
        exit 1
    fi
    say "installing PostgreSQL (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || say "apt-get update failed; installing from the lists at hand"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    installed_now=1
fi

ver="$(version)"
export PATH="/usr/lib/postgresql/$ver/bin:$PATH"  # pg_isready, createdb on Debian
if [ ! -d "/etc/postgresql/$ver/$CLUSTER" ]; then
    say "creating cluster $ver/$CLUSTER on port $PORT"
    as_root pg_createcluster "$ver" "$CLUSTER" -p "$PORT" >/dev/null
    installed_now=1
fi
if [ "$installed_now" = 1 ]; then
    trust_local_tcp "$ver"
fi

say "starting cluster $ver/$CLUSTER"
# Fails for a cluster that is up already or still starting: wait_ready decides.
as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$CLUSTER" start || say "pg_ctlcluster did not start it; waiting anyway"
wait_ready
if [ "$installed_now" = 1 ]; then  # the package may have started the server before pg_hba.conf changed
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$CLUSTER" reload || true
fi
ensure_database
say "PostgreSQL answers on $HOST:$PORT, database $DATABASE"
