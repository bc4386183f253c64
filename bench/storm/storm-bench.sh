#!/bin/bash
# storm-bench.sh: a large lab of tiny guests on a 3-host lab, old binaries against new in one
# run. For each size (--vms, default "40 60") and each build (--old DIR: a build folder of
# the old code, and this tree's build), ROUNDS times: deploy a scenario of N test guests
# (96 MiB, one NIC each on one of 8 nets) with the default timeout, time `nube deploy` to its
# end (every guest configured), note its exit status (0 = all ready), then, when it
# deployed, time `nube status` and `nube exec --cmd true` on every VM (exit status too), and
# undeploy. One line per round: build vms round deploy-rc deploy-s status-s status-rc
# exec-s exec-rc.
# Usage: bench/storm/storm-bench.sh --old BUILD_DIR [--new BUILD_DIR] [--vms "40 60"] [--rounds 3]
# (--new: default this tree's build; give a copy to keep rebuilding meanwhile)
# Run as root, under the lab lock (flock -o /tmp/nube-lab.lock); honours NUBE_LAB_ID.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
LAB="$REPO/lab/nube-lab"
export NUBE_CONFIG=/run/nube-lab${NUBE_LAB_ID:-}/nube.conf
old="" new="$REPO/build" sizes="40 60" rounds=3
while [ $# -gt 0 ]; do
	case "$1" in
	--old) old=$2; shift ;;
	--new) new=$2; shift ;;
	--vms) sizes=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "storm-bench: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "storm-bench: run as root" >&2; exit 2; }
[ -n "$old" ] && [ -x "$old/src/cli/nube" ] && [ -x "$old/src/agent/nubed" ] ||
	{ echo "storm-bench: --old BUILD_DIR with src/cli/nube and src/agent/nubed" >&2; exit 2; }
[ -x "$new/src/cli/nube" ] && [ -x "$new/src/agent/nubed" ] ||
	{ echo "storm-bench: --new BUILD_DIR with src/cli/nube and src/agent/nubed" >&2; exit 2; }
T=$(mktemp -d /tmp/nube-storm-bench.XXXXXX)
trap '"$LAB" down >/dev/null 2>&1 || true; rm -rf "$T"' EXIT

# scenario N: N test guests on 8 nets
scenario() {
	local n=$1 i
	{
		echo '<?xml version="1.0" encoding="UTF-8"?>'
		echo "<vnx><global><version>2.0</version><scenario_name>storm$n</scenario_name><automac/>"
		echo '<vm_mgmt type="none"/>'
		echo '<vm_defaults><mem>96M</mem><console id="0" display="no"/></vm_defaults></global>'
		for i in $(seq 0 7); do echo "<net name=\"n$i\" mode=\"virtual_bridge\"/>"; done
		for i in $(seq 1 "$n"); do
			echo "<vm name=\"vm$i\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\">"
			echo "<if id=\"1\" net=\"n$((i % 8))\"><ipv4>10.77.$((i % 8)).$((i / 8 + 1))/24</ipv4></if></vm>"
		done
		echo '</vnx>'
	} >"$T/storm$n.xml"
}

secs() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

# run BUILD LABEL: a fresh 3-host lab with BUILD's agents, every size and round with its nube
run() {
	local build=$1 label=$2 n r t0 rc ds ss src xs xrc
	local nube="$build/src/cli/nube"
	"$LAB" down >/dev/null 2>&1 || true
	NUBED="$build/src/agent/nubed" "$LAB" up 3 --balance off >"$T/lab.log" 2>&1 ||
		{ cat "$T/lab.log" >&2; exit 1; }
	for i in $(seq 1 60); do
		[ "$("$nube" hosts --json 2>/dev/null | jq '[.hosts[] | select(.online)] | length')" = 3 ] && break
		sleep 1
	done
	for n in $sizes; do
		scenario "$n"
		for r in $(seq 1 "$rounds"); do
			"$nube" undeploy --force "storm$n" >/dev/null 2>&1 || true
			sleep 5	# QEMU processes gone, load settled a little
			t0=$(date +%s%N); rc=0
			"$nube" deploy "$T/storm$n.xml" >"$T/d.out" 2>"$T/d.err" || rc=$?
			ds=$(secs "$t0")
			ss=- src=- xs=- xrc=-
			if [ "$rc" = 0 ] || [ "$rc" = 4 ]; then
				t0=$(date +%s%N); src=0
				"$nube" status "storm$n" >"$T/s.out" 2>"$T/s.err" || src=$?
				ss=$(secs "$t0")
				t0=$(date +%s%N); xrc=0
				"$nube" exec "storm$n" --cmd true >"$T/x.out" 2>"$T/x.err" || xrc=$?
				xs=$(secs "$t0")
			else
				grep "deploy failed" "$T/d.err" | head -1 | sed "s/^/# $label $n $r: /"
			fi
			[ "$rc" = 4 ] && grep "^nube: vm '.*' failed" "$T/d.err" | sed "s/^/# $label $n $r: /"
			echo "$label $n $r $rc $ds $ss $src $xs $xrc"
			"$nube" undeploy --force "storm$n" >/dev/null 2>&1 || true
		done
	done
	"$LAB" down >/dev/null 2>&1 || true
}

echo "# storm-bench: sizes '$sizes', $rounds rounds, 3-host lab, $(nproc) CPUs, load now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# build vms round deploy-rc deploy-s status-s status-rc exec-s exec-rc"
run "$old" old
run "$new" new
