#!/bin/bash
# test-broker-acl.sh: the lab broker refuses anonymous clients and refuses an agent writing
# under another host's topics (MQTT v5, QoS 1: PUBACK "not authorised"); an operator
# subscribed there sees nothing of it, while what an agent may write does arrive. A host's
# credentials cannot make another host deploy, exec, undeploy or drain (its agent refuses
# the operator's ops from a peer), cannot forge or read replies that are not its own and
# cannot read other hosts' requests; the balancer's peer ops still work; a message larger
# than the broker's max_packet_size is refused and the agents stay up.
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

# ---- rpc as another host: host1's credentials, requests tagged "host1" (all the ACL allows) ----
# rpc_as USER PW HOST JSON TIMEOUT_S: request on nube/v1/host/HOST/rpc/USER with USER's own
# response topic; prints the final reply (empty when none came)
rpc_as() {
	local user=$1 pw=$2 host=$3 json=$4 tmo=$5 resp out sub i
	resp="nube/v1/reply/$user/acl-$$-$RANDOM/$host"
	out=$T/rpc-$RANDOM.out
	mosquitto_sub -V mqttv5 -h "$B" -u "$user" -P "$pw" -t "$resp" -W "$((tmo + 2))" >"$out" 2>/dev/null &
	sub=$!
	sleep 0.5
	mosquitto_pub -V mqttv5 -h "$B" -u "$user" -P "$pw" -q 1 -t "nube/v1/host/$host/rpc/$user" \
		-m "$json" -D PUBLISH response-topic "$resp" -D PUBLISH correlation-data "c$RANDOM" \
		>"$out.pub" 2>&1
	! grep -qi "not authori" "$out.pub" || { kill $sub; fail "broker refused $user's request to $host"; }
	for ((i = 0; i < tmo * 10; i++)); do
		grep -q '"ok"' "$out" && break
		sleep 0.1
	done
	kill $sub 2>/dev/null; wait $sub 2>/dev/null
	grep '"ok"' "$out" | head -1 || true
}
H2LOG=$LAB_STATE/host2/nubed.log
[ -f "$H2LOG" ] || fail "no agent log at $H2LOG"
for req in '{"op":"deploy","scenario":"acl-x","deployment":{}}' \
	'{"op":"exec","scenario":"acl-x","vm":"v","cmd":"touch /tmp/acl-pwned"}' \
	'{"op":"undeploy","scenario":"acl-x"}' \
	'{"op":"drain"}'; do
	op=$(jq -r .op <<<"$req")
	r=$(rpc_as host1 "$H1PW" host2 "$req" 15)
	[ -n "$r" ] || fail "host2 did not answer host1's '$op'"
	jq -e '.ok == false and .host == "host2"' <<<"$r" >/dev/null || fail "host2 ran host1's '$op': $r"
	want="op '$op' may only be sent by the operator (sender 'host1')"
	[ "$(jq -r .error <<<"$r")" = "$want" ] || fail "host2's answer to host1's '$op': $r"
	grep -qF "rpc from 'host1': $want" "$H2LOG" || fail "host2 did not log the refused '$op'"
	ok "host1 -> host2 '$op' refused: $(jq -r .error <<<"$r")"
done
[ -z "$(host_domains 2)" ] || fail "host2 has domains: $(host_domains 2)"
[ -z "$(host_links 2)" ] || fail "host2 has scenario links: $(host_links 2)"
st=$(mosquitto_sub -V mqttv5 -h "$B" -u operator -P "$OPW" -t nube/v1/host/host2/state -C 1 -W 5)
jq -e '.balance.leaving == false' <<<"$st" >/dev/null || fail "host2 is leaving after host1's drain: $st"
ok "nothing happened on host2 (no domain, no link, not leaving)"
# the balancer's peer ops still work: a harmless net-remove of a net host2 does not have
r=$(rpc_as host1 "$H1PW" host2 '{"op":"net-remove","scenario":"acl-none","net":"n0"}' 15)
jq -e '.host == "host2"' <<<"$r" >/dev/null || fail "no answer to host1's net-remove: '$r'"
! grep -q "may only be sent" <<<"$r" || fail "host2 refused a peer op: $r"
ok "host1 -> host2 'net-remove' answered: $r"
# a peer's request that asks for the reply on a topic that is not its own is not run
cid="acl-steal-$$"
mosquitto_sub -V mqttv5 -h "$B" -u operator -P "$OPW" -t "nube/v1/reply/operator/$cid/#" -W 5 >"$T/steal.out" 2>&1 &
spid=$!
sleep 0.5
mosquitto_pub -V mqttv5 -h "$B" -u host1 -P "$H1PW" -q 1 -t nube/v1/host/host2/rpc/host1 \
	-m '{"op":"release","vm":"acl-x-v","ok":false}' -D PUBLISH response-topic "nube/v1/reply/operator/$cid/host2" \
	-D PUBLISH correlation-data c1
wait $spid 2>/dev/null || true
! grep -q . <(grep -v "Timed out" "$T/steal.out") || fail "host2 answered host1 on the operator's reply topic: $(cat "$T/steal.out")"
retry 10 grep -q "rpc from 'host1': response topic 'nube/v1/reply/operator/$cid/host2' is not the sender's reply topic" "$H2LOG" ||
	fail "host2 did not log the request with a foreign response topic"
