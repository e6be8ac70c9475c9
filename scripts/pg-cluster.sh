# Sourced by scripts/test and scripts/bench: creates a throwaway PostgreSQL cluster
# (initdb as the postgres user, trust auth, its own port and directory), exports
# ENDOCARP_TEST_PG_URL and ENDOCARP_TEST_PG_CTL, and removes the cluster on exit.
# PostgreSQL 15 is expected under /usr/lib/postgresql/15/bin; when it is missing and this
# runs as root, it is installed with apt. With CI set, failing to get PostgreSQL fails.

pg_bin() {
  for v in 15 16 17 14; do
    if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then echo "/usr/lib/postgresql/$v/bin"; return 0; fi
  done
  return 1
}

PGBIN=$(pg_bin || true)
if [ -z "$PGBIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "scripts/test: installing PostgreSQL with apt" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || true
  PGBIN=$(pg_bin || true)
fi

PGTMP=""
cleanup() {
  if [ -n "$PGTMP" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PGTMP"
  fi
}
trap cleanup EXIT

if [ -n "$PGBIN" ] && id postgres >/dev/null 2>&1; then
  PGTMP=$(mktemp -d /tmp/endocarp-pg.XXXXXX)
  chown postgres "$PGTMP"
  PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGTMP/data" -A trust -U postgres --no-sync >/dev/null
  # fsync off for tests; scripts/bench sets ENDOCARP_PG_FSYNC=on so ingest numbers are real.
  PGOPTS="-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1 -c fsync=${ENDOCARP_PG_FSYNC:-off} -c max_connections=300"
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGTMP/data" -o "$PGOPTS" -l "$PGTMP/log" -w start >/dev/null
  export ENDOCARP_TEST_PG_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
  # Lets the restart test stop and start this cluster (and no other).
  export ENDOCARP_TEST_PG_CTL="runuser -u postgres -- $PGBIN/pg_ctl -D $PGTMP/data -o '$PGOPTS' -l $PGTMP/log"
  echo "scripts/test: throwaway PostgreSQL on 127.0.0.1:$PGPORT ($PGTMP)" >&2
  # pg_fresh_db NAME: creates an empty database in the throwaway cluster, prints its URL.
  pg_fresh_db() {
    runuser -u postgres -- "$PGBIN/psql" -q -h "$PGTMP" -p "$PGPORT" -U postgres -c "CREATE DATABASE $1" >/dev/null
    echo "postgres://postgres@127.0.0.1:$PGPORT/$1"
  }
elif [ -n "${CI:-}" ]; then
  echo "scripts/test: CI is set but PostgreSQL could not be had (no initdb, or no postgres user)" >&2
  exit 1
else
  echo "scripts/test: no PostgreSQL here; its tests will report themselves skipped" >&2
fi

