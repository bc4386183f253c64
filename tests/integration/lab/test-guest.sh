#!/bin/bash
# test-guest.sh: boot the nube test guest under plain QEMU (TCG) and talk to its qemu-ga
#
# Run as root from the repository root: tests/integration/lab/test-guest.sh
# Builds the guest image if needed (guest/build-guest), boots it with 96 MiB,
# waits for the guest agent (guest-ping), runs `uname -a` through guest-exec,
# checks ethN is up without an address, and prints the boot-to-agent time.
# Exits non-zero on the first failed check.
set -eu

REPO=$(cd "$(dirname "$0")/../../.." && pwd)
GDIR=${NUBE_GUEST_DIR:-/var/lib/nube/guest}
BOOT_LIMIT=${BOOT_LIMIT:-60}
T=$(mktemp -d /tmp/nube-test-guest.XXXXXX)
QPID=""

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
cleanup() {
	[ -n "${QGA_PID:-}" ] && kill "$QGA_PID" 2>/dev/null || true
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID"; sleep 0.5; fi
	rm -rf "$T"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || fail "run as root"
trap "" PIPE  # a dropped agent connection must not kill the test
"$REPO/guest/build-guest"

start=$(date +%s%N)
qemu-system-x86_64 -accel tcg -m 96 -display none -no-reboot \
	-serial "file:$T/console.log" \
	-kernel "$GDIR/vmlinuz" -initrd "$GDIR/initrd.img" \
	-append "console=ttyS0 quiet panic=-1" \
	-device virtio-serial \
	-chardev "socket,path=$T/qga.sock,server=on,wait=off,id=qga0" \
	-device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
	-netdev "socket,id=n0,listen=127.0.0.1:0" -device virtio-net-pci,netdev=n0 \
	-pidfile "$T/qemu.pid" -daemonize
QPID=$(cat "$T/qemu.pid")
ok "qemu started (pid $QPID)"

# one connection to the agent, kept open (closing it drops unanswered replies);
# made again when it drops (QEMU may close it while the guest boots)
QGA_PID=""
qga_connect() {
	if [ -n "$QGA_PID" ] && kill -0 "$QGA_PID" 2>/dev/null; then return 0; fi
	coproc QGA { exec socat - "UNIX-CONNECT:$T/qga.sock" 2>/dev/null; }
	QGA_PID=$QGA_PID
	sleep 0.1
	kill -0 "$QGA_PID" 2>/dev/null
}

# qga_call JSON [TIMEOUT]: send one request, print its reply line
qga_call() {
	local line
	qga_connect || return 1
	printf '%s\n' "$1" >&"${QGA[1]}"
	IFS= read -r -t "${2:-5}" line <&"${QGA[0]}" || return 1
	printf '%s\n' "$line"
}
# qga_sync: discard stale replies (guest-sync with a fresh id)
qga_sync() {
	local id=$RANDOM$RANDOM line
	qga_connect || { sleep 0.5; return 1; }
	printf '{"execute":"guest-sync","arguments":{"id":%s}}\n' "$id" >&"${QGA[1]}"
	while IFS= read -r -t "${1:-1}" line <&"${QGA[0]}"; do
		case "$line" in *"\"return\": $id"*) return 0 ;; esac
	done
	return 1
}

up=0
while [ $(( ($(date +%s%N) - start) / 1000000000 )) -lt "$BOOT_LIMIT" ]; do
	if qga_sync 1; then up=1; break; fi
done
[ "$up" = 1 ] || { tail -20 "$T/console.log" >&2; fail "guest agent did not answer within ${BOOT_LIMIT}s"; }
ms=$(( ($(date +%s%N) - start) / 1000000 ))
r=$(qga_call '{"execute":"guest-ping"}') || fail "guest-ping: no reply"
[ "$(echo "$r" | jq -c .return)" = "{}" ] || fail "guest-ping: unexpected reply $r"
ok "guest-ping answered; boot-to-agent ${ms} ms"

# guest_exec CMD: run /bin/sh -c CMD, print stdout; fail on non-zero exit
guest_exec() {
	local r pid st
	r=$(qga_call "$(jq -cn --arg c "$1" '{execute:"guest-exec",arguments:{path:"/bin/sh",arg:["-c",$c],"capture-output":true}}')") ||
		fail "guest-exec: no reply"
	pid=$(echo "$r" | jq -e .return.pid) || fail "guest-exec: $r"
	for _ in $(seq 1 50); do
		st=$(qga_call "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") || fail "guest-exec-status: no reply"
		[ "$(echo "$st" | jq .return.exited)" = true ] && break
		sleep 0.1
	done
	[ "$(echo "$st" | jq .return.exited)" = true ] || fail "'$1' did not finish"
	[ "$(echo "$st" | jq .return.exitcode)" = 0 ] || fail "'$1' exited $(echo "$st" | jq .return.exitcode): $st"
	echo "$st" | jq -r '.return["out-data"] // ""' | base64 -d
}

up_s=$(guest_exec "cut -d' ' -f1 /proc/uptime")
ok "guest uptime at the first agent reply: ${up_s} s (the rest of ${ms} ms is QEMU + firmware before the kernel)"
out=$(guest_exec "uname -a")
case "$out" in Linux\ nube-guest\ *) ok "guest-exec uname -a: $out" ;; *) fail "uname -a gave '$out'" ;; esac

out=$(guest_exec "ip -o link show eth0")
case "$out" in *"state UP"*|*",UP"*) ok "eth0 is up" ;; *) fail "eth0 not up: $out" ;; esac
out=$(guest_exec "ip -o addr show eth0")
case "$out" in *inet\ *) fail "eth0 has an IPv4 address: $out" ;; *) ok "eth0 has no IPv4 address" ;; esac
out=$(guest_exec "for a in ip ping ping6 udhcpc sysctl hostname sh; do command -v \$a >/dev/null || echo missing \$a; done")
[ -z "$out" ] || fail "$out"
ok "busybox applets present"
out=$(guest_exec "ip addr add 192.0.2.5/24 dev eth0 && ip -o -4 addr show eth0")
case "$out" in *192.0.2.5/24*) ok "address configured through the agent" ;; *) fail "ip addr add: $out" ;; esac

# the agent is respawned when it dies
qga_call "$(jq -cn '{execute:"guest-exec",arguments:{path:"/bin/sh",arg:["-c","sleep 1; kill $(pidof qemu-ga)"]}}')" > /dev/null ||
	fail "guest-exec kill: no reply"
sleep 2
back=0
for _ in $(seq 1 20); do
	if qga_sync 1; then back=1; break; fi
done
[ "$back" = 1 ] || fail "qemu-ga did not come back after being killed"
out=$(guest_exec "echo again")
[ "$out" = again ] || fail "guest-exec after the agent restart gave '$out'"
ok "qemu-ga respawned after being killed"

# guest-shutdown powers the guest off (QEMU exits)
printf '%s\n' '{"execute":"guest-shutdown","arguments":{"mode":"powerdown"}}' >&"${QGA[1]}" || true
for _ in $(seq 1 100); do
	kill -0 "$QPID" 2>/dev/null || break
	sleep 0.2
done
! kill -0 "$QPID" 2>/dev/null || fail "guest-shutdown did not power the guest off within 20 s"
QPID=""
ok "guest-shutdown powered the guest off"

echo "PASS test-guest (boot-to-agent ${ms} ms)"
