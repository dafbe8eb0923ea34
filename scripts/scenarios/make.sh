#!/usr/bin/env bash
# Scenario captures from real kernel traffic: each scenario builds its own pair of network namespaces joined
# by a veth pair (client "a" 10.99.1.1 / fd00:99::1 on veth "va", server "b" 10.99.1.2 / fd00:99::2 on
# veth "vb"), runs small python3 programs inside them (scripts/scenarios/scn.py; raw segments: rawtcp.py)
# and captures with tcpdump.
# What each scenario shows and the verdict rstwatch gives: docs/scenarios.md.
#
#   usage: bash scripts/scenarios/make.sh [-j JOBS] OUTDIR [NAME-PREFIX...]     (as root; ~20 s with -j 4)
#
# Names after OUTDIR (prefix match) run a subset. Every scenario checks its own capture (packets and RSTs
# where the kernel's behaviour fixes them) and the script exits non-zero, saying why, if one does not come out
# as expected.
#
# Debian 12 packages: iproute2 (ip netns, veth, blackhole routes, ss), tcpdump, python3 (stdlib only: raw
# sockets craft the few hand-made segments, no scapy), procps (sysctl, run only inside the namespaces).
#
# Namespaces are named rscn-<pid>-<n>-a/b (unique per run, so parallel runs never collide) and deleted when
# their scenario ends, as is every process started for it (by its pid). Files in OUTDIR are overwritten.
# Nothing touches the host's interfaces or sysctls.
set -euo pipefail

JOBS=4
if [ "${1:-}" = "-j" ]; then
  JOBS=${2:?-j needs a number}
  shift 2
fi
OUT=${1:?usage: make.sh [-j JOBS] OUTDIR [NAME-PREFIX...]}
shift
SELECT=("$@")
HERE=$(cd "$(dirname "$0")" && pwd)
SCN="$HERE/scn.py"
# python3 runs with -B (bg, fg below): no __pycache__ written into the repository.
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
A4=10.99.1.1
B4=10.99.1.2
A6=fd00:99::1
B6=fd00:99::2
SNAP=200

