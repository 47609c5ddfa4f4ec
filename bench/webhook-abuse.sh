#!/usr/bin/env bash
# What unauthenticated webhook bodies cost paymux (docs/benchmarks.md, "Webhook abuse").
#
# Starts the release binary on a fresh SQLite store with the sandbox, then:
#  1. times Pakhi Pay callbacks built to be worst for the pre-signature scan (nesting past the
#     bound, tens of thousands of keys, arrays of arrays around long lists) against a flat body
#     of the same size, as ratios of medians in one run;
#  2. times /healthz while four clients send those bodies in a loop, against /healthz alone;
#  3. floods the SKN Pay endpoint with unsigned 250 KiB bodies, first with the rejection limit
#     raised out of the way (the store's growth), then with the default limit (how many 429s).
#
# Needs a release build (`cargo build --release`), curl and python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PAYMUX=${PAYMUX:-${CARGO_TARGET_DIR:-$ROOT/target}/release/paymux}
RUNS=${RUNS:-15}
PORT=${PORT:-18180}
WORK=$(mktemp -d)
SERVER=
stop() { [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; }; SERVER=; }
trap 'stop; rm -rf "$WORK"' EXIT
unset PAYMUX_CONFIG
[ -x "$PAYMUX" ] || { echo "build first: cargo build --release" >&2; exit 1; }
BASE="http://127.0.0.1:$PORT"

# start LIMIT: a fresh server whose rejected-webhook bucket refills LIMIT a second.
start() {
    stop || true
    rm -f "$WORK"/paymux.db*
    PAYMUX__SERVER__BIND="127.0.0.1:$PORT" PAYMUX__DATABASE__URL="sqlite://$WORK/paymux.db" \
        PAYMUX__WEBHOOK_LIMITS__REJECTED_PER_SECOND="$1" PAYMUX__WEBHOOK_LIMITS__REJECTED_BURST="$2" \
        RUST_LOG=error "$PAYMUX" > "$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do curl -sf "$BASE/healthz" > /dev/null && return; sleep 0.1; done
    echo "the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

python3 - "$WORK" <<'EOF'
import sys
work = sys.argv[1]
size = 256 * 1024 - 64
def write(name, text):
    open(f"{work}/{name}.json", "w").write(text)
# Nested 6,000 deep: once 1.9 s of scan; now refused by the nesting bound.
write("deep", '{"status":"x","signature":"00","y":' + "[" * 6000 + "1" + "]" * 6000 + "}")
# 32,749 distinct three-letter keys: once 2.5 s (a quadratic duplicate check).
import string
alphabet = string.ascii_letters + string.digits
names = (a + b + c for a in alphabet for b in alphabet for c in alphabet)
keys = ",".join(f'"{next(names)}":1' for _ in range(32749))
write("keys", '{' + keys + ',"signature":"00"}')
# Arrays nested to the bound around ~125,000 elements: once 4.0 s (per-level re-scans).
inner = ",".join(["1"] * 125000)
write("wide", '{"y":' + "[" * 60 + inner + "]" * 60 + ',"signature":"00"}')
# A flat body of the same size: the baseline.
write("flat", '{"status":"x","pad":"' + "a" * (size - 60) + '","signature":"00"}')
for name in ["deep", "keys", "wide", "flat"]:
    print(name, len(open(f"{work}/{name}.json").read()), "bytes", file=sys.stderr)
EOF

# median FILE...: the median of the numbers in FILE.
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

post_time() {
    curl -s -o /dev/null -w '%{time_total}\n' -X POST "$BASE/webhooks/demo/pakhi" \
        -H 'Content-Type: application/json' --data-binary "@$WORK/$1.json"
}

start 1000000 1000000
echo "== 1. one request each, $RUNS runs, interleaved (seconds, median)"
for _ in $(seq "$RUNS"); do
    for body in deep keys wide flat; do post_time "$body" >> "$WORK/t-$body"; done
done
flat=$(median "$WORK/t-flat")
for body in deep keys wide flat; do
    m=$(median "$WORK/t-$body")
    printf '%-5s %8.4f s  %6.2fx flat\n' "$body" "$m" "$(echo "$m / $flat" | bc -l)"
done

echo "== 2. /healthz while 4 clients send the worst bodies in a loop"
for _ in $(seq "$RUNS"); do curl -s -o /dev/null -w '%{time_total}\n' "$BASE/healthz" >> "$WORK/h-quiet"; done
for client in 1 2 3 4; do
    body=$([ $((client % 2)) = 0 ] && echo wide || echo keys)
    ( while :; do post_time "$body" > /dev/null; done ) &
    eval "ATTACKER_$client=$!"
done
for _ in $(seq "$RUNS"); do curl -s -o /dev/null -w '%{time_total}\n' "$BASE/healthz" >> "$WORK/h-loaded"; done
kill "$ATTACKER_1" "$ATTACKER_2" "$ATTACKER_3" "$ATTACKER_4" 2>/dev/null || true
wait "$ATTACKER_1" "$ATTACKER_2" "$ATTACKER_3" "$ATTACKER_4" 2>/dev/null || true
printf '/healthz alone %.4f s, under attack %.4f s (median)\n' "$(median "$WORK/h-quiet")" "$(median "$WORK/h-loaded")"

flood() {
    python3 - "$BASE" "$1" <<'EOF'
import sys, urllib.request, urllib.error, collections, concurrent.futures
base, count = sys.argv[1], int(sys.argv[2])
pad = bytes(b"a"[0] + (i * 7 % 26) for i in range(250 * 1024))
def send(n):
    body = b'{"forged":%06d,"pad":"' % n + pad + b'"}'
    request = urllib.request.Request(base + "/webhooks/demo/sknpay", data=body, method="POST")
    try:
        return urllib.request.urlopen(request).status
    except urllib.error.HTTPError as error:
        return error.code
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    print(dict(collections.Counter(pool.map(send, range(count)))))
EOF
}

store() { du -cb "$WORK"/paymux.db* | tail -1 | cut -f1; }

echo "== 3a. 2,000 unsigned 250 KiB bodies, limit out of the way"
start 1000000 1000000
before=$(store)
flood 2000
after=$(store)
echo "store grew by $(( (after - before) / 1024 )) KiB for $(( 2000 * 250 / 1024 )) MiB sent"

echo "== 3b. the same flood with the default limit (10/s, burst 50)"
start 10 50
before=$(store)
flood 2000
after=$(store)
echo "store grew by $(( (after - before) / 1024 )) KiB"
