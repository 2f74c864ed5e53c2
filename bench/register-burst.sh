#!/usr/bin/env bash
# Memory of strop-server through a burst of parallel sign-ups: RSS before,
# peak during (VmHWM), and every second for 10 s after. Loopback only.
#
#   bench/register-burst.sh [path/to/strop-server] [parallel requests]
#
# Starts the server on the embedded PostgreSQL in a temporary data dir
# (or on $DATABASE_URL when set) and stops it afterwards.
set -euo pipefail
bin=${1:-target/release/strop-server}
n=${2:-100}
port=${PORT:-5077}
url="http://127.0.0.1:$port"
data=$(mktemp -d /tmp/strop-burst.XXXXXX)
chmod 755 "$data"
"$bin" --addr "127.0.0.1:$port" --data-dir "$data" >"$data/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 600); do
  curl -sf "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
echo "before: RSS $(mb "$(kib VmRSS)") MB"
run=$(date +%s%N)
seq "$n" | xargs -P "$n" -I{} curl -s -o /dev/null -w '%{http_code}\n' \
  -H 'Content-Type: application/json' \
  -d "{\"username\":\"burst$run{}\",\"password\":\"pw{}\"}" "$url/register" \
  | sort | uniq -c | awk '{printf "status %s: %s\n", $2, $1}'
echo "burst of $n took $(( ($(date +%s%N) - run) / 1000000 )) ms"
echo "peak: RSS $(mb "$(kib VmHWM)") MB (VmHWM)"
for s in 0 1 2 3 4 5 6 7 8 9 10; do
  echo "after ${s}s: RSS $(mb "$(kib VmRSS)") MB"
  [ "$s" = 10 ] || sleep 1
done
