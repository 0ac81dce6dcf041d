#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: podman_secret
short_description: Create, update and remove podman secrets, and recreate the containers using them
version_added: 0.1.0
author: Turnkey Secrets Maintainers (@turnkey-secrets)
description:
  - Manages podman secrets. The options are a superset of M(containers.podman.podman_secret), so a
    playbook switches by changing the module name.
  - Detects whether an existing secret already holds the wanted data on every podman version, and
    reports C(changed) only when something was changed.
  - On podman 4.7 and later the stored value is read with C(podman secret inspect --showsecret) and
    compared in memory.
  - Older podman (Debian 12 ships 4.3.1) cannot show a stored value. The module then stores, in the
    label C(turnkey.secrets.digest), a PBKDF2-SHA256 digest of the data with a random 16-byte salt
    and 120000 iterations. Neither the plaintext nor a fast unsalted hash is stored. The salt makes
    every digest unique, so equal secrets cannot be spotted and precomputed tables do not help; the
    iterations make each guess cost 120000 HMAC-SHA256 computations, so reading the labels does not let
    anyone test guesses cheaply the way an unsalted SHA-256 would. The digest is computed with the
    C(cryptography) library when it is installed (outside the Python lock, so the list form uses every
    core), else with Python's C(hashlib); both give the same digest.
  - A secret that exists without that label (created by hand or by another module) cannot be verified
    on podman older than 4.7. It is left as is, with a warning, unless O(force=true) or its labels or
    driver differ; after one replacement changes are detected.
  - Replacing a secret on podman older than 4.7 is a removal then a creation. The new value is first
    stored as a pending secret, so a driver or option error fails before anything is removed; if the
    final creation fails, the error names the pending secret that keeps the new value.
  - Podman copies a secret into a container when the container is created, so running containers do
    not see a new value. The result lists the containers that reference each changed secret
    (RV(consumers)); with O(recreate_consumers=true) they are recreated with the same command line,
    or their systemd unit (quadlet or C(podman generate systemd --new)) is restarted.
  - Secret data travels to podman on standard input, never on its command line, and never appears in
    the result, the diff or an error message.
