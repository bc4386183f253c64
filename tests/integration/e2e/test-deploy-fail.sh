#!/bin/bash
# test-deploy-fail.sh: host2's agent is killed in the middle of a deploy: the deploy fails at
# once naming host2, the other hosts are rolled back (no domain, no nbr/nvx link left), the
# store keeps the scenario as 'failed' with its allocations (host2 may still run its part);
# after the agent restarts, `undeploy --force` cleans host2 too and the store forgets it. Then:
# status shows a VM removed behind nube's back as "missing" and an offline host's VMs as
# "unknown"; undeploy with a host offline cleans the others and keeps the store entry
# ("failed") until a later undeploy, with the host back, finishes. Then a deploy whose nube
# gets SIGTERM is rolled back everywhere, and one whose nube is killed (SIGKILL) shows as
# 'deploying' in `nube status` until `undeploy --force`.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
S=tutorial_lxc_ubuntu
lab_up 3

# round-robin puts 2 of the 6 VMs on every host
"$NUBE" deploy "$TUTORIAL" --algorithm round-robin --timeout 60 >"$T/deploy.out" 2>"$T/deploy.err" &
dpid=$!
# wait for host2 to report progress (it is working on its part), then kill its agent
for i in $(seq 1 300); do
	grep -q "^host2: " "$T/deploy.err" 2>/dev/null && break
	kill -0 $dpid 2>/dev/null || break
	sleep 0.1
done
grep -q "^host2: " "$T/deploy.err" || { cat "$T/deploy.err" >&2; fail "host2 never reported progress"; }
"$LAB" kill-agent host2 >/dev/null
tk=$(date +%s%N)
info "host2's agent killed while deploying"
rc=0
wait $dpid || rc=$?
cat "$T/deploy.err"
[ "$rc" = 1 ] || fail "deploy exit $rc, expected 1"
grep -q "deploy failed: host 'host2'" "$T/deploy.err" || fail "the failure does not name host2"
grep -q "host1: rolled back" "$T/deploy.err" && grep -q "host3: rolled back" "$T/deploy.err" ||
	fail "host1 and host3 not rolled back"
ok "deploy failed naming host2 ($(grep "deploy failed" "$T/deploy.err"))"
info "failure to exit: $(( ($(date +%s%N) - tk) / 1000000 )) ms (includes the other hosts' roll back)"
grep -q "deploy failed: host 'host2': its agent went offline" "$T/deploy.err" ||
	fail "the failure does not say host2's agent went offline"
for k in 1 3; do
	[ -z "$(host_domains $k)$(host_links $k)" ] || fail "host$k not rolled back"
done
# host2 may still run its part (its VMs outlive the agent): the store keeps the scenario
grep -q "run 'nube undeploy --force $S'" "$T/deploy.err" || fail "no undeploy --force hint"
[ "$(sqlite3 "$LAB_STATE/nube.db" "SELECT state FROM scenario WHERE name='$S'")" = failed ] ||
	fail "the store does not keep '$S' as failed while host2 may run part of it"
[ "$(store_allocs $S)" != 0 ] || fail "allocations were dropped while host2 may still use them"
sqlite3 "$LAB_STATE/nube.db" "SELECT type FROM event WHERE scenario='$S'" | grep -q '^deploy-failed$' ||
	fail "no deploy-failed event"
ok "hosts 1 and 3 rolled back; the store keeps '$S' as failed with its allocations"

"$LAB" restart-agent host2 >/dev/null
for i in $(seq 1 60); do [ "$(hosts_live)" = 3 ] && break; sleep 1; done
[ "$(hosts_live)" = 3 ] || fail "host2 did not come back"
ok "host2's agent restarted"
# what the dead agent left on host2 is cleaned by the undeploy the hint names
"$NUBE" undeploy --force $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "undeploy --force"; }
assert_clean $S
# hosts running a scenario the store does not know are still cleaned by undeploy --force
rc=0
"$NUBE" undeploy $S >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "undeploy of an unknown scenario should fail without --force"
"$NUBE" undeploy --force $S >/dev/null 2>&1 || fail "undeploy --force of an unknown scenario"

# undeploy while a host that runs part of the scenario is offline: the live hosts are
# cleaned, the store keeps the scenario (state 'failed') and its allocations; once the
# host is back, undeploy finishes the job
"$NUBE" deploy "$TUTORIAL" --algorithm round-robin >/dev/null 2>"$T/deploy2.err" ||
	{ cat "$T/deploy2.err" >&2; fail "second deploy"; }
