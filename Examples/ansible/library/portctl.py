#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""Ansible module: open or close a port with portctl on the managed host.

It drives the portctl CLI (which must be installed on the host) through its JSON output, so
check mode and diff mode come from portctl itself: `--dry-run --json` predicts the change and
the policy file as it would be written, without touching the file or the kernel.
"""

DOCUMENTATION = r"""
module: portctl
short_description: Open or close ports through portctl (nftables)
description:
  - Allows a port from some sources (C(state=open)) or removes that opening (C(state=closed)),
    by running C(portctl open) or C(portctl close) on the managed host.
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
    description: Whether the port should be open to those sources, or not.
    choices: [open, closed]
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
"""

import json

from ansible.module_utils.basic import AnsibleModule


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
            state=dict(type="str", default="open", choices=["open", "closed"]),
            policy=dict(type="path"),
            portctl=dict(type="str", default="portctl"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    base = [p["portctl"]]
    global_options = ["--policy", p["policy"]] if p["policy"] else []
    verb = "open" if p["state"] == "open" else "close"
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
