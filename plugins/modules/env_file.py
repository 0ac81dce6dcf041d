# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: env_file
short_description: Manage KEY=VALUE lines of a dotenv (.env) file holding secrets
version_added: 0.1.0
description:
  - Sets and removes keys of an application's C(.env) file and keeps every other line,
    comment and the order of the file as they are.
  - Idempotent by comparing parsed values, so a value a person quoted differently is left
    alone; only the lines of changed keys are rewritten.
  - The file is replaced atomically with its final owner, group and mode set before any data
    is written (never briefly world-readable); O(backup) keeps a copy.
  - 'Values are written in the form that python-dotenv, django-environ, docker compose,
    systemd C(EnvironmentFile=) and a shell (C(set -a; . FILE)) read back identically: plain
    when made only of C(A-Z a-z 0-9 _ . / : @ + , = % -), otherwise in single quotes,
    otherwise (the value holds a single quote or C(\)) in double quotes with C(\), C("), C($)
    and backquote escaped by a backslash.'
  - python-dotenv does not undo C(\$) inside double quotes, so for python-dotenv readers avoid
    values that hold both a single quote and C($).
  - C(podman run --env-file) and C(docker run --env-file) do not remove quotes; give
    containers their secrets as podman secrets instead (M(turnkey.secrets.podman_secret)).
  - The diff and the result name keys only; values appear as placeholders.
  - Concurrent runs on one file are serialised by an exclusive lock on C(.NAME.lock) next to it (created
    V('0600'), kept); a run that waits more than 10 seconds fails with a "busy" message and changes nothing.
author: Turnkey Secrets Maintainers (@turnkey-secrets)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  path:
    description: The dotenv file. Its directory must exist.
    type: path
    required: true
    aliases: [dest]
  values:
    description:
      - Keys to set (O(state=present)) or to remove (O(state=absent), values ignored).
      - Key names are letters, digits and C(_), not starting with a digit.
      - A value is a string (numbers are written as they are, booleans as C(true)/C(false)),
        or a list of strings written as one value in O(list_format), for settings such as
        Django's C(SECRET_KEY_FALLBACKS) or a MultiFernet key list.
      - A value cannot contain a line break; a key listed here cannot also be in O(remove).
    type: dict
    default: {}
  list_format:
    description:
      - How a list value is written.
      - V(comma) joins the elements with C(,) (read with C(env.list('NAME')) of django-environ,
        C(config('NAME', cast=Csv())) of python-decouple, or
        C([k for k in os.environ['NAME'].split(',') if k])); an element holding a comma is refused.
      - V(json) writes a compact JSON array (read with C(json.loads(os.environ['NAME']))).
    type: str
    choices: [comma, json]
    default: comma
  state:
    description: Whether the keys of O(values) should be present with these values or absent.
    type: str
    choices: [present, absent]
    default: present
  remove:
    description: Keys to delete (every line assigning them), whatever O(state) is.
    type: list
    elements: str
    default: []
  exclusive:
    description:
      - Delete every key of the file that is not in O(values) (comments and blank lines stay).
      - Only with O(state=present).
    type: bool
    default: false
  create:
    description: Create the file when it does not exist; when V(false) a missing file is an error.
    type: bool
    default: true
  backup:
    description:
      - Keep a copy of the previous file next to it (C(PATH.PID.DATE~)) when it changes.
      - The copy holds the old secrets, so it is created V('0600') and owned by the user running the module,
        whatever the file's mode and owner; see O(backup_keep).
    type: bool
    default: false
  backup_encrypt:
    description:
      - Keep an encrypted copy of the previous file instead of a plaintext one, when the file changes. With
        this set no plaintext backup is made, whatever O(backup) says (the audit reports one found beside
        the file, rule C(plaintext-backup)).
      - The copy is C(DIR/NAME.YYYYmmddTHHMMSS.NNNNNNZ.age) or C(.gpg) (UTC time; the name holds no value),
        created V('0600') and owned by the user running the module; the newest O(backup_keep) (at least 1) are
        kept, older ones of that file deleted. It is made before the file is replaced, so when encryption
        fails the file is left unchanged.
      - Restore with the stock tool, C(age -d -i KEYFILE BACKUP > .env) or C(gpg -d BACKUP > .env) (gpg asks
        for the passphrase). See C(docs/backups.md).
      - To keep the copies on the controller, fetch RV(backup_file) (the rotation's consumer step does so with
        C(backup_encrypt.fetch_dir) of C(turnkey_env_files)).
    type: dict
    version_added: 0.3.0
    suboptions:
      age_recipients:
        description:
          - age public keys (C(age1...), or C(ssh-ed25519 ...)) the copy is encrypted to; the C(age) command
            (Debian package C(age)) must be on the host.
          - Exactly one of O(backup_encrypt.age_recipients) and O(backup_encrypt.gpg_passphrase).
        type: list
        elements: str
      gpg_passphrase:
        description:
          - A passphrase (from the vault) for a GnuPG symmetric copy, AES256, as C(gpg --symmetric --cipher-algo
            AES256) makes. It reaches gpg through a pipe (C(--passphrase-fd)), never its argument list; gpg runs
            with a temporary home whose agent is stopped afterwards, so nothing caches it.
        type: str
      dir:
        description: Directory of the copies (created V('0700') when missing); default the file's own directory.
        type: path
      executable:
        description: Path of C(age) or C(gpg) when not on PATH.
        type: path
  backup_keep:
    description:
      - With O(backup=true), how many backups of this file (named C(PATH.PID.DATE~) as this module names
        them) to keep; older ones are deleted after a successful write. Other files are never touched.
      - V(0) keeps none after the write succeeds.
    type: int
    default: 3
  follow:
    description:
      - When O(path) is a symbolic link, work on the file it points to.
      - With V(false) (the default) a symbolic link at O(path) fails the task and nothing is read or
        written, so the application user, who can often write the directory, cannot point the file at
        a root-only file that the module would then copy into a file they can read.
    type: bool
    default: false
  allow_shared_parent:
    description:
      - Accept a directory of O(path) that users other than its owner can write (group or other write bit
        without the sticky bit) or that belongs to a user other than root and the user running the module.
      - Such a user can swap the file between the module's checks and its write; only set V(true) when you
        trust every user who can write that directory.
    type: bool
    default: false
  owner:
    description:
      - Owner of the file (name or uid). Default is the existing file's when root or the user running the
        module owns it, else the user running the module.
      - A file of another non-root user (planted in a sticky directory, or the application user's) is not
        left theirs unless given here; then its mode is not inherited either (see O(mode)) and its group only
        when the new mode gives that group nothing more. See C(docs/security.md).
    type: str
  group:
    description: Group of the file (name or gid), for example the application's group with O(mode=0640).
    type: str
  mode:
    description:
      - Octal mode such as V('0600') or V('0640') (as a quoted string), or a symbolic mode such as
        V(u=rw,g=r,o=) computed against the existing file's mode (V('0600') for a new file).
      - Default is the existing file's mode, or V('0600') for a new file or one owned by another non-root
        user (symbolic modes are then computed against V('0600')).
      - Set on the temporary file before any data is written; an invalid mode fails before the file is touched.
    type: raw
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Lines of the form C(KEY=<unchanged>), C(KEY=<changed>), C(KEY=<new>); old values show as C(********).
  platform:
    platforms: posix
notes:
  - A line that does not parse (no C(=), a quote not closed on the same line) makes the task fail
    naming its line number; the file is left unchanged. Multi-line values are not supported.
  - When a key is assigned more than once, the last assignment counts (as for every reader) and is
    the one updated.
seealso:
  - module: turnkey.secrets.fernet_rotate
'''

EXAMPLES = r'''
- name: Write the Django and Fernet keys of the app (readable by the app's group)
  turnkey.secrets.env_file:
    path: /srv/app/.env
    owner: root
    group: app
    mode: "0640"
    backup: true
    values:
      SECRET_KEY: "{{ vault_secret_key }}"
      SECRET_KEY_FALLBACKS: "{{ vault_secret_key_fallbacks }}"
      FIELD_ENCRYPTION_KEY: "{{ vault_field_encryption_key }}"
      FIELD_ENCRYPTION_KEYS: "{{ [vault_field_encryption_key] + vault_field_encryption_key_previous }}"

- name: Drop a retired setting
  turnkey.secrets.env_file:
    path: /srv/app/.env
    remove: [OLD_API_TOKEN]

- name: Keep only these keys, lists as JSON
  turnkey.secrets.env_file:
    path: /srv/worker/.env
    exclusive: true
    list_format: json
    values:
      REDIS_URL: "{{ vault_redis_url }}"
      ALLOWED_HOSTS: [app.example.com, localhost]
'''

RETURN = r'''
path:
  description: Absolute path of the file.
  returned: always
  type: str
added:
  description: Keys that were added.
  returned: always
  type: list
  elements: str
  sample: [SECRET_KEY_FALLBACKS]
updated:
  description: Keys whose value changed.
  returned: always
  type: list
  elements: str
  sample: [SECRET_KEY]
removed:
  description: Keys that were deleted.
  returned: always
  type: list
  elements: str
backup_file:
  description: The copy of the previous file (encrypted with O(backup_encrypt)).
  returned: when O(backup=true) or O(backup_encrypt) is set, and an existing file changed
  type: str
backups_removed:
  description: Encrypted copies deleted by the retention of O(backup_keep).
  returned: when O(backup_encrypt) is set and an existing file changed
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _backup_crypt, _env_file
from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError


def work(module):
    p = module.params
    _atomic.parse_mode(p['mode'], 0o600)
    if p['backup_encrypt']:
        _backup_crypt.check(p['backup_encrypt'])
    with _atomic.Target(p['path'], p['follow'], p['allow_shared_parent']) as target:
        if module.check_mode:
            return _work(module, target)
        with target.lock():
            return _work(module, target)


def _work(module, target):
    p = module.params
    path = target.path
    raw = target.read()
    result = {'changed': False, 'path': path, 'added': [], 'updated': [], 'removed': []}
    if raw is None and p['state'] == 'absent':
        return result
    if raw is None and not p['create'] and p['state'] == 'present':
        raise InputError('%s does not exist; create it or set create: true' % path)
    try:
        text = raw.decode('utf-8') if raw is not None else ''
    except UnicodeDecodeError:
        raise InputError('%s is not UTF-8 text; nothing was changed' % path) from None

    if p['state'] == 'absent':
        new_text, report = _env_file.update(text, remove=list(p['values']) + list(p['remove']), path=path)
    else:
        new_text, report = _env_file.update(text, p['values'], p['remove'], p['exclusive'], p['list_format'], path)
    if raw is None and not new_text:
        return result

    encrypt = p['backup_encrypt']
    encrypted = removed = None
    if encrypt and raw is not None and not module.check_mode:
        # The encrypted copy comes first: when it cannot be made, the file stays as it was.
        if target.write_if_changed(new_text, mode=p['mode'], owner=p['owner'], group=p['group'], check_mode=True)[0]:
            encrypted, removed = _backup_crypt.backup(path, raw, encrypt, p['backup_keep'])
    changed, backup_file = target.write_if_changed(
        new_text, mode=p['mode'], owner=p['owner'], group=p['group'], backup=p['backup'] and not encrypt,
        check_mode=module.check_mode, backup_keep=p['backup_keep'])
    if encrypted:
        backup_file = encrypted
        result['backups_removed'] = removed
    result.update(changed=changed, added=report['added'], updated=report['updated'], removed=report['removed'])
    if backup_file:
        result['backup_file'] = backup_file
    if module._diff:
        result['diff'] = dict(report['diff'], before_header=path, after_header=path)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True, aliases=['dest']),
            values=dict(type='dict', default={}, no_log=True),
            list_format=dict(type='str', default='comma', choices=['comma', 'json']),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            remove=dict(type='list', elements='str', default=[]),
            exclusive=dict(type='bool', default=False),
            create=dict(type='bool', default=True),
            backup=dict(type='bool', default=False),
            backup_keep=dict(type='int', default=3),
            backup_encrypt=dict(type='dict', options=dict(
                age_recipients=dict(type='list', elements='str'),
                gpg_passphrase=dict(type='str', no_log=True),
                dir=dict(type='path'),
                executable=dict(type='path'),
            ), mutually_exclusive=[['age_recipients', 'gpg_passphrase']],
                required_one_of=[['age_recipients', 'gpg_passphrase']]),
            follow=dict(type='bool', default=False),
            allow_shared_parent=dict(type='bool', default=False),
            owner=dict(type='str'),
            group=dict(type='str'),
            mode=dict(type='raw'),
        ),
        supports_check_mode=True,
    )
    if module.params['exclusive'] and module.params['state'] == 'absent':
        module.fail_json(msg='exclusive: true only makes sense with state: present')
    if module.params['backup_keep'] < 0:
        module.fail_json(msg='backup_keep must be 0 or more (got %d)' % module.params['backup_keep'])
    run_module(module, work)


if __name__ == '__main__':
    main()
