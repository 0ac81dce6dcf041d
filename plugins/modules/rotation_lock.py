# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: rotation_lock
short_description: Take or release the rotation lock of an environment
version_added: 0.1.0
description:
  - Creates a lock file on the controller with C(O_EXCL) so two rotations of one
    environment never run at once; a second run fails fast with a
    C(rotation in progress) message naming the holder.
  - A lock whose ansible-playbook process is gone (same host) or that is older than
    O(max_age_minutes) is stale and is removed with a warning.
  - Runs on the controller (action plugin); this file only documents it.
author: Turnkey Secrets Maintainers (@turnkey-secrets)
options:
  path:
    description: The lock file, normally C(<inventory_dir>/.rotate.lock).
    type: path
    required: true
  state:
    description:
      - V(present) takes the lock, V(absent) releases it if this run holds it.
      - V(stale) only removes a lock whose run is gone (a run with nothing to do uses it,
        so a crashed run's lock does not linger).
    type: str
    choices: [present, absent, stale]
    default: present
  environment:
    description: Environment name recorded in the lock, for the message other runs see.
    type: str
  force:
    description: Remove a lock held by another run first (only when you know it is dead).
    type: bool
    default: false
  max_age_minutes:
    description: A lock older than this is stale.
    type: int
    default: 360
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: In check mode the lock is only inspected; a live lock still fails the task.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: Nothing to show.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
    details: Runs on the controller.
'''

EXAMPLES = r'''
- name: Lock the environment
  turnkey.secrets.rotation_lock:
    path: "{{ inventory_dir }}/.rotate.lock"
    environment: "{{ turnkey_environment }}"
  run_once: true
  delegate_to: localhost
'''

RETURN = r'''
path:
  description: Absolute path of the lock file.
  returned: always
  type: str
run_id:
  description: Identifier of this ansible-playbook run (host, pid, start time).
  returned: always
  type: str
broke:
  description: Why a stale lock was removed.
  returned: when a stale lock was removed
  type: str
'''
