#!/bin/bash
# test-deploy.sh: the VNX tutorial (examples/vnx/tutorial_lxc_ubuntu.xml, unchanged: 2 routers,
# 4 hosts, 4 nets) deployed on a 3-host lab: VMs spread over >= 2 hosts, h1 pings h3 through
# r1 and r2 across hosts over IPv4 and IPv6, a net spanning two hosts has guest MTU = bridge
# MTU = fabric MTU - 50 and carries full-size pings between hosts, `exec ls12` returns the
# guests' real output, the agents' warnings (missing filesystems) reach the user, and
# undeploy leaves no domain, no nbr/nvx link on any host and nothing in the store.
# Run as root from anywhere; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
S=tutorial_lxc_ubuntu
cmp -s "$TUTORIAL" /work/shared/vnx/tutorial_lxc_ubuntu.xml 2>/dev/null && info "tutorial file identical to the VNX original"
lab_up 3

# invalid input: every error with file:line, exit 1, nothing stored or started
rc=0
"$NUBE" deploy "$REPO/tests/data/bad/all-errors.xml" >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "invalid scenario: exit $rc, expected 1"
[ "$(grep -c 'all-errors.xml:[0-9]*: error:' "$T/bad.out")" -ge 2 ] || { cat "$T/bad.out"; fail "not every error reported with file:line"; }
sed 's/host="host3"/host="host9"/' "$REPO/examples/restrictions.xml" >"$T/r9.xml"
rc=0
"$NUBE" deploy "$REPO/examples/lab-tutorial.xml" --restrictions "$T/r9.xml" >"$T/r9.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "r9.xml:[0-9]*: error: host 'host9' is not a live host" "$T/r9.out" ||
	{ cat "$T/r9.out"; fail "restriction on an unknown host not refused (rc $rc)"; }
[ "$(sqlite3 "$LAB_STATE/nube.db" "SELECT count(*) FROM scenario" 2>/dev/null || echo 0)" = 0 ] ||
	fail "an invalid deploy left something in the store"
for k in $(lab_hosts); do [ -z "$(host_domains "$k")" ] || fail "an invalid deploy started domains on host$k"; done
ok "invalid scenario and restrictions refused with file:line, nothing stored or started"

t0=$(date +%s%N)
"$NUBE" deploy "$TUTORIAL" --algorithm round-robin >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" "$T/deploy.out" >&2; fail "deploy"; }
ok "deployed in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
cat "$T/deploy.out"
grep -q "host1: " "$T/deploy.err" || fail "no per-host progress on stderr"
# the tutorial's lxc filesystems do not exist here: every VM's agent warns, and the user sees it
for vm in h1 h2 h3 h4 r1 r2; do
	grep -q "^host[123]: warning: vm '$vm': filesystem '[^']*' not found" "$T/deploy.err" ||
		fail "no progress warning about $vm's missing filesystem"
	grep -q "^nube: warning: host 'host[123]': vm '$vm': filesystem" "$T/deploy.err" ||
		fail "the summary does not list $vm's warning"
done
grep -Eq "^deployed '$S': .*, [0-9]+ warnings$" "$T/deploy.err" || fail "the summary does not count the warnings"
ok "the agents' warnings show in the progress and the summary"
[ "$(store_rows $S)" = 1 ] || fail "store has no row for $S"
[ "$(sqlite3 "$LAB_STATE/nube.db" "SELECT state FROM scenario WHERE name='$S'")" = deployed ] ||
	fail "store state is not 'deployed'"

# where the VMs run, from the hosts themselves
"$NUBE" status "$S" --json >"$T/status.json" || fail "status"
nvm=$(jq '[.vms[] | select(.scenario=="'$S'" and .state=="running")] | length' "$T/status.json")
[ "$nvm" = 6 ] || { cat "$T/status.json" >&2; fail "$nvm of 6 VMs running"; }
nh=$(jq '[.vms[].host] | unique | length' "$T/status.json")
[ "$nh" -ge 2 ] || fail "VMs on $nh host(s), expected >= 2"
ok "6 VMs running on $nh hosts"
for k in $(lab_hosts); do
	info "host$k: domains $(echo $(host_domains "$k")); links $(echo $(host_links "$k"))"
