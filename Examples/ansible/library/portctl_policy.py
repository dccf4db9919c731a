#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""Ansible module: put a whole portctl policy on the managed host and apply it.

portctl (installed on the host) does all of it: `portctl apply --new FILE --dry-run --json` plans
the new text against the live table (check mode, and the `changed` verdict), and
`portctl apply --new FILE` validates, guards, applies and only then writes the text over the
policy file byte for byte, as one change under portctl's lock that `portctl rollback` (or the
`--confirm` watchdog) undoes whole. FILE is a private temporary copy of the text; the module never
writes the policy file itself.
"""

DOCUMENTATION = r"""
module: portctl_policy
short_description: Set a host's whole portctl policy (nftables) and apply it
description:
  - Makes the portctl policy file on the managed host hold exactly O(content) (or the controller
    file O(src)) and the kernel match it, in one portctl change (C(portctl apply --new)).
  - The text goes to portctl through a private temporary file. C(portctl apply --new FILE --dry-run --json)
    plans it against the live table; C(portctl apply --new FILE) validates it, plans it, applies it
    in one transaction and only then writes it over the policy file, byte for byte. A policy portctl
    refuses fails the task with portctl's one-line error, and neither the policy file nor the kernel
    is touched.
  - Check mode reports C(changed) and, with C(--diff), the old and new policy text and the plan in
    portctl's terms, for example C(+ smtp-alt) C(allow 26/tcp from 10.0.0.0/8); it changes nothing.
  - Idempotent. The task is C(ok) when the file already holds exactly this text and the kernel
    matches it; a kernel that drifted from an unchanged file is re-applied (C(changed)).
  - portctl writes the file (mode 0644, like every portctl write); portctl's history records the
    change, so C(portctl rollback) puts the previous file and table back, or removes both when there
    was no policy file before.
  - Needs root (or CAP_NET_ADMIN and ownership of the policy file), like portctl.
