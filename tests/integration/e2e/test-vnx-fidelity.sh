#!/bin/bash
# test-vnx-fidelity.sh: VNX constructs nube used to refuse run on a 2-host lab as
# `nube validate` says they will (issue 11): a mode="veth" type="p2p" net runs as a two-port
# bridge, stretched when its two VMs are on different hosts, and they ping over it; a seq
# list <exec seq="on_boot,hello"> runs with `nube exec S hello` (VNX splits the list); an
# <if net="unconnected"> and an <if net="lo"> give the VM no NIC, the lo one's address is on
# the guest's lo; vlan="" is no vlan. Start order (issue 13): three VMs on one host start
# as VNX starts them (<vm order> first, by it, then file order), `--intervm-delay` waits
# between them, and the progress names each guest as it becomes ready with the counts.
# Run as root from anywhere; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
S=fidelity
cat >"$T/f.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx>
  <global>
    <version>2.0</version>
    <scenario_name>$S</scenario_name>
    <automac/>
    <vm_mgmt type="none"/>
  </global>
  <net name="P" mode="veth" type="p2p"/>
  <net name="L" mode="virtual_bridge" vlan=""/>
  <vm name="a" type="libvirt" subtype="kvm" os="linux">
    <filesystem type="cow">/nonexistent/nube-test/rootfs_a</filesystem>
    <if id="1" net="P"><ipv4>10.88.0.1/30</ipv4></if>
    <if id="2" net="L"><ipv4>10.88.1.1/24</ipv4></if>
    <if id="3" net="lo"><ipv4>10.88.9.1/32</ipv4></if>
    <exec seq="on_boot,hello" type="verbatim">echo hello-from-a</exec>
  </vm>
  <vm name="b" type="libvirt" subtype="kvm" os="linux">
    <filesystem type="cow">/nonexistent/nube-test/rootfs_b</filesystem>
    <if id="1" net="P"><ipv4>10.88.0.2/30</ipv4></if>
    <if id="2" net="unconnected"/>
    <exec seq="hello" type="verbatim">echo hello-from-b</exec>
  </vm>
</vnx>
EOF
cat >"$T/r.xml" <<'EOF'
<deployment_restrictions>
  <antiaffinity><vm>a</vm><vm>b</vm></antiaffinity>
</deployment_restrictions>
EOF

# offline first: accepted, and what runs differently is said at its line
"$NUBE" validate "$T/f.xml" >"$T/v.out" 2>"$T/v.err" || { cat "$T/v.err"; fail "validate refused the scenario"; }
grep -q "f.xml:9: warning: net 'P': mode veth runs as a Linux bridge with two ports" "$T/v.err" ||
	{ cat "$T/v.err"; fail "no warning that the veth net is a bridge"; }
! grep -q "interface 3 on net 'lo'" "$T/v.err" ||
	{ cat "$T/v.err"; fail "the lo interface is warned about: it is configured"; }
grep -q "f.xml:21: warning: vm 'b': interface 2 on net 'unconnected': ignored" "$T/v.err" ||
	{ cat "$T/v.err"; fail "no warning about the unconnected interface"; }
ok "validate accepts the scenario and names the veth net and the unconnected interface"

lab_up 2
"$NUBE" deploy "$T/f.xml" --restrictions "$T/r.xml" >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" "$T/deploy.out" >&2; fail "deploy"; }
"$NUBE" status "$S" --json >"$T/status.json" || fail "status"
ha=$(jq -r '.vms[] | select(.vm == "a") | .host' "$T/status.json")
hb=$(jq -r '.vms[] | select(.vm == "b") | .host' "$T/status.json")
[ -n "$ha" ] && [ -n "$hb" ] && [ "$ha" != "$hb" ] || { cat "$T/status.json"; fail "a ($ha) and b ($hb) not on two hosts"; }
ok "deployed: a on $ha, b on $hb"
for k in $(lab_hosts); do
	host_links "$k" | grep -q '^nvx' || fail "host$k has no VXLAN link: the p2p net is not stretched"
done
ok "the p2p net is stretched between the two hosts"

retry 240 "$NUBE" exec $S --vm a --cmd 'ping -c 3 -W 2 10.88.0.2' ||
	{ cat "$T/retry.out" >&2; fail "a cannot ping b (10.88.0.2) over the p2p net"; }