done
# the deploy placement must be where the VMs are
for vm in h1 h2 h3 h4 r1 r2; do
	want=$(sqlite3 "$LAB_STATE/nube.db" "SELECT host FROM placement WHERE scenario='$S' AND vm='$vm'")
	got=$(jq -r '.vms[] | select(.vm=="'$vm'") | .host' "$T/status.json")
	[ "$want" = "$got" ] || fail "vm $vm: store says $want, hosts say $got"
	in_host "${got#host}" virsh -q -c qemu:///system domstate "$S.$vm" | grep -q running ||
		fail "vm $vm: domain $S.$vm not running on $got"
done
ok "placement in the store matches the hosts and libvirt"

# h1 -> h3 through r1 and r2 (guests need a few seconds to boot and set addresses)
retry 120 "$NUBE" exec $S --vm h1 --cmd 'ping -c 3 -W 2 10.1.2.2' ||
	{ cat "$T/retry.out" >&2; fail "h1 cannot ping h3 (10.1.2.2)"; }
grep -q "== h1 (host[0-9]*) cmd: exit 0" "$T/retry.out" || { cat "$T/retry.out"; fail "exec header"; }
grep -q "bytes from 10.1.2.2" "$T/retry.out" || fail "no ping reply in the output"
ok "h1 pings h3 over IPv4: $(grep -c 'bytes from' "$T/retry.out") replies"
retry 60 "$NUBE" exec $S --vm h1 --cmd 'ping6 -c 3 -W 2 2001:db8:2::2 || ping -6 -c 3 -W 2 2001:db8:2::2' ||
	{ cat "$T/retry.out" >&2; fail "h1 cannot ping h3 over IPv6 (2001:db8:2::2)"; }
grep -q "bytes from 2001:db8:2::2" "$T/retry.out" || fail "no ping6 reply in the output"
ok "h1 pings h3 over IPv6: $(grep -c 'bytes from' "$T/retry.out") replies"
# the path really crosses hosts: h1, r1, r2, h3 are not all on one host
hs=$(jq -r '[.vms[] | select(.vm=="h1" or .vm=="r1" or .vm=="r2" or .vm=="h3") | .host] | unique | length' "$T/status.json")
[ "$hs" -ge 2 ] || fail "h1, r1, r2 and h3 all on one host: nothing crossed hosts"
ok "the h1 -> h3 path spans $hs hosts"

# MTU: a net spanning two hosts runs over VXLAN (50 bytes of headers), so its bridge and the
# guests' interfaces on it get the fabric MTU - 50 and a full-size packet crosses hosts whole.
# Pick a net with two VMs on different hosts (IPv4 and IPv6 address of each, from status).
pair=$(jq -r --arg s "$S" '[.vms[] | select(.scenario==$s) as $v | $v.ifaces[]
	| {vm: $v.vm, host: $v.host, if: .if, net: .net, addr: (.addr | sub("/.*"; ""))}
	| select(.addr | test("^[0-9.]+$"))] as $a
	| first($a[] as $x | $a[] | select(.net == $x.net and .host != $x.host)
	| [$x.net, $x.vm, $x.host, $x.if, .vm, .host, .if, .addr]) // empty | @tsv' "$T/status.json")
