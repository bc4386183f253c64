#!/bin/bash
# test-heal.sh: self-healing (issue 12) on a 3-host lab. Four tiny guests on one net: v1 on
# host1, v2 on host2, v3 and v4 on host3. host3 crashes (its nubed, libvirtd and QEMUs get
# SIGKILL at once, lab/nube-lab crash-host). After its last will and [heal] grace (5 s) with
# its libvirtd silent, the healer (host1: the lowest live name) restarts v3 and v4 on host1 /
# host2 under admission, from their images:
#  - "healed" events name each VM, the gone host and the new one, and say its disk changes
#    were lost; the new hosts' libvirt runs them; `nube status` places them there;
#  - the net works again: v1 pings v3 and v4, v3 pings v2 (VXLAN carriers updated);
#  - host3 comes back (libvirtd, nubed): it fences its stale copies ("fenced" events), runs
#    no domain and no scenario link, and no VM runs twice;
#  - undeploy leaves nothing.
# Every step waits on an event or a state, never a fixed time. Run as root; honours
# NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
S=bq
lab_up 3
trap bal_cleanup EXIT
for k in 1 2 3; do
	f="$LAB_STATE/host$k/nubed.conf"
	sed -i "s/^interval = .*/interval = 2/; /^\[balance\]/,\$d" "$f"
	# balancing off (nothing moves but the heal); a high admission limit: the lab has no CPU
	# cap, so a host's load is the whole machine's, which other work may fill
	printf '[balance]\nenabled = false\nload-threshold = 0.95\n\n[heal]\ngrace = 5\n' >>"$f"
	"$LAB" restart-agent "host$k" >/dev/null || fail "restart agent host$k"
done
retry 60 bal_all_live 3 || fail "agents not live again after the restart"
cat >"$T/r.xml" <<'EOF2'
<?xml version="1.0" encoding="UTF-8"?>
<deployment_restrictions>
  <vm_deploy_at vm="v1" host="host1"/>
  <vm_deploy_at vm="v2" host="host2"/>
  <vm_deploy_at vm="v3" host="host3"/>
  <vm_deploy_at vm="v4" host="host3"/>
</deployment_restrictions>
EOF2
"$NUBE" deploy "$QUAD" --restrictions "$T/r.xml" >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" >&2; fail "deploy quad"; }
for v in v1 v2 v3 v4; do
	retry 120 "$NUBE" exec $S --vm "$v" --cmd true || { cat "$T/retry.out" >&2; fail "guest $v does not answer"; }
done
retry 30 "$NUBE" exec $S --vm v1 --cmd "ping -c 1 -W 2 10.98.0.3" || { cat "$T/retry.out" >&2; fail "v1 does not reach v3 before the crash"; }
ok "quad deployed: v1 on host1, v2 on host2, v3 and v4 on host3; v1 pings v3"
# the record host3 published for the others
broker=$(sed -n 's/^NUBE_LAB_BROKER=//p' < <("$LAB" env))
opw=$(cat "$LAB_STATE/operator.pw")
events_start

t0=$SECONDS
"$LAB" crash-host host3 >"$T/crash.out" 2>&1 || { cat "$T/crash.out" >&2; fail "crash host3"; }
info "$(cat "$T/crash.out")"
ev_wait 120 "v3 healed" '.type=="healed" and .vm=="v3"'
ev_wait 60 "v4 healed" '.type=="healed" and .vm=="v4"'
ev_wait 30 "heal-done" '.type=="heal-done" and .data.host=="host3"'
healer=$(jq -r 'select(.type=="heal-start") | .host' "$EVENTS" | sed -n 1p)
[ "$healer" = host1 ] || fail "the healer is '$healer', not host1 (the lowest live name)"
[ "$(ev_count '.type=="heal-start"')" = 1 ] || fail "$(ev_count '.type=="heal-start"') heal-start events: more than one survivor acted"
[ "$(ev_count '.type=="healed"')" = 2 ] || fail "$(ev_count '.type=="healed"') healed events, want 2"
[ "$(jq -c 'select(.type=="healed") | select(.data.disk_changes_lost == true and .data.src == "host3" and (.msg | test("lost")))' "$EVENTS" | wc -l)" = 2 ] ||
	{ jq -c 'select(.type=="healed")' "$EVENTS" >&2; fail "a healed event does not say the disk changes were lost"; }
