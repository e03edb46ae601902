#!/usr/bin/env bash
# The single test command: installs what the tests need (PostgreSQL 15 and the
# sqlite3 shell, which plays the application writing to SQLite, for the
# integration tests, libpq and SQLite headers for the build), then builds and tests.
# Extra arguments go to `swift test`, e.g. `Scripts/test.sh --filter FileSinkTests`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(postgresql-15 libpq-dev libsqlite3-dev sqlite3 pkg-config)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} > 0)); then
    echo "Installing missing packages: ${missing[*]}" >&2
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    else
        echo "error: missing ${missing[*]} and not root, and sudo is unavailable" >&2
        exit 1
    fi
fi

# The integration tests run the built `siphon` executable, so build every product first.
swift build
swift test "$@"
