#!/bin/bash
# test-virt.sh: the virt and netdev adapters against real QEMU guests on a 2-host lab
#
# Run as root from anywhere: tests/integration/virt/test-virt.sh
# Uses virt-tool (built by meson into $NUBE_BUILD/tests/integration/virt/, NUBE_BUILD
# defaults to <repo>/build) and lab/nube-lab (its own lab: NUBE_LAB_ID, default 0, unless
# a lab with that id is already up — then it is used and left up).
# Steps: VXLAN net on both hosts through netdev (inside each host's namespace), one guest per
# host rendered + defined + started through libvirt, guest configuration through the agent
# (NIC renamed by MAC, MTU, IPv4/IPv6, route, forwarding, hostname), `ip addr` through
# guest-exec, ping across hosts (v4 and v6), idempotent re-configure, metadata in virt_list,
# live migration host1 -> host2 while pinging (duration/downtime printed), ping after
# migration, migration back, a DHCP guest (udhcpd on another guest), cleanup (domains, nets). Exits non-zero on the first failure.
set -eu

REPO=$(cd "$(dirname "$(readlink -f "$0")")/../../.." && pwd)
BUILD=${NUBE_BUILD:-$REPO/build}
TOOL=$BUILD/tests/integration/virt/virt-tool
LAB=$REPO/lab/nube-lab
SC=$REPO/tests/integration/virt/vti.xml
MTU=1450
VNI=5000
MAC1=02:fd:00:50:00:01
MAC2=02:fd:00:50:00:02
OWN_LAB=0

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