[ -n "$pair" ] || { cat "$T/status.json" >&2; fail "no net with two VMs on different hosts"; }
read -r mnet va ha ia vb hb ib addr4 <<<"$pair"
addr6=$(jq -r --arg n "$mnet" --arg v "$vb" '.vms[] | select(.vm == $v) | .ifaces[]
	| select(.net == $n and (.addr | contains(":"))) | .addr | sub("/.*"; "")' "$T/status.json" | head -1)
[ -n "$addr6" ] || fail "no IPv6 address of $vb on $mnet"
info "MTU check on $mnet: $va ($ha, eth$ia) -> $vb ($hb, eth$ib) $addr4 $addr6"
fab=$(in_host "${ha#host}" cat /sys/class/net/eth0/mtu)
# bridge_mtu K: the MTU of the bridge of $mnet on host K (found by its ifalias nube:S/NET)
bridge_mtu() {
	in_host "$1" ip -o link show | grep -E "alias nube:$S/$mnet( |\$)" |
		sed -nE 's/^[0-9]+: (nbr[0-9a-f]+):.* mtu ([0-9]+) .*/\1 \2/p'
}
read -r bra mtu_bra <<<"$(bridge_mtu "${ha#host}")"
read -r brb mtu_brb <<<"$(bridge_mtu "${hb#host}")"
[ -n "${mtu_bra:-}" ] && [ -n "${mtu_brb:-}" ] || fail "no bridge with alias nube:$S/$mnet on $ha or $hb"
# guest_mtu VM IF: the MTU of ethIF inside the guest
guest_mtu() {
	"$NUBE" exec $S --vm "$1" --cmd "cat /sys/class/net/eth$2/mtu" | grep -E '^[0-9]+$' || true
}
mtu_a=$(guest_mtu "$va" "$ia")
mtu_b=$(guest_mtu "$vb" "$ib")
info "fabric eth0 $fab; bridge $bra on $ha $mtu_bra, $brb on $hb $mtu_brb; $va eth$ia ${mtu_a:-?}, $vb eth$ib ${mtu_b:-?}"
mtu=$((fab - 50))
[ "$mtu_bra" = "$mtu" ] && [ "$mtu_brb" = "$mtu" ] ||
	fail "bridge MTU $mtu_bra ($ha) / $mtu_brb ($hb), expected fabric $fab - 50 = $mtu"
[ "$mtu_a" = "$mtu" ] && [ "$mtu_b" = "$mtu" ] ||
	fail "guest MTU ${mtu_a:-none} ($va) / ${mtu_b:-none} ($vb), expected $mtu"
ok "$mnet: guest MTU = bridge MTU = fabric $fab - 50 = $mtu on $ha and $hb"
# vx_rx K: bytes received by the VXLAN device of $mnet on host K (same suffix as the bridge)
vx_rx() { in_host "$1" ip -j -s link show dev "nvx${2#nbr}" | jq '.[0].stats64.rx.bytes'; }
# ip_stat K FIELD: a counter of the Ip: line of /proc/net/snmp in host K
ip_stat() {
	in_host "$1" cat /proc/net/snmp |
		awk -v f="$2" '/^Ip:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c[f] }'
}
rx0=$(vx_rx "${hb#host}" "$brb")
frag0=$(ip_stat "${ha#host}" FragCreates)
# full size: ICMP echo of MTU - 28 (IPv4) / MTU - 48 (IPv6) payload; busybox prints payload + 8
retry 30 "$NUBE" exec $S --vm "$va" --cmd "ping -c 3 -W 2 -s $((mtu - 28)) $addr4" ||
	{ cat "$T/retry.out" >&2; fail "$va cannot ping $vb ($addr4) with $((mtu - 28)) bytes"; }
n=$(grep -c "^$((mtu - 28 + 8)) bytes from $addr4" "$T/retry.out" || true)
[ "$n" -ge 1 ] || { cat "$T/retry.out" >&2; fail "no $((mtu - 28 + 8))-byte reply from $addr4"; }
ok "$va pings $vb across hosts with full-size IPv4 packets ($mtu bytes): $n replies"
retry 30 "$NUBE" exec $S --vm "$va" --cmd "ping6 -c 3 -W 2 -s $((mtu - 48)) $addr6 || ping -6 -c 3 -W 2 -s $((mtu - 48)) $addr6" ||
	{ cat "$T/retry.out" >&2; fail "$va cannot ping $vb ($addr6) with $((mtu - 48)) bytes"; }
# (ping6 prints the address in its short form: 2001:db8:0::3 as 2001:db8::3)
n=$(grep -Ec "^$((mtu - 48 + 8)) bytes from [0-9a-f:]+:" "$T/retry.out" || true)
[ "$n" -ge 1 ] || { cat "$T/retry.out" >&2; fail "no $((mtu - 48 + 8))-byte reply from $addr6"; }
ok "$va pings $vb across hosts with full-size IPv6 packets ($mtu bytes): $n replies"
rx1=$(vx_rx "${hb#host}" "$brb")
frag1=$(ip_stat "${ha#host}" FragCreates)
[ $((rx1 - rx0)) -ge $((6 * mtu)) ] || fail "nvx${brb#nbr} on $hb received $((rx1 - rx0)) bytes, expected >= 6 x $mtu"
[ "$frag1" = "$frag0" ] || fail "$ha fragmented $((frag1 - frag0)) packets on the fabric"
ok "the echoes went over VXLAN to $hb ($((rx1 - rx0)) bytes in) and $ha fragmented nothing"
# 50 bytes more than the MTU goes only as fragments (busybox ping cannot set DF): shown, not asserted
rc=0
"$NUBE" exec $S --vm "$va" --cmd "ping -c 2 -W 2 -s $((mtu - 28 + 50)) $addr4" >"$T/big.out" 2>&1 || rc=$?
info "oversize ping ($((mtu + 50)) bytes, fragmented in the guest): exit $rc, $(grep -c 'bytes from' "$T/big.out" || true) replies"

# exec of a cmd-seq: ls12 = ls1 (ls -al /tmp), ls2 (ls -al /root), both only on h2
rc=0
"$NUBE" exec $S ls12 >"$T/exec.out" 2>"$T/exec.err" || rc=$?
cat "$T/exec.out"
h2host=$(jq -r '.vms[] | select(.vm=="h2") | .host' "$T/status.json")
grep -q "^== h2 ($h2host) seq ls1: exit 0$" "$T/exec.out" || fail "no ls1 result for h2 on $h2host"
grep -q "^== h2 ($h2host) seq ls2: exit 0$" "$T/exec.out" || fail "no ls2 result for h2"
[ "$(grep -c '^== ' "$T/exec.out")" = 2 ] || fail "ls12 ran elsewhere than h2 only"
# real output of ls -al: the '.' and '..' entries of a directory listing
grep -Eq '^d[rwxt-]{9} .* \.$' "$T/exec.out" || fail "no '.' entry: not a real ls -al output"
grep -Eq '^d[rwxt-]{9} .* \.\.$' "$T/exec.out" || fail "no '..' entry: not a real ls -al output"
[ "$rc" = 0 ] || fail "exec ls12 exit $rc"
"$NUBE" exec $S ls12 --json | jq -e '.results | length == 2 and all(.[]; .vm=="h2" and .exit==0 and (.stdout | length) > 0)' >/dev/null ||
	fail "exec --json"
ok "exec ls12 returned h2's real output"
# a failing command is reported with its status
rc=0
"$NUBE" exec $S --vm h3 --cmd 'echo oops >&2; exit 7' >"$T/exec7.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "exit 7 in a guest gave nube exit $rc, expected 1"
grep -q "cmd: exit 7" "$T/exec7.out" && grep -q oops "$T/exec7.out" || { cat "$T/exec7.out"; fail "exit 7 report"; }
ok "a failing guest command is reported (exit 7, stderr kept)"

# deploying it again is refused, nothing changes
rc=0
"$NUBE" deploy "$TUTORIAL" >"$T/again.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qi "already" "$T/again.out" || { cat "$T/again.out"; fail "second deploy not refused (rc $rc)"; }
ok "a second deploy of the same scenario is refused"

"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "undeploy"; }
cat "$T/undeploy.out"
assert_clean $S
"$NUBE" status --json | jq -e '.vms | length == 0' >/dev/null || fail "status still lists VMs"
sqlite3 "$LAB_STATE/nube.db" "SELECT type FROM event WHERE scenario='$S'" | grep -q '^undeploy$' ||
	fail "no undeploy event"
ok "done"
