#!/usr/bin/env bash
# The load benchmark: `feedwire serve pusher` and soketi 1.6.1, one after the other, under the same load
# generator on 127.0.0.1, side by side in one table with ratios (feedwire / soketi). See README.md beside this.
#
#   bash benches/load/run.sh            # N = 10,000 subscribers (about 2 minutes once built; allow 15-20 when busy)
#   bash benches/load/run.sh --quick    # N = 1,000, fewer events (under 2 minutes once built)
#   bash benches/load/run.sh --cluster  # two nodes of each behind one redis-server (issue 20); with --quick too
#
# Environment: LOAD_PORT (first node's port, default 6001; the second node uses LOAD_PORT+1), LOAD_N (overrides
# N), LOAD_REDIS_PORT (default 6379). Everything started here listens on 127.0.0.1 only and is stopped by its
# PID on exit. The table is printed at the end and written with the raw numbers to results/<date>.json.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
soketi_dir="$root/crates/feedwire-interop/peers/soketi"

quick=0
cluster=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --cluster) cluster=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $a (want --quick and/or --cluster)" >&2; exit 2 ;;
  esac
done

# --- the load --------------------------------------------------------------------------------------------------
if (( quick )); then
  N=${LOAD_N:-1000}; FANOUT_EVENTS=20; SINGLE_EVENTS=2000; BATCH_EVENTS=5000; BURST_CHANNELS=50000
else
  N=${LOAD_N:-10000}; FANOUT_EVENTS=20; SINGLE_EVENTS=10000; BATCH_EVENTS=20000; BURST_CHANNELS=50000
fi
TP_SUBSCRIBERS=100
IN_FLIGHT=24
BATCH_SIZE=10
(( cluster )) && BURST_CHANNELS=0   # the cluster table has no burst-subscribe row
mode=$([[ $quick == 1 ]] && echo quick || echo full)$([[ $cluster == 1 ]] && echo "-cluster" || true)

PORT1=${LOAD_PORT:-6001}
PORT2=$((PORT1 + 1))
REDIS_PORT=${LOAD_REDIS_PORT:-6379}

# 10,000 client connections in the generator and as many in the server: raise the open-files limit
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < N + 1000 )); then
  echo "the open-files limit is $(ulimit -n) (hard $(ulimit -Hn)): too low for N = $N; raise the hard limit or set LOAD_N" >&2
  exit 1
fi

# --- builds: one release build of the CLI, one of the generator ------------------------------------------------
export CARGO_INCREMENTAL=0
echo "building feedwire-cli and the load generator (release)..." >&2
# FEEDWIRE_BIN: another feedwire binary (a baseline build, to compare two versions under one generator)
[[ -n "${FEEDWIRE_BIN:-}" ]] || (cd "$root" && cargo build --release -q -p feedwire-cli)
cargo build --release -q --manifest-path "$here/Cargo.toml"
fw="${FEEDWIRE_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/feedwire}"
gen="${CARGO_TARGET_DIR:-$here/target}/release/feedwire-load"

# soketi from npm, the way crates/feedwire-interop/scripts/install-peers.sh installs it (its lock file)
if [[ ! -e "$soketi_dir/node_modules/.bin/soketi" ]]; then
  echo "installing soketi (npm ci in $soketi_dir)..." >&2
  (cd "$soketi_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
soketi_version=$(node -p "require('$soketi_dir/node_modules/@soketi/soketi/package.json').version")

# --- processes: started here, stopped by PID -------------------------------------------------------------------
tmp=$(mktemp -d)
started=()
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_started() { # PID: stop it and forget it
  local pid=$1 keep=() p
  stop_pid "$pid"
  for p in "${started[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  started=("${keep[@]}")
}
cleanup() {
  local pid
  for pid in "${started[@]}"; do stop_pid "$pid"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 150); do listening "$1" && return 0; sleep 0.2; done
  echo "nothing listens on 127.0.0.1:$1 after 30 s" >&2
  return 1
}
need_free() {
  local p
  for p in "$@"; do
    if listening "$p"; then
      echo "127.0.0.1:$p is in use (another test?); set LOAD_PORT to another port" >&2
      exit 1
    fi
  done
}

