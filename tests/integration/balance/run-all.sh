#!/bin/bash
# run-all.sh: every live balancing test on the lab, one after the other (each brings its own
# lab up and down); exit non-zero when any failed. Honours NUBE_LAB_ID, NUBE, NUBED.
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd)
failed=()
for t in test-overload.sh test-penalty.sh test-evacuate.sh test-admission.sh test-drain.sh test-standby.sh test-heal.sh; do
	echo "==== balance: $t"
	t0=$SECONDS
	if [ ! -x "$D/$t" ]; then
		failed+=("$t (missing)")
	elif "$D/$t"; then
		echo "==== balance: $t passed in $((SECONDS - t0)) s"
	else
		echo "==== balance: $t FAILED after $((SECONDS - t0)) s"
		failed+=("$t")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'balance FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "balance: all passed"
