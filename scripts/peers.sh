#!/usr/bin/env bash
# Optional benchmark peers (Redis for Streams, NATS with JetStream) on loopback, for bench/.
#
#   scripts/peers.sh install          apt-get install redis-server nats-server (root; Debian)
#   scripts/peers.sh start DIR        start each installed peer on a free 127.0.0.1 port, data
#                                     and logs under DIR; prints one line per peer:
#                                       peer redis 127.0.0.1:PORT pid PID version V fsync everysec
#                                       peer redis-always 127.0.0.1:PORT pid PID version V fsync always
#                                       peer nats 127.0.0.1:PORT pid PID version V sync default
#                                       peer nats-always 127.0.0.1:PORT pid PID version V sync always
#                                     and "skip NAME: reason" for a peer that is not installed
#   scripts/peers.sh stop DIR         stop the peers started in DIR, by the PIDs it recorded
#
# Each durability level gets its own server, so the benchmark compares like with like:
# Redis appendfsync everysec / NATS default vs Runnel acks leader, and Redis appendfsync always
# / NATS sync_interval always vs Runnel acks all. Nothing listens beyond 127.0.0.1. The servers
# get no share of this script's stdout: a caller that reads it to the end (spawnSync) would
# otherwise wait for the servers to exit.
set -euo pipefail

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

wait_port() {
  local port=$1
  for _ in $(seq 1 100); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

start_redis() {
  local dir=$1 name=$2 fsync=$3
  if ! command -v redis-server >/dev/null; then echo "skip $name: redis-server is not installed (scripts/peers.sh install)"; return; fi
  local port data
  port=$(free_port)
  data="$dir/$name"
  mkdir -p "$data"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$data" --appendonly yes --appendfsync "$fsync" \
    --save '' --protected-mode yes --daemonize no --logfile "$data/redis.log" </dev/null >/dev/null 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/$name.pid"
  wait_port "$port" || { echo "skip $name: did not start (see $data/redis.log)"; kill "$pid" 2>/dev/null || true; return; }
  local version
  version=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
  echo "peer $name 127.0.0.1:$port pid $pid version $version fsync $fsync"
}

start_nats() {
  local dir=$1 name=$2 sync=$3
  if ! command -v nats-server >/dev/null; then echo "skip $name: nats-server is not installed (scripts/peers.sh install)"; return; fi
  local port data
  port=$(free_port)
  data="$dir/$name"
  mkdir -p "$data"
  local conf="$data/nats.conf"
  {
    echo "listen: 127.0.0.1:$port"
    echo "jetstream { store_dir: \"$data/js\""
    if [ "$sync" = always ]; then echo "  sync_interval: always"; fi
    echo "}"
  } >"$conf"
  if ! nats-server -c "$conf" -t >/dev/null 2>&1; then
    # sync_interval came with nats-server 2.10; Debian 12 ships 2.9.
    echo "skip $name: nats-server $(nats-server --version | sed -n 's/.*v\([0-9.]*\).*/\1/p') does not accept sync_interval: $sync (needs 2.10 or newer)"
    return
  fi
  nats-server -c "$conf" -l "$data/nats.log" </dev/null >/dev/null 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/$name.pid"
  wait_port "$port" || { echo "skip $name: did not start (see $data/nats.log)"; kill "$pid" 2>/dev/null || true; return; }
  local version
  version=$(nats-server --version | sed -n 's/.*v\([0-9.]*\).*/\1/p')
  echo "peer $name 127.0.0.1:$port pid $pid version $version sync $sync"
}

case "${1:-}" in
  install)
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server nats-server
    ;;
  start)
    dir=${2:?usage: peers.sh start DIR}
    mkdir -p "$dir"
    start_redis "$dir" redis everysec
    start_redis "$dir" redis-always always
    start_nats "$dir" nats default
    start_nats "$dir" nats-always always
    ;;
  stop)
    dir=${2:?usage: peers.sh stop DIR}
    for pidfile in "$dir"/*.pid; do
      [ -e "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    done
    ;;
  *)
    echo "usage: scripts/peers.sh install | start DIR | stop DIR" >&2
    exit 2
    ;;
esac