cleanup() {
	set +e
	if [ -n "${H1:-}" ]; then
		"$TOOL" -c "qemu+tcp://$H1/system" destroy vti.a1 >/dev/null 2>&1
		"$TOOL" -c "qemu+tcp://$H2/system" destroy vti.a1 >/dev/null 2>&1
		"$TOOL" -c "qemu+tcp://$H2/system" destroy vti.a2 >/dev/null 2>&1
		"$LAB" exec host1 -- "$TOOL" net-remove vti Net0 >/dev/null 2>&1
		"$LAB" exec host2 -- "$TOOL" net-remove vti Net0 >/dev/null 2>&1
	fi
	[ "$OWN_LAB" = 1 ] && "$LAB" down >/dev/null 2>&1
	rm -f "${PINGOUT:-}"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "run as root (the lab makes namespaces and runs libvirtd)"
[ -x "$TOOL" ] || fail "$TOOL not built (meson setup $BUILD && ninja -C $BUILD)"
[ -x "$LAB" ] || fail "$LAB missing"

if ! "$LAB" status >/dev/null 2>&1 || [ "$("$LAB" env | sed -n 's/^NUBE_LAB_HOSTS=//p')" != 2 ]; then
	"$LAB" down >/dev/null 2>&1 || true
	"$LAB" up 2 --no-agents || fail "lab up"
	OWN_LAB=1
fi
eval "$("$LAB" env)"
H1=$NUBE_LAB_HOST1_IP
H2=$NUBE_LAB_HOST2_IP
U1=qemu+tcp://$H1/system
U2=qemu+tcp://$H2/system
ok "lab: host1 $H1, host2 $H2"

# --- networks through netdev, inside each host ---
"$LAB" exec host1 -- "$TOOL" net-ensure vti Net0 $VNI "$H1" $MTU "$H2" || fail "net-ensure host1"
"$LAB" exec host2 -- "$TOOL" net-ensure vti Net0 $VNI "$H2" $MTU "$H1" || fail "net-ensure host2"
l=$("$LAB" exec host1 -- "$TOOL" net-list)
echo "$l" | grep -q "^vti Net0 nbr[0-9a-f]* $VNI $H2\$" || fail "net-list on host1: '$l'"
m=$("$LAB" exec host1 -- "$TOOL" mtu-of "$H1")
[ "$m" = 1500 ] || fail "mtu-of $H1 on host1: '$m'"
ok "vxlan net on both hosts (vni $VNI, fabric mtu $m)"

# --- guests ---
t0=$(date +%s%N)
"$TOOL" -c "$U1" -m $MTU --macs $MAC1 start "$SC" a1 || fail "start a1"
"$TOOL" -c "$U2" -m $MTU --macs $MAC2 start "$SC" a2 || fail "start a2"
ok "defined and started vti.a1 on host1, vti.a2 on host2"
"$TOOL" -c "$U1" -m $MTU -t 90 configure "$SC" a1 || fail "configure a1"
"$TOOL" -c "$U2" -m $MTU -t 90 configure "$SC" a2 || fail "configure a2"
t1=$(date +%s%N)
ok "both guests configured $(( (t1 - t0) / 1000000 )) ms after start"

out=$("$TOOL" -c "$U1" exec vti.a1 'ip addr show dev eth1; ip route; hostname') || fail "exec ip addr"
echo "$out" | grep -q "inet 10.50.0.1/24" || fail "a1 lacks 10.50.0.1/24: $out"
echo "$out" | grep -q "inet6 2001:db8:50::1/64" || fail "a1 lacks 2001:db8:50::1/64: $out"
echo "$out" | grep -q "mtu $MTU" || fail "a1 eth1 mtu is not $MTU: $out"
echo "$out" | grep -q "link/ether $MAC1" || fail "a1 eth1 is not the NIC with $MAC1: $out"
echo "$out" | grep -q "10.60.0.0/24 via 10.50.0.2" || fail "a1 lacks its route: $out"
[ "$(echo "$out" | tail -1)" = a1 ] || fail "a1 hostname: $out"
f=$("$TOOL" -c "$U2" exec vti.a2 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding' | tr '\n' ' ')
[ "$f" = "1 1 " ] || fail "a2 forwarding: '$f'"
ok "guest configuration seen through guest-exec (address, ipv6, mtu, mac, route, hostname, forwarding)"

set +e
"$TOOL" -c "$U1" exec vti.a1 'echo out; echo err >&2; exit 3' >/dev/null 2>&1
rc=$?
set -e
[ $rc = 3 ] || fail "guest exit code not passed through (got $rc)"
ok "guest exit code passed through"

"$TOOL" -c "$U1" exec vti.a1 'ping -c 3 -W 3 10.50.0.2' >/dev/null || fail "a1 cannot ping a2 across hosts"
"$TOOL" -c "$U1" exec vti.a1 'ping6 -c 3 -W 3 2001:db8:50::2' >/dev/null || fail "a1 cannot ping6 a2 across hosts"
ok "a1 (host1) pings a2 (host2) over the vxlan, ipv4 and ipv6"

"$TOOL" -c "$U1" -m $MTU configure "$SC" a1 >/dev/null || fail "re-configure a1 is not idempotent"
n=$("$TOOL" -c "$U1" exec vti.a1 'ip -4 addr show dev eth1 | grep -c inet')
[ "$n" = 1 ] || fail "re-configure duplicated addresses ($n)"
ok "re-configure is idempotent"

l=$("$TOOL" -c "$U1" list)
echo "$l" | grep -q "^vti.a1 vti a1 running .* \[1 Net0 10.50.0.1/24\] \[1 Net0 2001:db8:50::1/64\]$" || fail "list: '$l'"
ok "virt_list reads the metadata back: $l"

# --- live migration while a2 pings a1 every 50 ms ---
PINGOUT=$(mktemp /tmp/test-virt-ping.XXXXXX)
"$TOOL" -c "$U2" -t 40 exec vti.a2 'ping -c 200 -i 0.05 -W 1 10.50.0.1 | tail -2' >"$PINGOUT" 2>&1 &
PINGPID=$!
sleep 2
mig=$("$TOOL" -c "$U1" migrate vti.a1 "$U2" "tcp://$H2") || fail "migrate a1 to host2"
echo "$mig"
wait $PINGPID || true
echo "ping during migration: $(tr '\n' ' ' <"$PINGOUT")"
grep -q "packets received" "$PINGOUT" || fail "ping during migration did not run"
dt=$(echo "$mig" | sed -n 's/.*downtime \([0-9-]*\) ms.*/\1/p')
[ -n "$dt" ] && [ "$dt" -ge 0 ] || fail "no downtime in migration stats: $mig"
"$TOOL" -c "$U2" list | grep -q "^vti.a1 vti a1 running" || fail "a1 not running on host2 after migration"
! "$TOOL" -c "$U1" list | grep -q "^vti.a1 " || fail "a1 still defined on host1 after migration"
"$TOOL" -c "$U2" exec vti.a1 'ip -4 addr show dev eth1' | grep -q "10.50.0.1/24" || fail "a1 lost its address"
"$TOOL" -c "$U2" exec vti.a2 'ping -c 2 -W 3 10.50.0.1' >/dev/null || fail "a2 cannot ping a1 after migration"
ok "live migration host1 -> host2 kept address and connectivity"

mig=$("$TOOL" -c "$U2" migrate vti.a1 "$U1" "tcp://$H1") || fail "migrate a1 back to host1"
echo "$mig"
"$TOOL" -c "$U2" exec vti.a2 'ping -c 2 -W 3 10.50.0.1' >/dev/null || fail "a2 cannot ping a1 after migrating back"
ok "migration back host2 -> host1, a1 reachable across hosts again"

# --- DHCP: a3 on host1 gets its address from udhcpd on a2 (host2), then its route ---
"$TOOL" -c "$U2" exec vti.a2 'printf "start 10.50.0.100\nend 10.50.0.120\ninterface eth1\noption subnet 255.255.255.0\noption router 10.50.0.2\nlease_file /tmp/udhcpd.leases\n" >/tmp/udhcpd.conf && touch /tmp/udhcpd.leases && busybox udhcpd /tmp/udhcpd.conf' || fail "udhcpd on a2"
"$TOOL" -c "$U1" -m $MTU --macs 02:fd:00:50:00:03 start "$SC" a3 || fail "start a3"
"$TOOL" -c "$U1" -m $MTU -t 90 configure "$SC" a3 || fail "configure a3 (dhcp)"
out=$("$TOOL" -c "$U1" exec vti.a3 'ip -4 addr show dev eth1; ip route')
echo "$out" | grep -q "inet 10.50.0.1[0-2][0-9]/24" || fail "a3 got no lease from udhcpd: $out"
echo "$out" | grep -q "10.70.0.0/24 via 10.50.0.2" || fail "a3 lacks its route after the lease: $out"
"$TOOL" -c "$U1" -m $MTU configure "$SC" a3 >/dev/null || fail "re-configure a3"
n=$("$TOOL" -c "$U1" exec vti.a3 'ps | grep -c "[u]dhcpc -i eth1"')
[ "$n" = 1 ] || fail "re-configure started another DHCP client ($n running)"
ok "dhcp: a3 leased $(echo "$out" | sed -n 's/.*inet \([0-9.]*\/24\).*/\1/p') and got its route; one client after re-configure"
"$TOOL" -c "$U1" destroy vti.a3 || fail "destroy a3"

# --- cleanup is part of the test ---
"$TOOL" -c "$U1" destroy vti.a1 || fail "destroy a1"
"$TOOL" -c "$U2" destroy vti.a2 || fail "destroy a2"
"$TOOL" -c "$U1" destroy vti.a1 || fail "destroy of an absent domain must succeed"
[ -z "$("$TOOL" -c "$U1" list)$("$TOOL" -c "$U2" list)" ] || fail "domains left after destroy"
"$LAB" exec host1 -- "$TOOL" net-remove vti Net0 || fail "net-remove host1"
"$LAB" exec host2 -- "$TOOL" net-remove vti Net0 || fail "net-remove host2"
[ -z "$("$LAB" exec host1 -- "$TOOL" net-list)" ] || fail "nets left on host1"
ok "domains and nets removed"
echo "test-virt: all checks passed"
