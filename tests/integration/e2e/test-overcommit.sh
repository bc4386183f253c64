#!/bin/bash
# test-overcommit.sh: memory promised to guests is not handed out twice. On a 2-host lab whose
# hosts have 1280 MiB each (nubed.conf [metrics] memory) and keep 256 MiB (memory_reserve),
# scenario 'fill' (2 VMs of 768 MiB, whose filesystems are missing here) deploys one VM per
# host; its agents' warnings reach the progress, the summary and --json; `nube status` shows
# the store's state and each interface's net and address. Then 'extra' (1 VM of 512 MiB),
# which fits by the memory the hosts use but not by what they promised, is refused at plan
# time naming the host and its memory: nothing stored, nothing started. Once 'fill' is gone
# 'extra' deploys.
# Run as root; honours NUBE_LAB_ID, NUBE, NUBED.
source "$(dirname "$0")/lib.sh"
need

# scenario NAME MIB VM...: a scenario of VMs of MIB MiB on one net, root filesystem missing
scenario() {
	local name=$1 mem=$2 i=1 vm
	shift 2
	{
		echo '<?xml version="1.0" encoding="UTF-8"?>'
		echo "<vnx><global><version>2.0</version><scenario_name>$name</scenario_name><automac/>"
		echo '<vm_mgmt type="none"/>'
		echo "<vm_defaults><mem>${mem}M</mem><console id=\"0\" display=\"no\"/></vm_defaults></global>"
		echo '<net name="Net0" mode="virtual_bridge"/>'
		for vm in "$@"; do
			echo "<vm name=\"$vm\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\">"
			echo "<filesystem type=\"cow\">/nonexistent/nube-test/rootfs_$vm</filesystem>"
			echo "<if id=\"1\" net=\"Net0\"><ipv4>10.9.0.$i/24</ipv4></if></vm>"
			i=$((i + 1))
		done
		echo '</vnx>'
	} >"$T/$name.xml"
}
scenario fill 768 a1 a2
scenario extra 512 b1

lab_up 2 --host-memory 1280 --host-reserve 256
"$NUBE" hosts --json >"$T/hosts0.json"
jq -e '[.hosts[] | select(.mem_total_mib == 1280 and .mem_reserve_mib == 256
	and .mem_promised_mib == 0)] | length == 2' "$T/hosts0.json" >/dev/null ||
	{ cat "$T/hosts0.json" >&2; fail "hosts do not report 1280 MiB, 256 reserved, 0 promised"; }
ok "both hosts report 1280 MiB, 256 MiB reserved, nothing promised"

# 'fill': 1024 MiB free per host, so one 768 MiB VM each
"$NUBE" deploy "$T/fill.xml" --json >"$T/fill.json" 2>"$T/fill.err" ||
	{ cat "$T/fill.err" >&2; fail "deploy fill"; }
cat "$T/fill.err"
[ "$(jq '[.placements[].host] | unique | length' "$T/fill.json")" = 2 ] ||
	{ cat "$T/fill.json" >&2; fail "fill's VMs are not one per host"; }
# the agents' warnings: as progress, in the summary and in --json
for vm in a1 a2; do
	grep -q "^host[12]: warning: vm '$vm': filesystem '/nonexistent/nube-test/rootfs_$vm' not found" "$T/fill.err" ||
		fail "no progress warning for $vm's missing filesystem"
	grep -q "^nube: warning: host 'host[12]': vm '$vm': filesystem" "$T/fill.err" ||
		fail "no summary warning for $vm"
	jq -e --arg vm "$vm" '[.warnings[] | select((.host | test("^host[12]$"))
		and (.warning | contains("vm '"'"'" + $vm + "'"'"': filesystem")))] | length == 1' "$T/fill.json" >/dev/null ||
		{ jq .warnings "$T/fill.json" >&2; fail "--json has no warning for $vm"; }
done
grep -q "^deployed 'fill': .*, 2 warnings$" "$T/fill.err" || fail "the summary does not count 2 warnings"
ok "the agents' warnings reach the progress, the summary and --json"

# status: the store's state of the scenario, each interface's net and address
"$NUBE" status fill --json >"$T/status.json" || fail "status"
jq -e '.scenarios == [{"scenario": "fill", "state": "deployed"}]
	and ([.vms[] | select(.scenario_state == "deployed" and .state == "running")] | length == 2)
	and ([.vms[] | select(.vm == "a2") | .ifaces[0] == {"if": 1, "net": "Net0", "addr": "10.9.0.2/24"}] == [true])' \
	"$T/status.json" >/dev/null || { cat "$T/status.json" >&2; fail "status --json"; }
"$NUBE" status fill >"$T/status.txt" || fail "status (table)"
grep -Eq '^fill +deployed +a2 +host[12] +running +qemu-ga +10\.9\.0\.2/24 *$' "$T/status.txt" ||
	{ cat "$T/status.txt" >&2; fail "status table lacks the store state or the address"; }
ok "status shows the store's state and structured interface data"

# the hosts now report what they promised; what they use leaves room for 'extra'
retry 40 bash -c "'$NUBE' hosts --json | jq -e '[.hosts[] | select(.mem_promised_mib == 768)] | length == 2'" ||
	{ cat "$T/retry.out" >&2; "$NUBE" hosts --json >&2; fail "hosts do not report 768 MiB promised"; }
"$NUBE" hosts --json >"$T/hosts1.json"
jq -e '[.hosts[] | select(.mem_total_mib - .mem_used_mib >= 512)] | length >= 1' "$T/hosts1.json" >/dev/null ||
	{ cat "$T/hosts1.json" >&2; fail "premise: no host has 512 MiB unused (guests use more than expected)"; }
info "memory after 'fill': $(jq -c '[.hosts[] | {host, used: .mem_used_mib, promised: .mem_promised_mib}]' "$T/hosts1.json")"

# 'extra' fits by used memory, not by promised memory: refused at plan time
rc=0
"$NUBE" deploy "$T/extra.xml" >"$T/extra.out" 2>&1 || rc=$?
cat "$T/extra.out"
[ "$rc" = 1 ] || fail "deploy of 'extra' over promised memory: exit $rc, expected 1"
for h in host1 host2; do
	grep -q "host '$h' has 256 MiB free (of 1280 MiB: 768 promised to VMs, 256 reserved" "$T/extra.out" ||
		fail "the refusal does not name $h and its memory"
done
grep -q "host[12]: " "$T/extra.out" && fail "a host got a deployment"
[ "$(store_rows extra)" = 0 ] && [ "$(store_allocs extra)" = 0 ] || fail "'extra' was stored"
for k in 1 2; do
	host_domains $k | grep -q extra && fail "host$k started a domain of 'extra'"
done
ok "'extra' refused at plan time: the error names each host's promised memory, nothing stored or started"

"$NUBE" undeploy fill >/dev/null || fail "undeploy fill"
assert_clean fill
retry 40 bash -c "'$NUBE' hosts --json | jq -e '[.hosts[] | select(.mem_promised_mib == 0)] | length == 2'" ||
	fail "promised memory not back to 0"
"$NUBE" deploy "$T/extra.xml" >/dev/null 2>"$T/extra2.err" || { cat "$T/extra2.err" >&2; fail "deploy extra on empty hosts"; }
"$NUBE" undeploy extra >/dev/null || fail "undeploy extra"
assert_clean extra
ok "done"
