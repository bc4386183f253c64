#!/bin/bash
# test-degraded.sh: one guest that never comes up does not throw the lab away. Scenario
# 'degr' has two test guests and 'bad', whose initrd (the test guest's, with an /init that
# powers the guest off at once) never lets its guest agent answer. On a 2-host lab:
# --all-or-nothing fails and rolls everything back; the default deploy exits 4 naming 'bad',
# its host and what was waited for, removes 'bad' and leaves a1, a2 running with the scenario
# 'degraded' (store, `nube status`, where 'bad' is "failed"); exec reaches the others;
# undeploy of the degraded scenario leaves nothing; after the initrd is fixed,
# `nube deploy --retry-failed degr` brings 'bad' up alone (a1, a2 untouched) and the scenario
# is 'deployed'. A VM libvirt refuses to start (256 vCPUs) fails alone as well, the VM beside
# it on the same host runs. No pass/fail depends on timing: 'bad' fails because its guest powers off
# (twice: it is restarted once), the good guests get a long --timeout.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
S=degr
GUEST=/var/lib/nube/guest
[ -f $GUEST/initrd.img ] && [ -f $GUEST/vmlinuz ] || fail "no test guest in $GUEST"
command -v cpio >/dev/null || fail "cpio is missing"

# the broken initrd: the test guest's, then a second archive whose /init powers off (the
# kernel unpacks both; the later /init wins). qemu must be able to read it: a 755 folder.
B=$(mktemp -d /var/tmp/nube-degr.XXXXXX)
chmod 755 "$B"
trap 'rm -rf "$B"; e2e_cleanup' EXIT
mkdir "$B/ov"
printf '#!/bin/sh\necho "nube test-degraded: powering off"\n/bin/busybox poweroff -f\n' >"$B/ov/init"
chmod 755 "$B/ov/init"
(cd "$B/ov" && echo init | cpio -o -H newc 2>/dev/null | gzip) >"$B/ov.cpio.gz"
break_initrd() { cat $GUEST/initrd.img "$B/ov.cpio.gz" >"$B/initrd.img"; chmod 644 "$B/initrd.img"; }
fix_initrd() { cp $GUEST/initrd.img "$B/initrd.img"; chmod 644 "$B/initrd.img"; }
break_initrd

cat >"$T/$S.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx><global><version>2.0</version><scenario_name>$S</scenario_name><automac/>
<vm_mgmt type="none"/>
<vm_defaults><console id="0" display="no"/></vm_defaults></global>
<net name="Net0" mode="virtual_bridge"/>
<vm name="a1" type="libvirt" subtype="kvm" os="linux"><if id="1" net="Net0"><ipv4>10.9.0.1/24</ipv4></if></vm>
<vm name="a2" type="libvirt" subtype="kvm" os="linux"><if id="1" net="Net0"><ipv4>10.9.0.2/24</ipv4></if></vm>
<vm name="bad" type="libvirt" subtype="kvm" os="linux"><kernel initrd="$B/initrd.img">$GUEST/vmlinuz</kernel>
<if id="1" net="Net0"><ipv4>10.9.0.3/24</ipv4></if></vm>
</vnx>
EOF

lab_up 2
# 1. --all-or-nothing: today's behaviour, the whole deployment rolled back
rc=0
"$NUBE" deploy "$T/$S.xml" --algorithm round-robin --timeout 300 --all-or-nothing \
	>"$T/aon.out" 2>"$T/aon.err" || rc=$?
cat "$T/aon.err"
[ "$rc" = 1 ] || fail "--all-or-nothing with a failing guest: exit $rc, expected 1"
grep -q "deploy failed: host 'host[12]': vm 'bad': configure: guest agent of '$S.bad' did not answer" "$T/aon.err" ||
	fail "--all-or-nothing: the failure does not name vm 'bad' and its guest agent"
assert_clean $S
ok "--all-or-nothing: a failed guest rolls the whole deployment back"

# 2. default: degraded, 'bad' named with its host and what was waited for
deploy_degraded() {
	rc=0
	"$NUBE" deploy "$T/$S.xml" --algorithm round-robin --timeout 300 >"$T/d.out" 2>"$T/d.err" || rc=$?
	cat "$T/d.err"
	[ "$rc" = 4 ] || fail "deploy with a failing guest: exit $rc, expected 4 (degraded)"
	grep -Eq "^nube: vm 'bad' failed on host 'host[12]' after [0-9]+ s: guest agent of '$S.bad' did not answer within [0-9]+ s \(not running; restarted once" "$T/d.err" ||
		fail "the degraded deploy does not name 'bad', its host, what it waited for and the restart"
	grep -q "'$S' is degraded: 1 of 3 VMs failed" "$T/d.err" || fail "no 'degraded' summary"
	grep -q "nube deploy --retry-failed $S" "$T/d.err" || fail "no --retry-failed hint"
	[ "$(sqlite3 "$LAB_STATE/nube.db" "SELECT state FROM scenario WHERE name='$S'")" = degraded ] ||
		fail "the store does not keep '$S' as degraded"
	"$NUBE" status $S --json >"$T/st.json" || fail "status of a degraded scenario"
	jq -e --arg s $S '.scenarios == [{"scenario": $s, "state": "degraded"}]
		and ([.vms[] | select(.vm == "bad")][0].state == "failed")
		and ([.vms[] | select(.vm != "bad" and .state == "running")] | length == 2)' "$T/st.json" >/dev/null ||
		{ cat "$T/st.json" >&2; fail "status does not show '$S' degraded, 'bad' failed, a1 and a2 running"; }
	for k in $(lab_hosts); do
		host_domains "$k" | grep -qx "$S.bad" && fail "the failed VM's domain stays on host$k"
	done
	true
}
deploy_degraded
ok "default deploy: degraded, 'bad' named and removed, a1 and a2 running"
"$NUBE" exec $S --cmd hostname --vm a1 >"$T/x.out" 2>&1 || { cat "$T/x.out" >&2; fail "exec in a1 of the degraded scenario"; }
grep -qx a1 "$T/x.out" || { cat "$T/x.out" >&2; fail "exec in a1 did not answer its name"; }
ok "exec reaches the VMs that run"

