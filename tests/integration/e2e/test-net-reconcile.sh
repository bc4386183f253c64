#!/bin/bash
# test-net-reconcile.sh: an agent restart after an interrupted migration leaves no stale net.
# Scenario reconcile.xml on 2 hosts: v1 (Net0) and v3 (Net1) on host1, v2 (Net0, Net1) on
# host2, so both nets span the hosts (bridge + VXLAN on each, each FDB listing the other).
# With host1's agent stopped, v1 is destroyed and undefined there as an interrupted
# migration leaves it (its domain gone, its nets still up); a foreign bridge is added. After
# host1's agent starts again: Net0's bridge and VXLAN are gone on host1, host2's Net0 FDB
# no longer lists host1, Net1 (v3 still uses it) is untouched on both hosts, and the
# foreign bridge is still there.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
S=nr
D=$(cd "$(dirname "$0")" && pwd)
lab_up 2
eval "$("$LAB" env | grep '^NUBE_LAB_HOST[12]_IP=')"
H1=$NUBE_LAB_HOST1_IP
H2=$NUBE_LAB_HOST2_IP

"$NUBE" deploy "$D/reconcile.xml" --restrictions "$D/reconcile-r.xml" >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" >&2; fail "deploy"; }
ok "deployed: v1, v3 on host1; v2 on host2"

# net_link K NET KIND: the name of host K's link of kind KIND (bridge, vxlan) for net NET
net_link() {
	in_host "$1" ip -d -j link show | jq -r '.[] | select(.ifalias == "nube:'$S'/'$2'" and .linkinfo.info_kind == "'$3'") | .ifname'
}
# fdb_dsts K DEV: the remote addresses of the all-zero FDB entries of VXLAN DEV on host K
fdb_dsts() {
	in_host "$1" bridge fdb show dev "$2" | awk '/^00:00:00:00:00:00/ { for (i = 1; i < NF; i++) if ($i == "dst") print $(i + 1) }' | sort
}

for k in 1 2; do
	for n in Net0 Net1; do
		for kind in bridge vxlan; do
			[ -n "$(net_link $k $n $kind)" ] || fail "host$k has no $kind for $n after the deploy"
		done
	done
done
[ "$(fdb_dsts 2 "$(net_link 2 Net0 vxlan)")" = "$H1" ] || fail "host2's Net0 FDB does not list host1 ($H1)"
[ "$(fdb_dsts 1 "$(net_link 1 Net1 vxlan)")" = "$H2" ] || fail "host1's Net1 FDB does not list host2 ($H2)"
ok "Net0 and Net1 span both hosts (bridges, VXLANs, FDBs)"
br0=$(net_link 1 Net0 bridge)
vx0=$(net_link 1 Net0 vxlan)
br1=$(net_link 1 Net1 bridge)
vx1=$(net_link 1 Net1 vxlan)

# the left-overs of an interrupted migration of v1: host1's agent is down, v1's domain is
# gone there, its net is not
"$LAB" stop-agent host1 >/dev/null
dom=$(host_domains 1 | grep 'v1$') || fail "no domain of v1 on host1"
in_host 1 virsh -q -c qemu:///system destroy "$dom" >/dev/null || fail "virsh destroy $dom"
in_host 1 virsh -q -c qemu:///system undefine "$dom" >/dev/null || fail "virsh undefine $dom"
in_host 1 ip link add fgn0 type bridge || fail "add the foreign bridge"
in_host 1 ip link set fgn0 alias "someone:else/Net0" || fail "alias the foreign bridge"
[ -n "$(net_link 1 Net0 bridge)" ] || fail "Net0's bridge vanished with the domain"
info "host1's agent stopped; $dom destroyed and undefined there; Net0 ($br0, $vx0) still up"

"$LAB" restart-agent host1 >/dev/null
retry 60 bash -c "[ \"\$('$NUBE' hosts --json | jq '[.hosts[] | select(.online)] | length')\" = 2 ]" ||
	fail "host1 did not come back"
gone() { [ -z "$(net_link 1 Net0 bridge)$(net_link 1 Net0 vxlan)" ]; }
retry 30 gone || fail "host1 still has Net0's links: $(host_links 1 | tr '\n' ' ')"
ok "host1's agent removed Net0's bridge and VXLAN (no VM there uses it)"
grep -q "net reconcile: removed 'nr/Net0'" "$LAB_STATE/host1/nubed.log" || fail "host1's log does not say it removed nr/Net0"
h2vx0=$(net_link 2 Net0 vxlan)
[ -n "$h2vx0" ] || fail "host2 lost its Net0 VXLAN (v2 uses it)"
nofdb() { ! fdb_dsts 2 "$h2vx0" | grep -qx "$H1"; }
retry 30 nofdb || fail "host2's Net0 FDB still lists host1: $(fdb_dsts 2 "$h2vx0" | tr '\n' ' ')"
ok "host2's Net0 FDB no longer lists host1"
[ "$(net_link 1 Net1 bridge)" = "$br1" ] && [ "$(net_link 1 Net1 vxlan)" = "$vx1" ] ||
	fail "host1's Net1 links changed (v3 uses them): $(host_links 1 | tr '\n' ' ')"
[ "$(fdb_dsts 1 "$vx1")" = "$H2" ] || fail "host1's Net1 FDB changed: $(fdb_dsts 1 "$vx1" | tr '\n' ' ')"
[ "$(fdb_dsts 2 "$(net_link 2 Net1 vxlan)")" = "$H1" ] || fail "host2's Net1 FDB no longer lists host1"
[ -n "$(net_link 2 Net0 bridge)" ] && [ -n "$(net_link 2 Net1 bridge)" ] || fail "host2 lost a bridge"
in_host 1 ip -o link show fgn0 >/dev/null 2>&1 || fail "the foreign bridge fgn0 was removed"
ok "Net1 (used by v3) untouched on both hosts, host2's Net0 kept, foreign bridge kept"

in_host 1 ip link del fgn0
"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "undeploy"; }
assert_clean $S
ok "done"
