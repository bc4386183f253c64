#!/bin/bash
# test-migrate.sh: the control plane follows a migration. On a 2-host lab, mig (v1, v2 on one
# net, both on host1) is deployed; `nube migrate mig v2 --to host2 --force` moves v2 and prints src,
# dst, duration and downtime; then
#  - the store's placement of v2 is host2 (also after it is set back by hand: `nube events`
#    imports the migrated event, `nube status` corrects it from the hosts)
#  - `nube status --json` shows v2 on host2 and Net0 on both hosts with a VNI from the agents'
#    stretch range, which the store records; v1 still reaches v2 across the hosts
#  - `nube events --json` (no follower ran) shows host1's migrated event once, with
#    duration_ms and downtime_ms, and again once when asked a second time
#  - after both agents restart, none of that changed
#  - `nube drain host2` moves v2 back: the store's placement is host1 at once, the second
#    migrated event shows once, Net0 is on host1 only with no VNI (in status and store)
#  - `nube migrate mig v1` without --to: the balancer's best host, host2, with progress
# The hosts are capped at 100 % CPU each (their load is their own, not the busy machine's) and
# their balancers only watch ([balance] enabled = false): every move here is asked for. The
# operator's move is forced (the seed's manual case 3): a guest that just booted may still
# look too heavy for the destination's admission; the move without --to is not.
# Usage errors of `nube migrate` are in tests/cli. Run as root; honours NUBE_LAB_ID, NUBE,
# NUBED.
source "$(dirname "$0")/../balance/lib.sh"
need
S=mig
E2E=$(cd "$(dirname "$0")" && pwd)
STRETCH_MIN=15728640
STRETCH_MAX=16777215
bal_lab_up 2 100

db() { sqlite3 "$LAB_STATE/nube.db" "$1"; }
placed() { db "SELECT host FROM placement WHERE scenario = '$S' AND vm = '$1'"; }
stored_vni() { db "SELECT vni FROM alloc_vni WHERE scenario = '$S' AND net = 'Net0'"; }
status() { "$NUBE" status $S --json >"$T/status.json" 2>"$T/status.err" || { cat "$T/status.err" >&2; fail "nube status"; }; }
host_of() { jq -r --arg v "$1" '.vms[] | select(.vm == $v) | .host' "$T/status.json"; }
net0() { jq -c "[.nets[] | select(.scenario == \"$S\" and .net == \"Net0\")][0] | $1" "$T/status.json"; }
# migrated VM: how many "migrated" events of VM `nube events --json` shows (into $T/events)
migrated() {
	"$NUBE" events --json >"$T/events" 2>"$T/events.err" || { cat "$T/events.err" >&2; fail "nube events"; }
	jq -s --arg d "$S.$1" --arg v "$1" '[.[] | select(.type == "migrated" and
		(.vm == $d or (.vm == $v and .scenario == "'$S'")))] | length' "$T/events"
}

"$NUBE" deploy "$E2E/migrate.xml" --restrictions "$E2E/migrate-r.xml" >"$T/deploy.out" 2>"$T/deploy.err" ||
	{ cat "$T/deploy.err" >&2; fail "deploy"; }
status
[ "$(host_of v1)" = host1 ] && [ "$(host_of v2)" = host1 ] || { cat "$T/status.json"; fail "v1 and v2 do not both run on host1"; }
[ "$(net0 .hosts)" = '["host1"]' ] && [ "$(net0 .vni)" = null ] ||
	{ cat "$T/status.json"; fail "Net0 should be on host1 only, without a VNI"; }
[ "$(placed v2)" = host1 ] && [ -z "$(stored_vni)" ] || fail "store: v2 not on host1 or Net0 has a VNI"
ok "deployed: v1, v2 on host1; Net0 on host1 only, no VNI"

