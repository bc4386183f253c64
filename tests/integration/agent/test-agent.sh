#!/bin/bash
# test-agent.sh: nubed against the real lab (2 hosts, libvirtd, mosquitto, QEMU guests):
# retained online/state, deploy of a 2-VM scenario across both hosts (VXLAN), guest addresses,
# exec ping between the hosts, a failing deploy that rolls back, agent kill + restart leaves
# domains and links untouched, undeploy removes everything. Root; exits non-zero on failure.
#   NUBE_LAB_ID=7 tests/integration/agent/test-agent.sh     (NUBE_TEST_KEEP_LAB=1 keeps it up)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
LAB="$REPO/lab/nube-lab"
: "${NUBED:=$REPO/build/src/agent/nubed}"
export NUBED NUBE_LAB_ID="${NUBE_LAB_ID:-}"
SCEN=agentpair
PASS=0 FAIL=0

[ "$(id -u)" = 0 ] || { echo "test-agent: needs root" >&2; exit 2; }
[ -x "$NUBED" ] || { echo "test-agent: no nubed binary at $NUBED (build first or set NUBED)" >&2; exit 2; }

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
jq_() { python3 -c 'import json,sys
d=json.loads(sys.stdin.read() or "null")
for k in sys.argv[1].split("."):
    d = d[int(k)] if isinstance(d, list) else (d or {}).get(k)
print("" if d is None else (json.dumps(d) if isinstance(d, (dict, list, bool)) else d))' "$1"; }

cleanup() {
	if [ "${NUBE_TEST_KEEP_LAB:-0}" != 1 ]; then "$LAB" down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

"$LAB" up 2 || { echo "test-agent: lab up failed" >&2; exit 1; }
eval "$("$LAB" env 2>/dev/null | grep '^NUBE_LAB_')"
BROKER=$NUBE_LAB_BROKER
OPW=$(cat "$NUBE_LAB_STATE/operator.pw")
H1=$NUBE_LAB_HOST1_IP H2=$NUBE_LAB_HOST2_IP
# shellcheck source=rpc.sh
. "$HERE/rpc.sh"

doms() { virsh -c "qemu+tcp://$1/system" list --all 2>/dev/null | awk 'NR > 2 && NF' | sort; }
links() { "$LAB" exec "host$1" -- ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^(nbr|nvx|vnet)' | sort; }
nube_links() { links "$1" | grep -cE '^(nbr|nvx)' || true; }

# ---- retained online + state ----
for k in 1 2; do
	on=""
	for _ in $(seq 1 30); do on=$(retained "host$k" online); [ "$on" = 1 ] && break; sleep 0.5; done
	check "host$k online retained = 1" [ "$on" = 1 ]
	st=$(retained "host$k" state)
	check "host$k state names the host" [ "$(jq_ host <<<"$st")" = "host$k" ]
	cpus=$(jq_ cpus <<<"$st"); load=$(jq_ load <<<"$st"); mt=$(jq_ mem_total_mib <<<"$st")
	check "host$k state sane (cpus $cpus, load $load, mem $mt MiB)" python3 -c "
import sys; c,l,m=float('$cpus'),float('$load'),int('$mt'); sys.exit(0 if c>0 and 0<=l<=1 and m>0 else 1)"
	fab=$(jq_ fabric_addr <<<"$st")
	check "host$k state fabric_addr $fab" [ "$fab" = "$(eval echo "\$NUBE_LAB_HOST${k}_IP")" ]
done

# ---- malformed and unknown requests ----
r=$(rpc host1 'not json' 10)
check "malformed request rejected" [ "$(jq_ ok <<<"$r")" = false ]
r=$(rpc host1 '{"op":"deploy","deployment":{"scenario":"x"}}' 10)
check "malformed deployment rejected with a reason ($(jq_ error <<<"$r"))" \
	grep -q 'missing "spec"' <<<"$(jq_ error <<<"$r")"
r=$(rpc host1 '{"op":"no-such-op"}' 10)
check "unknown op rejected by name" grep -q "unknown op 'no-such-op'" <<<"$(jq_ error <<<"$r")"

# a retained request (kept by the broker) is never run: no answer
resp="nube/v1/reply/operator/agent-test-retained-$$/host1"
"$LAB" stop-agent 1 >/dev/null
mosquitto_sub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -t "$resp" -W 4 >"$NUBE_LAB_STATE/ret.out" 2>/dev/null &
rs=$!
sleep 0.3
mosquitto_pub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -q 1 -r -t nube/v1/host/host1/rpc/operator \
	-m '{"op":"status"}' -D PUBLISH response-topic "$resp" -D PUBLISH correlation-data r1
"$LAB" restart-agent 1 >/dev/null	# gets it flagged retained when it subscribes
wait $rs
mosquitto_pub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -q 1 -r -t nube/v1/host/host1/rpc/operator -n
check "a retained request is not run" [ ! -s "$NUBE_LAB_STATE/ret.out" ]
for _ in $(seq 1 40); do [ "$(retained host1 online)" = 1 ] && break; sleep 0.5; done

# ---- deploy a on host1, b on host2, Net0 over VXLAN ----
J=$("$HERE/mkdeploy.py" "$HERE/pair.xml" $SCEN 10077 "host1=$H1:a" "host2=$H2:b")
t0=$(date +%s.%N)
rpc host1 "$J" 150 >"$NUBE_LAB_STATE/d1.json" 2>/dev/null &
p1=$!
rpc host2 "$J" 150 >"$NUBE_LAB_STATE/d2.json" 2>/dev/null
wait $p1
t1=$(date +%s.%N)
for k in 1 2; do
	r=$(cat "$NUBE_LAB_STATE/d$k.json")
	check "deploy on host$k ok ($(jq_ error <<<"$r"))" [ "$(jq_ ok <<<"$r")" = true ]
done
echo "# deploy of 2 VMs on 2 hosts: $(python3 -c "print(round($t1 - $t0, 1))") s (both hosts in parallel, guests configured)"
check "domain on host1" grep -q "$SCEN\\.a .*running" <<<"$(doms "$H1")"
check "domain on host2" grep -q "$SCEN\\.b .*running" <<<"$(doms "$H2")"
check "bridge + vxlan on host1" [ "$(nube_links 1)" = 2 ]
check "bridge + vxlan on host2" [ "$(nube_links 2)" = 2 ]

# ---- guests got their addresses; ping across hosts ----
r=$(rpc host1 '{"op":"exec","scenario":"'$SCEN'","vm":"a","cmd":"ip -4 addr show dev eth1"}' 60)
check "guest a has 10.99.0.1/24" grep -q '10.99.0.1/24' <<<"$(jq_ stdout <<<"$r")"
r=$(rpc host2 '{"op":"exec","scenario":"'$SCEN'","vm":"b","cmd":"ip -4 addr show dev eth1"}' 60)
check "guest b has 10.99.0.2/24" grep -q '10.99.0.2/24' <<<"$(jq_ stdout <<<"$r")"
r=$(rpc host1 '{"op":"exec","scenario":"'$SCEN'","vm":"a","cmd":"ping -c 3 -W 2 10.99.0.2"}' 60)
check "ping a -> b across hosts exits 0" [ "$(jq_ exit <<<"$r")" = 0 ]
grep -o 'round-trip.*' <<<"$(jq_ stdout <<<"$r")" | sed 's/^/# /'
r=$(rpc host1 '{"op":"exec","scenario":"'$SCEN'","vm":"a","seq":"hello"}' 60)
check "exec seq 'hello' from the remembered spec" grep -q 'hello from a' <<<"$(jq_ stdout <<<"$r")"
r=$(rpc host1 '{"op":"exec","scenario":"'$SCEN'","vm":"b","cmd":"true"}' 20)
check "exec of a VM on another host fails clearly" grep -q "is not on host 'host1'" <<<"$r"
r=$(rpc host1 '{"op":"exec","scenario":"'$SCEN'","vm":"a","cmd":"exit 3"}' 30)
check "exit status carried (3)" [ "$(jq_ exit <<<"$r")" = 3 ]

# ---- state lists the VM with its rates ----
sleep 11
st=$(retained host1 state)
check "host1 state lists vm a" [ "$(jq_ vms.0.vm <<<"$st")" = a ]
check "vm a has a cpu figure" python3 -c "import sys; sys.exit(0 if float('$(jq_ vms.0.cpu <<<"$st")') >= 0 else 1)"

# ---- a deploy that fails (guests given 1 s for their agents) rolls back what it made ----
sed -e 's/agentpair/agentbad/' "$HERE/pair.xml" >"$NUBE_LAB_STATE/bad.xml"
JB=$(GUEST_TIMEOUT_S=1 "$HERE/mkdeploy.py" "$NUBE_LAB_STATE/bad.xml" agentbad 10078 "host1=$H1:a,b")
r=$(rpc host1 "$JB" 90 2>/dev/null)
check "failing deploy answers ok=false naming the vm and step ($(jq_ error <<<"$r"))" \
	grep -q "^vm '[ab]': configure: " <<<"$(jq_ error <<<"$r")"
check "failing deploy left no domain" [ -z "$(doms "$H1" | grep agentbad)" ]
check "failing deploy left no net (still 2 nube links)" [ "$(nube_links 1)" = 2 ]

# ---- kill -9 + restart the agent: nothing changes, state comes back ----
before1=$(doms "$H1"; links 1) before2=$(doms "$H2"; links 2)
"$LAB" kill-agent 1 >/dev/null
on=""
for _ in $(seq 1 40); do on=$(retained host1 online); [ "$on" = 0 ] && break; sleep 0.5; done
check "last will: host1 online = 0 after kill -9" [ "$on" = 0 ]
ts0=$(jq_ ts <<<"$(retained host1 state)")
"$LAB" restart-agent 1 >/dev/null
for _ in $(seq 1 40); do on=$(retained host1 online); [ "$on" = 1 ] && break; sleep 0.5; done
check "host1 online again after restart" [ "$on" = 1 ]
ts1=$ts0
for _ in $(seq 1 20); do ts1=$(jq_ ts <<<"$(retained host1 state)"); [ "$ts1" != "$ts0" ] && break; sleep 0.5; done
check "state republished after restart" [ "$ts1" != "$ts0" ]
check "domains and links unchanged on host1" [ "$before1" = "$(doms "$H1"; links 1)" ]
check "domains and links unchanged on host2" [ "$before2" = "$(doms "$H2"; links 2)" ]
r=$(rpc host1 '{"op":"exec","scenario":"'$SCEN'","vm":"a","cmd":"ping -c 1 -W 2 10.99.0.2"}' 60)
check "ping still works after the restart" [ "$(jq_ exit <<<"$r")" = 0 ]

# ---- SIGTERM: online 0, VMs untouched ----
"$LAB" stop-agent 2 >/dev/null
for _ in $(seq 1 20); do on=$(retained host2 online); [ "$on" = 0 ] && break; sleep 0.5; done
check "clean stop publishes online 0" [ "$on" = 0 ]
check "clean stop leaves the domain running" grep -q "$SCEN\\.b .*running" <<<"$(doms "$H2")"
"$LAB" restart-agent 2 >/dev/null
for _ in $(seq 1 40); do on=$(retained host2 online); [ "$on" = 1 ] && break; sleep 0.5; done

# ---- the broker goes away for 3 s: agents come back on their own, VMs untouched ----
before1=$(doms "$H1")
"$LAB" restart-broker --down 3 >/dev/null
for k in 1 2; do
	on=""
	for _ in $(seq 1 80); do on=$(retained "host$k" online); [ "$on" = 1 ] && break; sleep 0.5; done
	check "host$k back online after a broker restart" [ "$on" = 1 ]
	check "host$k state republished after a broker restart" [ -n "$(retained "host$k" state)" ]
done
check "broker restart left the domains alone" [ "$before1" = "$(doms "$H1")" ]

# ---- undeploy everywhere ----
for k in 1 2; do
	r=$(rpc "host$k" '{"op":"undeploy","scenario":"'$SCEN'"}' 60 2>/dev/null)
	check "undeploy on host$k ok (domains $(jq_ domains <<<"$r"), nets $(jq_ nets <<<"$r"))" \
		[ "$(jq_ ok <<<"$r")/$(jq_ domains <<<"$r")/$(jq_ nets <<<"$r")" = "true/1/1" ]
	check "no domain left on host$k" [ -z "$(doms "$(eval echo "\$NUBE_LAB_HOST${k}_IP")")" ]
	check "no nbr/nvx link left on host$k" [ "$(nube_links "$k")" = 0 ]
done
r=$(rpc host1 '{"op":"undeploy","scenario":"'$SCEN'"}' 30 2>/dev/null)
check "undeploy of an absent scenario is ok" [ "$(jq_ ok <<<"$r")" = true ]

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
