# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: vault_rekey
short_description: Rekey every ansible-vault blob under some paths, whole files and inline values alike
version_added: 0.1.0
description:
  - Re-encrypts every vault blob found under O(paths) from the old vault password to the new one,
    optionally changing the vault-id label. Blobs are whole encrypted files and inline C(!vault |)
    values inside plain YAML files, which C(ansible-vault rekey) refuses.
  - Every byte outside the blobs stays as it was (comments, key order, indentation, line endings);
    inline blobs keep their indentation. Files keep their owner, group and mode, and each is
    replaced atomically. The result decrypts with stock C(ansible-vault).
  - Nothing is written until every blob has been located and decrypted. A wrong old password, a
    damaged or truncated blob, a file that is not valid YAML, or a blob labelled with an unexpected
    vault-id fails the task with a message naming each file (and line), and no file changes.
  - Blobs already under the new password and label are left alone, so a run interrupted between
    files is finished by running it again, and a second run reports no change.
  - With O(rotate_password_file) it rotates an environment's vault password crash-safely, see there.
  - Directories are walked recursively. Inline values are looked for in C(*.yml), C(*.yaml), C(*.json)
    and extension-less files (what ansible loads as variables) and in every file named directly;
    whole encrypted files are found whatever their name. Binary files, C(.git), backups (C(*~)) and
    the password files of a rotation are skipped.
  - Runs on the controller (action plugin); this file only documents it.
  - The cost is one PBKDF2 derivation to open each blob and one to seal it, spread over all CPU cores.
