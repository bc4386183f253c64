#!/bin/bash
# test-broker-loss.sh: the lab's broker (mosquitto) dies in the middle of a deploy, once shut
# down (SIGTERM: it may publish the agents' last wills first) and once crashed (SIGKILL). Each
# time the deploy fails naming the broker, not a host, and prints the `undeploy --force`
# hint; the store keeps the scenario as 'failed' with its VNIs and MACs while the agents,
# which never heard of the failure, finish deploying; with the broker back, `undeploy
# --force` cleans every host and only then the store entry goes away.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
S=tutorial_lxc_ubuntu
lab_up 3
URL=$(sed -n 's/^url = //p' "$LAB_STATE/nube.conf")

# running_domains N: the lab's hosts run N domains (the lab runs nothing but this scenario)
running_domains() {
	local k n=0
	for k in $(lab_hosts); do
		n=$((n + $(in_host "$k" virsh -q -c qemu:///system list --name | sed '/^$/d' | wc -l)))
	done
	[ "$n" = "$1" ]
}

for sig in TERM KILL; do
	"$NUBE" deploy "$TUTORIAL" --algorithm round-robin --timeout 60 >"$T/deploy.out" 2>"$T/deploy.err" &
	dpid=$!
	# the hosts are working on their parts: then the broker goes
	for i in $(seq 1 300); do
		grep -q "^host[0-9]: " "$T/deploy.err" 2>/dev/null && break
		kill -0 $dpid 2>/dev/null || break
		sleep 0.1
	done
	grep -q "^host[0-9]: " "$T/deploy.err" || { cat "$T/deploy.err" >&2; fail "no host reported progress"; }
	kill -$sig "$(cat "$LAB_STATE/mosquitto/mosquitto.pid")"
	info "broker killed (SIG$sig) while deploying"
	rc=0
	wait $dpid || rc=$?
	cat "$T/deploy.err"
	[ "$rc" = 1 ] || fail "SIG$sig: deploy exit $rc, expected 1"
	grep -q "^nube: deploy failed: lost the broker at $URL" "$T/deploy.err" ||
		fail "SIG$sig: the failure does not name the broker at $URL"
	grep -q "went offline" "$T/deploy.err" && fail "SIG$sig: a host is blamed for the broker's loss"
	grep -q "run 'nube undeploy --force $S'" "$T/deploy.err" || fail "SIG$sig: no undeploy --force hint"
	ok "SIG$sig: deploy failed naming the broker, with the undeploy --force hint"

	[ "$(sqlite3 "$LAB_STATE/nube.db" "SELECT state FROM scenario WHERE name='$S'")" = failed ] ||
		fail "SIG$sig: the store does not keep '$S' as failed"
	nvni=$(sqlite3 "$LAB_STATE/nube.db" "SELECT count(*) FROM alloc_vni WHERE scenario='$S'")
	nmac=$(sqlite3 "$LAB_STATE/nube.db" "SELECT count(*) FROM alloc_mac WHERE scenario='$S'")
	[ "$nvni" -ge 1 ] && [ "$nmac" -ge 6 ] || fail "SIG$sig: allocations dropped ($nvni VNIs, $nmac MACs)"
	sqlite3 "$LAB_STATE/nube.db" "SELECT type FROM event WHERE scenario='$S' ORDER BY id DESC LIMIT 1" |
		grep -qx deploy-failed || fail "SIG$sig: no deploy-failed event"
	ok "SIG$sig: store keeps '$S' as failed with $nvni VNIs and $nmac MACs"
	# the agents go on without the broker: the VMs come up although the CLI gave up
	retry 90 running_domains 6 ||
		fail "SIG$sig: the agents did not finish deploying without the broker"
	ok "SIG$sig: all 6 VMs run on the hosts while the store keeps their allocations"

	"$LAB" restart-broker >/dev/null
	for i in $(seq 1 90); do [ "$(hosts_live)" = 3 ] && break; sleep 1; done
	[ "$(hosts_live)" = 3 ] || fail "SIG$sig: the hosts did not come back after the broker restart"
	[ "$(store_rows $S)" = 1 ] || fail "SIG$sig: the store forgot '$S' before any undeploy"
	"$NUBE" undeploy --force $S >"$T/undeploy.out" 2>&1 || { cat "$T/undeploy.out" >&2; fail "SIG$sig: undeploy --force"; }
	cat "$T/undeploy.out"
	[ "$(grep -c "^host[123]: undeployed" "$T/undeploy.out")" = 3 ] || fail "SIG$sig: not every host undeployed"
	assert_clean $S
done
ok "done"
