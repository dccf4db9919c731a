#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""Ansible module: open, close, deny or reject a port with portctl on the managed host.

It drives the portctl CLI (which must be installed on the host) through its JSON output, so
check mode and diff mode come from portctl itself: `--dry-run --json` predicts the change and
the policy file as it would be written, without touching the file or the kernel.
"""

DOCUMENTATION = r"""
module: portctl
short_description: Open, close, deny or reject ports through portctl (nftables)
description:
  - Allows a port from some sources (C(state=open)) or removes that opening (C(state=closed)),
    by running C(portctl open) or C(portctl close) on the managed host.
  - Blocks a port from some sources, silently (C(state=denied), C(portctl deny), clients see
    the port as filtered) or with a TCP reset or ICMP port-unreachable (C(state=rejected),
    C(portctl reject)).
    Blocks win over any allow for the same traffic. C(state=closed) removes openings only; a block
    is lifted with C(portctl remove ID) or by the whole policy (the C(portctl_policy) module).
  - Idempotent; supports check mode and diff mode.
options:
  port:
    description: A port (26), a range (8000-8100), a list (25,26) or a service name (smtp).
    required: true
    type: str
  proto:
    description: The protocol.
    choices: [tcp, udp, both]
    default: tcp
    type: str
  from:
    description: Source addresses or CIDRs; empty means any source.
    type: list
    elements: str
    default: []
    aliases: [sources]
  state:
    description: Whether the port should be open to those sources, not opened by any rule, or blocked
      for them (dropped, or refused).
    choices: [open, closed, denied, rejected]
    default: open
    type: str
  policy:
    description: The policy file (default /etc/portctl/policy.yaml, or $PORTCTL_POLICY).
    type: path
  portctl:
    description: The portctl executable.
    default: portctl
    type: str
"""

EXAMPLES = r"""
- name: Mail relays may use the alternate SMTP port
  portctl:
    port: "26"
    from: [10.0.0.0/8]
    state: open

- name: Nobody reaches telnet, and they are not told so
  portctl:
    port: "23"
    state: denied

- name: The old relay is refused quickly instead of timing out
  portctl:
    port: "26"
    from: [203.0.113.0/24]
    state: rejected
"""

import json

from ansible.module_utils.basic import AnsibleModule

# Each state is one portctl command, idempotent by itself: its dry run exits 0 when the policy
# and the kernel already say so.
VERBS = {"open": "open", "closed": "close", "denied": "deny", "rejected": "reject"}


def run(module, argv):
    code, out, err = module.run_command(argv)
    return code, out, err


def policy_json(module, base):
    code, out, err = run(module, base[:1] + ["list", "--json"] + base[1:])
    if code != 0:
        if "no policy file" in err:
            return None
        module.fail_json(msg="portctl list failed: " + err.strip(), rc=code)
    return json.loads(out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            port=dict(type="str", required=True),
            proto=dict(type="str", default="tcp", choices=["tcp", "udp", "both"]),
            **{"from": dict(type="list", elements="str", default=[], aliases=["sources"])},
            state=dict(type="str", default="open", choices=list(VERBS)),
            policy=dict(type="path"),
            portctl=dict(type="str", default="portctl"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    base = [p["portctl"]]
    global_options = ["--policy", p["policy"]] if p["policy"] else []
    verb = VERBS[p["state"]]
    argv = [p["portctl"], verb, "%s/%s" % (p["port"], p["proto"])]
    for source in p["from"]:
        argv += ["--from", source]
    argv += global_options

    before = policy_json(module, base + global_options)
    # Ask portctl what would change: exit 0 nothing, 2 something, anything else an error.
    code, out, err = run(module, argv + ["--dry-run", "--json"])
    if code not in (0, 2):
        module.fail_json(msg=err.strip() or out.strip(), rc=code)
    predicted = json.loads(out)
    changed = code == 2
    result = dict(changed=changed, command=" ".join(argv), changes=predicted.get("changes", []))
    if module._diff:
        result["diff"] = dict(
            before=json.dumps(before, indent=2, sort_keys=True) + "\n" if before else "",
            after=json.dumps(predicted.get("policy"), indent=2, sort_keys=True) + "\n",
            before_header="%s (before)" % (p["policy"] or "policy"),
            after_header="%s (after)" % (p["policy"] or "policy"),
        )
    if module.check_mode or not changed:
        module.exit_json(**result)
    code, out, err = run(module, argv)
    if code != 0:
        module.fail_json(msg=err.strip() or out.strip(), rc=code, **result)
    result["stdout"] = out
    module.exit_json(**result)


if __name__ == "__main__":
    main()
