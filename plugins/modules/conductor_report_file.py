#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, opstack.conductor contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conductor_report_file
short_description: Write a report (the fleet view's JSON or Prometheus textfile) atomically, only when it changed
version_added: 0.1.0
description:
  - Writes O(content) to O(path) as node_exporter's textfile collector needs it written, by a new file in the same
    directory renamed over O(path), so that a reader sees the old file or the new one, never a part.
  - The new file is named C(.<name>.opstack-new-<random>), which does not end in C(.prom). node_exporter reads
    every file of its textfile directory whose name ends in C(.prom), dotfiles included, so a temporary file named
    like the target (as C(ansible.builtin.copy) names its fallback when its own temporary file is on another
    filesystem) would be read half-written, or its series twice.
  - Idempotent. The file is not touched when it already holds O(content) with O(mode); a rerun over unchanged
    state reports C(changed=false) (so node_exporter's C(node_textfile_mtime_seconds) is the time the values last
    changed, not the time of the last run).
  - Used by the info and status playbooks (roles opstack.conductor.raft_info and opstack.conductor.conductor_cluster,
    variables C(conductor_report_json), C(conductor_report_textfile), C(conductor_report_fleet_json) and
    C(conductor_report_fleet_textfile)).
author:
  - opstack.conductor developers (@opstack)
options:
  path:
    description:
      - The file to write. Its directory must exist (for a textfile, node_exporter's
        C(--collector.textfile.directory)); it is not created.
      - A symlink or anything but a regular file at O(path) is refused, nothing is written.
    type: path
    required: true
  content:
    description: What the file holds (the text of the filters opstack.conductor.fleet_json or fleet_textfile).
    type: str
    required: true
  mode:
    description:
      - The file's mode, an octal string. node_exporter usually runs as its own user, so the default lets every
        user read the file. Modes writable by every user, and setuid, setgid or sticky bits, are refused.
    type: raw
    default: "0644"
extends_documentation_fragment:
  - opstack.conductor._attributes
  - opstack.conductor._attributes.FILES
  - opstack.conductor._attributes.IDEMPOTENT
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the old and the new text.
  safe_file_operations:
    support: full
seealso:
  - name: ansible.builtin.copy
    description: The general file copy, whose fallback temporary file node_exporter could read.
    link: https://docs.ansible.com/ansible/latest/collections/ansible/builtin/copy_module.html
notes:
  - The file belongs to the user the module runs as; the new file is fsynced before the rename and the directory
    after it. A run that dies before its rename leaves its C(.<name>.opstack-new-<random>) file behind, which no
    reader takes for a report; remove it at leisure.
"""

EXAMPLES = r"""
- name: This host's gauges for node_exporter's textfile collector
  opstack.conductor.conductor_report_file:
    path: /var/lib/node_exporter/textfile_collector/opstack_conductor.prom
    content: "{{ records | selectattr('host', 'equalto', inventory_hostname) | opstack.conductor.fleet_textfile }}"
"""

RETURN = r"""
path:
  description: The file written (absolute).
  returned: always
  type: str
size:
  description: Its size in bytes after the run (what it would be, in check mode).
  returned: always
  type: int
"""

import errno
import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.opstack.conductor.plugins.module_utils import _fs as fs
from ansible_collections.opstack.conductor.plugins.module_utils import _options as options
from ansible_collections.opstack.conductor.plugins.module_utils import _runner as runner


def _mode(value):
    try:
        mode = options.parse_mode("mode", value)
    except options.OptionError as exc:
        raise runner.Failure(str(exc))
    if mode & 0o7002:
        raise runner.Failure("mode=%r: %04o is writable by every user or sets setuid, setgid or sticky bits; a "
                             "report file needs neither" % (value, mode))
    return mode


def _current(path):
    """(bytes, mode) of the file now at ``path``, or (None, None) when there is none. Anything but a regular file
    there, or an error other than "does not exist", refuses the write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        if exc.errno == errno.ELOOP:
            raise runner.Failure("path=%s is a symlink; refusing to write through it" % path)
        raise runner.Failure("path=%s: cannot be read (%s)" % (path, exc.strerror))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise runner.Failure("path=%s exists and is not a regular file; nothing was written" % path)
        chunks = list(iter(lambda: os.read(fd, 1 << 20), b""))
    finally:
        os.close(fd)
    return b"".join(chunks), stat.S_IMODE(info.st_mode)


def _replace(path, data, mode):
    """A new file beside ``path`` (fsynced, ``mode`` set), renamed over it, and the directory fsynced."""
    staged = fs.staging_path(path)
    try:
        fs.write_new_file(staged, data, mode, checksum=False)
        os.replace(staged, path)
    except OSError as exc:
        if os.path.lexists(staged):
            os.unlink(staged)
        raise runner.Failure("path=%s: cannot be written (%s)" % (path, exc.strerror))
    fs.fsync_dir(os.path.dirname(path))


def write_report(module, result):
    path = os.path.abspath(module.params["path"])
    mode = _mode(module.params["mode"])
    data = to_bytes(module.params["content"], errors="surrogate_or_strict")
    if not os.path.isdir(os.path.dirname(path)):
        raise runner.Failure("path=%s: the directory %s does not exist (it is not created: for a textfile it is "
                             "node_exporter's --collector.textfile.directory)" % (path, os.path.dirname(path)))
    before, before_mode = _current(path)
    result.update(path=path, size=len(data))
    if before == data and before_mode == mode:
        return result
    result["changed"] = True
    if module._diff:
        result["diff"] = {"before": (before or b"").decode("utf-8", "replace"), "after": module.params["content"],
                          "before_header": path, "after_header": path}
    if module.check_mode:
        return result
    if before != data:
        _replace(path, data, mode)
        return result
    try:
        os.chmod(path, mode)  # the same text: only the mode changes, in place
    except OSError as exc:
        raise runner.Failure("path=%s: cannot change its mode (%s)" % (path, exc.strerror))
    return result


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type="path", required=True),
        content=dict(type="str", required=True),
        mode=dict(type="raw", default="0644"),
    ), supports_check_mode=True)
    try:
        options.check_path("path", module.params["path"], 40)
    except options.OptionError as exc:
        module.fail_json(msg=str(exc))
    runner.run(module, write_report, dict(changed=False))


if __name__ == "__main__":
    main()
