# rpc.sh: helpers of test-agent.sh (sourced): MQTT 5 request/reply with mosquitto_pub/sub
# needs BROKER, OPW (operator password)

# rpc HOST JSON TIMEOUT_S: send JSON to HOST's rpc topic as the operator, print the final
# reply (the message carrying "ok") on stdout and the progress messages on stderr;
# status 1 when no final reply came within TIMEOUT_S
rpc() {
	local host=$1 json=$2 tmo=${3:-60} resp out sub i line
	resp="nube/v1/reply/operator/agent-test-$$-$RANDOM/$host"
	out=$(mktemp)
	mosquitto_sub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -t "$resp" -W "$((tmo + 2))" >"$out" 2>/dev/null &
	sub=$!
	sleep 0.3
	mosquitto_pub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -q 1 \
		-t "nube/v1/host/$host/rpc/operator" -m "$json" \
		-D PUBLISH response-topic "$resp" -D PUBLISH correlation-data "c$RANDOM$RANDOM"
	for ((i = 0; i < tmo * 10; i++)); do
		if grep -q '"ok"' "$out"; then break; fi
		sleep 0.1
	done
	kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
	grep -v '"ok"' "$out" | sed 's/^/  progress: /' >&2
	line=$(grep '"ok"' "$out" | head -1)
	rm -f "$out"
	[ -n "$line" ] || { echo "rpc $host: no final reply within $tmo s" >&2; return 1; }
	printf '%s\n' "$line"
}

# retained HOST LEAF: the retained message of nube/v1/host/HOST/LEAF (empty if none)
retained() {
	mosquitto_sub -V mqttv5 -h "$BROKER" -u operator -P "$OPW" -t "nube/v1/host/$1/$2" -C 1 -W 3 2>/dev/null || true
}
