#!/usr/bin/env bash
# Quick start: runs a real pipeline end to end on an embedded SQLite database
# (no server), prints the events it captured and the stored position.
# Installs what it needs (Debian), builds the release binary, and cleans up
# after itself. Scripts/demo-postgres.sh does the same with PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

source Scripts/lib/packages.sh
ensure_packages sqlite3 libsqlite3-dev libpq-dev pkg-config

echo "== building siphon (release)"
swift build -c release --product siphon 2>&1 | tail -n 1
SIPHON="$PWD/.build/release/siphon"

work=$(mktemp -d /tmp/siphon-demo.XXXXXX)
cleanup() {
    [ -n "${siphon_pid:-}" ] && kill "$siphon_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
db="$work/shop.db"
app() { sqlite3 -cmd '.timeout 5000' "$db" "$@"; }

echo "== an application's database: $db (WAL mode), with two orders"
app "PRAGMA journal_mode=WAL" >/dev/null
app "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INT, price REAL, placed TEXT DEFAULT CURRENT_TIMESTAMP)"
app "INSERT INTO orders (item, qty, price) VALUES ('coffee', 2, 3.5), ('tea', 1, 2.2)"

cat > "$work/orders.yaml" <<YAML
version: 1
name: orders
source:
  type: sqlite
  path: $db
  tables: ["*"]
  snapshot: initial
sink:
  type: file
  path: $work/out/orders.jsonl
state:
  path: $work/state
YAML

echo "== siphon run --config orders.yaml (snapshot of 2 rows, then live changes)"
"$SIPHON" run --config "$work/orders.yaml" 2>"$work/siphon.log" &
siphon_pid=$!
for _ in $(seq 1 100); do grep -q "capturing" "$work/siphon.log" && break; sleep 0.1; done
app "INSERT INTO orders (item, qty, price) VALUES ('cake', 1, 4.0)"
app "BEGIN; UPDATE orders SET qty = 3 WHERE id = 1; DELETE FROM orders WHERE id = 2; COMMIT"
app "ALTER TABLE orders ADD COLUMN note TEXT"
for _ in $(seq 1 100); do grep -q "schema version 2" "$work/siphon.log" && break; sleep 0.05; done
app "INSERT INTO orders (item, qty, price, note) VALUES ('scone', 2, 2.8, 'warm')"
for _ in $(seq 1 100); do [ "$(wc -l < "$work/out/orders.jsonl" 2>/dev/null || echo 0)" -ge 8 ] && break; sleep 0.1; done
kill -TERM "$siphon_pid"; wait "$siphon_pid" || true; siphon_pid=""

echo "== events ($work/out/orders.jsonl), one JSON object per line:"
python3 Scripts/lib/show-events.py "$work/out/orders.jsonl"
echo "== stored position:"
"$SIPHON" offsets show --config "$work/orders.yaml"
echo "== siphon sqlite uninstall (removes Siphon's triggers and tables; the data stays):"
"$SIPHON" sqlite uninstall --config "$work/orders.yaml"
