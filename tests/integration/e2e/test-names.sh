#!/bin/bash
# test-names.sh: one name rule and unambiguous domain names, on a 1-host lab.
#  (a) traversal: an undeploy rpc sent straight to the agent with a '../..' scenario name,
#      and `nube undeploy --force '../..'`, are both refused with the name's problem, and a
#      sentinel file that the old agent's spec removal would have deleted is still there;
#  (b) collision: scenario 'x-y' with VM 'z' and scenario 'x' with VM 'y-z' (both were
#      domain 'x-y-z' before) deploy and run side by side, each guest keeps its own hostname;
#      a foreign domain (virsh, no nube metadata) named as nube would name a VM makes that
#      deploy fail naming it, and stays defined and running, without nube metadata;
#  (c) a drain rpc with "cancel":"yes" is refused as malformed and starts no drain.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../agent/rpc.sh"
need
command -v mosquitto_pub >/dev/null || fail "mosquitto-clients missing"
GDIR=/var/lib/nube/guest
lab_up 1
BROKER=$(sed -n 's/^NUBE_LAB_BROKER=//p' < <("$LAB" env))
OPW=$(cat "$LAB_STATE/operator.pw")
[ -n "$BROKER" ] && [ -n "$OPW" ] || fail "no broker address or operator password from the lab"

# ---- (a) traversal ----
# the agent's spec file is <state_dir>/<host>/specs/<scenario>.xml: enough '..' reach / from
# any state_dir, so the old agent removed /tmp/<sentinel>.xml on undeploy
sentinel=nube-names-sentinel-$$
up=$(printf '../%.0s' $(seq 1 24))
in_host 1 sh -c "echo keep > /tmp/$sentinel.xml" || fail "cannot make the sentinel"
rpc host1 '{"op":"undeploy","scenario":"'"${up}tmp/$sentinel"'"}' 30 >"$T/trav.json" ||
	fail "undeploy rpc got no answer"
cat "$T/trav.json"
jq -e '.ok == false and (.error | startswith("malformed request: \"scenario\": ") and
    endswith("contains '"'"'/'"'"'"))' "$T/trav.json" >/dev/null || fail "a '../..' scenario name was not refused"
[ "$(in_host 1 cat /tmp/$sentinel.xml)" = keep ] || fail "the sentinel /tmp/$sentinel.xml is gone"
ok "undeploy rpc with scenario '${up:0:9}...tmp/$sentinel' refused: $(jq -r .error "$T/trav.json")"
rc=0
"$NUBE" undeploy --force "${up}tmp/$sentinel" >"$T/u.out" 2>"$T/u.err" || rc=$?
[ "$rc" = 2 ] || { cat "$T/u.err"; fail "nube undeploy --force '../..': exit $rc, expected 2"; }
grep -q "^nube: undeploy: scenario name '.*' contains '/'$" "$T/u.err" ||
	{ cat "$T/u.err"; fail "nube undeploy --force '../..' does not say what is wrong"; }
[ "$(in_host 1 cat /tmp/$sentinel.xml)" = keep ] || fail "the sentinel is gone after nube undeploy"
in_host 1 rm -f "/tmp/$sentinel.xml"
ok "nube undeploy --force '../..' refused: $(cat "$T/u.err")"

# ---- (b) collision ----
# mkscen NAME VM ADDR: a one-VM scenario file in $T/NAME.xml
mkscen() {
	cat >"$T/$1.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx>
  <global>
    <version>2.0</version>
    <scenario_name>$1</scenario_name>
    <automac/>
    <vm_mgmt type="none" />
    <vm_defaults>
      <mem>96M</mem>
      <kernel initrd="$GDIR/initrd.img">$GDIR/vmlinuz</kernel>
    </vm_defaults>
  </global>
  <net name="n0" mode="virtual_bridge" />
  <vm name="$2" type="libvirt" subtype="kvm" os="linux" arch="x86_64">
    <if id="1" net="n0"><ipv4>$3/24</ipv4></if>
  </vm>
</vnx>
EOF
}
mkscen x-y z 10.97.0.1
mkscen x y-z 10.97.1.1
for s in x-y x; do
	"$NUBE" deploy "$T/$s.xml" >"$T/$s.out" 2>"$T/$s.err" || { cat "$T/$s.err"; fail "deploy $s"; }
