#!/usr/bin/env bash
# Quick start: runs a real pipeline end to end on a throwaway local PostgreSQL
# and prints the events it captured. Installs what it needs (Debian), builds
# the release binary, and cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=/usr/lib/postgresql/15/bin
source Scripts/lib/packages.sh
ensure_packages postgresql-15 libpq-dev libsqlite3-dev pkg-config

echo "== building siphon (release)"
swift build -c release --product siphon 2>&1 | tail -n 1
SIPHON="$PWD/.build/release/siphon"

work=$(mktemp -d /tmp/siphon-demo.XXXXXX)
chmod 755 "$work"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$work"; as_pg=(runuser -u postgres --); fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
    [ -n "${siphon_pid:-}" ] && kill "$siphon_pid" 2>/dev/null || true
    "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== starting a throwaway PostgreSQL 15 on 127.0.0.1:$port"
"${as_pg[@]}" "$PGBIN/initdb" -D "$work/data" -U postgres --auth=trust >/dev/null
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$work/data" -l "$work/data/log" -w \
    -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c wal_level=logical" start >/dev/null
psql() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d shop "$@"; }
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE shop"
psql -c "CREATE TABLE orders (id bigint PRIMARY KEY, item text, qty int, price numeric(10,2), placed timestamptz DEFAULT now())"
psql -c "INSERT INTO orders (id, item, qty, price) VALUES (1, 'coffee', 2, 3.50), (2, 'tea', 1, 2.20)"

mkdir -p "$work/siphon"
cat > "$work/siphon/orders.yaml" <<YAML
version: 1
name: orders
source:
  type: postgres
  url: "host=127.0.0.1 port=$port dbname=shop user=postgres"
  slot: siphon_orders
  tables: ["public.*"]
  snapshot: initial
sink:
  type: file
  path: $work/siphon/out/orders.jsonl
state:
  path: $work/siphon/state
YAML

echo "== siphon run --config orders.yaml (snapshot of 2 rows, then live changes)"
"$SIPHON" run --config "$work/siphon/orders.yaml" 2>"$work/siphon/siphon.log" &
siphon_pid=$!
for _ in $(seq 1 100); do grep -q "streaming changes" "$work/siphon/siphon.log" && break; sleep 0.1; done
psql -c "INSERT INTO orders (id, item, qty, price) VALUES (3, 'cake', 1, 4.00)"
psql -c "BEGIN; UPDATE orders SET qty = 3 WHERE id = 1; DELETE FROM orders WHERE id = 2; COMMIT"
psql -c "ALTER TABLE orders ADD COLUMN note text"
psql -c "INSERT INTO orders (id, item, qty, price, note) VALUES (4, 'scone', 2, 2.80, 'warm')"
for _ in $(seq 1 100); do [ "$(wc -l < "$work/siphon/out/orders.jsonl" 2>/dev/null || echo 0)" -ge 8 ] && break; sleep 0.1; done
kill -TERM "$siphon_pid"; wait "$siphon_pid" || true; siphon_pid=""

echo "== events ($work/siphon/out/orders.jsonl), one JSON object per line:"
python3 Scripts/lib/show-events.py "$work/siphon/out/orders.jsonl"
echo "== stored position:"
"$SIPHON" offsets show --config "$work/siphon/orders.yaml"