# 1. the operator moves v2
rc=0
"$NUBE" migrate $S v2 --to host2 --force --json >"$T/mig.json" 2>"$T/mig.err" || rc=$?
[ "$rc" = 0 ] || { cat "$T/mig.err" "$T/mig.json" >&2; fail "nube migrate $S v2 --to host2 --force exited $rc"; }
jq -e '.scenario == "mig" and .vm == "v2" and .src == "host1" and .dst == "host2" and
	.status == "moved" and .duration_ms > 0 and .downtime_ms >= 0' "$T/mig.json" >/dev/null ||
	{ cat "$T/mig.json"; fail "migrate --json: not the move of v2 from host1 to host2 with duration and downtime"; }
[ "$(host_domains 1)" = "$S.v1" ] && [ "$(host_domains 2)" = "$S.v2" ] ||
	fail "libvirt: host1 has '$(host_domains 1)', host2 '$(host_domains 2)'"
[ "$(placed v2)" = host2 ] || fail "store: v2 placed on '$(placed v2)' after nube migrate, not host2"
ok "nube migrate: v2 moved host1 -> host2 in $(jq .duration_ms "$T/mig.json") ms (downtime $(jq .downtime_ms "$T/mig.json") ms), store says host2"

status
[ "$(host_of v2)" = host2 ] && [ "$(host_of v1)" = host1 ] || { cat "$T/status.json"; fail "status: v2 not on host2"; }
[ "$(net0 .hosts)" = '["host1","host2"]' ] || { cat "$T/status.json"; fail "status: Net0 not on host1 and host2"; }
VNI=$(net0 .vni)
[ "$VNI" != null ] && [ "$VNI" -ge $STRETCH_MIN ] && [ "$VNI" -le $STRETCH_MAX ] ||
	{ cat "$T/status.json"; fail "status: Net0's VNI '$VNI' is not in the stretch range $STRETCH_MIN..$STRETCH_MAX"; }
[ "$(stored_vni)" = "$VNI" ] || fail "store: Net0's VNI is '$(stored_vni)', the hosts say $VNI"
ok "status: v2 on host2, Net0 on host1+host2 with VNI $VNI (stretch range), recorded in the store"
retry 60 "$NUBE" exec $S --vm v1 --cmd 'ping -c 2 -W 2 10.97.0.2' ||
	{ cat "$T/retry.out" >&2; fail "v1 (host1) does not reach v2 (host2) over the stretched net"; }
ok "v1 on host1 reaches v2 on host2"

# 2. the event log: no follower ran; the migration shows once, also when asked again; the
#    placement follows the imported event (set back by hand first)
db "UPDATE placement SET host = 'host1' WHERE scenario = '$S' AND vm = 'v2'"
n=$(migrated v2)
[ "$n" = 1 ] || { cat "$T/events"; fail "nube events shows $n migrated events of v2, not 1"; }
jq -e -s --arg d "$S.v2" '[.[] | select(.type == "migrated")][0] | .host == "host1" and .seq >= 1 and
	(.data.duration_ms | type) == "number" and .data.duration_ms > 0 and
	(.data.downtime_ms | type) == "number" and .data.dst == "host2"' "$T/events" >/dev/null ||
	{ cat "$T/events"; fail "the migrated event lacks host1, seq, data.dst, duration_ms or downtime_ms"; }
[ "$(placed v2)" = host2 ] || fail "store: the imported migrated event did not move v2's placement back to host2"
n=$(migrated v2)
[ "$n" = 1 ] || fail "a second nube events shows $n migrated events of v2, not 1"
ok "nube events: host1's migrated event of v2 once (twice asked), with duration and downtime; its import set the placement"
db "UPDATE placement SET host = 'host1' WHERE scenario = '$S' AND vm = 'v2'"
status
[ "$(placed v2)" = host2 ] || fail "store: nube status did not correct v2's placement to host2"
ok "nube status corrects a wrong placement from the hosts"