done
doms=$(host_domains 1 | tr '\n' ' ')
for d in x-y.z x.y-z; do
	in_host 1 virsh -q -c qemu:///system domstate "$d" | grep -q running ||
		fail "domain $d is not running (host1 has: $doms)"
done
ok "scenarios 'x-y' (vm 'z') and 'x' (vm 'y-z') run side by side: $doms"
for sv in x-y:z x:y-z; do
	s=${sv%%:*} v=${sv#*:}
	"$NUBE" exec "$s" --vm "$v" --cmd hostname --json >"$T/hn.json" 2>"$T/hn.err" ||
		{ cat "$T/hn.err"; fail "exec hostname in $s/$v"; }
	h=$(jq -r '.results[0].stdout' "$T/hn.json" | tr -d '\r\n')
	[ "$h" = "$v" ] || fail "vm '$v' of '$s' has hostname '$h'"
done
ok "each guest keeps its own hostname (z, y-z)"

# a foreign domain with the name nube would give vm 'v' of scenario 'f'
cat >"$T/foreign.xml" <<EOF
<domain type='qemu'>
  <name>f.v</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$GDIR/vmlinuz</kernel>
    <initrd>$GDIR/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <devices><serial type='pty'/><console type='pty'/><memballoon model='none'/></devices>
</domain>
EOF
in_host 1 virsh -q -c qemu:///system define "$T/foreign.xml" >/dev/null || fail "virsh define f.v"
in_host 1 virsh -q -c qemu:///system start f.v >/dev/null || fail "virsh start f.v"
mkscen f v 10.97.2.1
rc=0
"$NUBE" deploy "$T/f.xml" >"$T/f.out" 2>"$T/f.err" || rc=$?
[ "$rc" = 1 ] || { cat "$T/f.err"; fail "deploy over a foreign domain: exit $rc, expected 1"; }
grep -q "domain 'f.v' exists on .* and is not nube's (no nube metadata): left untouched" "$T/f.err" ||
	{ cat "$T/f.err"; fail "the refusal does not name the foreign domain"; }
in_host 1 virsh -q -c qemu:///system domstate f.v | grep -q running || fail "the foreign domain is not running any more"
if in_host 1 virsh -q -c qemu:///system metadata f.v https://nube.dev/xmlns/domain/1 >/dev/null 2>&1; then
	fail "the foreign domain got nube metadata"
fi
[ "$(store_rows f)" = 0 ] || fail "the store keeps the failed scenario 'f'"
ok "deploy of 'f' refused: $(grep -o "domain 'f.v' exists[^;]*" "$T/f.err" | head -1); f.v still running, no nube metadata"
in_host 1 virsh -q -c qemu:///system destroy f.v >/dev/null
in_host 1 virsh -q -c qemu:///system undefine f.v >/dev/null

# ---- (c) a drain with a mistyped "cancel" starts nothing ----
mosquitto_sub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -t nube/v1/events -W 8 >"$T/ev.out" 2>/dev/null &
spid=$!
sleep 0.5
rpc host1 '{"op":"drain","cancel":"yes"}' 30 >"$T/drain.json" || fail "drain rpc got no answer"
cat "$T/drain.json"
jq -e '.ok == false and .error == "malformed request: \"cancel\" must be a boolean"' "$T/drain.json" \
	>/dev/null || fail "drain with \"cancel\":\"yes\" was not refused as malformed"
wait $spid 2>/dev/null || true
! grep -q '"drain' "$T/ev.out" || { cat "$T/ev.out"; fail "a drain started"; }
for d in x-y.z x.y-z; do
	in_host 1 virsh -q -c qemu:///system domstate "$d" | grep -q running || fail "$d stopped"
done
ok "drain with \"cancel\":\"yes\" refused, no drain event, the VMs stay"

for s in x-y x; do
	"$NUBE" undeploy "$s" >"$T/un.out" 2>&1 || { cat "$T/un.out"; fail "undeploy $s"; }
done
assert_clean x-y
assert_clean x
