# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: vault_secret
short_description: Set, generate, rotate or remove keys inside an ansible-vault encrypted vars file
version_added: 0.1.0
description:
  - Edits top-level variables of a whole-file encrypted vars file (such as
    C(inventory/ENV/group_vars/all/vault.yml)) without ever writing it decrypted to disk. The file is
    decrypted in memory, the changed entries are rewritten in the YAML text, and the result is
    re-encrypted with the same password and written atomically, keeping owner, group and mode (unless
    O(mode) says otherwise, or the file belongs to another non-root user, see C(docs/security.md)).
  - Other keys, comments, blank lines and key order stay exactly as they were. Each edit is read back
    and compared with the expected variables before anything is written.
  - Reports C(changed) only when a decrypted value actually differs (values are compared in plaintext,
    type included), never because the ciphertext differs.
  - Values are never returned unless O(return_values=true).
  - Runs on the controller (action plugin); this file only documents it.
author: Turnkey Secrets Maintainers (@turnkey-secrets)
options:
  path:
    description: The encrypted vars file.
    type: path
    required: true
  vault_password_file:
    description:
      - File holding the vault password, or an executable vault password script (a C(*-client) script
        is given C(--vault-id) O(vault_id)), as C(ansible --vault-id) reads it.
      - Without O(vault_password_file) and O(vault_password), the vault secrets the playbook was run with are
        used (C(--vault-id label@prompt), a password file or client script, C(--ask-vault-pass),
        C(ANSIBLE_VAULT_PASSWORD_FILE)), those labelled O(vault_id) first, so AWX vault credentials work as they are.
    type: path
  vault_password:
    description: The vault password, instead of O(vault_password_file).
    type: str
  format:
    description:
      - V(file) keeps the whole file one ansible-vault blob; V(inline) keeps it plain YAML whose values are each an
        inline C(!vault) string (AWX inventory sources and C(ansible-inventory) read it; lists and dictionaries hold
        inline strings as their leaves). A file in the other format is converted (key order kept; the comments
        of an encrypted file are dropped on the way to inline, whose text is in clear);
        converting again changes nothing. Omitted, an existing file keeps its format and a new one is V(file).
      - In V(inline) format only the values that change are encrypted again, so the others keep their ciphertext.
    type: str
    choices: [file, inline]
  vault_id:
    description:
      - Vault-id label written in the file's header when it is re-encrypted or created; when omitted
        the file keeps its label. A different label than the file's counts as a change.
    type: str
  values:
    description:
      - Variables to set, name to value. A value may be a string, a number, a boolean, or a list or
        dictionary of those (for example C(vault_secret_key_fallbacks)).
    type: dict
    default: {}
  generate:
    description:
      - Variables to generate, name to kind (V(django_secret_key), V(fernet_key), V(base64:N),
        V(urlsafe:N), V(hex:N), V(password:N[:CLASSES]); see the P(turnkey.secrets.generate#lookup) lookup).
      - A variable is generated only when it is missing from the file, so the task is idempotent. For
        the rotation protocol, generate C(NAME_pending); the first run stores a new value, a re-run
        after a crash keeps it.
      - List a variable in O(regenerate) as well to replace an existing value.
    type: dict
    default: {}
  regenerate:
    description: Variables of O(generate) to generate anew even when they exist (forced rotation).
    type: list
    elements: str
    default: []
  remove:
    description: Variables to delete (for example C(NAME_pending) once promoted). Missing ones are ignored.
    type: list
    elements: str
    default: []
  create:
    description: Create the file (encrypted, mode O(mode)) when it does not exist; otherwise a missing file is an error.
    type: bool
    default: false
  mode:
    description:
      - Mode of the file, octal such as V('0600') or symbolic such as V('u=rw,go='), set on the new file
        before any data lands. A file created with O(create) defaults to V('0600'); an existing file keeps
        its mode unless this is given.
      - Changing only the mode rewrites the same encrypted bytes and reports C(changed).
    type: raw
  backup:
    description: Keep a copy of the previous encrypted file next to it (C(FILE.PID.DATE~)), mode V('0600'), owned by the user running the task.
    type: bool
    default: false
  return_values:
    description:
      - Return the values of the variables named in O(values) and O(generate) (as they are after the
        task) in RV(secret_values), for the next tasks of a rotation.
      - The task's output is then censored as if C(no_log) were set; still set C(no_log) on the task
        and on every task using the registered result.
    type: bool
    default: false
  follow:
    description:
      - When O(path) is a symbolic link, edit the file it points to (the link stays). Off by default, so
        a link planted by someone who can write the directory is refused and the vault is never
        rewritten where that person chose.
    type: bool
    default: false
  allow_shared_parent:
    description:
      - Accept a directory of O(path) that its group or others may write (not sticky). Off by default, since
        whoever can write it could swap the file between the read and the write.
    type: bool
    default: false
attributes:
  action:
    description: Runs on the controller as an action plugin.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The file is decrypted and the edit checked; nothing is written. Generated values are not stored.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when in diff mode.
    support: full
    details: Names the changed variables with placeholders (C(<changed>), C(<new>)), never values.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
notes:
  - The file must be encrypted as a whole (C(ansible-vault encrypt)); it is never written in clear.
  - Only top-level variables of a block mapping (one C(key) per line) are edited. A rewritten entry is
    dumped in PyYAML's style; comments inside a replaced value go with it.
  - Secrets are handled in memory only; O(vault_password) and O(values) are C(no_log).
seealso:
  - module: turnkey.secrets.vault_rekey
  - plugin: turnkey.secrets.generate
    plugin_type: lookup
'''

EXAMPLES = r'''
- name: Store new values as pending (idempotent - a re-run keeps them)
  turnkey.secrets.vault_secret:
    path: "{{ inventory_dir }}/group_vars/all/vault.yml"
    vault_password_file: ~/.vault_pass_production
    vault_id: production
    generate:
      vault_secret_key_pending: django_secret_key
      vault_redis_password_pending: base64:32
      vault_field_encryption_key_pending: fernet_key
    return_values: true
  register: pending
  no_log: true
  delegate_to: localhost
  run_once: true

- name: Promote them and keep the previous Django key as a fallback
  turnkey.secrets.vault_secret:
    path: "{{ inventory_dir }}/group_vars/all/vault.yml"
    vault_password_file: ~/.vault_pass_production
    values:
      vault_secret_key: "{{ pending['values']['vault_secret_key_pending'] }}"
      vault_secret_key_fallbacks: ["{{ vault_secret_key }}"]
    remove: [vault_secret_key_pending]
  no_log: true
  delegate_to: localhost
  run_once: true

- name: Create a new environment's vault with a generated database password
  turnkey.secrets.vault_secret:
    path: inventory/staging/group_vars/all/vault.yml
    vault_password_file: ~/.vault_pass_staging
    vault_id: staging
    create: true
    generate:
      vault_db_password: urlsafe:24
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
path:
  description: Absolute path of the file.
  returned: always
  type: str
created:
  description: Whether the file was created (or would be, in check mode).
  returned: always
  type: bool
changed_keys:
  description: Names of the variables set, generated or removed (no values).
  returned: always
  type: list
  elements: str
  sample: [vault_secret_key_pending]
generated_keys:
  description: Names of the variables given a generated value.
  returned: always
  type: list
  elements: str
removed_keys:
  description: Names of the variables removed.
  returned: always
  type: list
  elements: str
backup_file:
  description: The backup made with O(backup).
  returned: when the file changed
  type: str
secret_values:
  description:
    - Variables named in O(values) and O(generate) with their values after the task (secret; use C(no_log)).
    - Also returned as C(values), deprecated (it reads as the C(dict.values) method in Jinja,
      C(result.values)); use C(secret_values).
  returned: when O(return_values=true)
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.turnkey.secrets.plugins.module_utils._vault import SECRET_SPEC


def main():
    module = AnsibleModule(supports_check_mode=True, **SECRET_SPEC)
    module.fail_json(msg='turnkey.secrets.vault_secret runs on the controller through its action plugin; '
                         'call it by its full name in a task')


if __name__ == '__main__':
    main()
