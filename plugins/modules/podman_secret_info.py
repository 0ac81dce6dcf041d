#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: podman_secret_info
short_description: List podman secrets and the containers using them, never their values
version_added: 0.1.0
author: Turnkey Secrets Maintainers (@turnkey-secrets)
description:
  - Returns the names, IDs, drivers, labels, creation and update times of podman secrets, and the
    containers that reference each of them.
  - Returns secret values only with O(showsecret=true); the task result is then censored (C(no_log)),
    while the registered variable holds the values.
options:
  name:
    description:
      - Names of the secrets to describe. All secrets when omitted.
      - Names that do not exist are listed in RV(missing).
    type: list
    elements: str
    aliases: [names]
  consumers:
    description:
      - Whether to find the containers referencing each secret (one extra inspection of all
        containers).
    type: bool
    default: true
  showsecret:
    description:
      - Return the value of each secret in RV(secrets[].SecretData), as
        M(containers.podman.podman_secret_info) does.
      - Needs podman 4.7 or later (C(podman secret inspect --showsecret)); on older podman (Debian 12 has
        4.3.1) the module fails before reading anything.
      - The result is marked C(no_log) by the action plugin, so it is never displayed or logged.
    type: bool
    default: false
    version_added: 0.2.0
  executable:
    description:
      - The podman binary, a name looked up on E(PATH) or an absolute path.
    type: str
    default: podman
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: The module changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action:
    support: full
    details: An action plugin runs the module and marks the result C(no_log) when O(showsecret=true).
  async:
    support: none
  bypass_host_loop:
    support: none
seealso:
  - module: turnkey.secrets.podman_secret
requirements:
  - podman
'''

EXAMPLES = r'''
- name: Which containers use the database password
  turnkey.secrets.podman_secret_info:
    name: db_password
  register: db_secret

- name: Audit every secret (age and labels)
  turnkey.secrets.podman_secret_info:
    consumers: false
  register: all_secrets
'''

RETURN = r'''
secrets:
  description: The secrets found, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Secret name.
      type: str
      sample: db_password
    id:
      description: Podman ID.
      type: str
      sample: 7bafd6c69a566f08c44d64e64
    driver:
      description: Secret driver.
      type: str
      sample: file
    driver_opts:
      description: Driver options.
      type: dict
    labels:
      description: Labels, without the internal C(turnkey.secrets.digest) label.
      type: dict
      sample: {app: trading}
    created_at:
      description: Creation time as podman reports it.
      type: str
      sample: '2024-11-23T09:43:23.890464789Z'
    updated_at:
      description: Last update time as podman reports it.
      type: str
      sample: '2024-11-23T09:43:23.890464789Z'
    verifiable:
      description:
        - Whether M(turnkey.secrets.podman_secret) can tell if the secret holds given data (podman 4.7
          and later, or a digest label).
      type: bool
    SecretData:
      description: The value of the secret (text).
      returned: when O(showsecret=true)
      type: str
      version_added: 0.2.0
    consumers:
      description: Containers referencing the secret.
      returned: when O(consumers=true)
      type: list
      elements: str
      sample: [trading-web]
missing:
  description: Requested names that do not exist.
  returned: always
  type: list
  elements: str
podman_version:
  description: Version of the podman client.
  returned: always
  type: str
  sample: 4.3.1
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module
from ansible_collections.turnkey.secrets.plugins.module_utils._podman import info


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='list', elements='str', aliases=['names']),
            consumers=dict(type='bool', default=True),
            showsecret=dict(type='bool', default=False),
            executable=dict(type='str', default='podman'),
        ),
        supports_check_mode=True,
    )
    run_module(module, lambda mod: info(mod.params))


if __name__ == '__main__':
    main()
