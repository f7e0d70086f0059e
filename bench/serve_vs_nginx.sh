#!/usr/bin/env bash
# Benchmark: `portdoctor serve` vs nginx serving the same small body on loopback, plain HTTP and
# TLS (same ECDSA P-256 certificate), measured with wrk (keep-alive, HTTP/1.1). Prints requests/s,
# p99 latency and the ratios serve/nginx (target: req/s ratio >= 1, p99 ratio <= 1.5).
# Needs wrk, nginx (nginx-light is enough), openssl. Listens on 127.0.0.1 only.
#
#   bash bench/serve_vs_nginx.sh [DURATION] [CONNECTIONS] [ROUNDS]
#
# PIN=1: the servers get CPU 1 only (nginx one worker, serve one accept loop: it sizes itself
# from the CPUs it may use) and wrk CPU 0, so client and servers do not compete for a core.
#
# Each mode runs ROUNDS rounds (default 5), nginx and serve alternating; the table has the
# medians of the rounds (the machine is shared: a single run's p99 is mostly noise).
#
# Both servers get the machine's cores (nginx: one worker per core; serve: tokio's default of
# one worker per core); wrk runs on the same machine with 2 threads, so all three share the
# CPUs: the ratios are what the numbers are for.
set -euo pipefail
cd "$(dirname "$0")/.."
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
duration=${1:-10s}
conns=${2:-64}
rounds=${3:-5}
pin=${PIN:-0}
srv=() cli=() workers=$(nproc)
if [ "$pin" = 1 ]; then srv=(taskset -c 1) cli=(taskset -c 0) workers=1; fi
cargo build --release -q -p portdoctor
tdir=${CARGO_TARGET_DIR:-$PWD/target}
pd="$tdir/release/portdoctor"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
body="hello from portdoctor serve (bench)"   # what serve's / answers, plus a newline

ports=()
for _ in 1 2 3 4; do ports+=("$(free_port)"); done
ng_plain=${ports[0]} ng_tls=${ports[1]} pd_plain=${ports[2]} pd_tls=${ports[3]}
mkdir -p "$tmp/nginx"
cat > "$tmp/nginx.conf" <<CONF
worker_processes $workers;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
    uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
    server {
        listen 127.0.0.1:$ng_plain;
        listen 127.0.0.1:$ng_tls ssl;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        location / { default_type "text/plain; charset=utf-8"; return 200 "$body\n"; }
    }
}
CONF
"${srv[@]}" "$nginx_bin" -c "$tmp/nginx.conf" -p "$tmp/nginx" -g 'daemon off;' & pids+=($!)
"${srv[@]}" "$pd" serve --bind 127.0.0.1 --port "$pd_plain" --name bench >/dev/null 2>&1 & pids+=($!)
"${srv[@]}" "$pd" serve --bind 127.0.0.1 --port "$pd_tls" --name bench --tls \
    --cert "$tmp/cert.pem" --key "$tmp/key.pem" >/dev/null 2>&1 & pids+=($!)
for p in "$ng_plain" "$ng_tls" "$pd_plain" "$pd_tls"; do wait_port "$p"; done

# Same body from both (status line and length checked).
for url in "http://127.0.0.1:$ng_plain/" "http://127.0.0.1:$pd_plain/"; do
    got=$(python3 -c 'import sys,urllib.request; print(repr(urllib.request.urlopen(sys.argv[1]).read().decode()))' "$url")
    [ "$got" = "'$body\\n'" ] || { echo "unexpected body from $url: $got" >&2; exit 1; }
done

# wrk → "REQ_PER_S P99_MS"
measure() {
    local out
    out=$("${cli[@]}" wrk -t2 -c"$conns" -d"$duration" --latency "$1")
    echo "$out" >> "$tmp/wrk.log"
    awk '
        /Requests\/sec:/ { rps = $2 }
        $1 == "99%" { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
                      p99 = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
        / Non-2xx or 3xx responses:/ { bad = $5 }
        END { if (bad) { print "non-2xx responses: " bad > "/dev/stderr"; exit 1 }
              printf "%.0f %.3f\n", rps, p99 }' <<<"$out"
}

wrk -t2 -c"$conns" -d2s "http://127.0.0.1:$pd_plain/" >/dev/null   # warm-up
wrk -t2 -c"$conns" -d2s "http://127.0.0.1:$ng_plain/" >/dev/null
echo "| mode | nginx req/s | serve req/s | req/s ratio | nginx p99 | serve p99 | p99 ratio |"
echo "|---|---|---|---|---|---|---|"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for mode in plain tls; do
    if [ $mode = plain ]; then a="http://127.0.0.1:$ng_plain/"; b="http://127.0.0.1:$pd_plain/";
    else a="https://127.0.0.1:$ng_tls/"; b="https://127.0.0.1:$pd_tls/"; fi
    : > "$tmp/ng" ; : > "$tmp/pd"
    for _ in $(seq "$rounds"); do
        measure "$a" >> "$tmp/ng"
        measure "$b" >> "$tmp/pd"
    done
    echo "$mode rounds (req/s p99_ms): nginx $(paste -sd, "$tmp/ng"); serve $(paste -sd, "$tmp/pd")" >> "$tmp/rounds"
    ng_rps=$(cut -d' ' -f1 "$tmp/ng" | median); ng_p99=$(cut -d' ' -f2 "$tmp/ng" | median)
    pd_rps=$(cut -d' ' -f1 "$tmp/pd" | median); pd_p99=$(cut -d' ' -f2 "$tmp/pd" | median)
    awk -v m=$mode -v nr="$ng_rps" -v np="$ng_p99" -v sr="$pd_rps" -v sp="$pd_p99" 'BEGIN {
        printf "| %s | %d | %d | **%.2f** | %.2f ms | %.2f ms | **%.2f** |\n", m, nr, sr, sr/nr, np, sp, sp/np }'
done
echo
cat "$tmp/rounds"
echo

echo "wrk -t2 -c$conns -d$duration --latency, $rounds rounds, medians; $(nproc) cores, PIN=$pin; load average at the start: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