options:
  content:
    description: The policy, as YAML or JSON text (see docs/policy.md). Mutually exclusive with O(src).
    type: str
  src:
    description:
      - A policy file on the controller (searched like M(ansible.builtin.copy)'s C(src), vault-encrypted
        files are decrypted). The C(portctl_policy) action plugin reads it and passes its text as
        O(content); ship C(action_plugins/portctl_policy.py) next to C(library/).
    type: str
  path:
    description:
      - The policy file on the host. Default C($PORTCTL_POLICY) from the task's environment, else
        C(/etc/portctl/policy.yaml). C($PORTCTL_STATE_DIR) is honoured by portctl the same way.
      - A symlink stays a symlink (its target is replaced), as portctl does.
    type: path
  confirm:
    description:
      - Apply with C(portctl apply --confirm N), so that portctl's watchdog restores the previous policy
        and ruleset by itself unless the change is confirmed within N seconds (1 to 86400).
      - With O(auto_confirm) (the default) the module runs C(portctl confirm) at the end of its own
        run. That proves only that the module ran to its end (portctl's baseline keeps established
        connections, the module's own included), not that a new SSH login gets in; for that set
        O(auto_confirm=false) and confirm from a later task over a new connection (docs/ansible.md).
      - An unconfirmed change rolls back whole, the first one on a host too. The previous policy file
        and ruleset come back, or, when there was no policy file, the file and portctl's table are
        removed.
    type: int
  auto_confirm:
    description: With O(confirm), run C(portctl confirm) when the apply succeeded. When false the change
      stays pending (C(pending_confirmation) in the result) and rolls back unless confirmed in time.
    type: bool
    default: true
  force:
    description: Pass C(--force) to portctl, turning off its refusal of a policy that would block a new
      SSH login over the connection the module runs in (C(SSH_CONNECTION)). Check mode honours it too.
    type: bool
    default: false
  portctl:
    description: The portctl executable on the host.
    type: str
    default: portctl
"""

EXAMPLES = r"""
- name: The mail relays' whole firewall policy
  portctl_policy:
    src: files/portctl/mail-relay.yaml
    confirm: 60

- name: Inline
  portctl_policy:
    content: |
      version: 1
      defaults:
        inbound: drop
      rules:
        - id: ssh
          ports: 22
          from: [10.0.0.0/8]
        - id: smtp-alt
          ports: 26
          from: [198.51.100.0/24]
"""

RETURN = r"""
plan:
  description: What apply changes (or would change) in the kernel, as in C(portctl plan --json)'s C(changes).
  type: list
  returned: always
plan_lines:
  description: The same plan in portctl's words, one line per change.
  type: list
  returned: always
file_changed:
  description: Whether the policy file's text differs (or differed) from O(content).
  type: bool
  returned: always
path:
  description: The policy file.
  type: str
  returned: always
pending_confirmation:
  description: True when the change was applied with O(confirm) and awaits C(portctl confirm).
  type: bool
  returned: when confirm is set and something was applied
"""

import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

DEFAULT_POLICY = "/etc/portctl/policy.yaml"


def plan_line(change, table):
    """One change of a plan document, worded as `portctl plan` words it."""
    kind = change.get("kind")
    if kind == "create-table":
        return "+ table inet %s (missing: it will be created)" % table
    if kind == "remove-table":
        name = change.get("before", table)
        if name == table:
            return "- table inet %s: removed" % name
        return "- table inet %s: removed (portctl's table under the policy's previous name)" % name
    if kind == "add-rule":
        return "+ %s: %s" % (change.get("rule"), change.get("summary"))
    if kind == "remove-rule":
        return "- %s: %s" % (change.get("rule"), change.get("summary"))
    if kind == "change-rule":
        return "~ %s: %s -> %s" % (change.get("rule"), change.get("before"), change.get("after"))
    if kind == "change-sources":
        parts = ["+" + a for a in change.get("added", [])] + ["-" + r for r in change.get("removed", [])]
        return "~ %s: sources %s" % (change.get("rule"), " ".join(parts))
    if kind == "change-default":
        direction = {"in": "inbound", "out": "outbound"}.get(change.get("direction"), change.get("direction"))
        return "~ default %s: %s -> %s" % (direction, change.get("before"), change.get("after"))
    if kind == "drift":
        return "! drift: %s" % change.get("detail")
    return "? %s" % json.dumps(change, sort_keys=True)


def write_candidate(module, data):
    """The new text in a private temporary file for `portctl apply --new FILE`, which reads any
    readable file (portctl's trust rules are for the policy file it writes, not for this input).
    Returns the folder (removed by the caller) and the file."""
    base = None
    try:
        base = module.tmpdir
    except Exception:  # noqa: BLE001 (the system's temporary folder serves as well)
        pass
    try:
        folder = tempfile.mkdtemp(prefix="portctl_policy-", dir=base)
        candidate = os.path.join(folder, "content.yaml")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as error:
        module.fail_json(msg="cannot write the policy text to a temporary file for portctl: %s" % error)
    return folder, candidate


def one_line(err, out, replace=None):
    """portctl's one-line error (stderr, else stdout), with the temporary copy's path replaced."""
    text = (err or "").strip() or (out or "").strip()
    lines = [line for line in text.splitlines() if line.startswith("portctl: ")]
    line = lines[-1] if lines else (text.splitlines()[-1] if text else "portctl failed without a message")
    if replace:
        line = line.replace(replace[0], replace[1])
    return line


def main():
    module = AnsibleModule(
        argument_spec=dict(
            content=dict(type="str"),
            src=dict(type="str"),
            path=dict(type="path"),
            confirm=dict(type="int"),
            auto_confirm=dict(type="bool", default=True),
            force=dict(type="bool", default=False),
            portctl=dict(type="str", default="portctl"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["content"] is None:
        if p["src"] is not None:
            module.fail_json(msg="src is a file on the controller: the portctl_policy action plugin reads it and "
                                 "passes its text as content; put action_plugins/portctl_policy.py next to library/ "
                                 "(or in ansible.cfg's action_plugins), or pass content: \"{{ lookup('file', ...) }}\"")
        module.fail_json(msg="one of content or src is required")
    if p["confirm"] is not None and not 1 <= p["confirm"] <= 86400:
        module.fail_json(msg="confirm: give seconds from 1 to 86400, not %d" % p["confirm"])

    path = p["path"] or os.environ.get("PORTCTL_POLICY") or DEFAULT_POLICY
    real = os.path.realpath(path)
    binary = p["portctl"]
    target = ["--policy", path] + (["--force"] if p["force"] else [])
    new = p["content"].encode("utf-8")

    def current():
        """The policy file's bytes, None when there is none."""
        try:
            with open(real, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            module.fail_json(msg="cannot read the policy file %s: %s" % (path, error), **result)

    result = dict(changed=False, path=path)
    old = current()
    folder, candidate = write_candidate(module, new)
    try:
        label = (candidate, "%s (new content, not written)" % path)

        def hide(text):
            """portctl's output with the temporary file named for what it holds."""
            return text.replace(candidate, "the task's content")

        # What would change: apply's dry run of the new text against the live table and the file
        # (exit 0 nothing, 2 something; anything else is a refusal: an invalid policy, the SSH
        # lockout guard, the kernel's table unreadable).
        code, out, err = module.run_command([binary, "apply", "--new", candidate, "--dry-run", "--json"] + target)
        if code not in (0, 2):
            module.fail_json(msg=one_line(err, out, label), rc=code, stderr=hide(err), stdout=hide(out), **result)
        try:
            document = json.loads(out)
        except ValueError:
            module.fail_json(msg="portctl apply --new --dry-run --json printed no plan document",
                             stdout=hide(out), stderr=hide(err), **result)

        table = document.get("table", "portctl")
        changes = document.get("changes", [])
        file_changed = old != new
        if code == 0 and file_changed:
            # portctl compares the texts as Unicode strings: it sees these as the same policy text
            # and would leave the file as it is, not byte for byte the content.
            module.fail_json(msg="portctl sees the content as the text the policy file %s already holds (they differ "
                                 "only in Unicode normalization, like an accented letter as one code point or two), "
                                 "so it would leave the file as it is, not byte for byte the content; give the "
                                 "content in the file's normalization" % path, **result)
        lines = [plan_line(change, table) for change in changes]
        result.update(changed=code == 2 or file_changed, file_changed=file_changed, plan=changes, plan_lines=lines)
        if module._diff:
            summary = "\n".join(lines) + "\n" if lines else "kernel: table inet %s already matches this policy\n" % table
            result["diff"] = [
                dict(before_header=path, after_header=path,
                     before=old.decode("utf-8", "replace") if old is not None else "",
                     after=p["content"]),
                dict(prepared="portctl plan:\n" + summary),
            ]
        if module.check_mode or not result["changed"]:
            module.exit_json(**result)

        # One portctl change: validate, plan, guard, apply, then write the file, all under
        # portctl's lock. When portctl refuses or fails it has changed nothing.
        argv = [binary, "apply", "--new", candidate] + target
        if p["confirm"] is not None:
            argv += ["--confirm", str(p["confirm"])]
        code, out, err = module.run_command(argv)
        if code != 0:
            module.fail_json(msg=one_line(err, out, label), rc=code, stderr=hide(err), stdout=hide(out), **result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    out, err = hide(out), hide(err)
    result["stdout"] = out
    result["stdout_lines"] = out.splitlines()
    for line in err.splitlines():
        if line.startswith("warning: "):
            module.warn("portctl: " + line[len("warning: "):])
    if current() != new:
        module.fail_json(msg="portctl applied the policy, but the policy file %s does not hold the content byte for byte%s"
                             % (path, "; the change awaits confirmation and rolls back unless confirmed"
                                if "confirm within" in out else ""), **result)

    if p["confirm"] is not None:
        # apply refuses to run while an earlier change awaits confirmation, so whatever is pending
        # now is this change (nothing is when the kernel already matched: confirm then says so).
        pending = "confirm within" in out
        if p["auto_confirm"]:
            code, out, err = module.run_command([binary, "confirm", "--policy", path])
            if code != 0:
                module.fail_json(msg=one_line(err, out), rc=code, stderr=err, **result)
            result["confirmed"] = out.strip()
            pending = False
        result["pending_confirmation"] = pending
    module.exit_json(**result)


if __name__ == "__main__":
    main()
