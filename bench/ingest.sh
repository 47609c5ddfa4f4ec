#!/usr/bin/env bash
# The write path against the SKN Pay doc's own Node receiver (docs/benchmarks.md, "Ingest").
#
#  1. Throughput: the doc's quickstart receiver (verify, parse, acknowledge; it stores nothing),
#     then paymux on SQLite, then on PostgreSQL, each under the same wrk load: 1 thread,
#     $CONNECTIONS connections, $DURATION s, every request a new pre-signed SKN Pay event
#     naming no checkout; $ROUNDS rounds of the three in turn. Prints, per round, req/s, p50,
#     p99, non-2xx and socket errors, and the ratios to that round's reference; then the
#     ratios of the rounds' mean req/s.
#  2. Durability: on each store, a flood of new events from 32 connections, kill -9 of paymux
#     in the middle, then the count of acknowledged events the store does not have.
#  3. Checkout create: the simulator's own create against a create through paymux (the same
#     simulator behind it, in the same process), alternating, $CONNECTIONS_CREATE connections;
#     the difference of the p50s, and the p50 of one fsync on the store's disk.
#
# Needs a release build (`cargo build --release`), wrk, node and npm, python3, psql, curl.
# PostgreSQL: $PAYMUX_BENCH_DATABASE_URL (default: database paymux_bench on 127.0.0.1 without
# TLS, as a database on the same machine is reached; made afresh for each run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PAYMUX=${PAYMUX:-${CARGO_TARGET_DIR:-$ROOT/target}/release/paymux}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
CONNECTIONS_CREATE=${CONNECTIONS_CREATE:-4}
EVENTS=${EVENTS:-250000}
PORT=${PORT:-18280}
NODE_PORT=${NODE_PORT:-18281}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_URL=${PAYMUX_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/paymux_bench?sslmode=disable}
# The demo merchant's SKN Pay secrets (config/default.toml).
SECRET=whsec_demo_8d2e6a1f4b9c0e7d
SKN_API_KEY=sk_test_demo_4f1c2b7e9a0d3c5e
WORK=$(mktemp -d)
SERVER=
NODE=
stop() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    SERVER=
}
trap 'stop; [ -n "$NODE" ] && kill "$NODE" 2>/dev/null; rm -rf "$WORK"' EXIT
unset PAYMUX_CONFIG
[ -x "$PAYMUX" ] || { echo "build first: cargo build --release" >&2; exit 1; }
for tool in wrk node npm python3 psql curl; do
    command -v "$tool" > /dev/null || { echo "needs $tool" >&2; exit 1; }
done
BASE="http://127.0.0.1:$PORT"
HERE="$ROOT/bench/ingest"

# wait_for URL: until something answers at URL.
wait_for() {
    for _ in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$1")" != 000 ] && return
        sleep 0.1
    done
    echo "nothing answers at $1" >&2; exit 1
}

# start DATABASE_URL: paymux on that store, the sandbox on, limits out of the way.
start() {
    stop
    PAYMUX__SERVER__BIND="127.0.0.1:$PORT" PAYMUX__DATABASE__URL="$1" \
        PAYMUX__RATE_LIMIT__REQUESTS_PER_SECOND=1000000 PAYMUX__RATE_LIMIT__BURST=1000000 \
        RUST_LOG=warn "$PAYMUX" > "$WORK/server.log" 2>&1 &
    SERVER=$!
    wait_for "$BASE/healthz"
    # The demo merchant's webhook endpoint (the sandbox's receiver) removed: this measures
    # ingest, as the reference does, not the deliveries to merchants each event would add.
    curl -s -H 'Authorization: Bearer pmx_test_demo' "$BASE/v1/webhook_endpoints" \
        | python3 -c 'import json, sys; print(*(e["id"] for e in json.load(sys.stdin)["data"]), sep="\n")' \
        | xargs -r -I{} curl -s -o /dev/null -X DELETE -H 'Authorization: Bearer pmx_test_demo' \
            "$BASE/v1/webhook_endpoints/{}"
}