# 3. both agents restart: nothing of that changes
for k in 1 2; do
	"$LAB" kill-agent "host$k" >/dev/null
	sleep 1
	"$LAB" restart-agent "host$k" >/dev/null
	for i in $(seq 1 60); do [ "$(hosts_live)" = 2 ] && break; sleep 1; done
	[ "$(hosts_live)" = 2 ] || fail "host$k did not come back after its agent restarted"
done
status
[ "$(host_of v2)" = host2 ] && [ "$(host_of v1)" = host1 ] || { cat "$T/status.json"; fail "after the restarts: v2 not on host2"; }
[ "$(net0 .hosts)" = '["host1","host2"]' ] && [ "$(net0 .vni)" = "$VNI" ] ||
	{ cat "$T/status.json"; fail "after the restarts: Net0 is not on both hosts with VNI $VNI"; }
[ "$(placed v2)" = host2 ] && [ "$(stored_vni)" = "$VNI" ] || fail "after the restarts: store changed"
n=$(migrated v2)
[ "$n" = 1 ] || { cat "$T/events"; fail "after the restarts nube events shows $n migrated events of v2, not 1"; }
ok "both agents restarted: v2 on host2, Net0 VNI $VNI, one migrated event"

# 4. drain host2: v2 goes back to host1
"$NUBE" drain host2 --timeout 300 >"$T/drain.out" 2>"$T/drain.err" ||
	{ cat "$T/drain.err" "$T/drain.out" >&2; fail "nube drain host2"; }
grep -q "host2 drained: 1 VM(s) moved" "$T/drain.out" || { cat "$T/drain.out"; fail "drain summary"; }
[ "$(placed v2)" = host1 ] || fail "store: v2 placed on '$(placed v2)' after the drain, not host1"
n=$(migrated v2)
[ "$n" = 2 ] || { cat "$T/events"; fail "after the drain nube events shows $n migrated events of v2, not 2"; }
jq -e -s '[.[] | select(.type == "migrated")] | map(.host) == ["host1", "host2"]' "$T/events" >/dev/null ||
	{ cat "$T/events"; fail "the migrated events are not host1's then host2's"; }
status
[ "$(host_of v2)" = host1 ] || { cat "$T/status.json"; fail "status: v2 not back on host1"; }
[ "$(net0 .hosts)" = '["host1"]' ] && [ "$(net0 .vni)" = null ] ||
	{ cat "$T/status.json"; fail "status: Net0 should be on host1 only, without a VNI"; }
[ -z "$(stored_vni)" ] || fail "store: Net0 still has VNI $(stored_vni) on one host"
ok "drain host2: v2 back on host1 (store at once), second migrated event once, Net0 on host1 only, no VNI (status and store)"

# 5. without --to the agent's balancer picks the host: host2 (the only other, drain cancelled)
"$NUBE" drain host2 --cancel >/dev/null || fail "drain host2 --cancel"
rc=0
"$NUBE" migrate $S v1 >"$T/mig2.out" 2>"$T/mig2.err" || rc=$?
[ "$rc" = 0 ] || { cat "$T/mig2.err" "$T/mig2.out" >&2; fail "nube migrate $S v1 (no --to) exited $rc"; }
grep -q "^'v1' of '$S' moved from host1 to host2 in [0-9]* ms (downtime [0-9]* ms)$" "$T/mig2.out" ||
	{ cat "$T/mig2.out"; fail "migrate without --to: no 'moved from host1 to host2' line"; }
grep -q "^migrating 'v1' of '$S' from host1$" "$T/mig2.err" && grep -q "^host1: " "$T/mig2.err" ||
	{ cat "$T/mig2.err"; fail "migrate without --to: no progress from host1 on stderr"; }
[ "$(placed v1)" = host2 ] && [ "$(host_domains 2)" = "$S.v1" ] || fail "v1 not on host2 after migrate without --to"
ok "nube migrate without --to: the balancer sent v1 to host2, with progress"

"$NUBE" undeploy $S >/dev/null || fail "undeploy"
assert_clean $S
ok "done"