grep -q "bytes from 10.88.0.2" "$T/retry.out" || { cat "$T/retry.out"; fail "no ping reply"; }
ok "a pings b over the p2p net across hosts"

"$NUBE" exec $S hello >"$T/hello.out" 2>&1 || { cat "$T/hello.out"; fail "exec hello"; }
grep -q '^hello-from-a$' "$T/hello.out" || { cat "$T/hello.out"; fail "seq 'hello' of a's list 'on_boot,hello' did not run"; }
grep -q '^hello-from-b$' "$T/hello.out" || { cat "$T/hello.out"; fail "b's seq 'hello' did not run"; }
ok "exec hello runs a's <exec seq=\"on_boot,hello\"> and b's <exec seq=\"hello\">"

"$NUBE" exec $S --vm b --cmd 'ls /sys/class/net' >"$T/nics.out" 2>&1 || { cat "$T/nics.out"; fail "exec ls on b"; }
grep -q '^eth1$' "$T/nics.out" || { cat "$T/nics.out"; fail "b has no eth1"; }
! grep -q '^eth2$' "$T/nics.out" || { cat "$T/nics.out"; fail "b has an eth2 for its unconnected interface"; }
ok "b's unconnected interface makes no NIC"

"$NUBE" exec $S --vm a --cmd 'ip -4 addr show dev lo' >"$T/lo.out" 2>&1 || { cat "$T/lo.out"; fail "exec ip addr on a"; }
grep -q 'inet 10.88.9.1/32' "$T/lo.out" || { cat "$T/lo.out"; fail "a's <if net=\"lo\"> address 10.88.9.1/32 is not on its lo"; }
ok "a's loopback address 10.88.9.1/32 is on its lo"

"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out"; fail "undeploy"; }
assert_clean $S

# ---- start order and --intervm-delay on one host ----
O=ordered
cat >"$T/o.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx>
  <global><version>2.0</version><scenario_name>$O</scenario_name><automac/><vm_mgmt type="none"/></global>
  <net name="N" mode="virtual_bridge"/>
  <vm name="c" type="libvirt"><if id="1" net="N"><ipv4>10.88.2.3/24</ipv4></if></vm>
  <vm name="d" type="libvirt" order="2"><if id="1" net="N"><ipv4>10.88.2.4/24</ipv4></if></vm>
  <vm name="e" type="libvirt" order="1"><if id="1" net="N"><ipv4>10.88.2.5/24</ipv4></if></vm>
</vnx>
EOF
cat >"$T/o-r.xml" <<'EOF'
<deployment_restrictions>
  <vm_deploy_at vm="c" host="host1"/><vm_deploy_at vm="d" host="host1"/><vm_deploy_at vm="e" host="host1"/>
</deployment_restrictions>
EOF
"$NUBE" deploy "$T/o.xml" --restrictions "$T/o-r.xml" --intervm-delay 2 >"$T/o.out" 2>"$T/o.err" ||
	{ cat "$T/o.err" >&2; fail "deploy of the ordered scenario"; }
grep -o "vm '[cde]' started as domain" "$T/o.err" | cut -d"'" -f2 | tr -d '\n' >"$T/o.order"
[ "$(cat "$T/o.order")" = edc ] || { cat "$T/o.err"; fail "start order $(cat "$T/o.order"), want edc (order=1, order=2, then file order)"; }
ok "host1 started e (order 1), d (order 2), then c"
[ "$(grep -c "waiting 2 s before vm '[dc]' (--intervm-delay 2)" "$T/o.err")" = 2 ] ||
	{ cat "$T/o.err"; fail "no intervm delay before d and c"; }
ok "--intervm-delay 2 waited before the second and the third start"
grep -Eq "host1: vm '[cde]' configured in [0-9]+ s: [123] of 3 ready, " "$T/o.err" ||
	{ cat "$T/o.err"; fail "progress does not name each ready guest with the counts"; }
ok "progress names each guest as it is ready, with how many of the host's are ready and booting"
"$NUBE" undeploy $O >"$T/o-undeploy.out" 2>&1 || { cat "$T/o-undeploy.out"; fail "undeploy $O"; }
assert_clean $O
