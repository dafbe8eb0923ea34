#!/usr/bin/env bash
# Makes the ≥ 1 GB classic pcap of real loopback traffic that bench part 7 (bench/analyze-cost.mjs) reads,
# the way the field guide §5 measured it: `tcpdump -i lo -w` inside a private network namespace while
# bench/traffic-gen.mjs runs real IPv4 and IPv6 connections (normal request/response/FIN, refused connects,
# client aborts with SO_LINGER 0, servers closing with unread data), cut at a fixed packet count.
#
#   usage: bash bench/make-big-pcap.sh            (as root: ip netns, tcpdump)
#   prints the path of the capture as its last line of stdout.
#
# Environment:
#   TMPDIR             where the capture is cached (default /tmp): $TMPDIR/rstwatch-bench/big.pcap
#   BIG_PCAP_PACKETS   packets in the capture (default 5200000: ~1.02 GB at the mix's ~197 B mean)
#   BIG_PCAP_MIN_BYTES smallest acceptable size (default 1000000000)
#   BIG_PCAP_SECONDS   upper bound on the capture time (default 600)
#   BIG_PCAP_FORCE=1   make it again even when a cached one fits
#
# Cached: big.pcap.meta records the packet count and size; a capture that matches both is reused. Idempotent
# and clean: the namespace (rwbench-<pid>) is deleted and every process started here is killed by its pid on
# exit, whatever the exit; the capture is written to a temporary name and renamed only when complete.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DIR="${TMPDIR:-/tmp}/rstwatch-bench"
OUT="$DIR/big.pcap"
META="$OUT.meta"
PACKETS=${BIG_PCAP_PACKETS:-5200000}
MIN_BYTES=${BIG_PCAP_MIN_BYTES:-1000000000}
SECONDS_MAX=${BIG_PCAP_SECONDS:-600}
GEN_VERSION=1 # bump when traffic-gen.mjs changes what it sends
NS="rwbench-$$"
log() { echo "make-big-pcap: $*" >&2; }

mkdir -p "$DIR"
want_meta="version=$GEN_VERSION packets=$PACKETS"
if [ "${BIG_PCAP_FORCE:-0}" != 1 ] && [ -f "$OUT" ] && [ -f "$META" ]; then
  size=$(stat -c %s "$OUT")
  if grep -qx "$want_meta bytes=$size" "$META" && [ "$size" -ge "$MIN_BYTES" ]; then
    log "reusing $OUT ($size bytes, $PACKETS packets)"
    echo "$OUT"
    exit 0
  fi
fi

[ "$(id -u)" -eq 0 ] || { log "needs root (ip netns, tcpdump)"; exit 1; }
for tool in ip tcpdump capinfos node; do
  command -v "$tool" >/dev/null || { log "$tool is missing: bash scripts/setup-bench-env.sh"; exit 1; }
done

TCPDUMP_PID=""
GEN_PID=""
PART="$OUT.part.$$"
cleanup() {
  [ -n "$GEN_PID" ] && kill "$GEN_PID" 2>/dev/null || true
  [ -n "$TCPDUMP_PID" ] && kill "$TCPDUMP_PID" 2>/dev/null || true
  [ -n "$GEN_PID" ] && wait "$GEN_PID" 2>/dev/null || true
  [ -n "$TCPDUMP_PID" ] && wait "$TCPDUMP_PID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -f "$PART" "$DIR/tcpdump.$$.err"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ip netns add "$NS"
ip -n "$NS" link set lo up
rm -f "$OUT" "$META"

# -c cuts the capture at exactly $PACKETS packets (tcpdump exits then); -B: a 64 MiB kernel buffer so the
# capture drops nothing while the generator shares the two cores with it. The file is world-readable
# (-Z root) so the benchmark can read it as any user.
ip netns exec "$NS" tcpdump -i lo -n -B 65536 -Z root -c "$PACKETS" -w "$PART" 2>"$DIR/tcpdump.$$.err" &
TCPDUMP_PID=$!
for _ in $(seq 1 50); do grep -q listening "$DIR/tcpdump.$$.err" 2>/dev/null && break; sleep 0.1; done

log "capturing $PACKETS packets of loopback traffic in namespace $NS (at most $SECONDS_MAX s)…"
start=$(date +%s)
ip netns exec "$NS" node "$HERE/traffic-gen.mjs" --seconds "$SECONDS_MAX" --concurrency 64 >"$DIR/gen.$$.json" &
GEN_PID=$!
# tcpdump ends by itself at -c; the generator is stopped then (or ends at its own time bound).
while kill -0 "$TCPDUMP_PID" 2>/dev/null && kill -0 "$GEN_PID" 2>/dev/null; do sleep 0.5; done
if kill -0 "$TCPDUMP_PID" 2>/dev/null; then
  log "the generator ended before $PACKETS packets were captured"
  kill -INT "$TCPDUMP_PID" 2>/dev/null || true
fi
wait "$TCPDUMP_PID" 2>/dev/null || true
TCPDUMP_PID=""
kill -TERM "$GEN_PID" 2>/dev/null || true
wait "$GEN_PID" 2>/dev/null || true
GEN_PID=""
log "generator: $(cat "$DIR/gen.$$.json" 2>/dev/null || echo '?'); $(( $(date +%s) - start )) s"
rm -f "$DIR/gen.$$.json"
grep -E 'captured|dropped' "$DIR/tcpdump.$$.err" >&2 || true

got=$(capinfos -c -M "$PART" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
size=$(stat -c %s "$PART")
if [ "$got" != "$PACKETS" ]; then
  log "captured $got packets, wanted $PACKETS: raise BIG_PCAP_SECONDS"
  exit 1
fi
if [ "$size" -lt "$MIN_BYTES" ]; then
  log "the capture is $size bytes, less than $MIN_BYTES: raise BIG_PCAP_PACKETS"
  exit 1
fi
mv "$PART" "$OUT"
chmod 644 "$OUT"
echo "$want_meta bytes=$size" >"$META"
log "made $OUT: $size bytes, $got packets"
echo "$OUT"