heal_s=$((SECONDS - t0))
for v in v3 v4; do
	d=$(jq -r 'select(.type=="healed" and .vm=="'$v'") | .data.dst' "$EVENTS")
	case $d in host1 | host2) ;; *) fail "$v healed onto '$d'" ;; esac
	in_host "${d#host}" virsh -q -c qemu:///system list --name | grep -qx "$S.$v" ||
		fail "$v is not running on $d (its libvirt)"
	info "$v: $(jq -r 'select(.type=="healed" and .vm=="'$v'") | .msg' "$EVENTS")"
done
ok "v3 and v4 restarted elsewhere by host1, $heal_s s after the crash; events say their disk changes were lost"
for v in v3 v4; do
	retry 120 "$NUBE" exec $S --vm "$v" --cmd true || { cat "$T/retry.out" >&2; fail "healed $v does not answer"; }
done
retry 60 "$NUBE" exec $S --vm v1 --cmd "ping -c 1 -W 2 10.98.0.3" || { cat "$T/retry.out" >&2; fail "v1 does not reach healed v3"; }
retry 60 "$NUBE" exec $S --vm v1 --cmd "ping -c 1 -W 2 10.98.0.4" || { cat "$T/retry.out" >&2; fail "v1 does not reach healed v4"; }
retry 60 "$NUBE" exec $S --vm v3 --cmd "ping -c 1 -W 2 10.98.0.2" || { cat "$T/retry.out" >&2; fail "healed v3 does not reach v2"; }
ok "the net works again: v1 pings v3 and v4, v3 pings v2"
"$NUBE" status $S >"$T/status.out" 2>&1 || true
for v in v3 v4; do
	h=$(vm_host "$v")
	case $h in host1 | host2) ;; *) cat "$T/status.out" >&2; fail "nube status shows $v on '$h'" ;; esac
done
grep -q "disk changes" "$T/status.out" || { cat "$T/status.out" >&2; fail "nube status does not say the healed VMs lost their disk changes"; }
ok "nube status places v3 and v4 on their new hosts and says their disk changes were lost"

# host3 comes back: its stale copies are fenced, nothing runs twice
"$LAB" revive-host host3 >"$T/revive.out" 2>&1 || { cat "$T/revive.out" >&2; fail "revive host3"; }
retry 60 host_live 3 || fail "host3 not live after its revival"
ev_wait 60 "host3 fenced its stale copies" '.type=="fenced" and .host=="host3"' 2
retry 30 sh -c "[ -z \"\$('$LAB' exec host3 -- virsh -q -c qemu:///system list --all --name | sed '/^\$/d')\" ]" ||
	fail "host3 still has domains: $(host_domains 3 | paste -sd' ')"
retry 30 sh -c "[ -z \"\$('$LAB' exec host3 -- ip -o link show | grep -E ': (nbr|nvx)')\" ]" ||
	fail "host3 still has scenario links: $(host_links 3 | paste -sd' ')"
for v in v1 v2 v3 v4; do
	c=0
	for k in 1 2 3; do
		in_host "$k" virsh -q -c qemu:///system list --name | grep -qx "$S.$v" && c=$((c + 1))
	done
	[ "$c" = 1 ] || fail "$v runs on $c hosts"
done
retry 60 "$NUBE" exec $S --vm v1 --cmd "ping -c 1 -W 2 10.98.0.3" || { cat "$T/retry.out" >&2; fail "v1 does not reach v3 after host3 came back"; }
ok "host3 back: its stale copies fenced ($(jq -r 'select(.type=="fenced") | .vm' "$EVENTS" | paste -sd' ')), every VM runs once, v1 still pings v3"

"$NUBE" undeploy $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out"; fail "undeploy"; }
assert_clean $S