ports=("$PORT1"); (( cluster )) && ports+=("$PORT2")
ws_list=$(printf '127.0.0.1:%s,' "${ports[@]}"); ws_list=${ws_list%,}

run_generator() { # NAME PIDS(comma-separated)
  local name=$1 pids=$2 aux=()
  (( cluster )) && aux=(--aux-pids "$redis_pid")
  "$gen" run --name "$name" --ws "$ws_list" --http "127.0.0.1:$PORT1" --pids "$pids" "${aux[@]}" \
    --n "$N" --fanout-events "$FANOUT_EVENTS" --single-events "$SINGLE_EVENTS" --batch-events "$BATCH_EVENTS" \
    --batch-size "$BATCH_SIZE" --tp-subscribers "$TP_SUBSCRIBERS" --in-flight "$IN_FLIGHT" \
    --burst-channels "$BURST_CHANNELS" --clk-tck "$(getconf CLK_TCK)" --out "$tmp/$name.json" \
    || echo "the generator failed against $name" >&2
}

# soketi's defaults, made explicit: no connection limit, no rate limits (all -1, "unlimited", in 1.6.1 already),
# batches of up to 10 events (we send 10), 100 KiB per event (ours are ~30 bytes). Nothing else is lifted: its
# uWebSockets maxBackpressure (1 MiB per connection, then messages are dropped) is hard-coded.
soketi_env=(
  SOKETI_DEFAULT_APP_ID=app-id SOKETI_DEFAULT_APP_KEY=app-key SOKETI_DEFAULT_APP_SECRET=app-secret
  SOKETI_DEFAULT_APP_MAX_CONNS=-1
  SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC=-1
  SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC=-1
  SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC=-1
  SOKETI_EVENT_MAX_BATCH_SIZE=10
  SOKETI_EVENT_MAX_SIZE_IN_KB=100
)

start_soketi() { # NODE_INDEX PORT; sets last_pid
  local i=$1 port=$2 extra=()
  if (( cluster )); then
    extra=(SOKETI_ADAPTER_DRIVER=redis SOKETI_DB_REDIS_HOST=127.0.0.1 SOKETI_DB_REDIS_PORT="$REDIS_PORT")
  fi
  # cwd: an empty folder (soketi reads a .env from its working directory); --config keeps it on 127.0.0.1
  (cd "$tmp" && exec env "${soketi_env[@]}" "${extra[@]}" SOKETI_PORT="$port" \
     SOKETI_METRICS_SERVER_PORT=$((9600 + i)) SOKETI_CLUSTER_PORT=$((11001 + i)) \
     node "$soketi_dir/node_modules/.bin/soketi" start --config="$soketi_dir/soketi.json" \
     </dev/null >"$tmp/soketi-$i.log" 2>&1) &
  last_pid=$!
  started+=("$last_pid")
}

start_feedwire() { # NODE_INDEX PORT; sets last_pid
  local i=$1 port=$2 extra=()
  (( cluster )) && extra=(--redis "redis://127.0.0.1:$REDIS_PORT")
  # stdout: one JSON line per hub event (connected, subscribed, ...), the CLI's own output, kept in a file
  "$fw" serve pusher --addr "127.0.0.1:$port" "${extra[@]}" </dev/null >"$tmp/feedwire-$i.out" 2>"$tmp/feedwire-$i.log" &
  last_pid=$!
  started+=("$last_pid")
}

# --- redis for --cluster ---------------------------------------------------------------------------------------
if (( cluster )); then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "installing redis-server (apt)..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  fi
  need_free "$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --protected-mode yes >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  started+=("$redis_pid")
  wait_port "$REDIS_PORT"
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
date_utc=$(date -u +%Y-%m-%dT%H-%M-%SZ)
echo "load benchmark ($mode): N = $N, load average before: $load_before" >&2

