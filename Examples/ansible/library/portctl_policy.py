#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""Ansible module: put a whole portctl policy on the managed host and apply it.

portctl (installed on the host) does the judging: `portctl check` validates the new text and
`portctl apply --dry-run --json` plans it against the live table, both on a private temporary
copy, so a bad policy never reaches the policy file or the kernel and check mode predicts the
change exactly. Only then is the policy file replaced (atomically) and `portctl apply` run.
"""

DOCUMENTATION = r"""
module: portctl_policy
short_description: Set a host's whole portctl policy (nftables) and apply it
description:
  - Replaces the portctl policy file on the managed host with O(content) (or the controller file
    O(src)) and makes the kernel match it with C(portctl apply).
  - The new text is first validated on the host with C(portctl check) and planned with
    C(portctl apply --dry-run --json), on a temporary copy in a folder only root can write. A policy
    portctl refuses fails the task with portctl's one-line error, and neither the policy file nor the
    kernel is touched.
  - Check mode reports C(changed) and, with C(--diff), the old and new policy text and the plan in
    portctl's terms, for example C(+ smtp-alt) C(allow 26/tcp from 10.0.0.0/8); it changes nothing.
  - Idempotent. The task is C(ok) when the file already holds exactly this text and the kernel
    matches it; a kernel that drifted from an unchanged file is re-applied (C(changed)).
  - The file is written as given, byte for byte (portctl rewrites it only on its own edits).
  - If C(portctl apply) fails after the file was written, the previous file is put back (or the new
    one removed when there was none); portctl's apply is one transaction, so the kernel is unchanged.
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
      - On a host where portctl has recorded no change yet, portctl takes the file as it stands
        (already the new one) as the policy before, so an unconfirmed first apply is not rolled
        back; the module warns.
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
import stat
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


def trusted_folder(folder):
    """Whether portctl will trust a file in a fresh 0700 folder made inside `folder`: every folder
    from / down must be root's (or ours) and not writable by others, except a root-owned sticky
    folder (like /tmp), in which others cannot rename or remove our folder. See docs/security.md."""
    me = os.geteuid()
    real = os.path.realpath(folder)
    parts = [p for p in real.split("/") if p]
    current = "/"
    for index in range(len(parts) + 1):
        if index:
            current = os.path.join(current, parts[index - 1])
        try:
            info = os.lstat(current)
        except OSError:
            return False
        if info.st_uid not in (0, me):
            return False
        if info.st_mode & 0o022 and not (info.st_mode & stat.S_ISVTX and info.st_uid == 0):
            return False
    return True


def candidate_folder(module):
    """A new folder only root can write, for the temporary copy portctl checks and plans."""
    bases = []
    try:
        bases.append(module.tmpdir)
    except Exception:  # noqa: BLE001 (the module's own temp dir is only one of the places tried)
        pass
    bases += [tempfile.gettempdir(), "/run", "/tmp"]
    for base in bases:
        if base and os.path.isdir(base) and trusted_folder(base):
            try:
                return tempfile.mkdtemp(prefix="portctl-policy-", dir=base)
            except OSError:
                continue
    module.fail_json(msg="no temporary folder that only root can write for portctl to check the policy in (tried %s)"
                         % ", ".join(b for b in bases if b))


def write_atomically(path, data, mode, owner=None):
    """Replace `path` with `data`: a temporary file created exclusively in the same folder, fsync,
    rename, fsync of the folder. A crash leaves the old file or the new one."""
    folder = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, owner[0], owner[1])
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(temporary, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


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
    force = ["--force"] if p["force"] else []
    new = p["content"].encode("utf-8")
    try:
        with open(real, "rb") as handle:
            old = handle.read()
        old_stat = os.stat(real)
    except FileNotFoundError:
        old, old_stat = None, None
    except OSError as error:
        module.fail_json(msg="cannot read the policy file %s: %s" % (path, error))

    result = dict(changed=False, path=path)
    workdir = candidate_folder(module)
    try:
        candidate = os.path.join(workdir, os.path.basename(real) or "policy.yaml")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(new)
        label = (candidate, "%s (new content, not written)" % path)

        # Valid? The file's rules, then the whole rendered batch in the kernel's check mode.
        code, out, err = module.run_command([binary, "check", "--policy", candidate])
        if code != 0:
            module.fail_json(msg=one_line(err, out, label), rc=code, stderr=err, stdout=out, **result)

        # What would change in the kernel: apply's dry run of the candidate against the live table
        # (exit 0 nothing, 2 something; anything else is a refusal, e.g. the SSH lockout guard).
        code, out, err = module.run_command([binary, "apply", "--dry-run", "--json", "--policy", candidate] + force)
        if code not in (0, 2):
            module.fail_json(msg=one_line(err, out, label), rc=code, stderr=err, stdout=out, **result)
        try:
            document = json.loads(out)
        except ValueError:
            module.fail_json(msg="portctl apply --dry-run --json printed no plan document", stdout=out, stderr=err, **result)
    finally:
        for name in os.listdir(workdir):
            os.unlink(os.path.join(workdir, name))
        os.rmdir(workdir)

    table = document.get("table", "portctl")
    changes = document.get("changes", [])
    kernel_changed = code == 2
    file_changed = old != new
    lines = [plan_line(change, table) for change in changes]
    result.update(changed=kernel_changed or file_changed, file_changed=file_changed, plan=changes, plan_lines=lines)
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

    # Write the file (only when its text changes), then make the kernel match it.
    made_folder = None
    if file_changed:
        folder = os.path.dirname(real)
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder, mode=0o755)
                made_folder = folder
            if old_stat is not None:
                mode, owner = stat.S_IMODE(old_stat.st_mode) & ~0o022, (old_stat.st_uid, old_stat.st_gid)
            else:
                mode, owner = 0o644, None
            write_atomically(real, new, mode, owner)
        except OSError as error:
            module.fail_json(msg="cannot write the policy file %s: %s" % (path, error), **result)

    if p["confirm"] is not None:
        code, out, err = module.run_command([binary, "history", "--json", "--policy", path])
        try:
            first = code == 0 and json.loads(out) == []
        except ValueError:
            first = False
        if first:
            module.warn("portctl has no history in this state folder yet: it takes the policy file as it "
                        "stands as the policy before this first apply, so an unconfirmed change would not be "
                        "rolled back (see docs/ansible.md)")
    argv = [binary, "apply", "--policy", path] + force
    if p["confirm"] is not None:
        argv += ["--confirm", str(p["confirm"])]
    code, out, err = module.run_command(argv)
    if code != 0:
        restored = "the policy file was not changed"
        if file_changed:
            try:
                if old is None:
                    os.unlink(real)
                    if made_folder:
                        os.rmdir(made_folder)
                    restored = "the new policy file was removed again"
                else:
                    write_atomically(real, old, stat.S_IMODE(old_stat.st_mode), (old_stat.st_uid, old_stat.st_gid))
                    restored = "the previous policy file was put back"
            except OSError as error:
                restored = "the previous policy file could NOT be put back: %s" % error
        result["restored"] = restored
        module.fail_json(msg=one_line(err, out), rc=code, stderr=err, stdout=out, **result)
    result["stdout"] = out
    result["stdout_lines"] = out.splitlines()
    for line in err.splitlines():
        if line.startswith("warning: "):
            module.warn("portctl: " + line[len("warning: "):])

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