# 3. undeploy of a degraded scenario leaves nothing
"$NUBE" undeploy $S >"$T/u.out" 2>&1 || { cat "$T/u.out" >&2; fail "undeploy of a degraded scenario"; }
assert_clean $S

# 4. degraded again, then the cause fixed and only the failed VM retried
deploy_degraded
good0=$("$NUBE" status $S --json | jq -r '[.vms[] | select(.vm != "bad") | .host + ":" + .vm] | sort | join(",")')
fix_initrd
rc=0
"$NUBE" deploy --retry-failed $S --timeout 300 >"$T/r.out" 2>"$T/r.err" || rc=$?
cat "$T/r.err"
[ "$rc" = 0 ] || fail "--retry-failed after the fix: exit $rc, expected 0"
grep -q "^host[12]: deploying 1 vm of '$S'" "$T/r.err" || fail "the retry did not deploy 'bad' alone"
[ "$(sqlite3 "$LAB_STATE/nube.db" "SELECT state FROM scenario WHERE name='$S'")" = deployed ] ||
	fail "the store does not say deployed after the retry"
"$NUBE" status $S --json >"$T/st2.json"
jq -e --arg s $S '.scenarios == [{"scenario": $s, "state": "deployed"}]
	and ([.vms[] | select(.state == "running")] | length == 3)' "$T/st2.json" >/dev/null ||
	{ cat "$T/st2.json" >&2; fail "status after the retry: not all 3 running"; }
[ "$(jq -r '[.vms[] | select(.vm != "bad") | .host + ":" + .vm] | sort | join(",")' "$T/st2.json")" = "$good0" ] ||
	fail "the retry moved or touched a1/a2"
"$NUBE" exec $S --cmd hostname --vm bad >"$T/x2.out" 2>&1 || { cat "$T/x2.out" >&2; fail "exec in the retried VM"; }
grep -qx bad "$T/x2.out" || fail "the retried VM is not configured (hostname)"
ok "after the fix, --retry-failed brought 'bad' up alone; '$S' is deployed"
"$NUBE" undeploy $S >"$T/u2.out" 2>&1 || { cat "$T/u2.out" >&2; fail "undeploy"; }
assert_clean $S

# 5. a VM libvirt refuses to start (256 vCPUs, over the pc machine type's 255) fails alone too:
# the others on its host go on
S2=degr2
cat >"$T/$S2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<vnx><global><version>2.0</version><scenario_name>$S2</scenario_name><automac/>
<vm_mgmt type="none"/></global>
<net name="Net0" mode="virtual_bridge"/>
<vm name="big" type="libvirt" subtype="kvm" os="linux" vcpu="256"><if id="1" net="Net0"><ipv4>10.9.1.2/24</ipv4></if></vm>
<vm name="c1" type="libvirt" subtype="kvm" os="linux"><if id="1" net="Net0"><ipv4>10.9.1.1/24</ipv4></if></vm>
</vnx>
EOF
cat >"$T/$S2-r.xml" <<'EOF'
<deployment_restrictions><vm_deploy_at vm="big" host="host1"/><vm_deploy_at vm="c1" host="host1"/></deployment_restrictions>
EOF
rc=0
"$NUBE" deploy "$T/$S2.xml" --restrictions "$T/$S2-r.xml" --timeout 300 >"$T/d2.out" 2>"$T/d2.err" || rc=$?
cat "$T/d2.err"
[ "$rc" = 4 ] || fail "deploy with a VM libvirt refuses: exit $rc, expected 4 (degraded)"
grep -Eq "^nube: vm 'big' failed on host 'host1' after [0-9]+ s: define: " "$T/d2.err" ||
	fail "the refused VM is not named with its host and the step that failed (define)"
"$NUBE" status $S2 --json >"$T/st3.json"
jq -e '([.vms[] | select(.vm == "big")][0].state == "failed")
	and ([.vms[] | select(.vm == "c1")][0].state == "running")' "$T/st3.json" >/dev/null ||
	{ cat "$T/st3.json" >&2; fail "status: 'big' not failed or c1 not running"; }
host_domains 1 | grep -qx "$S2.big" && fail "the refused VM's domain stays on host1"
ok "a VM libvirt refuses to start fails alone: c1 on the same host runs"
"$NUBE" undeploy $S2 >"$T/u3.out" 2>&1 || { cat "$T/u3.out" >&2; fail "undeploy $S2"; }
assert_clean $S2
ok "done"
