#!/bin/bash
# migrate-bench.sh: live migration figures of a Debian 12 guest on its copy-on-write disk next
# to nube's tiny guest, in the same run. Brings up a 3-host lab (balancers off), deploys
# scenario "mb": d (debian12-cloud.qcow2, type="cow") and t (the test guest, kernel + initrd,
# no disk), both 256 MiB, on host1, and a pinger p (test guest) on host3, all on one net.
# Each round moves each of d and t host1 -> host2 and back with `nube migrate --to` while p
# pings it every 10 ms, and records duration and downtime (libvirt's job statistics, as the
# agents report them) and the pings lost. Prints one line per move and a median table.
# Usage (root): bench/migrate/migrate-bench.sh [--rounds N]   (default 3)
# Needs guest/build-guest --image cloud. Honours NUBE_LAB_ID, NUBE, NUBED, NUBE_IMAGE_DIR.
set -euo pipefail
ROUNDS=3
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift ;;
	-h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "migrate-bench: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
source "$(dirname "$0")/../../tests/integration/e2e/lib.sh"
need
IMG=${NUBE_IMAGE_DIR:-/var/lib/nube/images}/debian12-cloud.qcow2
[ -f "$IMG" ] || fail "no image $IMG (run guest/build-guest --image cloud)"
S=mb
cat >"$T/mb.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx><global><version>2.0</version><scenario_name>$S</scenario_name><automac/>
<vm_mgmt type="none"/><vm_defaults><mem>256M</mem></vm_defaults></global>
<net name="Net0" mode="virtual_bridge"/>
<vm name="d" type="libvirt" subtype="kvm" os="linux">
  <filesystem type="cow">$IMG</filesystem>
  <if id="1" net="Net0"><ipv4>10.94.0.1/24</ipv4></if>
</vm>
<vm name="t" type="libvirt" subtype="kvm" os="linux">
  <if id="1" net="Net0"><ipv4>10.94.0.2/24</ipv4></if>
</vm>
<vm name="p" type="libvirt" subtype="kvm" os="linux">
  <mem>96M</mem>
  <if id="1" net="Net0"><ipv4>10.94.0.3/24</ipv4></if>
</vm>
</vnx>
EOF
cat >"$T/mb-r.xml" <<EOF
<deployment_restrictions>
  <vm_deploy_at vm="d" host="host1"/>
  <vm_deploy_at vm="t" host="host1"/>
  <vm_deploy_at vm="p" host="host3"/>
</deployment_restrictions>
EOF

lab_up 3
t0=$SECONDS
"$NUBE" deploy "$T/mb.xml" --restrictions "$T/mb-r.xml" --timeout 900 >/dev/null 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" >&2; fail "deploy"; }
info "deployed in $((SECONDS - t0)) s"
addr() { case "$1" in d) echo 10.94.0.1 ;; t) echo 10.94.0.2 ;; esac; }

# move VM DST: one migration under pings; appends "vm duration downtime sent lost" to $T/rows
move() {
	local vm=$1 dst=$2 out tx rx
	"$NUBE" exec $S --vm p --cmd "ping -i 0.01 -w 600 $(addr "$vm") >/tmp/ping.log 2>&1 & echo \$! >/tmp/ping.pid" \
		>/dev/null 2>&1 || fail "start the pinger"
	sleep 2
	"$NUBE" migrate $S "$vm" --to "$dst" --force --json --timeout 900 >"$T/mig.json" 2>"$T/mig.err" ||
		{ cat "$T/mig.err" "$T/mig.json" >&2; fail "migrate $vm to $dst"; }
	sleep 2
	out=$("$NUBE" exec $S --vm p --cmd 'kill -INT $(cat /tmp/ping.pid); sleep 1; tail -3 /tmp/ping.log' 2>&1) ||
		fail "stop the pinger"
	tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$out")
	rx=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' <<<"$out")
	[ -n "$tx" ] && [ -n "$rx" ] || { echo "$out" >&2; fail "no ping summary"; }
	printf '%s %s %s %s %s\n' "$vm" "$(jq .duration_ms "$T/mig.json")" "$(jq .downtime_ms "$T/mig.json")" \
		"$tx" "$((tx - rx))" >>"$T/rows"
	echo "MIGRATE: $vm -> $dst: $(jq .duration_ms "$T/mig.json") ms, downtime $(jq .downtime_ms "$T/mig.json") ms, pings $tx sent, $((tx - rx)) lost"
}

: >"$T/rows"
for r in $(seq 1 "$ROUNDS"); do
	for vm in d t; do
		move "$vm" host2
		move "$vm" host1
	done
done
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
range() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "–" hi }'; }
echo
echo "| guest (256 MiB) | moves | duration ms, median (range) | downtime ms, median (range) | pings lost at 10 ms, median (range) |"
echo "|---|---:|---:|---:|---:|"
for vm in d t; do
	name=$([ "$vm" = d ] && echo "Debian 12 (cloud image, cow overlay)" || echo "test guest (no disk)")
	n=$(awk -v v="$vm" '$1 == v' "$T/rows" | wc -l)
	printf '| %s | %s | %s (%s) | %s (%s) | %s (%s) |\n' "$name" "$n" \
		"$(awk -v v="$vm" '$1 == v { print $2 }' "$T/rows" | median)" "$(awk -v v="$vm" '$1 == v { print $2 }' "$T/rows" | range)" \
		"$(awk -v v="$vm" '$1 == v { print $3 }' "$T/rows" | median)" "$(awk -v v="$vm" '$1 == v { print $3 }' "$T/rows" | range)" \
		"$(awk -v v="$vm" '$1 == v { print $5 }' "$T/rows" | median)" "$(awk -v v="$vm" '$1 == v { print $5 }' "$T/rows" | range)"
done
"$NUBE" undeploy $S >/dev/null 2>&1 || fail "undeploy"
