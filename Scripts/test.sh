#!/usr/bin/env bash
# The single test command: installs what the tests need (PostgreSQL 15 and the
# sqlite3 shell, which plays the application writing to SQLite, for the
# integration tests, libpq and SQLite headers for the build), then builds and tests.
# Extra arguments go to `swift test`, e.g. `Scripts/test.sh --filter FileSinkTests`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

source Scripts/lib/packages.sh
ensure_packages postgresql-15 libpq-dev libsqlite3-dev sqlite3 pkg-config librdkafka-dev nats-server libnats-dev python3-cryptography curl systemd

# The integration tests run the built `siphon` executable, so build every product first.
swift build
swift test "$@"
