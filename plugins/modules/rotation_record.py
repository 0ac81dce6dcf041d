# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: rotation_record
short_description: Record rotation times in an environment's rotation.yml
version_added: 0.1.0
description:
  - Sets C(rotated_at) to now for the named secrets in the plain YAML rotation
    metadata file (C(turnkey_rotation)), written atomically. It holds names and dates,
    never values.
  - Runs on the controller (action plugin); this file only documents it.
author: Turnkey Secrets Maintainers (@turnkey-secrets)
options:
  path:
    description: The environment's C(group_vars/all/rotation.yml).
    type: path
    required: true
  names:
    description: Secrets that were rotated.
    type: list
    elements: str
    required: true
  outstanding:
    description:
      - Hosts that did not get the current values (unreachable during the run). Stored as
        C(turnkey_rotation_outstanding) so the next run deploys to them even when nothing
        is due; an empty list clears it. Omit to leave it alone.
    type: list
    elements: str
  max_age_days:
    description:
      - C(max_age_days) given to a secret that has no entry yet; a number for all, or a
        mapping of secret name to days.
    type: raw
    default: 90
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Reports what would be recorded without writing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Names the secrets whose date changes (dates only, no values).
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
    details: Runs on the controller.
'''

EXAMPLES = r'''
- name: Record what was rotated
  turnkey.secrets.rotation_record:
    path: "{{ inventory_dir }}/group_vars/all/rotation.yml"
    names: [db_password]
    outstanding: []
  run_once: true
  delegate_to: localhost
'''

RETURN = r'''
rotated:
  description: The names recorded.
  returned: always
  type: list
  elements: str
outstanding:
  description: Hosts still waiting for the current values.
  returned: always
  type: list
  elements: str
rotation:
  description: The whole rotation table after the update.
  returned: always
  type: dict
'''
