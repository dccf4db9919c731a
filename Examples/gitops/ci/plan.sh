#!/bin/sh
# Runs on a merge request, on any CI runner, as an ordinary user (no root, no kernel): for each
# host whose policy the request changes, plans making the proposed policy the host's policy
# against the host's saved listing, and writes a review comment and the saved plan.
#
#   ci/plan.sh BASE_REF OUT_DIR [HOST...]
#
# BASE_REF is what production runs (the target branch, e.g. origin/main). For host H it reads:
#   hosts/H/policy.yaml     the proposed policy (this branch)
#   hosts/H/listing.json    the host's table, saved on the host by
#                           'portctl status --save-listing listing.json' (a scheduled job commits it)
# and writes OUT_DIR/H.plan (apply it on the host), OUT_DIR/H.md (post it on the merge request)
# and OUT_DIR/H.digest (the digest the approval names). Set POST_COMMENT to a command that
# posts a file as a comment (it gets the file's path), e.g. POST_COMMENT="gh pr comment --body-file"
# or POST_COMMENT="glab mr note --message-file". Exit 0: nothing to change; 2: changes to review;
# anything else: a policy or listing that does not pass.
set -eu
base=$1
out=$2
shift 2
portctl=${PORTCTL:-portctl}
mkdir -p "$out"
if [ "$#" -eq 0 ]; then
  # One host a line; no globbing, no splitting on spaces.
  set -f
  IFS='
'
  set -- $(git diff --name-only "$base" -- 'hosts/*/policy.yaml' | cut -d/ -f2 | sort -u)
  unset IFS
  set +f
fi
status=0
for host in "$@"; do
  case $host in
    ''|.*|*[!A-Za-z0-9._-]*) echo "ci/plan.sh: refusing host folder name \"$host\": use letters, digits, '.', '_' and '-'" >&2; exit 64 ;;
  esac
  current="$out/$host.current.yaml"
  # What production runs; a new host has none yet (portctl plans from an empty policy then).
  if ! git show "$base:hosts/$host/policy.yaml" > "$current" 2>/dev/null; then
    rm -f "$current"
  fi
  set +e
  "$portctl" plan --policy "$current" --new "hosts/$host/policy.yaml" --live "hosts/$host/listing.json" \
    --format markdown -o "$out/$host.plan" > "$out/$host.md"
  code=$?
  set -e
  case $code in
    0|2) ;;
    *) echo "ci/plan.sh: $host: portctl plan failed (exit $code)" >&2; exit "$code" ;;
  esac
  [ "$code" = 2 ] && status=2
  sed -n 's/^  "digest" : "\(sha256:[0-9a-f]*\)",$/\1/p' "$out/$host.plan" > "$out/$host.digest"
  if [ -n "${POST_COMMENT:-}" ]; then
    $POST_COMMENT "$out/$host.md"
  fi
  echo "$host: $(head -n 1 "$out/$host.md" | sed 's/^### //') ($(cat "$out/$host.digest"))"
done
exit "$status"
