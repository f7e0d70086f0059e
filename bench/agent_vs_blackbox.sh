#!/usr/bin/env bash
# Benchmark: `portdoctor agent` vs prometheus-blackbox-exporter (tcp_connect), same targets,
# same rate: 10,000 targets per minute.
#   targets: 10,000 ports on a lab host (198.18.0.1:20000-29999): 100 listening, 100 dropped
#            by nft (filtered, 1 s timeout), the rest closed (RST)
#   agent:     one config with the 10,000 targets, interval 60 s, timeout 1 s
#   blackbox:  prometheus-blackbox-exporter, module tcp_connect (timeout 1 s), driven by a
#              keep-alive HTTP client issuing /probe?target=... for the same 10,000 targets
#              spread evenly over the minute (what Prometheus would do with 10,000 probe jobs)
# Measured over one steady minute after a warm-up round, for each process:
#   CPU share of one core ((utime+stime) delta / wall time), RSS (max of 1 s samples),
#   scrape time (agent: GET /metrics with 10,000 targets, median of 5; blackbox: median
#   /probe duration, the closest thing it has, see BENCHMARKS.md).
# Everything runs in throwaway namespaces pd-bench-agent-<pid>-{h,p}; nothing touches the
# host's network. Needs root, ip, nft, python3, curl, prometheus-blackbox-exporter.
#   sudo bash bench/agent_vs_blackbox.sh       (env: WINDOW=60 seconds measured)
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=${WINDOW:-60}
N=10000
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p portdoctor
pd="$target_dir/release/portdoctor"
h="pd-bench-agent-$$-h"
p="pd-bench-agent-$$-p"
tmp=$(mktemp -d)
pids=()
cleanup() {
    for x in "${pids[@]}"; do kill "$x" 2>/dev/null || true; done
    ip netns del "$h" 2>/dev/null || true
    ip netns del "$p" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$h"
ip netns add "$p"
ip link add "va$$h" type veth peer name "va$$p"
ip link set "va$$h" netns "$h"
ip link set "va$$p" netns "$p"
ip -n "$h" addr add 198.18.0.1/24 dev "va$$h"
ip -n "$p" addr add 198.18.0.2/24 dev "va$$p"
for ns in "$h" "$p"; do ip -n "$ns" link set lo up; done
ip -n "$h" link set "va$$h" up
ip -n "$p" link set "va$$p" up
printf 'table inet bench { chain input { type filter hook input priority 0; policy accept; tcp dport 29900-29999 drop; }; }\n' |
    ip netns exec "$h" nft -f -
ip netns exec "$h" python3 - <<'PY' &
import socket, time
held = []
for port in range(20000, 20100):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("198.18.0.1", port)); s.listen(1024); held.append(s)
time.sleep(3600)
PY
pids+=($!)
sleep 1

# --- the agent
{
    printf 'listen = "127.0.0.1:9187"\ninterval_seconds = 60\ntimeout_seconds = 1\nconcurrency = 256\n'
    printf 'local_refresh_seconds = 30\n'
    for port in $(seq 20000 29999); do printf '[[target]]\naddress = "198.18.0.1:%s"\n' "$port"; done
} > "$tmp/agent.toml"
ip netns exec "$p" "$pd" agent --config "$tmp/agent.toml" > "$tmp/agent.log" 2>&1 &
agent=$!
pids+=($agent)

# --- blackbox exporter
cat > "$tmp/blackbox.yml" <<'YML'
modules:
  tcp_connect:
    prober: tcp
    timeout: 1s
YML
ip netns exec "$p" prometheus-blackbox-exporter --config.file="$tmp/blackbox.yml" \
    --web.listen-address=127.0.0.1:9115 > "$tmp/blackbox.log" 2>&1 &
bb=$!
pids+=($bb)
sleep 2

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

# measure PID SECONDS -> "cpu_share max_rss_kb"
measure() {
    local pid=$1 secs=$2 t0 t1 c0 c1 max=0 r
    t0=$(date +%s.%N); c0=$(cpu_ticks "$pid")
    for _ in $(seq "$secs"); do
        r=$(rss_kb "$pid"); [ "$r" -gt "$max" ] && max=$r
        sleep 1
    done
    t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
    python3 -c "print(f'{($c1-$c0)/$hz/($t1-$t0):.4f} $max')"
}

