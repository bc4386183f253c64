#!/bin/bash
# test-agent-restart.sh: a deployed scenario survives its agents and its broker: after killing
# and restarting nubed on a host, and after restarting the broker, `nube status --json` and
# every host's domains and links are what they were; the hosts come back in `nube hosts`.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
S=tutorial_lxc_ubuntu
lab_up 3

"$NUBE" deploy "$TUTORIAL" --algorithm round-robin >"$T/deploy.out" 2>"$T/deploy.err" &
dpid=$!
for i in $(seq 1 300); do grep -q "^host[0-9]: " "$T/deploy.err" && break; sleep 0.1; done
# an undeploy while the deploy runs is refused and changes nothing
rc=0
"$NUBE" undeploy $S >"$T/und-early.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "is being deployed" "$T/und-early.out" ||
	{ cat "$T/und-early.out"; fail "undeploy during the deploy not refused (rc $rc)"; }
ok "undeploy during the deploy refused"
wait $dpid || { cat "$T/deploy.err" >&2; fail "deploy"; }
ok "deployed"

# snapshot: where every VM runs (addresses included) + libvirt and links per host
snapshot() {
	local k
	"$NUBE" status --json | jq -S '.vms | sort_by(.scenario, .vm) | map(del(.addrs))'
	for k in $(lab_hosts); do
		echo "host$k domains:"; host_domains "$k"
		in_host "$k" virsh -q -c qemu:///system list --all | awk '{print $2, $3}' | sort
		echo "host$k links:"; host_links "$k"
		echo "host$k vxlan fdb:"
		in_host "$k" bridge fdb show 2>/dev/null | grep -E '^00:00:00:00:00:00 dev nvx' | sort
	done
}
# addresses appear when the guests' agents are up: wait for them before the first snapshot
retry 120 bash -c "'$NUBE' status --json | jq -e '[.vms[] | select((.addrs | length) > 0)] | length == 6'" ||
	info "not every VM reports addresses (compared without them)"
snapshot >"$T/before"
"$NUBE" status --json | jq -S '.vms | sort_by(.vm) | map({vm, addrs})' >"$T/addrs-before"
cat "$T/before"

"$LAB" kill-agent host1 >/dev/null
sleep 1
"$LAB" restart-agent host1 >/dev/null
for i in $(seq 1 60); do [ "$(hosts_live)" = 3 ] && break; sleep 1; done
[ "$(hosts_live)" = 3 ] || fail "host1 did not come back after its agent restarted"
snapshot >"$T/after-agent"
diff -u "$T/before" "$T/after-agent" || fail "state changed across an agent restart"
ok "agent kill + restart on host1: status, domains and links unchanged"

"$LAB" restart-broker >/dev/null
for i in $(seq 1 90); do [ "$(hosts_live)" = 3 ] && break; sleep 1; done
[ "$(hosts_live)" = 3 ] || { "$NUBE" hosts >&2; fail "hosts did not come back after the broker restart"; }
snapshot >"$T/after-broker"
diff -u "$T/before" "$T/after-broker" || fail "state changed across a broker restart"
"$NUBE" status --json | jq -S '.vms | sort_by(.vm) | map({vm, addrs})' >"$T/addrs-after"
diff -u "$T/addrs-before" "$T/addrs-after" || fail "addresses changed"
ok "broker restart: all 3 hosts back, status, domains, links and addresses unchanged"
retry 60 "$NUBE" exec $S --vm h1 --cmd 'ping -c 2 -W 2 10.1.2.2' ||
	{ cat "$T/retry.out" >&2; fail "h1 no longer reaches h3"; }
ok "h1 still reaches h3 across hosts"

"$NUBE" undeploy $S >/dev/null || fail "undeploy"
assert_clean $S
ok "done"
