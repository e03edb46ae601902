#!/bin/bash
# The PostgreSQL sink against PostgreSQL's own logical replication on the same
# pair of clusters: a backlog is written while neither applies (Siphon's slot
# exists, the subscription is disabled), then the applier starts, and the time
# until the target table equals the source's (count and a checksum of every
# row) is the apply time. Usage: Benchmarks/database_sink_bench.sh [w1|w2 ...]
# Needs a release build (swift build -c release --product siphon) and runs as
# root (clusters run as the postgres user). A quick harness, not bench.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
siphon=$root/.build/release/siphon
work=$(mktemp -d /tmp/siphon-dbbench.XXXXXX)
chown postgres "$work"
bin=$(dirname "$(command -v pg_ctl)")
sp=5611; tp=5612
as_pg() { su postgres -c "$*"; }
for port in $sp $tp; do
  as_pg "$bin/initdb -D $work/d$port -U postgres --auth=trust -E UTF8 --locale=C >/dev/null"
  cat >> "$work/d$port/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
max_worker_processes = 16
shared_buffers = 256MB
synchronous_commit = off
CONF
  as_pg "$bin/pg_ctl -D $work/d$port -l $work/log$port -w start >/dev/null"
done
trap 'for port in $sp $tp; do su postgres -c "$bin/pg_ctl -D $work/d$port -m immediate stop" >/dev/null 2>&1 || true; done; rm -rf $work' EXIT
psql_s() { psql -X -q -At -h "$work" -p $sp -U postgres -d app -c "$1"; }
psql_t() { psql -X -q -At -h "$work" -p $tp -U postgres -d "$1" -c "$2"; }
psql -X -q -h "$work" -p $sp -U postgres -c "CREATE DATABASE app" >/dev/null
psql -X -q -h "$work" -p $tp -U postgres -c "CREATE DATABASE sip" -c "CREATE DATABASE nat" >/dev/null
table="CREATE TABLE w (id bigint PRIMARY KEY, n int, t text, num numeric(12,2), j jsonb, ts timestamptz)"
checksum="SELECT count(*) || ':' || coalesce(sum(hashtext(w::text)), 0) FROM w"

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

