#!/bin/bash
# lxc-density.sh: how many containers one lab host runs before deploy time per node doubles.
# On a 1-host lab, deploys N = 4, 8, 16, 24, 32, 48, 64, ... type="lxc" VMs (nube's debian12-lxc rootfs,
# 128 MiB each, 16 to a net, one address each) and times `nube deploy` (wall clock until the
# host answered: every container configured and started), checks that all N run and that the
# last one answers a ping from the first of its net, estimates the memory they hold (the
# machine's MemAvailable before the deploy less after it: other work on the machine moves it
# too), then undeploys. Stops when the time per node reaches twice that of the smallest N, or at a cap:
# the next N would not fit in the memory left (MemAvailable less --mem-keep, at the memory
# each container held in the last round), the plan refuses it, or the run passed --time-cap.
# Prints one line per N and the verdict.
# Containers without a user namespace of their own share root's inotify instances
# (fs.inotify.max_user_instances, 128 on Debian; systemd takes a few per container): --inotify N
# raises that limit for the run and puts the old value back at the end.
# Usage: bench/deploy/lxc-density.sh [--max N] [--time-cap S] [--mem-keep MiB] [--inotify N]
# (root; guest/build-guest --image lxc first). Honours NUBE_LAB_ID, NUBE, NUBED, NUBE_LXC_ROOTFS.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
LAB="$REPO/lab/nube-lab"
NUBE=${NUBE:-$REPO/build/src/cli/nube}
ROOTFS=${NUBE_LXC_ROOTFS:-/var/lib/nube/images/debian12-lxc}
export NUBE_CONFIG=/run/nube-lab${NUBE_LAB_ID:-}/nube.conf
max=1024 time_cap=480 mem_keep=4096 inotify=
while [ $# -gt 0 ]; do
	case "$1" in
	--max) max=$2; shift ;;
	--time-cap) time_cap=$2; shift ;;
	--mem-keep) mem_keep=$2; shift ;;
	--inotify) inotify=$2; shift ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "lxc-density: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "lxc-density: run as root" >&2; exit 2; }
[ -x "$ROOTFS/sbin/init" ] || { echo "lxc-density: no rootfs at $ROOTFS (guest/build-guest --image lxc)" >&2; exit 2; }
T=$(mktemp -d /tmp/nube-lxc-density.XXXXXX)
old_inotify=$(sysctl -n fs.inotify.max_user_instances)
trap '"$LAB" down >/dev/null 2>&1 || true; rm -rf "$T"; sysctl -q -w fs.inotify.max_user_instances="$old_inotify" || true' EXIT
[ -z "$inotify" ] || sysctl -q -w fs.inotify.max_user_instances="$inotify"
S=density

# scenario N: N containers, 16 to a net (n0, n1, ...), c<i> at 10.<net>.0.<k>/24
scenario() {
	local n=$1 i
	{
		printf '<?xml version="1.0" encoding="UTF-8"?>\n<vnx>\n  <global>\n    <version>2.0</version>\n'
		printf '    <scenario_name>%s</scenario_name>\n    <automac/>\n    <vm_mgmt type="none"/>\n  </global>\n' "$S"
		for i in $(seq 0 $(( (n - 1) / 16 ))); do printf '  <net name="n%d" mode="virtual_bridge"/>\n' "$i"; done
		for i in $(seq 1 "$n"); do
			printf '  <vm name="c%d" type="lxc">\n    <filesystem type="cow">%s</filesystem>\n    <mem>128M</mem>\n' "$i" "$ROOTFS"
			printf '    <if id="1" net="n%d"><ipv4>10.%d.0.%d/24</ipv4></if>\n  </vm>\n' $(( (i - 1) / 16 )) $(( (i - 1) / 16 )) $(( (i - 1) % 16 + 1 ))
		done
		printf '</vnx>\n'
	} >"$T/s$n.xml"
}
avail_mib() { awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo; }

"$LAB" down >/dev/null 2>&1 || true
"$LAB" up 1 --balance off >"$T/lab.log" 2>&1 || { cat "$T/lab.log" >&2; exit 1; }
for _ in $(seq 1 60); do
	n=$("$NUBE" hosts --json 2>/dev/null | jq '[.hosts[] | select(.online)] | length' || echo 0)
	[ "$n" = 1 ] && break
	sleep 1