options:
  name:
    description:
      - Name of the secret. 1 to 64 characters from C([a-zA-Z0-9_.-]), starting and ending with a letter
        or a digit.
      - Mutually exclusive with O(secrets).
    type: str
  data:
    description:
      - The value of the secret. Podman stores 1 to 511999 bytes; an empty or larger value fails
        before anything is changed.
      - Text, stored as UTF-8 byte for byte (a trailing newline is kept). A value containing a NUL
        character (for example a trailing one left by an encoding step) is refused, because consumers reading
        the secret as an environment variable or a C string would cut it there. Give binary values
        through O(path).
      - Mutually exclusive with O(path) and O(env).
    type: str
    aliases: [value]
  path:
    description:
      - Path, on the target, of a file holding the value. Binary content (NUL bytes included) is stored
        byte for byte.
      - Must be a regular file and not a symbolic link (opened with C(O_NOFOLLOW)), so a link planted by a
        user who can write the directory cannot make the module copy another file, such as a root-only
        one, into a secret; give the link's target instead. The directories above it are trusted, so keep
        them writable by root (or their owner) only.
    type: path
  env:
    description:
      - Name of an environment variable of the module process that holds the value, for values already
        in the target's environment (a CI job, a service's environment).
      - Never feed it with the C(environment) keyword (task, block or play) from a vault variable;
        ansible puts those variables on the module's shell command line, which C(-vvvv) prints and
        C(/proc/*/cmdline) shows to every local user. Pass vault values through O(data) (a C(no_log)
        option, sent on the module's stdin with pipelining), and keep O(env) for values that are already
        in the environment of the process running the module (a CI job running ansible with the local
        connection, a service's environment).
    type: str
  state:
    description:
      - Whether the secret should exist.
      - Default for the items of O(secrets).
    type: str
    choices: [present, absent]
    default: present
  driver:
    description:
      - Secret driver (C(file), C(pass), C(shell)). When omitted, podman's default is used and the
        driver of an existing secret is not compared.
      - Default for the items of O(secrets).
    type: str
  driver_opts:
    description:
      - Driver options, compared exactly with those of an existing secret (the storage C(path) the
        file driver records by itself is only compared when given here).
      - Keys follow the rules of O(labels).
      - Default for the items of O(secrets).
    type: dict
  labels:
    description:
      - Labels of the secret, compared exactly. An existing secret with other or extra labels is
        replaced. Omitted means no labels.
      - The label C(turnkey.secrets.digest) is reserved.
      - Keys are strings. Quote keys in YAML; ansible turns an unquoted C(1:) into C("1") before the module
        sees it, and the keys C(True), C(False) and C(None) (what unquoted C(yes), C(no), C(null) become) are
        refused. Values are written as strings.
      - Default for the items of O(secrets).
    type: dict
  force:
    description:
      - Replace an existing secret whose content cannot be verified (no digest label on podman older
        than 4.7).
      - Unlike M(containers.podman.podman_secret), a secret verified to hold the wanted data is left
        alone and C(changed) stays false.
      - Default for the items of O(secrets).
    type: bool
    default: false
  skip_existing:
    description:
      - Leave an existing secret exactly as it is, whatever its data, labels or driver; only missing
        secrets are created.
      - Default for the items of O(secrets).
    type: bool
    default: false
  consumers:
    description:
      - Containers to recreate when this secret changes, besides those found referencing it.
    type: list
    elements: str
  units:
    description:
      - Systemd units to restart when this secret changes. The module does not restart them itself;
        it returns those of changed secrets in RV(restart_units), for a handler.
    type: list
    elements: str
  secrets:
    description:
      - Several secrets handled in one call (one podman listing, parallel verification and changes, the
        removals of a replacement in one podman call per step).
      - Each item takes the per-secret options; O(state), O(driver), O(driver_opts), O(labels),
        O(force) and O(skip_existing) given at the top level are defaults for the items.
      - Mutually exclusive with O(name), O(data), O(path), O(env), O(consumers) and O(units).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the secret.
        type: str
        required: true
      data:
        description: The value of the secret.
        type: str
        aliases: [value]
      path:
        description: Path of a file on the target holding the value.
        type: path
      env:
        description: Environment variable holding the value.
        type: str
      state:
        description: Whether the secret should exist.
        type: str
        choices: [present, absent]
      driver:
        description: Secret driver.
        type: str
      driver_opts:
        description: Driver options, compared exactly.
        type: dict
      labels:
        description: Labels, compared exactly.
        type: dict
      force:
        description: Replace the secret if its content cannot be verified.
        type: bool
      skip_existing:
        description: Leave the secret as it is if it exists.
        type: bool
      consumers:
        description: Extra containers to recreate when this secret changes.
        type: list
        elements: str
      units:
        description: Systemd units returned in RV(restart_units) when this secret changes.
        type: list
        elements: str
  recreate_consumers:
    description:
      - Recreate the containers that use a created or updated secret, so they see the new value.
      - A container labelled C(PODMAN_SYSTEMD_UNIT) (quadlet, C(podman generate systemd --new)) gets
        C(systemctl try-restart) of its unit (C(--user) when not root).
      - Another container is renamed aside and stopped, created again from its recorded command line
        (with C(--detach) for C(podman run)), started if it was running, and the old one removed; on
        failure the old one is put back and started.
      - A stopped container made by C(podman run), or one created through the API (no recorded
        command line), is not recreated; a warning says so.
      - Removed secrets never trigger recreation (the consumers would fail to start).
    type: bool
    default: false
  executable:
    description:
      - The podman binary, a name looked up on E(PATH) or an absolute path.
    type: str
    default: podman
  debug:
    description:
      - Accepted for compatibility with M(containers.podman.podman_secret); values are never printed.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Names, drivers and labels, with C(<changed>) or C(<unchanged>) in place of the data.
  platform:
    platforms: posix
notes:
  - Podman refuses empty secrets and secrets of 512000 bytes or more; both fail with a message and
    nothing changed.
  - Recreated containers run their recorded command line in the module's working directory; relative
    paths in it (C(-v ./data:/data), C(--env-file .env)) resolve from there.
  - Without O(skip_existing) or O(force), an unverifiable existing secret (see above) is reported with
    action C(unverified) and C(changed=false). With O(skip_existing) any existing secret is left as is.
seealso:
  - module: turnkey.secrets.podman_secret_info
  - module: containers.podman.podman_secret
requirements:
  - podman
'''

EXAMPLES = r'''
- name: Store the database password (drop-in for containers.podman.podman_secret)
  turnkey.secrets.podman_secret:
    name: db_password
    data: "{{ vault_db_password }}"
    labels:
      app: trading

- name: Rotate every secret of the app in one task and recreate the containers using them
  turnkey.secrets.podman_secret:
    recreate_consumers: true
    labels:
      app: trading
    secrets:
      - name: db_password
        data: "{{ vault_db_password }}"
      - name: redis_password
        data: "{{ vault_redis_password }}"
      - name: django_secret_key
        data: "{{ vault_secret_key }}"
        units: [trading-worker.service]
      - name: tls_key
        path: /etc/trading/tls.key
      - name: old_token
        state: absent
  register: app_secrets
  notify: Restart units using rotated secrets

- name: Replace a secret created by hand once, so its content can be verified from now on
  turnkey.secrets.podman_secret:
    name: legacy_secret
    data: "{{ vault_legacy_secret }}"
    force: true

- name: Take the value from the environment the job runs in (e.g. a CI variable)
  turnkey.secrets.podman_secret:
    name: api_token
    env: CI_API_TOKEN
'''

RETURN = r'''
secrets:
  description: One entry per requested secret, in order. Never holds a value.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Secret name.
      type: str
      sample: db_password
    id:
      description: Podman ID of the secret after the run (before it, in check mode); absent when the secret does not exist.
      type: str
      sample: 7bafd6c69a566f08c44d64e64
    state:
      description: The requested state.
      type: str
      sample: present
    action:
      description:
        - C(created), C(updated), C(removed), C(unchanged), C(absent) (already missing), C(skipped)
          (O(skip_existing)), C(unverified) (content cannot be verified, left as is) or C(failed).
      type: str
      sample: updated
    changes:
      description: What differed, among C(state), C(data), C(labels), C(driver) and C(driver_opts).
      type: list
      elements: str
      sample: [data]
    changed:
      description: Whether this secret was (or, in check mode, would be) changed.
      type: bool
    driver:
      description: Driver of the secret.
      type: str
      sample: file
    driver_opts:
      description: Driver options of the secret.
      type: dict
    labels:
      description: Labels of the secret, without the internal digest label.
      type: dict
      sample: {app: trading}
    consumers:
      description: Containers referencing the secret, when it changed.
      type: list
      elements: str
      sample: [trading-web]
secret:
  description: The only entry of RV(secrets), when O(name) is used.
  returned: when O(name) is used
  type: dict
consumers:
  description: For each changed secret, the containers that reference it (file or env type).
  returned: always
  type: dict
  sample: {db_password: [trading-web, trading-worker]}
recreated:
  description: Containers recreated or units restarted because of O(recreate_consumers).
  returned: always
  type: list
  elements: dict
  sample: [{name: trading-web, action: recreated}, {name: systemd-trading-worker, action: restarted, unit: trading-worker.service}]
stale_consumers:
  description:
    - Containers created with an older version of a wanted secret that does not change now, so they still hold
      the old value (their recreation failed or was skipped in an earlier run).
    - With O(recreate_consumers=true) they are recreated (the module reports C(changed)), so a rerun finishes
      what a failed recreation left.
  returned: always
  type: list
  elements: str
  sample: [trading-web]
restart_units:
  description: The O(units) of the secrets that changed (for a handler to restart).
  returned: always
  type: list
  elements: str
  sample: [trading-worker.service]
podman_version:
  description: Version of the podman client.
  returned: always
  type: str
  sample: 4.3.1
verify_method:
  description: How data was compared, C(showsecret) (podman 4.7 and later) or C(digest_label).
  returned: always
  type: str
  sample: digest_label
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module
from ansible_collections.turnkey.secrets.plugins.module_utils._podman import manage

ITEM = dict(
    name=dict(type='str', required=True),
    data=dict(type='str', no_log=True, aliases=['value']),
    path=dict(type='path'),
    env=dict(type='str'),
    state=dict(type='str', choices=['present', 'absent']),
    driver=dict(type='str'),
    driver_opts=dict(type='dict'),
    labels=dict(type='dict'),
    force=dict(type='bool'),
    skip_existing=dict(type='bool'),
    consumers=dict(type='list', elements='str'),
    units=dict(type='list', elements='str'),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str'),
            data=dict(type='str', no_log=True, aliases=['value']),
            path=dict(type='path'),
            env=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            driver=dict(type='str'),
            driver_opts=dict(type='dict'),
            labels=dict(type='dict'),
            force=dict(type='bool', default=False),
            skip_existing=dict(type='bool', default=False),
            consumers=dict(type='list', elements='str'),
            units=dict(type='list', elements='str'),
            # Names and options; the values inside are no_log through the data suboption.
            secrets=dict(type='list', elements='dict', options=ITEM, mutually_exclusive=[['data', 'path', 'env']], no_log=False),
            recreate_consumers=dict(type='bool', default=False),
            executable=dict(type='str', default='podman'),
            debug=dict(type='bool', default=False),
        ),
        mutually_exclusive=[['name', 'secrets'], ['data', 'path', 'env'], ['secrets', 'data'], ['secrets', 'path'],
                            ['secrets', 'env'], ['secrets', 'consumers'], ['secrets', 'units']],
        required_one_of=[['name', 'secrets']],
        supports_check_mode=True,
    )
    loaded = []

    def work(mod):
        result = manage(mod.params, check_mode=mod.check_mode, sink=loaded, warn=mod.warn)
        if not mod._diff:
            result.pop('diff', None)
        return result

    run_module(module, work, extra_secrets=loaded)


if __name__ == '__main__':
    main()
