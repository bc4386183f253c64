#!/bin/bash
# lxc-bench.sh: deploy time of the 12-VM examples/lab-12.xml on 3 lab hosts as QEMU test
# guests (the file as it is) and as LXC containers (the same file with every VM type="lxc" on
# nube's debian12-lxc rootfs), same lab, same run. Each round deploys, times `nube deploy`
# (wall clock until every host answered: domains started and, for QEMU, every guest agent
# configured; containers are configured before they start), checks all 12 run, undeploys.
# Prints the figures and the ratio of the medians (the issue's goal: containers >= 5x faster).
# A first, untimed-in-the-medians container deploy sends the rootfs to the hosts' caches.
# Usage: bench/deploy/lxc-bench.sh [--rounds N]   (root; guest/build-guest --image lxc first)
# Honours NUBE_LAB_ID, NUBE, NUBED, NUBE_LXC_ROOTFS.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
LAB="$REPO/lab/nube-lab"
NUBE=${NUBE:-$REPO/build/src/cli/nube}
SCEN=$REPO/examples/lab-12.xml
ROOTFS=${NUBE_LXC_ROOTFS:-/var/lib/nube/images/debian12-lxc}
export NUBE_CONFIG=/run/nube-lab${NUBE_LAB_ID:-}/nube.conf
rounds=1
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) echo "lxc-bench: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "lxc-bench: run as root" >&2; exit 2; }
[ -x "$ROOTFS/sbin/init" ] || { echo "lxc-bench: no rootfs at $ROOTFS (guest/build-guest --image lxc)" >&2; exit 2; }
T=$(mktemp -d /tmp/nube-lxc-bench.XXXXXX)
trap '"$LAB" down >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
name=$(sed -n 's:.*<scenario_name>\(.*\)</scenario_name>.*:\1:p' "$SCEN" | head -n1)
nvm=$(grep -c '<vm ' "$SCEN")
sed -E "s|<vm name=\"([^\"]*)\" type=\"libvirt\"[^>]*>|<vm name=\"\1\" type=\"lxc\">\n    <filesystem type=\"cow\">$ROOTFS</filesystem>|" "$SCEN" >"$T/lxc.xml"
[ "$(grep -c 'type="lxc"' "$T/lxc.xml")" = "$nvm" ] || { echo "lxc-bench: could not make every VM a container" >&2; exit 1; }

"$LAB" down >/dev/null 2>&1 || true
"$LAB" up 3 --balance off >"$T/lab.log" 2>&1 || { cat "$T/lab.log" >&2; exit 1; }
for _ in $(seq 1 60); do
	n=$("$NUBE" hosts --json 2>/dev/null | jq '[.hosts[] | select(.online)] | length' || echo 0)
	[ "$n" = 3 ] && break
	sleep 1
done
[ "$n" = 3 ] || { echo "lxc-bench: only $n hosts live" >&2; exit 1; }

# one_deploy LABEL FILE: deploy, print ms, check all run, undeploy
one_deploy() {
	local label=$1 file=$2 t0 t1 running
	t0=$(date +%s%N)
	"$NUBE" deploy "$file" --timeout 300 --algorithm round-robin >"$T/out" 2>"$T/err" ||
		{ echo "lxc-bench: $label deploy failed:" >&2; cat "$T/err" >&2; return 1; }
	t1=$(date +%s%N)
	running=$("$NUBE" status "$name" --json | jq '[.vms[] | select(.state=="running")] | length')
	[ "$running" = "$nvm" ] || { echo "lxc-bench: $running of $nvm running" >&2; return 1; }
	echo "$label $(( (t1 - t0) / 1000000 ))"
	"$NUBE" undeploy "$name" >/dev/null || { echo "lxc-bench: undeploy failed" >&2; return 1; }
	sleep 2
}

echo "# lxc-bench: $nvm VMs ($SCEN), 3-host lab, $(nproc) CPUs, $rounds rounds"
echo "# label total-ms"
: >"$T/res"
# the first container deploy sums the rootfs and sends it to each host's cache (by content):
# shown, not in the medians, which compare deploys of what the hosts already hold
one_deploy lxc-first-rootfs-sent "$T/lxc.xml"
for _ in $(seq 1 "$rounds"); do
	one_deploy qemu "$SCEN" | tee -a "$T/res"
	one_deploy lxc "$T/lxc.xml" | tee -a "$T/res"
done
median() { grep "^$1 " "$T/res" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
mq=$(median qemu)
ml=$(median lxc)
echo "median QEMU: $mq ms; median containers: $ml ms; containers $(awk -v a="$mq" -v b="$ml" 'BEGIN {printf "%.1f", a/b}')x faster (goal >= 5x)"
