# -*- coding: utf-8 -*-
"""Action plugin for the portctl_policy module: `src:` names a file on the controller.

Like ansible.builtin.copy, the file is looked up on the controller (the role's or playbook's
`files/` folder, then the path as given), decrypted when it is vault-encrypted, and its text is
handed to the module on the host as `content:`. The module then validates, plans and applies it
there; nothing else is copied to the host.
"""

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        src = args.get("src")
        if src is not None:
            if args.get("content") is not None:
                result.update(failed=True, msg="src and content are mutually exclusive: give the policy one way")
                return result
            try:
                found = self._find_needle("files", src)
                real = self._loader.get_real_file(found, decrypt=True)
                try:
                    with open(real, "rb") as handle:
                        data = handle.read()
                finally:
                    self._loader.cleanup_tmp_file(real)
                args["content"] = to_text(data, errors="surrogate_or_strict")
            except (AnsibleError, OSError, UnicodeError) as error:
                result.update(failed=True, msg="cannot read src %s on the controller: %s" % (src, to_text(error)))
                return result
            # src stays as a label: the module then knows the text came from the controller.
        result.update(self._execute_module(module_name=self._task.action, module_args=args, task_vars=task_vars))
        return result
