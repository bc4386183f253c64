#!/bin/bash
# test-cli: run the built nube binary on good and bad inputs and check exit codes, messages
# and the plan --json interface (with jq). Usage: test-cli.sh NUBE SOURCE_ROOT
set -uo pipefail

nube=${1:?usage: test-cli.sh NUBE SOURCE_ROOT}
src=${2:?usage: test-cli.sh NUBE SOURCE_ROOT}
data=$src/tests/cli/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
# run: run nube with args, keep stdout/stderr in $tmp/out $tmp/err, exit code in $rc
run() { "$nube" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
expect_rc() {	# expect_rc CODE WHAT
	if [ "$rc" = "$1" ]; then ok; else
		bad "$2: exit $rc, expected $1"; sed 's/^/  stderr: /' "$tmp/err" >&2; fi
}
command -v jq >/dev/null || { echo "test-cli: jq is required" >&2; exit 1; }

# ---- global options and dispatch ----
run --version; expect_rc 0 "--version"
grep -q '^nube [0-9]' "$tmp/out" && ok || bad "--version prints 'nube X.Y.Z'"
run --help; expect_rc 0 "--help"
run; expect_rc 2 "no command"
run frobnicate; expect_rc 2 "unknown command"
grep -q "^nube: unknown command 'frobnicate'" "$tmp/err" && ok || bad "unknown command message"
run --bogus; expect_rc 2 "unknown global option"
for c in validate plan hosts deploy exec undeploy status balance migrate drain events; do
	run "$c" --help; expect_rc 0 "$c --help"
	grep -q "nube $c" "$tmp/out" && ok || bad "$c --help names the command"
	run help "$c"; expect_rc 0 "help $c"
done
run help frobnicate; expect_rc 2 "help of an unknown command"

# ---- validate: good scenarios ----
good=("$data/lab.xml")
for f in "$src"/../shared/vnx/*.xml "$src"/examples/*.xml "$src"/examples/vnx/*.xml; do
	[ -f "$f" ] && grep -q '<vnx' "$f" && good+=("$f")	# not restriction files
done
[ ${#good[@]} -ge 2 ] || echo "note: no VNX examples found beside the source tree; only the tests' own scenario is validated" >&2
for f in "${good[@]}"; do
	run validate "$f"; expect_rc 0 "validate $f"
	grep -Eq "^scenario '.+': [0-9]+ VMs, [0-9]+ nets, [0-9]+ warnings?$" "$tmp/out" && ok ||
		bad "validate $f: summary line"
	grep -q ': error:' "$tmp/err" && bad "validate $f printed an error" || ok
done
run validate "$data/lab.xml" --restrictions "$data/lab-restrictions.xml" --cluster-conf "$data/cluster.conf"
expect_rc 0 "validate with restrictions"
# its two warnings: <vm_mgmt> and <host_mapping>, which nube does not plug
grep -q "^scenario 'clilab': 6 VMs, 3 nets, 2 warnings$" "$tmp/out" && ok || bad "validate lab.xml summary"

# ---- validate --features: what nube does with each VNX construct the file uses ----
f=$src/tests/data/bad/vnx-constructs.xml
run validate --features "$f"; expect_rc 0 "validate --features"
grep -Eq '^CONSTRUCT +NUBE +USES +LINE +HOW$' "$tmp/out" && ok || bad "validate --features: table header"
grep -Eq '^<net mode=openvswitch> +degraded +1 +15 +runs as a Linux bridge' "$tmp/out" && ok ||
	bad "validate --features: openvswitch row"
grep -Eq '^<host><hostif> +ignored +1 +44 ' "$tmp/out" && ok || bad "validate --features: hostif row"
grep -q "^scenario '" "$tmp/out" && bad "validate --features printed the summary too" || ok
grep -q ': warning: .*<shareddir>: ignored' "$tmp/err" && ok || bad "validate --features: warnings still on stderr"
run validate --features --json "$f"; expect_rc 0 "validate --features --json"
jq -e '.scenario == "constructs" and (.features | length) > 30 and
	(.features[] | select(.construct == "<vm type=uml|dynamips|vbox|nsrouter>") |
	 .support == "degraded" and .uses == 1 and .first_line == 36) and
	(.features[] | select(.construct == "<net mode=virtual_bridge>") | .support == "implemented" and .uses == 3) and
	all(.features[]; (.construct | type) == "string" and (.how | type) == "string" and
	    (.support == "implemented" or .support == "degraded" or .support == "ignored"))' \
	"$tmp/out" >/dev/null && ok || bad "validate --features --json: document"
run validate --json "$f"; expect_rc 2 "validate --json without --features"
# the fixture uses every construct nube knows; each is documented in README.md and nube.1
# (there with '|' escaped, here with '-' escaped)
"$nube" validate --features --json "$f" 2>/dev/null | jq -r '.features[].construct' >"$tmp/constructs"
# 43: the rows of feats[] in src/scenario/features.c (a new row needs a use in the fixture)
[ "$(wc -l <"$tmp/constructs")" -eq 43 ] && ok || bad "vnx-constructs.xml does not use every construct"
while IFS= read -r c; do
	grep -qF "| \`${c//|/\\|}\` |" "$src/README.md" && ok || bad "README.md has no row for $c"
	grep -qF ".B \"${c//-/\\-}\"" "$src/man/nube.1" && ok || bad "nube.1 has no item for $c"
done <"$tmp/constructs"

# ---- validate: bad inputs exit 1 with file:line ----
for f in "$data"/bad/*.xml; do
	run validate "$f"; expect_rc 1 "validate bad $f"
	grep -Eq "^$f:[0-9]+: error: " "$tmp/err" && ok || { bad "validate $f: no file:line error"; cat "$tmp/err" >&2; }
	line=$(sed -n 's/.*(expect-line: \([0-9]*\)).*/\1/p' "$f")
	[ -n "$line" ] || bad "$f has no (expect-line: N) comment"
	grep -q "^$f:$line: error: " "$tmp/err" && ok || bad "validate $f: no error at line $line"
	[ -s "$tmp/out" ] && bad "validate $f: printed a summary despite errors" || ok
done
# the scenario module's fixtures: with a golden X.ok, stderr must match it (paths reduced to
# the file name); without one, the exit code must agree with what was printed
strip() { sed -E 's|^[^:]*/([^/:]+\.xml:)|\1|' "$@"; }
for f in "$src"/tests/data/bad/*.xml; do
	[ -f "$f" ] || continue
	run validate "$f"
	grep -Eq "^$f:[0-9]+: (error|warning): " "$tmp/err" && ok || bad "validate $f: no file:line diagnostic"
	if grep -q ': error: ' "$tmp/err"; then
		expect_rc 1 "validate $f (errors printed)"
		[ -s "$tmp/out" ] && bad "validate $f: printed a summary despite errors" || ok
	else
		expect_rc 0 "validate $f (only warnings printed)"
	fi
	golden=${f%.xml}.ok
	if [ -f "$golden" ]; then
		if diff <(strip "$golden") <(strip "$tmp/err") >"$tmp/diff"; then ok; else
			bad "validate $f: stderr differs from $(basename "$golden")"; sed 's/^/  /' "$tmp/diff" >&2; fi
	fi
done
run validate "$data/lab.xml" -r "$data/bad-restrictions.xml" -c "$data/cluster.conf"
expect_rc 1 "validate bad restrictions"
grep -q "bad-restrictions.xml:4: error: .*ghost" "$tmp/err" && ok || bad "unknown vm in restrictions at line 4"
grep -q "bad-restrictions.xml:5: error: .*node9" "$tmp/err" && ok || bad "unknown host in restrictions at line 5"
# ---- names on the command line follow the scenario name rule (checked before any I/O) ----
for args in "undeploy ../../../../tmp/x" "undeploy --force ../.." "exec a/b seq" \
    "exec lab --vm ../r1 --cmd true" "status x.y" "drain ../host1" "undeploy -- -x" \
    "migrate a/b vm" "migrate lab ../r1" "migrate lab r1 --to ../host1"; do
	# shellcheck disable=SC2086
	run $args; expect_rc 2 "nube $args"
	grep -Eq "^nube: [a-z]+: (scenario|vm|host) name '.*' (contains|starts with)" "$tmp/err" && ok ||
		{ bad "nube $args: no name error"; cat "$tmp/err" >&2; }
done
# migrate: usage errors exit 2 before any I/O (no config is needed to see them)
grep -q '^  migrate ' <("$nube" --help) && ok || bad "nube --help lists migrate"
for args in "migrate" "migrate lab" "migrate lab r1 r2" "migrate lab r1 --timeout 0" \
    "migrate lab r1 --timeout 86401" "migrate lab r1 --timeout x" "migrate lab r1 --to" \
    "migrate lab r1 --bogus"; do
	# shellcheck disable=SC2086
	NUBE_CONFIG=$tmp/no-such.conf run $args; expect_rc 2 "nube $args"
	grep -q "Try 'nube migrate --help'" "$tmp/err" && ok || bad "nube $args: no usage hint"
done
NUBE_CONFIG=$tmp/no-such.conf run migrate lab r1 --to host2
expect_rc 3 "migrate without a client config"
grep -q "^nube: cannot reach broker" "$tmp/err" && ok || bad "migrate without a config: no broker error"
run validate "$tmp/does-not-exist.xml"; expect_rc 1 "validate a missing file"
grep -q "does-not-exist.xml" "$tmp/err" && ok || bad "missing file is named"
run validate; expect_rc 2 "validate without a file"
run validate a.xml b.xml; expect_rc 2 "validate with two files"
run validate --nope "$data/lab.xml"; expect_rc 2 "validate with an unknown option"

# ---- plan ----
# check_plan JSON SCENARIO CLUSTER: every VM placed once on a host of the cluster; nets on more
# than one host have unique non-null VNIs, nets on one host have none
check_plan() {
	local json=$1 scen=$2 conf=$3 what=$4 nvm hosts
	nvm=$("$nube" validate "$scen" 2>/dev/null | sed -n "s/^scenario '.*': \([0-9]*\) VMs.*/\1/p")
	hosts=$(sed -n 's/^[[:space:]]*host[[:space:]]*=[[:space:]]*//p' "$conf" | tr ',' '\n' |
		sed 's/[[:space:]]//g' | grep -v '^$' | jq -R . | jq -s -c .)
	jq -e --argjson n "$nvm" '.placements | length == $n' "$json" >/dev/null && ok ||
		bad "$what: not every VM placed ($nvm expected)"
	jq -e '[.placements[].vm] | length == (unique | length)' "$json" >/dev/null && ok ||
		bad "$what: a VM placed twice"
	jq -e --argjson h "$hosts" '[.placements[].host] | all(. as $x | $h | index($x) != null)' \
		"$json" >/dev/null && ok || bad "$what: a VM on a host not in the cluster ($hosts)"
	jq -e '[.nets[] | select((.hosts | length) > 1) | .vni] | all(. != null and . >= 1 and . <= 15728639)' \
		"$json" >/dev/null && ok || bad "$what: a cross-host net without a VNI"
	jq -e '[.nets[] | select((.hosts | length) > 1) | .vni] | length == (unique | length)' \
		"$json" >/dev/null && ok || bad "$what: two nets share a VNI"
	jq -e '[.nets[] | select((.hosts | length) <= 1) | .vni] | all(. == null)' \
		"$json" >/dev/null && ok || bad "$what: a single-host net got a VNI"
	jq -e '.totals.cross_host_nets == ([.nets[] | select((.hosts | length) > 1)] | length)' \
		"$json" >/dev/null && ok || bad "$what: totals.cross_host_nets disagrees with nets"
	# every net's host list is exactly the hosts of the VMs on it
	jq -e '. as $p | all($p.nets[]; . as $n | ($n.hosts | sort) ==
		([$p.placements[] | select(.nets | index($n.net) != null) | .host] | unique))' \
		"$json" >/dev/null && ok || bad "$what: a net's hosts differ from its VMs' hosts"
	jq -e --arg a "$5" '.algorithm == $a and (.scenario | type) == "string"' "$json" >/dev/null && ok ||
		bad "$what: scenario/algorithm fields"
}

