# Sourced by scripts/test: installs (apt-get, once) and starts the real
# servers the integration tests need, on free loopback ports with throwaway
# data directories, and stops them on exit. It exports their addresses:
#
#   WHIZBANG_REDIS_ADDR     host:port of a redis-server
#   WHIZBANG_POSTGRES_URL   postgres://... of a PostgreSQL server
#   WHIZBANG_REQUIRE_SERVERS=1   tests fail (never skip) when one is missing
#
# Usage: start_servers redis postgres

servers_tmp=""
servers_pids=()

# free_port prints a TCP port nobody listens on at 127.0.0.1.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( (RANDOM % 20000) + 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  echo "no free port found" >&2; return 1
}

# wait_port waits until something listens on 127.0.0.1:$1 (up to 120 s).
wait_port() {
  for _ in $(seq 1 1200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1 after 120 s" >&2; return 1
}

apt_updated=""
apt_install() { # apt_install <command-to-check> <package...>
  local cmd=$1; shift
  if command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ]; then return 0; fi
  if [ -z "$apt_updated" ]; then
    echo "apt-get update"; DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; apt_updated=1
  fi
  echo "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

stop_servers() {
  local pid
  for pid in "${servers_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${servers_pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [ -n "$servers_tmp" ] && rm -rf "$servers_tmp"
}

start_redis() {
  apt_install redis-server redis-server
  local port; port=$(free_port)
  mkdir -p "$servers_tmp/redis"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$servers_tmp/redis" --logfile "$servers_tmp/redis/log" --daemonize no &
  servers_pids+=($!)
  wait_port "$port"
  export WHIZBANG_REDIS_ADDR="127.0.0.1:$port"
  echo "redis-server on $WHIZBANG_REDIS_ADDR"
}

start_postgres() {
  local bin=/usr/lib/postgresql/15/bin
  apt_install "$bin/initdb" postgresql
  local port; port=$(free_port)
  local dir="$servers_tmp/pg"
  mkdir -p "$dir/data" "$dir/sock"
  chown -R postgres:postgres "$dir"
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
  runuser -u postgres -- "$bin/postgres" -D "$dir/data" -p "$port" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories="$dir/sock" \
    -c fsync=off -c max_connections=200 >"$dir/log" 2>&1 &
  servers_pids+=($!)
  wait_port "$port"
  export WHIZBANG_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "postgres on 127.0.0.1:$port"
}

start_servers() {
  servers_tmp=$(mktemp -d /tmp/whizbang-servers.XXXXXX)
  chmod 755 "$servers_tmp"
  trap stop_servers EXIT
  export WHIZBANG_REQUIRE_SERVERS=1
  local s
  for s in "$@"; do "start_$s"; done
}

# start_promtool installs promtool (Debian package prometheus) for the
# exposition check and exports WHIZBANG_PROMTOOL, its path.
start_promtool() {
  apt_install promtool prometheus
  WHIZBANG_PROMTOOL=$(command -v promtool)
  export WHIZBANG_PROMTOOL
  echo "promtool at $WHIZBANG_PROMTOOL"
}

# start_etcd starts an etcd member (Debian package etcd-server) and exports
# WHIZBANG_ETCD_ENDPOINT (http://host:port).
start_etcd() {
  apt_install etcd etcd-server
  local port peer; port=$(free_port); peer=$(free_port)
  mkdir -p "$servers_tmp/etcd"
  etcd --name whizbang-test --data-dir "$servers_tmp/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "whizbang-test=http://127.0.0.1:$peer" >"$servers_tmp/etcd/log" 2>&1 &
  servers_pids+=($!)
  wait_port "$port"
  export WHIZBANG_ETCD_ENDPOINT="http://127.0.0.1:$port"
  echo "etcd on $WHIZBANG_ETCD_ENDPOINT"
}

# start_chromium installs Debian's chromium for the dashboard's browser tests
# and exports WHIZBANG_CHROMIUM, its path.
start_chromium() {
  apt_install chromium chromium
  WHIZBANG_CHROMIUM=$(command -v chromium)
  export WHIZBANG_CHROMIUM
  echo "chromium at $WHIZBANG_CHROMIUM"
}
