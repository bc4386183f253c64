#!/bin/bash
# test-deploy-fail.sh: host2's agent is killed in the middle of a deploy: the deploy fails at
# once naming host2, the other hosts are rolled back (no domain, no nbr/nvx link left), the
# store keeps nothing; after the agent restarts, `undeploy --force` cleans host2 too.
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
assert_clean $S 1 3
sqlite3 "$LAB_STATE/nube.db" "SELECT type FROM event WHERE scenario='$S'" | grep -q '^deploy-failed$' ||
	fail "no deploy-failed event"

"$LAB" restart-agent host2 >/dev/null
for i in $(seq 1 60); do [ "$(hosts_live)" = 3 ] && break; sleep 1; done
[ "$(hosts_live)" = 3 ] || fail "host2 did not come back"
ok "host2's agent restarted"
# what the dead agent left on host2 is cleaned by a forced undeploy (store has no entry)
rc=0
"$NUBE" undeploy $S >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "undeploy of an unknown scenario should fail without --force"
"$NUBE" undeploy --force $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "undeploy --force"; }
assert_clean $S
ok "done"
