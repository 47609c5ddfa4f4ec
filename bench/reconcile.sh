#!/usr/bin/env bash
# Reconciliation over a million events, on SQLite and on PostgreSQL (docs/benchmarks.md).
#
# For each store: `paymux dev seed` writes the dataset (EVENTS events over September 2026, with
# its planted discrepancies), `paymux reconcile` runs RUNS times under /usr/bin/time for its wall
# time, CPU time and peak resident memory, and the report is checked against what the seed says it must show.
# Then, on SQLite, a running server streams the whole period through
# `GET /v1/events/export` while its resident memory is sampled, to show it stays flat.
#
# Needs a release build (`cargo build --release`), /usr/bin/time (Debian package `time`), jq,
# curl, and for PostgreSQL a server paymux may create a database on
# (PAYMUX_BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-3}
ADMIN_URL=${PAYMUX_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PAYMUX=${PAYMUX:-${CARGO_TARGET_DIR:-$ROOT/target}/release/paymux}
WORK=$(mktemp -d)
trap 'kill "${SERVER:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PERIOD=(--from 2026-09-01 --to 2026-10-01)
unset PAYMUX_CONFIG

[ -x "$PAYMUX" ] || { echo "build first: cargo build --release" >&2; exit 1; }

# run_on URL: seeds the store at URL, times the report, checks it against the seed's tally.
run_on() {
    local url=$1 name=$2
    echo "== $name: seeding $EVENTS events"
    /usr/bin/time -f "seed: %e s, peak %M KiB" \
        env PAYMUX__DATABASE__URL="$url" "$PAYMUX" dev seed --events "$EVENTS" \
        "${PERIOD[@]}" --expect "$WORK/expect-$name.json"
    echo "== $name: reconcile, $RUNS runs"
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f "reconcile: %e s (user %U s, system %S s), peak %M KiB" \
            env PAYMUX__DATABASE__URL="$url" "$PAYMUX" reconcile "${PERIOD[@]}" --merchant demo \
            > "$WORK/report-$name.json"
    done
    for field in totals currency_totals; do
        if ! diff <(jq -S ".$field" "$WORK/expect-$name.json") \
            <(jq -S ".$field" "$WORK/report-$name.json") > /dev/null; then
            echo "$name: $field differ from the seed's tally" >&2
            exit 1
        fi
    done
    local ids='[.discrepancies[] | [.kind, .checkout_id, .event_id, .receipt_id]] | sort'
    if ! diff <(jq -c "$ids" "$WORK/expect-$name.json") \
        <(jq -c "$ids" "$WORK/report-$name.json") > /dev/null; then
        echo "$name: discrepancies differ from the planted ones" >&2
        exit 1
    fi
    echo "$name: report matches the seed: $(jq '.discrepancies | length' "$WORK/report-$name.json") discrepancies"
}

SQLITE_URL="sqlite://$WORK/bench.db"
run_on "$SQLITE_URL" sqlite

# The export of the whole period, streamed by a running server; its RSS sampled meanwhile.
PORT=${PORT:-18181}
PAYMUX__DATABASE__URL="$SQLITE_URL" PAYMUX__SERVER__BIND="127.0.0.1:$PORT" \
    "$PAYMUX" serve > "$WORK/server.log" 2>&1 &
SERVER=$!
until curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null; do
    kill -0 "$SERVER" || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
echo "== sqlite: export of the period; server RSS before: $(rss) KiB"
curl -sf -H 'Authorization: Bearer pmx_test_demo' \
    "http://127.0.0.1:$PORT/v1/events/export?format=csv&created_gte=2026-09-01T00:00:00Z&created_lt=2026-10-01T00:00:00Z" \
    -o "$WORK/export.csv" &
CURL=$!
PEAK=0
while kill -0 "$CURL" 2>/dev/null; do
    NOW=$(rss); [ "$NOW" -gt "$PEAK" ] && PEAK=$NOW
    sleep 0.1
done
wait "$CURL"
echo "export: $(($(wc -l < "$WORK/export.csv") - 1)) events, server RSS peak during it: $PEAK KiB, after: $(rss) KiB"
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
SERVER=0

DB="paymux_bench_$$"
psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" > /dev/null
PG_URL="${ADMIN_URL%/*}/$DB"
run_on "$PG_URL" postgres || STATUS=$?
psql "$ADMIN_URL" -qc "DROP DATABASE $DB" > /dev/null
exit "${STATUS:-0}"