ok "host2 ignores a peer request whose response topic belongs to another user"

# ---- replies: host1 can neither forge the operator's replies nor read them ----
for t in "nube/v1/reply/operator/nube-1-abc/host2" "nube/v1/reply/operator/nube-1-abc/host1" \
	"nube/v1/reply/host1/c/host2" "nube/v1/reply/operator/x"; do
	rc=0
	mosquitto_pub -V mqttv5 -h "$B" -u host1 -P "$H1PW" -q 1 -t "$t" -m '{"ok":true}' >"$T/fr.out" 2>&1 || rc=$?
	case "$t" in
	*/operator/*/host1) ! grep -qi "not authori" "$T/fr.out" || fail "host1 may not reply as itself on $t" ;;
	*) grep -qi "not authori" "$T/fr.out" || { cat "$T/fr.out"; fail "host1 may publish on $t (rc $rc)"; } ;;
	esac
done
ok "host1 publishes replies only as host1 (operator's topics as host2: not authorised)"
# host1 listens everywhere while the operator asks every host for its status
mosquitto_sub -V mqttv5 -h "$B" -u host1 -P "$H1PW" -v -t 'nube/v1/#' -t 'nube/v1/host/host2/rpc/#' \
	-t 'nube/v1/reply/operator/#' -W 8 >"$T/spy.out" 2>&1 &
spid=$!
sleep 1
"$NUBE" status >"$T/status.out" 2>&1 || { cat "$T/status.out"; kill $spid; fail "nube status failed"; }
"$NUBE" hosts >"$T/hosts.out" 2>&1 || { cat "$T/hosts.out"; kill $spid; fail "nube hosts failed"; }
wait $spid 2>/dev/null || true
grep -q "^nube/v1/host/host2/state " "$T/spy.out" || { cat "$T/spy.out"; fail "host1's subscription saw not even host2's state"; }
grep -q "^nube/v1/host/host1/rpc/operator " "$T/spy.out" || { cat "$T/spy.out"; fail "host1 did not see the status request to itself"; }
! grep -q "^nube/v1/host/host2/rpc/\|^nube/v1/reply/" "$T/spy.out" ||
	fail "host1 read requests or replies not its own: $(grep "host2/rpc/\|reply/" "$T/spy.out" | head -3)"
ok "host1 saw host status and its own request but no request to host2 and no reply (nube status, hosts ok)"

# ---- size: a packet over the broker's max_packet_size is refused, the agents stay up ----
head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' x >"$T/big"
rc=0
mosquitto_pub -V mqttv311 -h "$B" -u operator -P "$OPW" -q 1 -t nube/v1/host/host2/rpc/operator \
	-f "$T/big" >"$T/big.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || { cat "$T/big.out"; fail "the broker took a 17 MiB publish"; }
ok "17 MiB publish refused by the broker: $(head -1 "$T/big.out")"
rm -f "$T/big"
for k in 1 2; do
	kill -0 "$(cat "$LAB_STATE/host$k/nubed.pid")" || fail "host$k's agent died"
done
! grep -q "malformed request" "$H2LOG" || fail "host2 received (part of) the oversized request"

# the CLI refuses to send a deploy larger than one message, before any host hears of it
python3 - "$TUTORIAL" >"$T/big.xml" <<'PY'
import sys
x = open(sys.argv[1]).read()
j = x.index(">", x.index("<vnx")) + 1
pad = "".join("<!-- %s -->\n" % ("p" * (1 << 20)) for _ in range(17))
sys.stdout.write(x[:j] + "\n" + pad + x[j:])
PY
scen=$(sed -n 's|.*<scenario_name>\(.*\)</scenario_name>.*|\1|p' "$T/big.xml")
before=$(cat "$LAB_STATE"/host*/nubed.log | grep -c "$scen" || true)
rc=0
"$NUBE" deploy "$T/big.xml" >"$T/bigdeploy.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || { cat "$T/bigdeploy.out"; fail "a 17 MiB deploy was sent"; }
# (each host gets its own message, its VMs' media only: the error names the host)
grep -Eq "deploy to host 'host[12]': request of 17\.[0-9] MiB exceeds the limit of 16 MiB" "$T/bigdeploy.out" ||
	{ cat "$T/bigdeploy.out"; fail "no size error from nube deploy"; }
[ "$(store_rows "$scen")" = 0 ] && [ "$(store_allocs "$scen")" = 0 ] || fail "the store kept '$scen'"
[ "$(cat "$LAB_STATE"/host*/nubed.log | grep -c "$scen" || true)" = "$before" ] || fail "an agent heard of the oversized deploy"
for k in 1 2; do [ -z "$(host_domains $k)" ] || fail "host$k has domains"; done
ok "nube deploy of 17 MiB refused before sending: $(grep -m1 'exceeds' "$T/bigdeploy.out")"
rm -f "$T/big.xml"

# host2 is still live and its retained state is its own
"$NUBE" hosts --json | jq -e '.hosts[] | select(.host=="host2") | .online' >/dev/null ||
	fail "host2 no longer live"
"$NUBE" status >/dev/null || fail "nube status fails after the oversized publish"
ok "done"
