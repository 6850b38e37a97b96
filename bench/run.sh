#!/usr/bin/env bash
# The performance comparison of docs/PERFORMANCE.md, in one command:
#
#   bash bench/run.sh            # full: about 19 minutes on 2 cores
#   bash bench/run.sh --quick    # smoke: one short run of everything, under a minute
#
# It builds sockplane, sockctl and the bench tools, raises the descriptor
# limit as far as it may, and runs bench/runner, which starts sockplane,
# the plain standard-library baseline (bench/baseline), the C epoll
# references (bench/epoll/echo.c, relay.c and udpbatch.c, compiled here with the system compiler)
# and the tutorial's Python servers (bench/tutorial_server.py) pinned to CPU 0 (and, for the
# proxy rows, Toxiproxy in front of the same echo upstream as sockplane's
# proxy listener), drives them
# with `sockctl bench` pinned to CPU 1, and prints a markdown table, one row
# per target. Any other flag goes to the runner (e.g. --runs 3, --only
# tcp64,udp, --only proxy, --only contention, --json FILE, --out FILE; see
# bench/runner/main.go).
#
# Needs Linux, Go, python3, a C compiler (cc, or $CC) and taskset (util-linux); two CPUs or more.
# Every process it starts is stopped when it ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/sockplane-bench.XXXXXX")
runner_pid=""
cleanup() {
  if [ -n "$runner_pid" ] && kill -0 "$runner_pid" 2>/dev/null; then
    kill -TERM "$runner_pid" 2>/dev/null || true
    # The runner stops its servers and loads; give it a bounded while.
    for _ in $(seq 1 100); do
      kill -0 "$runner_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$runner_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cc=${CC:-cc}
for tool in go python3 "$cc"; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is required" >&2; exit 1; }
done
command -v taskset >/dev/null || echo "bench/run.sh: warning: taskset not found (apt-get install util-linux): running unpinned" >&2

echo "building into $work ..." >&2
go build -o "$work/" ./cmd/sockplane ./cmd/sockctl ./bench/baseline ./bench/idle ./bench/createlat ./bench/contention ./bench/runner ./internal/devetcd
# E, issue 15's C reference: compiled from source on this machine so that
# anyone can reproduce the comparison; warnings are fixed, not tolerated.
"$cc" -O2 -Wall -Wextra -o "$work/epoll-echo" bench/epoll/echo.c
# Y, the proxy rows' C reference (issue 13): a relay with nothing else in it.
"$cc" -O2 -Wall -Wextra -o "$work/epoll-relay" bench/epoll/relay.c
# W, a batching UDP echo: what recvmmsg/sendmmsg alone give on the UDP load.
"$cc" -O2 -Wall -Wextra -o "$work/epoll-udpbatch" bench/epoll/udpbatch.c

# Toxiproxy, the proxy rows' reference (issue 13), at a pinned version
# from the module proxy; not a dependency of sockplane, so not in go.mod.
# GOFLAGS is cleared so that a -mod=... of the caller does not apply to
# a module outside this one. go install names the binary "server".
toxiproxy_version=v2.5.0
GOFLAGS= GOBIN="$work" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$toxiproxy_version"
mv "$work/server" "$work/toxiproxy-server"

# One descriptor per idle connection, in the daemon and in the client:
# ask for 100,000 plus room, and take the hard limit if that is lower
# (raising the hard limit needs CAP_SYS_RESOURCE; the runner reports it).
want=$((100000 + 1000))
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then
  ulimit -n "$want"
else
  ulimit -Hn "$want" 2>/dev/null && ulimit -n "$want" || ulimit -n "$hard"
fi
echo "descriptor limit: $(ulimit -n) (hard $(ulimit -Hn))" >&2

"$work/runner" --bin "$work" --clk-tck "$(getconf CLK_TCK)" --tutorial bench/tutorial_server.py \
  --toxiproxy-version "$toxiproxy_version" "$@" &
runner_pid=$!
status=0
wait "$runner_pid" || status=$?
runner_pid=""
exit "$status"