plans=("$data/lab.xml|$data/cluster.conf")
if [ -f "$src/examples/lab-tutorial.xml" ] && [ -f "$src/examples/cluster.conf" ]; then
	plans+=("$src/examples/lab-tutorial.xml|$src/examples/cluster.conf")
else
	echo "note: examples/lab-tutorial.xml or examples/cluster.conf missing; planning only the tests' own scenario" >&2
fi
for pc in "${plans[@]}"; do
	scen=${pc%%|*} conf=${pc##*|}
	for a in round-robin weighted-round-robin least-loaded graph; do
		run plan "$scen" --cluster-conf "$conf" --algorithm "$a" --json
		expect_rc 0 "plan $scen $a"
		cp "$tmp/out" "$tmp/plan.json"
		jq -e . "$tmp/plan.json" >/dev/null && ok || { bad "plan $scen $a: not JSON"; continue; }
		check_plan "$tmp/plan.json" "$scen" "$conf" "plan $(basename "$scen") $a" "$a"
	done
	run plan "$scen" --cluster-conf "$conf"
	expect_rc 0 "plan $scen (table)"
	for vm in $(jq -r '.placements[].vm' "$tmp/plan.json"); do
		grep -Eq "^$vm +[^ ]" "$tmp/out" && ok || bad "plan table: no row for VM $vm"
	done
	grep -Eq '^HOST +VMS +MEM +CAPACITY$' "$tmp/out" && ok || bad "plan table: no totals"
done

# the default algorithm and determinism
run plan "$data/lab.xml" -c "$data/cluster.conf" --json; cp "$tmp/out" "$tmp/a.json"
run plan "$data/lab.xml" -c "$data/cluster.conf" --json
cmp -s "$tmp/out" "$tmp/a.json" && ok || bad "plan is not deterministic"
jq -e '.algorithm == "weighted-round-robin"' "$tmp/a.json" >/dev/null && ok || bad "default algorithm"

# restrictions are honoured
run plan "$data/lab.xml" -c "$data/cluster.conf" -r "$data/lab-restrictions.xml" --json
expect_rc 0 "plan with restrictions"
jq -e '(.placements[] | select(.vm == "r") | .host) == "node1"' "$tmp/out" >/dev/null && ok ||
	bad "vm_deploy_at r node1 not honoured"
jq -e '[.placements[] | select(.vm == "a1" or .vm == "a2") | .host] | unique | length == 1' \
	"$tmp/out" >/dev/null && ok || bad "affinity a1 a2 not honoured"
jq -e '[.placements[] | select(.vm == "b1" or .vm == "b2") | .host] | unique | length == 2' \
	"$tmp/out" >/dev/null && ok || bad "antiaffinity b1 b2 not honoured"

# a VNI range is honoured; one too small to hold the cross-host nets fails with exit 1
run plan "$data/lab.xml" -c "$data/cluster.conf" -a round-robin --vni-range 500-509 --json
expect_rc 0 "plan --vni-range"
jq -e '[.nets[].vni | select(. != null)] | length > 0 and all(. >= 500 and . <= 509)' \
	"$tmp/out" >/dev/null && ok || bad "VNIs outside --vni-range 500-509"
need=$(jq '.totals.cross_host_nets' "$tmp/out")
if [ "$need" -ge 2 ]; then
	run plan "$data/lab.xml" -c "$data/cluster.conf" -a round-robin --vni-range 500-500
	expect_rc 1 "plan with a VNI range too small"
	grep -q 'error' "$tmp/err" && ok || bad "VNI exhaustion is reported"
else
	bad "round-robin plan of lab.xml should stretch at least 2 nets (got $need)"
fi

# usage errors exit 2, input errors 1
run plan "$data/lab.xml"; expect_rc 2 "plan without --cluster-conf"
run plan "$data/lab.xml" -c "$data/cluster.conf" -a nosuch; expect_rc 2 "plan with an unknown algorithm"
run plan "$data/lab.xml" -c "$data/cluster.conf" --vni-range 9-2; expect_rc 2 "plan with a reversed VNI range"
run plan "$data/lab.xml" -c "$data/cluster.conf" --vni-range 1-16777216; expect_rc 2 "plan with a VNI range too large"
# the VNIs from 15728640 (NUBE_VNI_STRETCH_MIN) up are the agents', for nets a migration stretches
run plan "$data/lab.xml" -c "$data/cluster.conf" --vni-range 10000-15728640
expect_rc 2 "plan with a VNI range reaching into the agents' stretch range"
grep -q 'deploy range 1-15728639' "$tmp/err" && ok || bad "plan --vni-range: the stretch range is named"
run plan "$data/lab.xml" -c "$data/cluster.conf" --vni-range 10000-15728639 --json
expect_rc 0 "plan with a VNI range up to the end of the deploy range"
run plan "$data/bad/unknown-net.xml" -c "$data/cluster.conf"; expect_rc 1 "plan of a bad scenario"
grep -q 'unknown-net.xml:7: error:' "$tmp/err" && ok || bad "plan of a bad scenario: file:line"
run plan "$data/lab.xml" -c "$data/cluster.conf" --store "$tmp/none.db"; expect_rc 1 "plan --store with no store"
[ -e "$tmp/none.db" ] && bad "plan --store created a database" || ok

echo "test-cli: $checks checks, $fails failed"
[ "$fails" = 0 ]