h4host=$("$NUBE" status $S --json | jq -r '.vms[] | select(.vm=="h4") | .host')
dom=$S.h4
in_host "${h4host#host}" virsh -q -c qemu:///system destroy "$dom" >/dev/null
in_host "${h4host#host}" virsh -q -c qemu:///system undefine "$dom" >/dev/null
"$NUBE" status $S --json >"$T/st1.json"
jq -e '.vms[] | select(.vm=="h4") | .state == "missing" and .host == null' "$T/st1.json" >/dev/null ||
	{ cat "$T/st1.json"; fail "a VM removed behind nube's back is not 'missing'"; }
ok "a domain removed on $h4host shows as missing in status"
"$LAB" kill-agent host2 >/dev/null
for i in $(seq 1 30); do [ "$(hosts_live)" = 2 ] && break; sleep 1; done
"$NUBE" status $S --json >"$T/st2.json"
[ "$(jq '[.vms[] | select(.state=="unknown")] | length' "$T/st2.json")" = 2 ] ||
	{ cat "$T/st2.json"; fail "host2's VMs are not 'unknown' while its agent is down"; }
ok "host2's VMs show as unknown while its agent is down"
rc=0
"$NUBE" undeploy $S >"$T/und.out" 2>&1 || rc=$?
cat "$T/und.out"
[ "$rc" = 1 ] || fail "undeploy with host2 offline: exit $rc, expected 1"
grep -q "host 'host2' ran part of '$S' and is offline" "$T/und.out" || fail "no warning about host2"
[ "$(sqlite3 "$LAB_STATE/nube.db" "SELECT state FROM scenario WHERE name='$S'")" = failed ] ||
	fail "store state is not 'failed'"
[ "$(store_allocs $S)" != 0 ] || fail "allocations were dropped while host2 may still use them"
for k in 1 3; do
	[ -z "$(host_domains $k)$(host_links $k)" ] || fail "host$k not cleaned while host2 was offline"
done
[ -n "$(host_domains 2)" ] || fail "host2's domains vanished while its agent was down"
ok "undeploy with host2 offline: hosts 1 and 3 cleaned, store entry kept as 'failed'"
"$LAB" restart-agent host2 >/dev/null
for i in $(seq 1 60); do [ "$(hosts_live)" = 3 ] && break; sleep 1; done
"$NUBE" undeploy $S >"$T/und2.out" 2>&1 || { cat "$T/und2.out" >&2; fail "undeploy after host2 came back"; }
assert_clean $S

# nube itself interrupted (SIGTERM) in the middle of a deploy: it rolls back everywhere
"$NUBE" deploy "$TUTORIAL" --algorithm round-robin >/dev/null 2>"$T/deploy3.err" &
dpid=$!
for i in $(seq 1 300); do grep -q "^host[0-9]: " "$T/deploy3.err" && break; sleep 0.1; done
kill -TERM $dpid
rc=0
wait $dpid || rc=$?
[ "$rc" = 1 ] && grep -q "deploy failed: interrupted" "$T/deploy3.err" ||
	{ cat "$T/deploy3.err" >&2; fail "an interrupted deploy: exit $rc, expected 1 with a roll back"; }
assert_clean $S
ok "an interrupted deploy is rolled back"

# nube killed outright (SIGKILL) mid-deploy: the store still says 'deploying' and status says
# so for the scenario and each of its VMs, instead of showing them as if all were well
"$NUBE" deploy "$TUTORIAL" --algorithm round-robin >/dev/null 2>"$T/deploy4.err" &
dpid=$!
for i in $(seq 1 300); do grep -q "^host[0-9]: " "$T/deploy4.err" && break; sleep 0.1; done
kill -KILL $dpid
wait $dpid || true
"$NUBE" status $S --json >"$T/st4.json" || fail "status after a killed deploy"
jq -e --arg s $S '.scenarios == [{"scenario": $s, "state": "deploying"}]
	and (.vms | length) == 6 and all(.vms[]; .scenario_state == "deploying")' "$T/st4.json" >/dev/null ||
	{ cat "$T/st4.json" >&2; fail "status --json does not show '$S' as deploying"; }
"$NUBE" status $S >"$T/st4.txt" 2>"$T/st4.err" || fail "status (table) after a killed deploy"
[ "$(grep -Ec "^$S +deploying " "$T/st4.txt")" = 6 ] || { cat "$T/st4.txt" >&2; fail "the status table does not show 'deploying'"; }
grep -q "note: '$S' is being deployed, or its deploy was interrupted" "$T/st4.err" ||
	{ cat "$T/st4.err" >&2; fail "status gives no note on the stuck deploy"; }
ok "a deploy whose nube was killed shows as 'deploying' in status (json and table)"
"$NUBE" undeploy --force $S >"$T/und4.out" 2>&1 || { cat "$T/und4.out" >&2; fail "undeploy --force after a killed deploy"; }
assert_clean $S
ok "done"