fresh_sqlite() { rm -f "$WORK"/paymux.db*; echo "sqlite://$WORK/paymux.db"; }
# The database PG_URL names, dropped and made again.
PG_DB=${PG_URL##*/}
PG_DB=${PG_DB%%\?*}
fresh_postgres() {
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" \
        -c "CREATE DATABASE \"$PG_DB\"" > /dev/null
    echo "$PG_URL"
}
# The mean number of webhooks per group commit so far, from /metrics.
mean_group() {
    curl -s "$BASE/metrics" | awk '/^paymux_write_group_size_(sum|count)/ {v[$1 ~ /sum/] = $2} END {printf "%.1f", v[1] / v[0]}'
}

# load URL PATH: the wrk run of part 1 over the round's events; prints its RESULT line's fields.
load() {
    BENCH_EVENTS="$WORK/events.tsv" BENCH_PATH="$2" \
        wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s "$HERE/events.lua" "$1" \
        | awk '/^RESULT/ {print $2, $3, $4, $5, $6, $7}'
}

echo "== 1. $CONNECTIONS connections, ${DURATION} s, a new signed event per request, $ROUNDS rounds"
mkdir "$WORK/node"
cp "$ROOT/bench/node-ref-server.mjs" "$ROOT/bench/package.json" "$WORK/node/"
(cd "$WORK/node" && npm install --silent --no-audit --no-fund > /dev/null)
WEBHOOK_SECRET=$SECRET PORT=$NODE_PORT node "$WORK/node/node-ref-server.mjs" &
NODE=$!
wait_for "http://127.0.0.1:$NODE_PORT/webhooks/sknpay"

row() { printf '%-22s %8s %8s %8s %8s %8s %8s %10s\n' "$@"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}x')"; }
# The machine's speed drifts between runs by more than a change moves paymux, so the three
# receivers take turns, round after round, and each round's ratios are to its own reference.
: > "$WORK/rounds"
for round in $(seq "$ROUNDS"); do
    # Signed now, so that every receiver takes them as fresh; each store starts empty, so the
    # three can take the same events.
    python3 "$HERE/events.py" "$SECRET" "$EVENTS" "round$round$RANDOM" > "$WORK/events.tsv"
    read -r _ ref_rps ref_p50 ref_p99 ref_non2xx ref_socket \
        <<< "$(load "http://127.0.0.1:$NODE_PORT" /webhooks/sknpay)"
    start "$(fresh_sqlite)"
    if [ "$round" = 1 ]; then
        sleep 1
        idle_rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$SERVER/status")
    fi
    read -r sqlite_n sqlite_rps sqlite_p50 sqlite_p99 sqlite_non2xx sqlite_socket \
        <<< "$(load "$BASE" /webhooks/demo/sknpay)"
    sqlite_groups=$(mean_group)
    start "$(fresh_postgres)"
    read -r pg_n pg_rps pg_p50 pg_p99 pg_non2xx pg_socket \
        <<< "$(load "$BASE" /webhooks/demo/sknpay)"
    pg_groups=$(mean_group)
    stop
    for n in "$sqlite_n" "$pg_n"; do
        [ "$n" -le "$EVENTS" ] || echo "warning: $n requests for $EVENTS events: some were redeliveries; raise EVENTS" >&2
    done
    echo "round $round"
    row receiver req/s p50_ms p99_ms non2xx socket vs_ref p99_vs_ref
    row "node reference" "$ref_rps" "$ref_p50" "$ref_p99" "$ref_non2xx" "$ref_socket" 1.00x 1.00x
    row "paymux sqlite" "$sqlite_rps" "$sqlite_p50" "$sqlite_p99" "$sqlite_non2xx" "$sqlite_socket" \
        "$(ratio "$sqlite_rps" "$ref_rps")" "$(ratio "$sqlite_p99" "$ref_p99")"
    row "paymux postgres" "$pg_rps" "$pg_p50" "$pg_p99" "$pg_non2xx" "$pg_socket" \
        "$(ratio "$pg_rps" "$ref_rps")" "$(ratio "$pg_p99" "$ref_p99")"
    echo "mean webhooks per group commit: sqlite $sqlite_groups, postgres $pg_groups"
    echo "$ref_rps $sqlite_rps $pg_rps" >> "$WORK/rounds"
done
kill "$NODE"; NODE=
awk '{ref += $1; sqlite += $2; pg += $3}
     END {printf "all %d rounds: sqlite %.2fx, postgres %.2fx the reference (%.0f, %.0f and %.0f req/s on average)\n",
          NR, sqlite / ref, pg / ref, ref / NR, sqlite / NR, pg / NR}' "$WORK/rounds"
echo "idle RSS of paymux on SQLite: ${idle_rss} MB"

echo "== 2. kill -9 during a flood: acknowledged events the store does not have"
# kill_during STORE QUERY...: floods, kills paymux after 3 s, counts what QUERY lacks.
kill_during() {
    local store=$1
    shift
    python3 "$HERE/flood.py" "$BASE/webhooks/demo/sknpay" "$SECRET" "kill$RANDOM" "$WORK/acked" &
    local flood=$!
    sleep 3
    kill -9 "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
    wait "$flood"
    sort -u "$WORK/acked" > "$WORK/acked.sorted"
    "$@" | sort -u > "$WORK/stored.sorted"
    printf '%-9s %s lost of %s acknowledged\n' "$store:" \
        "$(comm -23 "$WORK/acked.sorted" "$WORK/stored.sorted" | wc -l)" "$(wc -l < "$WORK/acked.sorted")"
}
sqlite_events() {
    python3 -c "import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute('SELECT provider_event_id FROM events')]" "$WORK/paymux.db"
}
pg_events() { psql -At "$PG_URL" -c "SELECT provider_event_id FROM events"; }
start "$(fresh_sqlite)"
kill_during sqlite sqlite_events
start "$(fresh_postgres)"
kill_during postgres pg_events

echo "== 3. checkout create, $CONNECTIONS_CREATE connections, 5 s each, alternating (sqlite)"
start "$(fresh_sqlite)"
# create PATH AUTH BODY [KEY_PREFIX]: p50 in ms of a wrk run; with KEY_PREFIX, each request
# under a new Idempotency-Key.
create() {
    env BENCH_PATH="$1" BENCH_AUTH="$2" BENCH_BODY="$3" ${4:+BENCH_KEYS="$4"} \
        wrk -t1 -c"$CONNECTIONS_CREATE" -d5s -s "$HERE/create.lua" "$BASE" \
        | awk '/^RESULT/ {if ($6 + $7 > 0) print "errors: " $6 " non-2xx, " $7 " socket" > "/dev/stderr"; print $4}'
}
direct_body='{"amount":1250,"currency":"USD","description":"bench"}'
paymux_body='{"amount":1250,"currency":"USD","provider":"sknpay"}'
for round in 1 2 3; do
    direct=$(create /sandbox/sknpay/api/v1/payments "$SKN_API_KEY" "$direct_body" "direct-$round")
    through=$(create /v1/checkouts pmx_test_demo "$paymux_body")
    keyed=$(create /v1/checkouts pmx_test_demo "$paymux_body" "keyed-$round")
    printf 'round %s: simulator %s ms, through paymux %s ms (+%s), with Idempotency-Key %s ms (+%s)\n' \
        "$round" "$direct" "$through" "$(python3 -c "print(f'{$through - $direct:.2f}')")" \
        "$keyed" "$(python3 -c "print(f'{$keyed - $direct:.2f}')")"
done
stop
python3 - "$WORK" <<'PY'
import os, statistics, sys, time
path = os.path.join(sys.argv[1], "fsync.probe")
times = []
with open(path, "wb") as f:
    for _ in range(200):
        f.write(b"x" * 4096)
        start = time.perf_counter()
        os.fsync(f.fileno())
        times.append(time.perf_counter() - start)
print(f"one fsync on this disk: p50 {statistics.median(times) * 1000:.3f} ms")
PY
