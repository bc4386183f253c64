#!/bin/bash
# test-lab.sh: end-to-end test of the lab itself (nube-lab up/down, broker ACL, guests, VXLAN, live migration)
#
# Run as root from the repository root: tests/integration/lab/test-lab.sh
# Uses its own lab (NUBE_LAB_ID=9 unless set) so it never touches the default
# lab other tests use. Prints every check; exits non-zero at the first failure
# (the lab is taken down in any case). Timings are printed at the end.
set -eu

REPO=$(cd "$(dirname "$0")/../../.." && pwd)
export NUBE_LAB_ID=${NUBE_LAB_ID:-9}
LAB="$REPO/lab/nube-lab"
ID=$NUBE_LAB_ID
NET=10.77.$ID
STATE=/run/nube-lab$ID
PFX=nube$ID
GDIR=${NUBE_GUEST_DIR:-/var/lib/nube/guest}
H1=qemu+tcp://$NET.11/system
H2=qemu+tcp://$NET.12/system
T=$(mktemp -d /tmp/nube-test-lab.XXXXXX)
SUBPID=""

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
cleanup() {
	local rc=$?
	[ -n "$SUBPID" ] && kill "$SUBPID" 2>/dev/null
	if [ "$rc" != 0 ] && [ -d "$STATE" ]; then
		echo "--- status at failure" >&2
		"$LAB" status >&2 || true
	fi
	"$LAB" down > /dev/null 2>&1 || true
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "run as root"
[ -x "$LAB" ] || fail "$LAB missing"

# --- nothing up: down and status behave --------------------------------------
"$LAB" down > /dev/null || fail "down with nothing up failed"
ok "down with nothing up succeeds"
if "$LAB" status > /dev/null 2>&1; then fail "status succeeded with no lab"; fi
ok "status says no lab (non-zero exit)"

# --- up 2 ------------------------------------------------------------------------
t0=$(now_ms)
"$LAB" up 2 --no-agents
UP_MS=$(( $(now_ms) - t0 ))
ok "up 2 --no-agents in $UP_MS ms"
if "$LAB" up 2 --no-agents > /dev/null 2>&1; then fail "a second up succeeded"; fi
ok "second up refused while the lab is up"

for ns in $PFX-fabric $PFX-host1 $PFX-host2; do
	ip netns list | grep -q "^$ns\b" || fail "netns $ns missing"
done
ok "netns $PFX-fabric, $PFX-host1, $PFX-host2 exist"
[ "$("$LAB" exec host1 -- hostname)" = host1 ] || fail "host1 hostname"
[ "$("$LAB" exec host2 -- hostname)" = host2 ] || fail "host2 hostname"
ok "hostnames host1, host2"
"$LAB" exec host1 -- ip -4 addr show eth0 2>/dev/null | grep -q "inet $NET.11/24" || fail "host1 eth0 address"
"$LAB" exec host2 -- ip -4 addr show eth0 2>/dev/null | grep -q "inet $NET.12/24" || fail "host2 eth0 address"
ok "host addresses $NET.11, $NET.12"
"$LAB" exec host1 -- ls /sys/class/net | grep -qx eth0 || fail "host1 /sys/class/net does not show its own netns"
[ -d "$("$LAB" exec host1 -- sh -c 'ls -d /sys/fs/cgroup/cpuacct')" ] || fail "cgroup mounts not visible in host1"
ok "host1 sees its own /sys/class/net and the cgroup mounts"
"$LAB" exec host1 -- ping -c 1 -W 2 "$NET.12" > /dev/null || fail "host1 cannot ping host2"
ping -c 1 -W 2 "$NET.11" > /dev/null || fail "root namespace cannot ping host1"
ok "fabric: host1 -> host2, root -> host1"
u1=$(virsh -c "$H1" capabilities | sed -n 's|.*<uuid>\(.*\)</uuid>.*|\1|p' | head -1)
u2=$(virsh -c "$H2" capabilities | sed -n 's|.*<uuid>\(.*\)</uuid>.*|\1|p' | head -1)
[ -n "$u1" ] && [ "$u1" != "$u2" ] || fail "host UUIDs not distinct ('$u1' '$u2')"
ok "libvirtd over TCP on both hosts, distinct host UUIDs"
[ "$(virsh -c "$H1" hostname)" = host1 ] || fail "libvirtd of host1 reports hostname $(virsh -c "$H1" hostname)"
ok "libvirtd of host1 reports hostname host1"
! ss -ltn | grep -q ":1883 " || fail "something listens on 1883 in the root namespace"
ip netns exec "$PFX-fabric" ss -ltn | grep -q "$NET.1:1883 " || fail "broker not listening on $NET.1:1883"
[ "$(ip netns exec "$PFX-fabric" ss -ltn | grep -c ':1883 ')" = 1 ] || fail "broker listens on more than the fabric address"
ok "broker listens only on $NET.1:1883"

for f in "$STATE/nube.conf" "$STATE/host1/nubed.conf" "$STATE/host2/nubed.conf"; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f is not 0600"
done
grep -q "^url = mqtt://$NET.1:1883" "$STATE/nube.conf" || fail "nube.conf broker url"
grep -q "^username = operator" "$STATE/nube.conf" || fail "nube.conf username"
grep -q "^host = host2" "$STATE/host2/nubed.conf" || fail "nubed.conf host"
grep -q "^fabric_addr = $NET.12" "$STATE/host2/nubed.conf" || fail "nubed.conf fabric_addr"
ok "nube.conf and nubed.conf written, 0600"

# --- broker authentication and ACL -------------------------------------------------
OPW=$(sed -n 's/^password = //p' "$STATE/nube.conf")
P1=$(sed -n 's/^password = //p' "$STATE/host1/nubed.conf")
B="-V mqttv5 -h $NET.1 -p 1883"
# pub_as USER PW TOPIC: QoS 1 publish; prints "denied" when the broker refuses it
pub_as() {
	local out
	# shellcheck disable=SC2086
	out=$(mosquitto_pub $B -u "$1" -P "$2" -q 1 -t "$3" -m "from $1" 2>&1) || { echo "error: $out"; return 0; }
	case "$out" in *"Not authorized"*) echo denied ;; *) echo accepted ;; esac
}
# shellcheck disable=SC2086
if mosquitto_pub $B -q 1 -t nube/v1/events -m anon 2>/dev/null; then fail "anonymous publish accepted"; fi
ok "anonymous client refused"
# shellcheck disable=SC2086
if mosquitto_pub $B -u host1 -P wrong -q 1 -t nube/v1/events -m x 2>/dev/null; then fail "wrong password accepted"; fi
ok "wrong password refused"
P2=$(sed -n 's/^password = //p' "$STATE/host2/nubed.conf")
# what the operator may read (host status, events) is checked for delivery too
# shellcheck disable=SC2086
mosquitto_sub $B -u operator -P "$OPW" -t 'nube/v1/#' -v -W 15 > "$T/seen" 2>&1 &
SUBPID=$!
sleep 1
for c in "host1 nube/v1/host/host1/state accepted" \
	"host1 nube/v1/host/host1/online accepted" \
	"host1 nube/v1/host/host2/state denied" \
	"host1 nube/v1/host/host2/online denied" \
	"host1 nube/v1/host/host2/rpc/host1 accepted" \
	"host1 nube/v1/host/host2/rpc/host2 denied" \
	"host1 nube/v1/host/host2/rpc/operator denied" \
	"host1 nube/v1/host/host2/rpc denied" \
	"host1 nube/v1/events accepted" \
	"host1 nube/v1/reply/operator/1 denied" \
	"host1 nube/v1/reply/operator/c1/host2 denied" \
	"host1 nube/v1/reply/operator/c1/host1 accepted" \
	"host1 nube/v1/reply/host2/c2/host1 accepted" \
	"host1 nube/v1/other denied" \
	"operator nube/v1/host/host2/rpc/operator accepted" \
	"operator nube/v1/host/host2/rpc/host1 denied" \
	"operator nube/v1/host/host2/rpc denied" \
	"operator nube/v1/host/host2/state denied" \
	"operator nube/v1/events denied" \
	"operator nube/v1/reply/host1/c3/host2 denied"; do
	set -- $c
	if [ "$1" = operator ]; then pw=$OPW; else pw=$P1; fi
	got=$(pub_as "$1" "$pw" "$2")
	[ "$got" = "$3" ] || fail "$1 publishing to $2: expected $3, got $got"
	case "$2" in nube/v1/host/*/state | nube/v1/host/*/online | nube/v1/events | nube/v1/reply/operator/*) echo "$2 $1 $3" >> "$T/expect" ;; esac
	ok "$1 -> $2 $3"
done
sleep 1
kill "$SUBPID" 2>/dev/null || true
wait "$SUBPID" 2>/dev/null || true
SUBPID=""
while read -r topic user verdict; do
	if [ "$verdict" = accepted ]; then
		grep -qx "$topic from $user" "$T/seen" || fail "operator did not receive $user's accepted publish on $topic"
	else
		! grep -qx "$topic from $user" "$T/seen" || fail "operator received $user's denied publish on $topic"
	fi
done < "$T/expect"
! grep -v "^nube/v1/reply/operator/" "$T/seen" | grep -q "/rpc/\|nube/v1/reply/" ||
	fail "operator received requests or replies not its own: $(grep "/rpc/\|reply/" "$T/seen")"
ok "operator received exactly the accepted publishes it may read (its replies too), no request and no reply of others"
# host1 reads another host's retained state (written by host2 itself)
# shellcheck disable=SC2086
mosquitto_pub $B -u host2 -P "$P2" -q 1 -r -t nube/v1/host/host2/state -m retained-state
# shellcheck disable=SC2086
got=$(mosquitto_sub $B -u host1 -P "$P1" -t nube/v1/host/host2/state -C 1 -W 5 2>&1) || true
[ "$got" = retained-state ] || fail "host1 cannot read nube/v1/host/host2/state (got '$got')"
# shellcheck disable=SC2086
mosquitto_pub $B -u host2 -P "$P2" -q 1 -r -t nube/v1/host/host2/state -n
ok "host1 reads other hosts' retained state"

# --- guests on both hosts, VXLAN between them ----------------------------------------
for k in 1 2; do
	o=$((3 - k))
	"$LAB" exec host$k -- sh -c "
		ip link add br-t type bridge &&
		ip link add vx-t type vxlan id 100 local $NET.1$k dstport 4789 nolearning &&
		ip link set vx-t master br-t &&
		bridge fdb append 00:00:00:00:00:00 dev vx-t dst $NET.1$o &&
		ip link set vx-t up && ip link set br-t up" || fail "host$k: bridge + vxlan"
done
ok "bridge br-t + vxlan 100 on both hosts"

domxml() { # domxml NAME MAC
	cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>96</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$GDIR/vmlinuz</kernel>
    <initrd>$GDIR/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <on_crash>destroy</on_crash>
  <devices>
    <interface type='bridge'>
      <source bridge='br-t'/>
      <mac address='$2'/>
      <model type='virtio'/>
    </interface>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <serial type='pty'/>
    <console type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}
# agent URI DOM JSON: one guest agent command
agent() { virsh -c "$1" qemu-agent-command "$2" "$3" --timeout 5; }
# wait_agent URI DOM: wait for guest-ping, print ms waited
wait_agent() {
	local t0
	t0=$(now_ms)
	for _ in $(seq 1 120); do
		agent "$1" "$2" '{"execute":"guest-ping"}' > /dev/null 2>&1 && { echo $(( $(now_ms) - t0 )); return 0; }
		sleep 0.5
	done
	return 1
}
# gexec URI DOM CMD: run CMD with /bin/sh in the guest, print its output, return its status
gexec() {
	local r pid
	r=$(agent "$1" "$2" "$(jq -cn --arg c "$3" '{execute:"guest-exec",arguments:{path:"/bin/sh",arg:["-c",$c],"capture-output":true}}')") || return 1
	pid=$(echo "$r" | jq -e .return.pid) || return 1
	for _ in $(seq 1 200); do
		r=$(agent "$1" "$2" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") || return 1
		[ "$(echo "$r" | jq .return.exited)" = true ] && break
		sleep 0.1
	done
	echo "$r" | jq -r '.return["out-data"] // ""' | base64 -d
	return "$(echo "$r" | jq '.return.exitcode // 1')"
}

domxml g1 52:54:00:00:$(printf %02x "$ID"):01 > "$T/g1.xml"
domxml g2 52:54:00:00:$(printf %02x "$ID"):02 > "$T/g2.xml"
virsh -c "$H1" define "$T/g1.xml" > /dev/null || fail "define g1 on host1"
virsh -c "$H2" define "$T/g2.xml" > /dev/null || fail "define g2 on host2"
t0=$(now_ms)
virsh -c "$H1" start g1 > /dev/null || fail "start g1"
BOOT_MS=$(wait_agent "$H1" g1) || fail "g1's guest agent did not answer within 60 s"
BOOT_MS=$(( $(now_ms) - t0 ))
ok "g1 on host1: start to guest agent $BOOT_MS ms"
virsh -c "$H2" start g2 > /dev/null || fail "start g2"
wait_agent "$H2" g2 > /dev/null || fail "g2's guest agent did not answer"
ok "g2 on host2 answers"
gexec "$H1" g1 "ip addr add 192.168.77.1/24 dev eth0" > /dev/null || fail "g1 address"
gexec "$H2" g2 "ip addr add 192.168.77.2/24 dev eth0" > /dev/null || fail "g2 address"
out=$(gexec "$H1" g1 "ip -4 addr show eth0") || fail "g1 ip addr show"
case "$out" in *192.168.77.1/24*) ;; *) fail "g1 address not set: $out" ;; esac
ok "addresses set through guest-exec"
gexec "$H1" g1 "ping -c 3 -W 3 192.168.77.2" > "$T/ping1" || { cat "$T/ping1"; fail "g1 (host1) cannot ping g2 (host2)"; }
gexec "$H2" g2 "ping -c 3 -W 3 192.168.77.1" > /dev/null || fail "g2 cannot ping g1"
ok "g1 (host1) <-> g2 (host2) ping over VXLAN"

# --- live migration of g1 host1 -> host2 while g2 pings it ---------------------------
r=$(agent "$H2" g2 "$(jq -cn '{execute:"guest-exec",arguments:{path:"/bin/sh",arg:["-c","ping -c 300 -i 0.02 -W 1 192.168.77.1 | tail -3"],"capture-output":true}}')")
PINGPID=$(echo "$r" | jq .return.pid)
sleep 1
t0=$(now_ms)
virsh -c "$H1" migrate --live --p2p --persistent --undefinesource g1 "$H2" --migrateuri "tcp://$NET.12" ||
	fail "live migration of g1 failed"
MIG_MS=$(( $(now_ms) - t0 ))
JOB=$(virsh -c "$H2" domjobinfo g1 --completed 2>/dev/null || true)
MIG_LIBVIRT_MS=$(echo "$JOB" | sed -n 's/^Time elapsed: *\([0-9]*\) *ms/\1/p')
DOWN_MS=$(echo "$JOB" | sed -n 's/^Total downtime: *\([0-9]*\) *ms/\1/p')
ok "g1 migrated in $MIG_MS ms (libvirt: ${MIG_LIBVIRT_MS:-?} ms, downtime ${DOWN_MS:-?} ms)"
[ -z "$(virsh -c "$H1" list --all --name | sed '/^$/d')" ] || fail "g1 still defined on host1"
virsh -c "$H2" dominfo g1 | grep -q "^State: *running" || fail "g1 not running on host2"
virsh -c "$H2" dominfo g1 | grep -q "^Persistent: *yes" || fail "g1 not persistent on host2"
ok "g1 runs on host2, persistent; host1 has no domain left"
agent "$H2" g1 '{"execute":"guest-ping"}' > /dev/null || fail "g1's agent does not answer after migration"
out=$(gexec "$H2" g1 "ip -4 addr show eth0") || fail "guest-exec after migration"
case "$out" in *192.168.77.1/24*) ;; *) fail "g1 lost its address: $out" ;; esac
ok "g1's agent answers on host2, address kept"
for _ in $(seq 1 200); do
	r=$(agent "$H2" g2 "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$PINGPID}}")
	[ "$(echo "$r" | jq .return.exited)" = true ] && break
	sleep 0.1
done
PINGSTAT=$(echo "$r" | jq -r '.return["out-data"] // ""' | base64 -d | grep 'packets')
ok "ping every 20 ms during migration: $PINGSTAT"
gexec "$H2" g2 "ping -c 2 -W 3 192.168.77.1" > /dev/null || fail "g2 cannot ping g1 after migration"
ok "g2 pings g1 after migration"

# --- status, down, nothing left ---------------------------------------------------------
"$LAB" status > "$T/status" || fail "status failed"
grep -q "g1" "$T/status" && grep -q "host2 $NET.12" "$T/status" || { cat "$T/status"; fail "status output"; }
ok "status lists hosts and domains"
PIDS=$(for ns in $(ip netns list | awk '{print $1}' | grep "^$PFX-"); do ip netns pids "$ns"; done | sort -u | tr '\n' ' ')
[ -n "$PIDS" ] || fail "no processes found in the lab namespaces"
QEMUS=$(pgrep -f "guest=g[12]," | tr '\n' ' ' || true)
[ -n "$QEMUS" ] || fail "no QEMU processes found"
t0=$(now_ms)
"$LAB" down || fail "down failed"
DOWN_LAB_MS=$(( $(now_ms) - t0 ))
check_clean() {
	local p
	! ip netns list | grep -q "^$PFX-" || fail "netns left: $(ip netns list | grep "^$PFX-")"
	[ ! -e "$STATE" ] || fail "$STATE left"
	! ip link show "nubelab$ID" > /dev/null 2>&1 || fail "veth nubelab$ID left"
	[ ! -e "/sys/fs/cgroup/cpu/nube-lab$ID" ] || fail "cgroup /sys/fs/cgroup/cpu/nube-lab$ID left"
	[ ! -e "/sys/fs/cgroup/cpuacct/nube-lab$ID" ] || fail "cgroup /sys/fs/cgroup/cpuacct/nube-lab$ID left"
	for p in $1; do
		# a zombie (state Z) waiting for PID 1 to reap it holds nothing
		[ ! -e "/proc/$p" ] || [ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" = Z ] ||
			fail "process $p ($(cat /proc/"$p"/comm 2>/dev/null)) left"
	done
	! grep -q "$STATE" /proc/self/mountinfo || fail "mounts under $STATE left"
	! ip route | grep -q "^$NET\.0/24" || fail "route to $NET.0/24 left"
}
check_clean "$PIDS $QEMUS"
ok "down in $DOWN_LAB_MS ms: no netns, veth, cgroup, state, mount or process left (checked: $PIDS $QEMUS)"

# --- cpu quota, fake agent, agent and broker restarts, down after damage -----------------
cat > "$T/fake-nubed" <<'EOF'
#!/bin/sh
# fake nubed for the lab test: records its arguments and waits
echo "fake nubed $*"
exec sleep 1000
EOF
chmod +x "$T/fake-nubed"
NUBED="$T/fake-nubed" "$LAB" up 1 --cpu-quota 30 > "$T/up2" || { cat "$T/up2"; fail "up 1 --cpu-quota 30"; }
CG=/sys/fs/cgroup/cpu/nube-lab$ID/host1
[ "$(cat "$CG/cpu.cfs_quota_us")" = 30000 ] && [ "$(cat "$CG/cpu.cfs_period_us")" = 100000 ] || fail "cpu quota not set"
grep -q "^cgroup = nube-lab$ID/host1" "$STATE/host1/nubed.conf" || fail "nubed.conf lacks [metrics] cgroup"
LPID=$(cat "$STATE/host1/run/libvirtd.pid")
grep -qx "$LPID" "$CG/cgroup.procs" || fail "libvirtd not in $CG"
grep -qx "$LPID" "/sys/fs/cgroup/cpuacct/nube-lab$ID/host1/cgroup.procs" || fail "libvirtd not in the cpuacct group"
ok "host1 capped at 30 % (cfs 30000/100000), libvirtd in its cpu and cpuacct groups"
APID=$(cat "$STATE/host1/nubed.pid")
kill -0 "$APID" || fail "fake nubed not running"
grep -q "fake nubed -c $STATE/host1/nubed.conf" "$STATE/host1/nubed.log" || fail "nubed not started with -c nubed.conf"
[ "$(readlink "/proc/$APID/ns/net")" = "$(readlink "/proc/$(cat "$STATE/host1/holder.pid")/ns/net")" ] || fail "nubed not in host1's netns"
grep -qx "$APID" "$CG/cgroup.procs" || fail "nubed not in host1's cgroup"
ok "agent started as '$(cat "$STATE/host1/nubed.log")' in host1's namespaces and cgroup"
U0=$(cat "/sys/fs/cgroup/cpuacct/nube-lab$ID/host1/cpuacct.usage")
"$LAB" exec host1 -- timeout 2 sh -c 'while :; do :; done' || true
U1=$(cat "/sys/fs/cgroup/cpuacct/nube-lab$ID/host1/cpuacct.usage")
BUSY_MS=$(( (U1 - U0) / 1000000 ))
[ "$BUSY_MS" -gt 200 ] && [ "$BUSY_MS" -lt 900 ] || fail "busy loop used $BUSY_MS ms of CPU in 2 s under a 30 % cap"
ok "2 s busy loop in host1 used $BUSY_MS ms CPU (cap 30 % = 600 ms)"
"$LAB" kill-agent host1 > /dev/null
! kill -0 "$APID" 2>/dev/null || fail "kill-agent left nubed running"
ok "kill-agent"
"$LAB" restart-agent host1 > /dev/null
APID2=$(cat "$STATE/host1/nubed.pid")
[ "$APID2" != "$APID" ] && kill -0 "$APID2" || fail "restart-agent did not start a new nubed"
ok "restart-agent (new pid $APID2)"
MPID=$(cat "$STATE/mosquitto/mosquitto.pid")
"$LAB" restart-broker > /dev/null || fail "restart-broker"
MPID2=$(cat "$STATE/mosquitto/mosquitto.pid")
[ "$MPID2" != "$MPID" ] && kill -0 "$MPID2" || fail "broker not restarted"
# shellcheck disable=SC2086
mosquitto_pub $B -u operator -P "$(sed -n 's/^password = //p' "$STATE/nube.conf")" -q 1 -t nube/v1/host/none/rpc/operator -m x ||
	fail "broker refuses the operator after restart"
ok "restart-broker (new pid $MPID2, operator accepted)"
# damage the lab, then down must still clean everything
PIDS=$(ip netns pids "$PFX-host1" | tr '\n' ' ')
kill -9 "$(cat "$STATE/host1/holder.pid")" "$MPID2"
"$LAB" down > /dev/null || fail "down after damage failed"
check_clean "$PIDS $MPID2"
ok "down after killing the holder and the broker leaves nothing"

# half-failed up: the test hook NUBE_LAB_TEST_FAIL makes up fail after a stage
for stage in broker hosts; do
	if NUBE_LAB_TEST_FAIL=$stage NUBE_LAB_KEEP=1 "$LAB" up 2 --no-agents > "$T/up3" 2>&1; then
		fail "up with NUBE_LAB_TEST_FAIL=$stage succeeded"
	fi
	[ -d "$STATE" ] && ip netns list | grep -q "^$PFX-fabric" || fail "NUBE_LAB_KEEP=1 did not keep the half-built lab"
	PIDS=$(for ns in $(ip netns list | awk '{print $1}' | grep "^$PFX-"); do ip netns pids "$ns"; done | tr '\n' ' ')
	"$LAB" down > /dev/null || fail "down after a failed up ($stage)"
	check_clean "$PIDS"
	ok "down after an up that failed after '$stage' leaves nothing"
done
if NUBE_LAB_TEST_FAIL=hosts "$LAB" up 2 --no-agents > "$T/up4" 2>&1; then fail "up with NUBE_LAB_TEST_FAIL=hosts succeeded"; fi
check_clean ""
ok "a failed up cleans up after itself"

echo
echo "PASS test-lab"
echo "timings: lab up 2 hosts $UP_MS ms; guest start to agent $BOOT_MS ms; migration $MIG_MS ms (libvirt ${MIG_LIBVIRT_MS:-?} ms, downtime ${DOWN_MS:-?} ms); lab down $DOWN_LAB_MS ms"
