#!/bin/bash
# test-broker-acl.sh: the lab broker refuses anonymous clients and refuses an agent writing
# under another host's topics (MQTT v5, QoS 1: PUBACK "not authorised"); an operator
# subscribed there sees nothing of it, while what an agent may write does arrive.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need
command -v mosquitto_pub >/dev/null || fail "mosquitto-clients missing"
lab_up 2
B=$(sed -n 's|^url = mqtt://\([^:]*\):.*|\1|p' "$NUBE_CONFIG")
OPW=$(cat "$LAB_STATE/operator.pw")
H1PW=$(cat "$LAB_STATE/host1.pw")
M="acl-probe-$$-$RANDOM"

# anonymous: connection refused
rc=0
mosquitto_pub -V mqttv5 -h "$B" -q 1 -t nube/v1/events -m "$M" >"$T/anon.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -qi "not authori" "$T/anon.out" || { cat "$T/anon.out"; fail "anonymous client accepted (rc $rc)"; }
ok "anonymous client refused: $(head -1 "$T/anon.out")"
rc=0
mosquitto_sub -V mqttv5 -h "$B" -t 'nube/v1/#' -W 2 >"$T/anon-sub.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && ! grep -q "nube" "$T/anon-sub.out" || fail "anonymous subscriber accepted"
ok "anonymous subscriber refused"
# wrong password
rc=0
mosquitto_pub -V mqttv5 -h "$B" -u host1 -P wrong -q 1 -t nube/v1/events -m "$M" >"$T/pw.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a wrong password was accepted"
ok "wrong password refused"

# operator watches host2's topics and the events
mosquitto_sub -V mqttv5 -h "$B" -u operator -P "$OPW" -v -t 'nube/v1/host/host2/#' -t 'nube/v1/events' \
	>"$T/sub.out" 2>&1 &
spid=$!
sleep 1
for t in nube/v1/host/host2/state nube/v1/host/host2/online nube/v1/host/host2/rpc/operator; do
	rc=0
	mosquitto_pub -V mqttv5 -h "$B" -u host1 -P "$H1PW" -q 1 -t "$t" -m "$M" >"$T/deny.out" 2>&1 || rc=$?
	grep -qi "not authori" "$T/deny.out" || { cat "$T/deny.out"; kill $spid; fail "host1 may write $t"; }
	ok "host1 writing $t: $(grep -i 'not authori' "$T/deny.out" | head -1)"
done
# positive control: what host1 may write arrives
mosquitto_pub -V mqttv5 -h "$B" -u host1 -P "$H1PW" -q 1 -t nube/v1/events -m "ctl-$M" >"$T/allow.out" 2>&1 ||
	{ cat "$T/allow.out"; kill $spid; fail "host1 may not write events"; }
! grep -qi "not authori" "$T/allow.out" || { kill $spid; fail "host1 refused on events"; }
sleep 1
kill $spid 2>/dev/null || true
wait $spid 2>/dev/null || true
grep -q "nube/v1/events ctl-$M" "$T/sub.out" || { cat "$T/sub.out"; fail "the operator did not see the allowed message"; }
grep -q "^nube/v1/host/host2/state {" "$T/sub.out" || { cat "$T/sub.out"; fail "the operator's subscription saw not even host2's own state"; }
! grep -q "host2/.* $M\$" "$T/sub.out" || { cat "$T/sub.out"; fail "the operator saw host1's forged message"; }
ok "operator saw the allowed event and none of host1's forged messages"
# host2 is still live and its retained state is its own
"$NUBE" hosts --json | jq -e '.hosts[] | select(.host=="host2") | .online' >/dev/null ||
	fail "host2 no longer live"
ok "done"