done
[ "$n" = 1 ] || { echo "lxc-density: the host is not live" >&2; exit 1; }

# the rootfs reaches the host's cache (by content) with a first deploy of one container: not timed
scenario 1
"$NUBE" deploy "$T/s1.xml" --timeout 300 >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; echo "lxc-density: warm-up deploy failed" >&2; exit 1; }
"$NUBE" undeploy "$S" --timeout 300 >/dev/null || { echo "lxc-density: warm-up undeploy failed" >&2; exit 1; }
echo "# lxc-density: 1-host lab, $(nproc) CPUs, $(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo) MiB, rootfs $ROOTFS, fs.inotify.max_user_instances $(sysctl -n fs.inotify.max_user_instances)"
echo "# N deploy-ms ms-per-node x-of-first running mem-MiB-per-container(MemAvailable-delta)"
t_start=$SECONDS first="" per_ct=64 verdict="" last_ok=0
N=4
while [ "$N" -le "$max" ]; do
	left=$(( $(avail_mib) - mem_keep ))
	if [ $(( N * per_ct )) -gt "$left" ]; then
		verdict="memory cap: $N containers would need ~$(( N * per_ct )) MiB, $left MiB left (MemAvailable less $mem_keep)"
		break
	fi
	if [ $(( SECONDS - t_start )) -gt "$time_cap" ]; then
		verdict="time cap: the run passed $time_cap s"
		break
	fi
	scenario "$N"
	a0=$(avail_mib)
	t0=$(date +%s%N)
	if ! "$NUBE" deploy "$T/s$N.xml" --timeout 300 >"$T/out" 2>"$T/err"; then
		verdict="deploy of $N refused or failed: $(grep -m1 -i 'error\|fail' "$T/err" || tail -1 "$T/err")"
		"$NUBE" undeploy "$S" --force >/dev/null 2>&1 || true
		break
	fi
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	running=$("$LAB" exec host1 -- virsh -q -c lxc:///system list --name | sed '/^$/d' | wc -l)
	if [ "$running" != "$N" ]; then
		verdict="only $running of $N containers run (fs.inotify.max_user_instances = $(sysctl -n fs.inotify.max_user_instances): systemd in a container dies without inotify instances; see --inotify)"
		"$NUBE" undeploy "$S" --timeout 300 >/dev/null 2>&1 || true
		break
	fi
	# the last container answers the first of its net (both up, their net working)
	last=$N firstofnet=$(( (N - 1) / 16 * 16 + 1 ))
	ok=0
	for _ in $(seq 1 30); do
		"$NUBE" exec "$S" --vm "c$firstofnet" --cmd "ping -c 1 -W 1 10.$(( (N - 1) / 16 )).0.$(( (N - 1) % 16 + 1 ))" >/dev/null 2>&1 && { ok=1; break; }
		sleep 1
	done
	[ "$ok" = 1 ] || { echo "lxc-density: c$firstofnet cannot ping c$last" >&2; exit 1; }
	mem=$(( a0 - $(avail_mib) ))	# the machine's MemAvailable before and with them (other work moves it too)
	[ "$mem" -gt 0 ] || mem=0
	per_ct=$(( mem / N > 16 ? mem / N + 8 : 24 ))
	per=$(awk -v m="$ms" -v n="$N" 'BEGIN {printf "%.1f", m / n}')
	[ -n "$first" ] || first=$per
	x=$(awk -v a="$per" -v b="$first" 'BEGIN {printf "%.2f", a / b}')
	echo "$N $ms $per $x $running $(( mem / N ))"
	"$NUBE" undeploy "$S" --timeout 300 >/dev/null || { echo "lxc-density: undeploy of $N failed" >&2; exit 1; }
	last_ok=$N
	if awk -v x="$x" 'BEGIN {exit !(x >= 2)}'; then
		verdict="doubled: $per ms per node at N=$N, $first ms at N=4"
		break
	fi
	# doubling up to 16, then finer: 24, 32, 48, 64, 96, ...
	if [ "$N" -lt 16 ]; then N=$(( N * 2 )); elif [ $(( N & (N - 1) )) = 0 ]; then N=$(( N * 3 / 2 )); else N=$(( N * 4 / 3 )); fi
done
[ -n "$verdict" ] || verdict="--max $max reached"
echo "# largest N deployed: $last_ok; stopped: $verdict; run $(( SECONDS - t_start )) s"