scrape_ms() { # median of 5 GETs of URL [curl args...], inside the prober namespace
    local url=$1
    shift
    for _ in 1 2 3 4 5; do
        ip netns exec "$p" curl -s -o /dev/null -w '%{time_total}\n' "$@" "$url"
    done | sort -n | sed -n 3p | python3 -c 'import sys; print(f"{float(sys.stdin.read())*1000:.1f}")'
}

echo "== agent: warm-up round, then ${WINDOW}s measured"
sleep 65
read -r agent_cpu agent_rss < <(measure "$agent" "$WINDOW")
agent_scrape=$(scrape_ms http://127.0.0.1:9187/metrics)
# As Prometheus asks for it: gzip (body left compressed, as Prometheus receives it).
agent_scrape_gz=$(scrape_ms http://127.0.0.1:9187/metrics -H 'Accept-Encoding: gzip')
agent_gz_bytes=$(ip netns exec "$p" curl -s -H 'Accept-Encoding: gzip' http://127.0.0.1:9187/metrics | wc -c)
agent_lines=$(ip netns exec "$p" curl -s http://127.0.0.1:9187/metrics | wc -l)
agent_round=$(ip netns exec "$p" curl -s http://127.0.0.1:9187/metrics | awk '/^portdoctor_agent_round_duration_seconds /{print $2}')
kill "$agent"; wait "$agent" 2>/dev/null || true

echo "== blackbox: driver at $N probes/minute, ${WINDOW}s measured"
ip netns exec "$p" python3 - "$N" "$((WINDOW + 10))" > "$tmp/driver.out" <<'PY' &
import http.client, sys, threading, time
n, secs = int(sys.argv[1]), int(sys.argv[2])
rate = n / 60.0
targets = [f"198.18.0.1:{p}" for p in range(20000, 20000 + n)]
durations, lock = [], threading.Lock()
start = time.time()
def worker(k, workers):
    c = http.client.HTTPConnection("127.0.0.1", 9115, timeout=10)
    i = k
    while True:
        due = start + i / rate
        if due - start > secs:
            return
        d = due - time.time()
        if d > 0:
            time.sleep(d)
        t0 = time.time()
        c.request("GET", f"/probe?module=tcp_connect&target={targets[i % n]}")
        c.getresponse().read()
        with lock:
            durations.append(time.time() - t0)
        i += workers
W = 64
ts = [threading.Thread(target=worker, args=(k, W)) for k in range(W)]
[t.start() for t in ts]; [t.join() for t in ts]
durations.sort()
print(f"{len(durations)} {durations[len(durations)//2]*1000:.1f}")
PY
driver=$!
pids+=($driver)
sleep 5
read -r bb_cpu bb_rss < <(measure "$bb" "$WINDOW")
wait "$driver" || true
read -r bb_probes bb_probe_ms < "$tmp/driver.out"

python3 - "$agent_cpu" "$agent_rss" "$agent_scrape" "$bb_cpu" "$bb_rss" "$bb_probe_ms" "$agent_lines" "$agent_round" "$bb_probes" "$agent_scrape_gz" "$agent_gz_bytes" <<'PY'
import sys
ac, ar, asc, bc, br, bp, lines, rnd, probes, gz, gzb = sys.argv[1:]
ac, ar, asc, bc, br, bp = float(ac), int(ar), float(asc), float(bc), int(br), float(bp)
print("| | portdoctor agent | blackbox_exporter | ratio | target | met |")
print("|---|---|---|---|---|---|")
print(f"| CPU share of one core | {ac*100:.2f} % | {bc*100:.2f} % | {ac/bc if bc else float('nan'):.2f} | ≤ 5 % | {'yes' if ac <= 0.05 else 'no'} |")
print(f"| RSS (max) | {ar/1024:.1f} MB | {br/1024:.1f} MB | {ar/br:.2f} | ≤ 40 MB | {'yes' if ar/1024 <= 40 else 'no'} |")
print(f"| scrape | /metrics, 10,000 targets: {asc:.1f} ms | one /probe (median): {bp:.1f} ms | {asc/bp if bp else float('nan'):.2f} | ≤ 50 ms | {'yes' if asc <= 50 else 'no'} |")
print(f"| scrape, gzip (as Prometheus asks) | {float(gz):.1f} ms ({int(gzb)/1e6:.2f} MB) | | | ≤ 50 ms | {'yes' if float(gz) <= 50 else 'no'} |")
print(f"\nagent: /metrics {lines} lines, last round {rnd} s; blackbox: {probes} probes answered")
PY
