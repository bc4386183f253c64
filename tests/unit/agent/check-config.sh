#!/bin/sh
# check-config.sh NUBED CONFDIR: `nubed -n` accepts a good config (exit 0) and rejects bad
# ones with exit 1 and a message naming the file and the key
nubed=$1 dir=$2 fail=0 pass=0
expect() { # expect STATUS FILE NEEDLE [extra args]
	st=$1 f=$dir/$2 needle=$3; shift 3
	out=$("$nubed" -n -c "$f" "$@" 2>&1); rc=$?
	if [ "$rc" = "$st" ] && printf '%s' "$out" | grep -qF -- "$needle"; then
		pass=$((pass + 1)); echo "ok - $(basename "$f") $*: exit $rc: $out"
	else
		fail=$((fail + 1)); echo "FAIL - $(basename "$f") $*: exit $rc (want $st), output: $out (want '$needle')"
	fi
}
expect 0 good.conf "configuration ok (host host1"
expect 1 bad-interval.conf "bad-interval.conf: [nubed] interval: 'ten' is not an integer"
expect 1 bad-fabric.conf "bad-fabric.conf: [nubed] fabric_addr: '10.77.0.300' is not an IPv4 or IPv6 address"
expect 1 no-broker.conf "no-broker.conf: [broker] url: missing"
expect 0 no-broker.conf "configuration ok" --broker mqtt://127.0.0.1:1883
expect 1 good.conf "[nubed] host: 'bad/name' is not a valid host name" --host bad/name
expect 1 bad-balance.conf "bad-balance.conf: [balance] interval: not a [balance] key: the sampling interval is [nubed] interval"
expect 1 bad-syntax.conf "bad-syntax.conf:"
expect 1 bad-heal.conf "bad-heal.conf: [heal] grace: '0.5' is not a number in 1..86400"
expect 1 bad-vni.conf "bad-vni.conf: [nubed] vni_min: not a nubed key any more: a deploy's VNIs come from the store (nube.conf [deploy], within 1..15728639), a net a migration stretches gets one from 15728640..16777215"
expect 1 does-not-exist.conf "does-not-exist.conf:"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
