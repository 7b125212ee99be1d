#!/bin/bash
# The Sentinel partition experiment on real servers (docs/conformance.md, "A partition that
# isolates the master"): one master and sentinel-1 in network namespace A; two replicas,
# sentinel-2 and sentinel-3 in namespace B; a bridge between them. The partition detaches A's
# port from the bridge, so packets between the sides are dropped silently; the heal attaches it
# again. Static neighbour entries keep ARP out of it (a failed ARP would turn the silence into
# "No route to host").
#
# Needs root (network namespaces), redis-server and redis-sentinel (7.0.15 from Debian's
# packages). Run as: sudo tests/experiments/real/sentinel-partition.sh [OUTDIR]
# It prints nothing; OUTDIR holds each Sentinel's log (s26379.log is sentinel-1) and `marks`,
# the wall-clock instants of the partition and the heal and each node's final role. It takes
# PART_AT + PART_FOR + AFTER seconds (default 20 + 30 + 25) and removes the namespaces and the
# bridge and stops every process it started when it ends.
set -u
D=${1:-$(mktemp -d)}
mkdir -p "$D"
PART_AT=${PART_AT:-20}
PART_FOR=${PART_FOR:-30}
AFTER=${AFTER:-25}
: > "$D/pids"
cleanup() {
  while read -r p; do kill "$p" 2>/dev/null; done < "$D/pids"
  sleep 0.5
  ip netns del rsA 2>/dev/null
  ip netns del rsB 2>/dev/null
  ip link del br-rs 2>/dev/null
}
trap cleanup EXIT
ip netns add rsA
ip netns add rsB
ip link add br-rs type bridge
ip link set br-rs up
for n in A B; do
  ip link add "veth$n" type veth peer name "veth${n}b"
  ip link set "veth$n" netns "rs$n"
  ip link set "veth${n}b" master br-rs
  ip link set "veth${n}b" up
  ip netns exec "rs$n" ip link set lo up
  ip netns exec "rs$n" ip link set "veth$n" up
done
ip netns exec rsA ip addr add 10.77.0.1/24 dev vethA
# Kernels from 6.5 retransmit an unanswered SYN a second apart a few times before backing off
# (net.ipv4.tcp_syn_linear_timeouts, default 4); the classic schedule (1, 3, 7, 15, 31, 63 s)
# is what replsim models. SYN_LINEAR=0 asks the namespaces for the classic one, where the
# kernel has the setting.
if [ -n "${SYN_LINEAR:-}" ]; then
  for n in A B; do
    ip netns exec "rs$n" sysctl -qw net.ipv4.tcp_syn_linear_timeouts="$SYN_LINEAR" 2>/dev/null
  done
fi
ip netns exec rsB ip addr add 10.77.0.2/24 dev vethB
MA=$(ip netns exec rsA cat /sys/class/net/vethA/address)
MB=$(ip netns exec rsB cat /sys/class/net/vethB/address)
ip netns exec rsA ip neigh replace 10.77.0.2 lladdr "$MB" dev vethA nud permanent
ip netns exec rsB ip neigh replace 10.77.0.1 lladdr "$MA" dev vethB nud permanent

start_redis() { # namespace ip port [redis-server options]
  local ns=$1 ip=$2 port=$3
  shift 3
  mkdir -p "$D/r$port"
  ip netns exec "$ns" redis-server --bind "$ip" --port "$port" --dir "$D/r$port" --save '' \
    --appendonly no --protected-mode no --logfile "$D/r$port.log" "$@" &
  echo $! >> "$D/pids"
}
start_sentinel() { # namespace ip port
  local ns=$1 ip=$2 port=$3
  cat > "$D/s$port.conf" <<CONF
bind $ip
port $port
protected-mode no
dir $D
logfile $D/s$port.log
sentinel monitor mymaster 10.77.0.1 6379 2
sentinel down-after-milliseconds mymaster 5000
sentinel failover-timeout mymaster 60000
sentinel parallel-syncs mymaster 1
CONF
  ip netns exec "$ns" redis-sentinel "$D/s$port.conf" &
  echo $! >> "$D/pids"
}
start_redis rsA 10.77.0.1 6379
start_redis rsB 10.77.0.2 6380 --replicaof 10.77.0.1 6379
start_redis rsB 10.77.0.2 6381 --replicaof 10.77.0.1 6379
sleep 1
start_sentinel rsA 10.77.0.1 26379
start_sentinel rsB 10.77.0.2 26380
start_sentinel rsB 10.77.0.2 26381
sleep "$PART_AT"
echo "PARTITION $(date '+%d %b %Y %H:%M:%S.%3N')" > "$D/marks"
ip link set vethAb nomaster
sleep "$PART_FOR"
echo "HEAL $(date '+%d %b %Y %H:%M:%S.%3N')" >> "$D/marks"
ip link set vethAb master br-rs
sleep "$AFTER"
for p in 6379 6380 6381; do
  if [ $p = 6379 ]; then ns=rsA ip=10.77.0.1; else ns=rsB ip=10.77.0.2; fi
  echo "$p role: $(ip netns exec $ns redis-cli -h $ip -p $p ROLE | head -1)" >> "$D/marks"
  ip netns exec $ns redis-cli -h $ip -p $p SHUTDOWN NOSAVE > /dev/null 2>&1
done