run() {
  local workload=$1
  psql_s "DROP TABLE IF EXISTS w; $table; DROP PUBLICATION IF EXISTS bench; CREATE PUBLICATION bench FOR TABLE w"
  psql_t nat "DROP SUBSCRIPTION IF EXISTS nat" >/dev/null 2>&1 || true
  psql_t nat "DROP TABLE IF EXISTS w; $table"
  psql_t sip "DROP TABLE IF EXISTS w; DROP TABLE IF EXISTS _siphon_offsets"
  psql_s "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots" >/dev/null
  # Native: subscription and slot now, disabled; Siphon: its slot made by a first start with snapshot never.
  psql_t nat "CREATE SUBSCRIPTION nat CONNECTION 'host=127.0.0.1 port=$sp dbname=app user=postgres' PUBLICATION bench WITH (copy_data = false, enabled = false)"
  cat > "$work/pipeline.yaml" <<YAML
version: 1
name: bench
source:
  type: postgres
  url: "host=127.0.0.1 port=$sp dbname=app user=postgres"
  slot: siphon_bench
  publication: bench
  tables: ["public.w"]
  snapshot: never
sink:
  type: postgres
  url: "host=127.0.0.1 port=$tp dbname=sip user=postgres"
state:
  path: $work/state
YAML
  rm -rf "$work/state"
  SIPHON_LOG_LEVEL=warning "$siphon" run --config "$work/pipeline.yaml" > "$work/siphon.log" 2>&1 &
  local pid=$!
  until psql_s "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'siphon_bench'" | grep -q 1; do sleep 0.2; done
  sleep 1; kill -TERM $pid; wait $pid || true
  # The backlog.
  psql_s "INSERT INTO w SELECT g, g, md5(g::text), g * 1.25, jsonb_build_object('g', g), now() FROM generate_series(1, 10000) g"
  local changes
  if [ "$workload" = w1 ]; then
    changes=200000
    psql_s "CREATE OR REPLACE PROCEDURE load(total int) LANGUAGE plpgsql AS \$\$
      DECLARE done int := 0; next bigint := 10001; r float8; k bigint;
      BEGIN PERFORM setseed(0.42);
        WHILE done < total LOOP
          FOR s IN 1..(1 + floor(random() * 5))::int LOOP
            r := random(); k := 1 + floor(random() * (next - 1))::bigint;
            IF r < 0.6 THEN INSERT INTO w VALUES (next, next, md5(next::text), next * 1.25, jsonb_build_object('g', next), now()); next := next + 1;
            ELSIF r < 0.9 THEN UPDATE w SET n = n + 1, num = num + 0.01, ts = now() WHERE id = k;
            ELSE DELETE FROM w WHERE id = k; END IF;
            done := done + 1;
          END LOOP;
          COMMIT;
        END LOOP; END \$\$"
    psql_s "CALL load($changes)"
  else
    changes=100000
    psql_s "CREATE OR REPLACE PROCEDURE load(total int) LANGUAGE plpgsql AS \$\$
      BEGIN FOR g IN 10001..10000 + total LOOP
        INSERT INTO w VALUES (g, g, md5(g::text), g * 1.25, jsonb_build_object('g', g), now()); COMMIT;
      END LOOP; END \$\$"
    psql_s "CALL load($changes)"
  fi
  local want; want=$(psql_s "$checksum")

  # Siphon.
  local start; start=$(date +%s.%N)
  SIPHON_LOG_LEVEL=warning "$siphon" run --config "$work/pipeline.yaml" > "$work/siphon.log" 2>&1 &
  pid=$!
  until [ "$(psql_t sip "$checksum" 2>/dev/null)" = "$want" ]; do sleep 0.05; done
  local siphon_s; siphon_s=$(echo "$(date +%s.%N) - $start" | bc)
  local siphon_cpu; siphon_cpu=$(cpu_of $pid)
  local backend; backend=$(psql_t sip "SELECT pid FROM pg_stat_activity WHERE application_name = 'siphon-sink'")
  local backend_cpu; backend_cpu=$(cpu_of "$backend")
  kill -TERM $pid; wait $pid || true

  # Native logical replication.
  start=$(date +%s.%N)
  psql_t nat "ALTER SUBSCRIPTION nat ENABLE"
  until [ "$(psql_t nat "$checksum" 2>/dev/null)" = "$want" ]; do sleep 0.05; done
  local native_s; native_s=$(echo "$(date +%s.%N) - $start" | bc)
  local worker; worker=$(psql_t nat "SELECT pid FROM pg_stat_subscription WHERE subname = 'nat' AND relid IS NULL")
  local native_cpu; native_cpu=$(cpu_of "$worker")
  psql_t nat "ALTER SUBSCRIPTION nat DISABLE"
  local hz; hz=$(getconf CLK_TCK)
  printf "%s: %d changes (+10,000 seed rows) | siphon %.2f s, %.0f changes/s, siphon CPU %.2f s, its target backend %.2f s | native %.2f s, %.0f changes/s, apply worker CPU %.2f s | ratio %.2fx\n" \
    "$workload" "$changes" "$siphon_s" "$(echo "($changes + 10000) / $siphon_s" | bc -l)" "$(echo "$siphon_cpu / $hz" | bc -l)" "$(echo "$backend_cpu / $hz" | bc -l)" \
    "$native_s" "$(echo "($changes + 10000) / $native_s" | bc -l)" "$(echo "$native_cpu / $hz" | bc -l)" "$(echo "$native_s / $siphon_s" | bc -l)"
}

[ $# -gt 0 ] || set -- w1 w2
for workload in "$@"; do run "$workload"; done