[ "$(id -u)" -eq 0 ] || { echo "make.sh: needs root (ip netns, tcpdump)" >&2; exit 1; }
for t in ip tcpdump "$PY"; do
  command -v "$t" >/dev/null || { echo "make.sh: $t not found (apt-get install iproute2 tcpdump python3)" >&2; exit 1; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RUN=$(mktemp -d /tmp/rscn.XXXXXX)
JOB_PIDS=()
# On exit (also on INT/TERM), stop the scenario subshells still running; each cleans up after itself.
main_cleanup() {
  local p
  for p in "${JOB_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap main_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- per-scenario plumbing
# Everything below runs inside one scenario's subshell: NA, NB, WORK, PIDS and CAP_PID are its own.

NA=
NB=
WORK=
PIDS=()
CAP_PID=

fail() {
  echo "$*" >&2
  exit 1
}

kill_all() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

# The scenario subshell's exit: its processes and namespaces go, its exit status is written for the summary.
scn_exit() {
  local rc=$?
  kill_all
  ip netns del "$NA" 2>/dev/null || true
  ip netns del "$NB" 2>/dev/null || true
  echo "$rc" >"$RUN/$SCN_NAME.rc"
}

# setup N NAME: namespaces, veth pair, addresses, permanent neighbour entries (no ARP/ND in the captures,
# and none needed when a side goes silent).
setup() {
  NA="rscn-$$-$1-a"
  NB="rscn-$$-$1-b"
  SCN_NAME=$2
  WORK="$RUN/$1"
  mkdir -p "$WORK"
  trap scn_exit EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  ip netns add "$NA"
  ip netns add "$NB"
  ip -n "$NA" link set lo up
  ip -n "$NB" link set lo up
  ip -n "$NA" link add va type veth peer name vb netns "$NB"
  ip -n "$NA" addr add "$A4/24" dev va
  ip -n "$NB" addr add "$B4/24" dev vb
  ip -n "$NA" addr add "$A6/64" dev va nodad
  ip -n "$NB" addr add "$B6/64" dev vb nodad
  ip -n "$NA" link set va up
  ip -n "$NB" link set vb up
  local ma mb i
  mb=$(ip netns exec "$NB" cat /sys/class/net/vb/address)
  ma=$(ip netns exec "$NA" cat /sys/class/net/va/address)
  ip -n "$NA" neigh replace "$B4" lladdr "$mb" dev va nud permanent
  ip -n "$NA" neigh replace "$B6" lladdr "$mb" dev va nud permanent
  ip -n "$NB" neigh replace "$A4" lladdr "$ma" dev vb nud permanent
  ip -n "$NB" neigh replace "$A6" lladdr "$ma" dev vb nud permanent
  for i in $(seq 1 50); do
    ip -n "$NA" link show va | grep -q LOWER_UP && ip -n "$NB" link show vb | grep -q LOWER_UP && return 0
    sleep 0.1
  done
  fail "the veth pair does not come up"
}

# bg NS LOG ROLE ARGS...: start a scenario program in a namespace, output to LOG.
bg() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$PY" -B -u "$SCN" "$@" >"$log" 2>&1 &
  PIDS+=($!)
}

# fg NS LOG ROLE ARGS...: run one to completion (bounded: every role has its own timeouts).
fg() {
  local ns=$1 log=$2
  shift 2
  timeout 30 ip netns exec "$ns" "$PY" -B -u "$SCN" "$@" >"$log" 2>&1 || fail "$* failed: $(cat "$log")"
}

# wait_line FILE REGEX SECONDS
wait_line() {
  local f=$1 re=$2 n=$(($3 * 20))
  while [ "$n" -gt 0 ]; do
    grep -Eq "$re" "$f" 2>/dev/null && return 0
    sleep 0.05
    n=$((n - 1))
  done
  fail "timed out waiting for /$re/ in $(basename "$f"): $(cat "$f" 2>/dev/null)"
}

# cap_start NS IFACE FILE: tcpdump (TCP only, snaplen $SNAP, plain pcap, µs timestamps).
# --immediate-mode: libpcap's TPACKET_V3 ring otherwise hands packets over one block at a time, and a
# capture stopped within the block timeout loses everything still in the block (short scenarios then came
# out empty). "listening on" is printed after the socket is bound and activated.
cap_start() {
  local ns=$1 ifc=$2 f=$3
  rm -f "$f"
  : >"$WORK/tcpdump.err"
  ip netns exec "$ns" tcpdump -Z root -U --immediate-mode -n -s "$SNAP" -i "$ifc" -w "$f" tcp \
    2>>"$WORK/tcpdump.err" &
  CAP_PID=$!
  PIDS+=("$CAP_PID")
  wait_line "$WORK/tcpdump.err" 'listening on' 5
}

# cap_stop: let the last packets through, stop tcpdump, and check it dropped nothing.
cap_stop() {
  sleep 0.2
  kill -INT "$CAP_PID" 2>/dev/null || true
  wait "$CAP_PID" 2>/dev/null || true
  grep -q '^0 packets dropped by kernel' "$WORK/tcpdump.err" || fail "tcpdump dropped packets: $(cat "$WORK/tcpdump.err")"
}

count() { # count FILE [FILTER]: packets in a capture
  tcpdump -n -r "$1" ${2:+"$2"} 2>/dev/null | wc -l
}

RST_FILTER='(tcp[tcpflags] & tcp-rst != 0) or (ip6 and ip6[6] == 6 and ip6[53] & 4 != 0)'

# check NAME FILE RSTS NOTES: the capture holds exactly RSTS resets; one report line.
check() {
  local name=$1 f=$2 want=$3 notes=$4 pk rst
  pk=$(count "$f")
  rst=$(count "$f" "$RST_FILTER")
  printf '%-30s %3s packets %2s RST %6s bytes  %s\n' "$name" "$pk" "$rst" "$(stat -c %s "$f")" "$notes"
  [ "$rst" -eq "$want" ] || fail "$name: expected $want RST(s), the capture has $rst"
}

log() { tr '\n' ' ' <"$1" | sed 's/ *$//'; }

# ---------------------------------------------------------------- scenarios
# Each takes: NAME HOST-ADDR-FAMILY-SPECIFIC ARGS; the capture goes to $OUT/NAME.pcap.

# Connect to a closed port: the server kernel answers the SYN with RST+ACK, seq 0, ack = ISN + 1
# (tcp_v4_rcv/tcp_v6_rcv no_tcp_socket → tcp_v4_send_reset, reason NO_SOCKET).
s_refused() { # NAME SERVER-ADDR IFACE
  local name=$1 host=$2 ifc=$3
  cap_start "$NB" "$ifc" "$OUT/$name.pcap"
  fg "$NA" "$WORK/c.log" cli-refused "$host" 9
  cap_stop
  check "$name" "$OUT/$name.pcap" 1 "client: $(log "$WORK/c.log")"
}

# Client abort: data both ways, SO_LINGER {1,0}, close → RST+ACK instead of FIN.
s_abort() { # NAME SERVER-ADDR
  local name=$1 host=$2
  cap_start "$NB" vb "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-echo "$host" 8080
  wait_line "$WORK/s.log" ready 5
  fg "$NA" "$WORK/c.log" cli-abort "$host" 8080
  wait_line "$WORK/s.log" closed 5
  cap_stop
  check "$name" "$OUT/$name.pcap" 1 "client: $(log "$WORK/c.log"); server: $(log "$WORK/s.log")"
}

# The server closes with unread data: RST+ACK, not FIN (RFC 2525 §2.17).
s_unread() { # NAME SERVER-ADDR
  local name=$1 host=$2
  cap_start "$NB" vb "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-unread "$host" 8080
  wait_line "$WORK/s.log" ready 5
  bg "$NA" "$WORK/c.log" cli-unread "$host" 8080
  wait_line "$WORK/c.log" 'reset-by-server|recv' 5
  cap_stop
  check "$name" "$OUT/$name.pcap" 1 "client: $(log "$WORK/c.log"); server: $(log "$WORK/s.log")"
}

# Keepalive timeout: after the exchange the server side goes silent (a blackhole route back to the client
# inside the server namespace: it still receives the probes, its answers go nowhere). Captured on the
# client's side: 3 unanswered probes (seq = SND.UNA − 1, no data) 1 s apart, then RST+ACK.
s_keepalive() { # NAME SERVER-ADDR CLIENT-ADDR
  local name=$1 host=$2 peer=$3
  cap_start "$NA" va "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-hold "$host" 8080
  wait_line "$WORK/s.log" ready 5
  bg "$NA" "$WORK/c.log" cli-keepalive "$host" 8080
  wait_line "$WORK/c.log" established 5
  if [[ $peer == *:* ]]; then ip -n "$NB" -6 route add blackhole "$peer/128"; else ip -n "$NB" route add blackhole "$peer/32"; fi
  wait_line "$WORK/c.log" keepalive-error 15
  cap_stop
  check "$name" "$OUT/$name.pcap" 1 "client: $(log "$WORK/c.log")"
}

# Accept-queue overflow: backlog 1, TCP_DEFER_ACCEPT, never accepting; three connections, the third one's
# first data finds two children queued. With tcp_abort_on_overflow=1 the kernel answers it with a bare RST
# (tcp_check_req → listen_overflow → embryonic_reset).
s_overflow() { # NAME SERVER-ADDR IFACE
  local name=$1 host=$2 ifc=$3
  ip netns exec "$NB" sysctl -qw net.ipv4.tcp_abort_on_overflow=1
  cap_start "$NB" "$ifc" "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-backlog "$host" 8080
  wait_line "$WORK/s.log" ready 5
  bg "$NA" "$WORK/c.log" cli-overflow "$host" 8080 2
  wait_line "$WORK/c.log" done 10
  cap_stop
  grep -q 'done a=ok b=ok c=ECONNRESET' "$WORK/c.log" || fail "$name: $(log "$WORK/c.log")"
  check "$name" "$OUT/$name.pcap" 1 "client: $(log "$WORK/c.log")"
}

# The same with Linux's defaults (tcp_abort_on_overflow=0): the third connection's data is dropped, the
# client retransmits it, the server retransmits its SYN-ACK once (tcp_synack_retries=1 here, 5 by default)
# and then forgets the request (reqsk_timer_handler); the next retransmission reaches the bare listener,
# which answers an ACK with a RST (tcp_rcv_state_process, TCP_LISTEN).
s_overflow_noabort() { # NAME SERVER-ADDR IFACE
  local name=$1 host=$2 ifc=$3
  ip netns exec "$NB" sysctl -qw net.ipv4.tcp_abort_on_overflow=0
  ip netns exec "$NB" sysctl -qw net.ipv4.tcp_synack_retries=1
  cap_start "$NB" "$ifc" "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-backlog "$host" 8080 1
  wait_line "$WORK/s.log" ready 5
  bg "$NA" "$WORK/c.log" cli-overflow "$host" 8080 12
  wait_line "$WORK/c.log" done 15
  cap_stop
  grep -q 'done a=ok b=ok c=ECONNRESET' "$WORK/c.log" || fail "$name: $(log "$WORK/c.log")"
  check "$name" "$OUT/$name.pcap" 1 "client: $(log "$WORK/c.log")"
}

# TIME-WAIT assassination (RFC 1337 hazard H1), net.ipv4.tcp_rfc1337=0 (the default) on the client: a normal
# exchange, the client closes first and sits in TIME-WAIT. An old duplicate of the server's data segment
# (replayed verbatim from the capture) makes the TIME-WAIT socket answer with an ACK; the server has no
# socket for the 4-tuple any more and answers that ACK with a RST whose seq is exactly the client's RCV.NXT,
# which kills the TIME-WAIT socket (tcp_timewait_state_process; `ss` shows it gone).
s_timewait() { # NAME SERVER-ADDR CLIENT-ADDR
  local name=$1 host=$2 peer=$3 cport tw_before tw_after
  ip netns exec "$NA" sysctl -qw net.ipv4.tcp_rfc1337=0
  cap_start "$NB" vb "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-echo "$host" 8080
  wait_line "$WORK/s.log" ready 5
  fg "$NA" "$WORK/c.log" cli-tw "$host" 8080
  wait_line "$WORK/s.log" closed 5
  cport=$(awk '/^peer/ {print $2}' "$WORK/s.log")
  sleep 0.2
  tw_before=$(ip netns exec "$NA" ss -Htan state time-wait | wc -l)
  fg "$NB" "$WORK/r.log" replay "$OUT/$name.pcap" "$host" 8080 "$peer" "$cport"
  sleep 0.2
  tw_after=$(ip netns exec "$NA" ss -Htan state time-wait | wc -l)
  cap_stop
  [ "$tw_before" = 1 ] && [ "$tw_after" = 0 ] || fail "$name: TIME-WAIT sockets before/after: $tw_before/$tw_after"
  check "$name" "$OUT/$name.pcap" 1 "client TIME-WAIT sockets before/after the RST: $tw_before/$tw_after"
}

# Spoofed RST in window but not exact (RFC 5961 §3.2): the victim answers with a challenge ACK and the
# connection goes on to a normal close.
s_spoof() { # NAME
  local name=$1
  cap_start "$NB" vb "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-spoof "$B4" 8080
  wait_line "$WORK/s.log" ready 5
  fg "$NA" "$WORK/c.log" cli-spoof "$B4" 8080
  wait_line "$WORK/s.log" closed 5
  cap_stop
  check "$name" "$OUT/$name.pcap" 1 "server: $(log "$WORK/s.log"); client: $(log "$WORK/c.log")"
}

# Blind injection: four RSTs with stepped sequence numbers and a foreign TTL, the last one exact; the
# client's kernel accepts it, and later answers the real server's data with a bare RST.
s_inject() { # NAME
  local name=$1
  cap_start "$NB" vb "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-inject "$B4" 8080 37 16000
  wait_line "$WORK/s.log" ready 5
  bg "$NA" "$WORK/c.log" cli-hold "$B4" 8080
  wait_line "$WORK/s.log" late-data 5
  cap_stop
  grep -q 'recv-error ECONNRESET' "$WORK/c.log" || fail "$name: the exact RST did not reset the client: $(log "$WORK/c.log")"
  check "$name" "$OUT/$name.pcap" 5 "server: $(log "$WORK/s.log"); client: $(log "$WORK/c.log")"
}

# SYN scan: raw SYNs from one source port to 20 ports; 2 have listeners (SYN-ACK, then the scanner's
# kernel RSTs, having no socket), 18 are closed (the target's kernel answers RST+ACK).
s_synscan() { # NAME
  local name=$1
  cap_start "$NB" vb "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-listen-many "$B4" 7003 7011
  wait_line "$WORK/s.log" ready 5
  fg "$NA" "$WORK/c.log" syn-scan "$A4" 45678 "$B4" 7000 20
  cap_stop
  check "$name" "$OUT/$name.pcap" 20 "scanner: $(log "$WORK/c.log")"
}

# RST scan: bare RSTs from one source port to 20 ports (2 with listeners); nothing answers.
s_rstscan() { # NAME
  local name=$1
  cap_start "$NB" vb "$OUT/$name.pcap"
  bg "$NB" "$WORK/s.log" srv-listen-many "$B4" 7003 7011
  wait_line "$WORK/s.log" ready 5
  fg "$NA" "$WORK/c.log" rst-scan "$A4" 45679 "$B4" 7000 20
  cap_stop
  [ "$(count "$OUT/$name.pcap")" -eq 20 ] || fail "$name: something answered a RST"
  check "$name" "$OUT/$name.pcap" 20 "scanner: $(log "$WORK/c.log")"
}

# SYN-flood backscatter: unsolicited SYN-ACKs (as from a flooded server answering spoofed SYNs) reach a
# host that never sent the SYNs; its kernel answers each with a bare RST (seq = the SYN-ACK's ack).
s_backscatter() { # NAME
  local name=$1
  cap_start "$NA" va "$OUT/$name.pcap"
  fg "$NB" "$WORK/c.log" backscatter "$B4" 80 "$A4" 10
  cap_stop
  check "$name" "$OUT/$name.pcap" 10 "$(log "$WORK/c.log")"
}

# ---------------------------------------------------------------- the list

SCENARIOS=(
  "01-refused-v4 s_refused $B4 vb"
  "01-refused-v6 s_refused $B6 vb"
  "01-refused-v4-sll2 s_refused $B4 any"
  "02-abort-v4 s_abort $B4"
  "02-abort-v6 s_abort $B6"
  "03-unread-v4 s_unread $B4"
  "03-unread-v6 s_unread $B6"
  "04-keepalive-v4 s_keepalive $B4 $A4"
  "04-keepalive-v6 s_keepalive $B6 $A6"
  "05-overflow-v4 s_overflow $B4 vb"
  "05-overflow-v6 s_overflow $B6 vb"
  "05-overflow-v4-sll2 s_overflow $B4 any"
  "05-overflow-noabort-v4 s_overflow_noabort $B4 vb"
  "06-timewait-v4 s_timewait $B4 $A4"
  "06-timewait-v6 s_timewait $B6 $A6"
  "07-spoofed-rst-v4 s_spoof"
  "08-blind-injection-v4 s_inject"
  "09-syn-scan-v4 s_synscan"
  "10-rst-scan-v4 s_rstscan"
  "11-backscatter-v4 s_backscatter"
)

want_one() {
  local w
  [ ${#SELECT[@]} -eq 0 ] && return 0
  for w in "${SELECT[@]}"; do [[ $1 == "$w"* ]] && return 0; done
  return 1
}

echo "kernel $(uname -r); writing to $OUT (-j $JOBS)"
names=()
running=0
idx=0
for line in "${SCENARIOS[@]}"; do
  read -r name fn args <<<"$line"
  want_one "$name" || continue
  idx=$((idx + 1))
  names+=("$name")
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  # A subshell per scenario: its own namespaces, pids and traps (not "setup && fn": set -e is off inside
  # an && list). $args is split into words on purpose.
  # shellcheck disable=SC2086
  (
    setup "$idx" "$name"
    "$fn" "$name" $args
  ) >"$RUN/$name.out" 2>"$RUN/$name.err" &
  JOB_PIDS+=($!)
  running=$((running + 1))
done
wait || true

failed=0
for name in "${names[@]}"; do
  cat "$RUN/$name.out"
  if [ "$(cat "$RUN/$name.rc" 2>/dev/null)" != 0 ] || ! grep -q "^$name " "$RUN/$name.out"; then
    echo "FAILED $name: $(cat "$RUN/$name.err")" >&2
    failed=$((failed + 1))
  fi
done
[ ${#names[@]} -gt 0 ] || { echo "make.sh: no scenario matches ${SELECT[*]}" >&2; exit 1; }
[ "$failed" -eq 0 ] || { echo "make.sh: $failed scenario(s) failed" >&2; exit 1; }