# --- feedwire --------------------------------------------------------------------------------------------------
feedwire_result="$tmp/feedwire.json"
feedwire_flags="serve pusher --addr 127.0.0.1:PORT (defaults: no connection limit, 1 MiB queued per connection, 64 MiB queued in all, 30 s stall timeout, backlog 1024; none needed lifting, the CLI has no flags for them)"
fw_help=$("$fw" serve pusher --help 2>/dev/null || true)
if (( cluster )) && [[ $fw_help != *--redis* ]]; then
  echo "feedwire cluster mode not available (feedwire serve pusher has no --redis yet); running the soketi side only" >&2
  feedwire_result="unavailable:feedwire cluster mode not available"
  feedwire_flags="cluster mode not available (serve pusher has no --redis option)"
else
  need_free "${ports[@]}"
  fw_pids=()
  for i in "${!ports[@]}"; do
    start_feedwire $((i + 1)) "${ports[$i]}"
    fw_pids+=("$last_pid")
  done
  for p in "${ports[@]}"; do wait_port "$p"; done
  (( cluster )) && feedwire_flags="serve pusher --addr 127.0.0.1:PORT --redis redis://127.0.0.1:$REDIS_PORT"
  echo "feedwire: PIDs ${fw_pids[*]}" >&2
  run_generator feedwire "$(IFS=,; echo "${fw_pids[*]}")"
  for pid in "${fw_pids[@]}"; do stop_started "$pid"; done
  grep -h '"kind":"disconnected"' "$tmp"/feedwire-*.out 2>/dev/null | grep -o '"code":[0-9]*' | sort | uniq -c \
    | sed 's/^/  feedwire disconnect codes: /' >&2 || true
fi

# --- soketi ----------------------------------------------------------------------------------------------------
need_free "${ports[@]}"
sk_pids=()
for i in "${!ports[@]}"; do
  start_soketi $((i + 1)) "${ports[$i]}"
  sk_pids+=("$last_pid")
done
for p in "${ports[@]}"; do wait_port "$p"; done
sleep 1
echo "soketi $soketi_version: PIDs ${sk_pids[*]}" >&2
run_generator soketi "$(IFS=,; echo "${sk_pids[*]}")"
for pid in "${sk_pids[@]}"; do stop_started "$pid"; done

# --- the table -------------------------------------------------------------------------------------------------
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
busy=$(awk -v a="${load_before%% *}" -v c="$(nproc)" 'BEGIN { print (a > c) ? "yes" : "no" }')
mkdir -p "$here/results"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- crates 2>/dev/null || commit="$commit (crates/ modified)"
out="$here/results/$date_utc.json"
meta=(
  --meta "date=$date_utc"
  --meta "mode=$mode"
  --meta "N=$N subscribers; fan-out $FANOUT_EVENTS events; throughput $TP_SUBSCRIBERS subscribers, $SINGLE_EVENTS single / $BATCH_EVENTS batched events ($BATCH_SIZE per request), $IN_FLIGHT requests in flight; $( (( BURST_CHANNELS )) && echo "burst $BURST_CHANNELS channels" || echo "no burst subscribe in --cluster")"
  --meta "machine=$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB"
  --meta "shared cores=the server under test and the generator (tokio, 2 worker threads) share the $(nproc) cores; every ratio is taken within this one run; feedwire ran first, then soketi"
  --meta "load average=$load_before before, $load_after after$([[ $busy == yes ]] && echo ': measured under load from other work' || true)"
  --meta "nodes=$(( cluster ? 2 : 1 ))$([[ $cluster == 1 ]] && echo ", subscribers alternate between 127.0.0.1:$PORT1 and :$PORT2, publishes through node 1's HTTP API, one redis-server on 127.0.0.1:$REDIS_PORT" || true)"
  --meta "feedwire=$commit: feedwire $feedwire_flags"
  --meta "soketi=$soketi_version (npm, crates/feedwire-interop/peers/soketi): --config=soketi.json, ${soketi_env[*]:3}$([[ $cluster == 1 ]] && echo " SOKETI_ADAPTER_DRIVER=redis" || true)"
)
echo >&2
"$gen" report --out "$out" "${meta[@]}" feedwire="$feedwire_result" soketi="$tmp/soketi.json"