author: Turnkey Secrets Maintainers (@turnkey-secrets)
options:
  paths:
    description: Files and directories to rekey.
    type: list
    elements: path
    required: true
  exclude:
    description:
      - Shell patterns (C(fnmatch)) of files and directories to leave alone, matched against the
        name and against the whole path as found under O(paths).
    type: list
    elements: str
    default: []
  old_vault_password_file:
    description:
      - File holding the current vault password, or an executable vault password script (run, its
        output is the password; a C(*-client) script is given C(--vault-id) O(old_vault_id)),
        exactly as C(ansible --vault-id) reads it.
      - Without O(old_vault_password_file), O(old_vault_password) and O(rotate_password_file), the vault secrets the
        playbook was run with are the old passwords (C(--vault-id label@prompt), a file or client script,
        C(--ask-vault-pass)).
    type: path
  old_vault_password:
    description: The current vault password, instead of O(old_vault_password_file).
    type: str
  new_vault_password_file:
    description:
      - File or script holding the new vault password, read like O(old_vault_password_file)
        (a client script is given C(--vault-id) O(new_vault_id), else O(old_vault_id)).
      - Unless O(rotate_password_file) is used, O(new_vault_password_file) or O(new_vault_password) is required, or the
        playbook is run with a vault secret labelled O(new_vault_id) (C(--vault-id <new_vault_id>@prompt)).
    type: path
  new_vault_password:
    description:
      - The new vault password. Must not start or end with whitespace (ansible strips it from password files).
      - With O(rotate_password_file), the password to rotate to (generated when omitted); when the
        password file already holds it and no rotation is pending, nothing is rotated.
    type: str
  old_vault_id:
    description:
      - The vault-id label the blobs carry now. When set, a blob labelled with anything else than
        O(old_vault_id) or O(new_vault_id) fails the task (a secret of another environment, or a
        mistake); blobs without a label are accepted.
    type: str
  new_vault_id:
    description:
      - The vault-id label to write in the blobs' headers (format 1.2). When omitted each blob keeps
        its label.
    type: str
  rotate_password_file:
    description:
      - Rotate the vault password kept in this plain file (not a script), crash-safely, in three steps.
      - First, the new password (O(new_vault_password), else generated as O(new_vault_password_kind)) is
        written to C(FILE.new), mode 0600 at most and the same owner, unless that file exists already
        (a rotation interrupted earlier), in which case its password is used.
      - Second, every blob under O(paths) is rekeyed; blobs under the old, the new or the C(FILE.old)
        password are accepted.
      - Third, the old file is copied to C(FILE.old) and C(FILE.new) is renamed over C(FILE).
      - A run killed at any point is finished by running it again. Until it is, every blob opens with
        C(--vault-id ID@FILE --vault-id ID@FILE.new).
      - Keep the password file outside the repository; C(FILE.old) stays as a backup until you delete it.
    type: path
  switch_vars_files:
    description:
      - With O(rotate_password_file), rekey whole encrypted vars files (C(.yml), C(.yaml), C(.json), no
        extension) last, in a switch that keeps each loadable with whatever the password file holds at any
        instant, so a run killed anywhere is finished by the same command even when the running
        C(ansible-playbook) loads them (its own inventory, e.g. C(group_vars/all/vault.yml)).
      - Their rekeyed copies are written beside them as hidden C(.NAME.turnkey-next) files; then they move
        aside (C(.NAME.turnkey-prev)) and a run started in that instant loads none of them and puts them
        back; the password file is swapped; then the copies take their place.
    type: bool
    default: false
  new_vault_password_kind:
    description:
      - Kind of password generated by O(rotate_password_file) when O(new_vault_password) is not given,
        as in the P(turnkey.secrets.generate#lookup) lookup.
    type: str
    default: urlsafe:32
  backup:
    description: Keep a copy of each changed file next to it (C(FILE.PID.DATE~), skipped by later rekeys), mode V('0600'), owned by the user running the task.
    type: bool
    default: false
attributes:
  action:
    description: Runs on the controller as an action plugin.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Every blob is located and decrypted (so errors show), the files that would change are listed, nothing is written.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when in diff mode.
    support: full
    details: One entry per changed file, naming each blob with placeholders; never ciphertext or plaintext.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
notes:
  - Secrets are handled in memory only; password options are C(no_log).
  - After a password rotation, the C(ansible-playbook) run that did it still holds the old password
    for variables it had already loaded; later runs use the new file.
seealso:
  - module: turnkey.secrets.vault_secret
  - plugin: turnkey.secrets.generate
    plugin_type: lookup
'''

EXAMPLES = r'''
- name: Rekey staging (whole vault files and inline !vault values) to a new password file
  turnkey.secrets.vault_rekey:
    paths:
      - inventory/staging
    old_vault_password_file: ~/.vault_pass_staging
    new_vault_password_file: ~/.vault_pass_staging.next
    old_vault_id: staging
    new_vault_id: staging
  delegate_to: localhost
  run_once: true

- name: Relabel blobs encrypted without a vault-id (same password)
  turnkey.secrets.vault_rekey:
    paths: [inventory/production]
    old_vault_password_file: ~/.vault_pass_production
    new_vault_password_file: ~/.vault_pass_production
    new_vault_id: production
  delegate_to: localhost
  run_once: true

- name: Rotate the production vault password (crash-safe; run again if interrupted)
  turnkey.secrets.vault_rekey:
    paths: ["{{ inventory_dir }}"]
    rotate_password_file: ~/.vault_pass_production
    old_vault_id: production
    new_vault_id: production
  register: rekeyed
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
files_rekeyed:
  description: Number of whole encrypted files rekeyed (or that would be, in check mode).
  returned: always
  type: int
  sample: 3
inline_rekeyed:
  description: Number of inline C(!vault) values rekeyed (or that would be, in check mode).
  returned: always
  type: int
  sample: 12
changed_files:
  description: Files written (or that would be, in check mode), as found under O(paths).
  returned: always
  type: list
  elements: str
  sample: [inventory/staging/group_vars/all/vault.yml]
backup_files:
  description: Backup copies made with O(backup).
  returned: always
  type: list
  elements: str
up_to_date:
  description: Number of blobs already under the new password and label, left alone.
  returned: always
  type: int
  sample: 0
files_scanned:
  description: Number of files looked at.
  returned: always
  type: int
  sample: 20
password_file:
  description: The rotated password file, which now holds the new password.
  returned: with O(rotate_password_file)
  type: str
password_rotated:
  description: Whether the password changed (false when the file already held O(new_vault_password)).
  returned: with O(rotate_password_file)
  type: bool
resumed:
  description: Whether this run finished a rotation an earlier run had started (C(FILE.new) existed).
  returned: with O(rotate_password_file)
  type: bool
previous_password_file:
  description: Where the old password was kept (C(FILE.old)).
  returned: with O(rotate_password_file), when the password changed and not in check mode
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.turnkey.secrets.plugins.module_utils._vault import REKEY_SPEC


def main():
    module = AnsibleModule(supports_check_mode=True, **REKEY_SPEC)
    module.fail_json(msg='turnkey.secrets.vault_rekey runs on the controller through its action plugin; '
                         'call it by its full name in a task')


if __name__ == '__main__':
    main()
