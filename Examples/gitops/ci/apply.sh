#!/bin/sh
# Runs on the host, as root, after the merge request was approved: applies exactly the reviewed
# plan, or nothing. The plan file must be root's in a folder only root can write (portctl refuses
# anything else), so it is installed there first.
#
#   ci/apply.sh PLAN DIGEST [--confirm 5m]
#
# DIGEST is the one the approval names (OUT_DIR/H.digest from ci/plan.sh): a plan file edited
# after review, even with its digest recomputed, is refused. So is a plan whose host changed
# since it was made (the policy file, the table, or an address file): plan again.
set -eu
plan=$1
digest=$2
shift 2
portctl=${PORTCTL:-portctl}
dir=$(mktemp -d /root/portctl-plan.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$dir"' EXIT
install -m 600 "$plan" "$dir/change.plan"
"$portctl" apply "$dir/change.plan" --expect-digest "$digest" "$@"
