#!/bin/bash
# deploy-bench.sh: how much faster a 12-VM scenario (examples/lab-12.xml) deploys on 3 lab
# hosts than on 1. Same 3-host lab, same run: "1 host" pins every VM to host1 with a
# restrictions file, "3 hosts" lets the planner spread them. Each round deploys, times
# `nube deploy` (wall clock until every host answered), then undeploys. Prints the figures
# and the ratio of the medians; with --cpu-quota every lab host is capped to PCT % of one CPU
# (a fixed CPU per simulated host, as separate machines would have).
# Usage: bench/deploy/deploy-bench.sh [--rounds N] [--cpu-quota PCT] [--algorithm A]
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
LAB="$REPO/lab/nube-lab"
NUBE=${NUBE:-$REPO/build/src/cli/nube}
SCEN=${SCENARIO:-$REPO/examples/lab-12.xml}
export NUBE_CONFIG=/run/nube-lab${NUBE_LAB_ID:-}/nube.conf
rounds=3 quota="" algo=round-robin
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift ;;
	--cpu-quota) quota=$2; shift ;;
	--algorithm) algo=$2; shift ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) echo "deploy-bench: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "deploy-bench: run as root" >&2; exit 2; }
[ -x "$NUBE" ] || { echo "deploy-bench: no nube at $NUBE" >&2; exit 2; }
[ -f "$SCEN" ] || { echo "deploy-bench: no scenario $SCEN" >&2; exit 2; }
T=$(mktemp -d /tmp/nube-deploy-bench.XXXXXX)
trap '"$LAB" down >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
name=$(sed -n 's:.*<scenario_name>\(.*\)</scenario_name>.*:\1:p' "$SCEN" | head -n1)
nvm=$(grep -c '<vm ' "$SCEN")

# restrictions pinning every VM to host1
{
	echo '<?xml version="1.0" encoding="UTF-8"?>'
	echo '<deployment_restrictions>'
	sed -n 's:.*<vm name="\([^"]*\)".*:  <vm_deploy_at vm="\1" host="host1"/>:p' "$SCEN"
	echo '</deployment_restrictions>'
} >"$T/pin-host1.xml"

"$LAB" down >/dev/null 2>&1 || true
"$LAB" up 3 ${quota:+--cpu-quota "$quota"} >"$T/lab.log" 2>&1 || { cat "$T/lab.log" >&2; exit 1; }
for i in $(seq 1 60); do
	n=$("$NUBE" hosts --json 2>/dev/null | jq '[.hosts[] | select(.online)] | length' || echo 0)
	[ "$n" = 3 ] && break
	sleep 1
done
[ "$n" = 3 ] || { echo "deploy-bench: only $n hosts live" >&2; exit 1; }

# one_deploy LABEL ARGS...: deploy, print ms, check the spread, undeploy
one_deploy() {
	local label=$1 t0 t1 hosts
	shift
	"$NUBE" undeploy --force "$name" >/dev/null 2>&1 || true
	t0=$(date +%s%N)
	# every progress line with its time since the start (ms)
	if ! "$NUBE" deploy "$SCEN" --timeout 300 "$@" 2>&1 >"$T/out" |
		while IFS= read -r line; do echo "$(( ($(date +%s%N) - t0) / 1000000 )) $line"; done >"$T/err"
	then
		echo "deploy-bench: $label deploy failed:" >&2
		cat "$T/err" >&2
		return 1
	fi
	t1=$(date +%s%N)
	# when the last domain was started and the last guest configured
	started=$(grep "started as domain" "$T/err" | tail -1 | cut -d' ' -f1)
	configured=$(grep -E "configured( in [0-9]+ s)?$" "$T/err" | tail -1 | cut -d' ' -f1)
	hosts=$("$NUBE" status "$name" --json | jq '[.vms[] | select(.state=="running") | .host] | unique | length')
	running=$("$NUBE" status "$name" --json | jq '[.vms[] | select(.state=="running")] | length')
	[ "$running" = "$nvm" ] || { echo "deploy-bench: $running of $nvm running" >&2; return 1; }
	echo "$label $(( (t1 - t0) / 1000000 )) $hosts ${started:--} ${configured:--}"
	"$NUBE" undeploy "$name" >/dev/null || { echo "deploy-bench: undeploy failed" >&2; return 1; }
	sleep 2	# let the hosts settle (QEMU processes gone)
}

echo "# deploy-bench: $nvm VMs ($SCEN), 3-host lab${quota:+, each host capped to $quota % of a CPU}, $(nproc) CPUs, $rounds rounds"
echo "# label total-ms hosts-used last-domain-started-ms last-guest-configured-ms"
: >"$T/res"
for r in $(seq 1 "$rounds"); do
	one_deploy 1host --restrictions "$T/pin-host1.xml" | tee -a "$T/res"
	one_deploy 3hosts --algorithm "$algo" | tee -a "$T/res"
done
median() { grep "^$1 " "$T/res" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
m1=$(median 1host)
m3=$(median 3hosts)
echo "median 1 host: $m1 ms; median 3 hosts: $m3 ms; speed-up $(awk -v a="$m1" -v b="$m3" 'BEGIN {printf "%.2f", a/b}')x (goal >= 2.5x)"
