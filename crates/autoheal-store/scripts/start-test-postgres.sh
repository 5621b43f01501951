#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the autoheal-store contract suite.
#
# Idempotent: installs the Debian `postgresql` package if the server binaries
# are missing, initialises a data directory under /tmp if there is none,
# starts the server on 127.0.0.1:$PGPORT unless it already answers, waits for
# `pg_isready` (with a deadline), and creates the `autoheal` superuser role.
# Must run as root (CI runs it on a fresh Debian machine). Prints the URL to
# export as AUTOHEAL_TEST_POSTGRES_URL on its last line.
#
#   eval "$(crates/autoheal-store/scripts/start-test-postgres.sh | tail -n1)"
#   AUTOHEAL_REQUIRE_POSTGRES=1 cargo test -p autoheal-store
set -euo pipefail

PGPORT="${PGPORT:-5432}"
PGDATA="${PGDATA:-/tmp/autoheal-pgdata}"
PGLOG="${PGLOG:-/tmp/autoheal-pg.log}"
WAIT_SECS="${WAIT_SECS:-60}"
ROLE=autoheal
PASSWORD=autoheal

log() { echo "start-test-postgres: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (it installs packages and runs the server as the postgres user)"
  exit 1
fi

# 1. Server binaries: newest /usr/lib/postgresql/<major>/bin, else install.
find_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1
}
BINDIR="$(find_bindir || true)"
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ] || [ ! -x "$BINDIR/pg_ctl" ]; then
  log "installing the postgresql Debian package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  BINDIR="$(find_bindir)"
fi
if ! id postgres >/dev/null 2>&1; then
  log "no postgres user after installing the package"
  exit 1
fi
PG_ISREADY="$BINDIR/pg_isready"
[ -x "$PG_ISREADY" ] || PG_ISREADY="$(command -v pg_isready)"
PSQL="$BINDIR/psql"
[ -x "$PSQL" ] || PSQL="$(command -v psql)"

as_postgres() { su postgres -s /bin/sh -c "$1"; }

# 2. Data directory.
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  log "initialising $PGDATA"
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  as_postgres "'$BINDIR/initdb' -D '$PGDATA' -U postgres --auth=trust --encoding=UTF8 >/dev/null"
fi

# 3. Start unless something already answers on the port.
if "$PG_ISREADY" -h 127.0.0.1 -p "$PGPORT" -q; then
  log "a server already answers on 127.0.0.1:$PGPORT"
else
  # The socket directory Debian's build defaults to may not exist outside the
  # packaged service; put the socket in /tmp instead.
  touch "$PGLOG" && chown postgres:postgres "$PGLOG"
  log "starting on 127.0.0.1:$PGPORT (log: $PGLOG)"
  as_postgres "'$BINDIR/pg_ctl' -D '$PGDATA' -l '$PGLOG' -o \"-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=/tmp -c max_connections=200\" start >/dev/null"
fi

# 4. Wait with a deadline.
deadline=$(( $(date +%s) + WAIT_SECS ))
until "$PG_ISREADY" -h 127.0.0.1 -p "$PGPORT" -q; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "PostgreSQL not ready after ${WAIT_SECS}s; last log lines:"
    tail -n 20 "$PGLOG" >&2 || true
    exit 1
  fi
  sleep 0.5
done

# 5. The role the tests connect as (it creates and drops one database per
# test). Connect over the Unix socket as the postgres OS user: trust on our own
# server (socket in /tmp), peer authentication on a packaged cluster that was
# already running (socket in /var/run/postgresql).
SOCKET_DIR=""
for dir in /tmp /var/run/postgresql; do
  if "$PG_ISREADY" -h "$dir" -p "$PGPORT" -q 2>/dev/null; then
    SOCKET_DIR="$dir"
    break
  fi
done
if [ -z "$SOCKET_DIR" ]; then
  log "the server answers on 127.0.0.1:$PGPORT but no Unix socket was found to create the role"
  exit 1
fi
as_postgres "'$PSQL' -h '$SOCKET_DIR' -p $PGPORT -U postgres -d postgres -v ON_ERROR_STOP=1 -q" <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN SUPERUSER CREATEDB PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $ROLE LOGIN SUPERUSER CREATEDB PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
SQL

# 6. Check the URL the tests will use, over TCP with the password.
URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PGPORT/postgres"
if ! "$PSQL" "$URL" -Atqc "SELECT 1" >/dev/null; then
  log "cannot log in as $ROLE over TCP; check pg_hba.conf of the running server"
  exit 1
fi

log "ready"
echo "export AUTOHEAL_TEST_POSTGRES_URL=$URL"
