# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: fernet_rotate
short_description: Re-encrypt Fernet tokens kept in files under the newest key
version_added: 0.1.0
description:
  - After a Fernet key rotation (new key first in the MultiFernet list, old keys kept for
    decryption), re-encrypts the tokens stored in files with the new primary key using
    C(MultiFernet.rotate), so the old keys can later be retired.
  - 'File format: one token per line. Blank lines and lines starting with C(#) are kept as they are.'
  - A token the primary key already decrypts is left untouched, so a second run reports no change.
    C(MultiFernet.rotate) keeps each token's original timestamp (TTL checks behave as before).
  - When a token cannot be decrypted by any key, the task fails naming the line numbers and no
    file is changed.
  - Files are replaced atomically keeping their owner, group and mode, except a file of a user other than
    root and the one running the module, which becomes the latter's and V('0600') (see C(docs/security.md)).
  - Each file is locked (exclusive lock on C(.NAME.lock) next to it, created V('0600') and kept) from
    its read to its write, so concurrent writers do not lose updates; a run that waits more than
    10 seconds for a lock fails with a "busy" message and changes nothing.
  - Tokens stored in a database (for example by django-fernet-fields) are re-encrypted by the
    application, not by this module.
author: Turnkey Secrets Maintainers (@turnkey-secrets)
requirements:
  - cryptography
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  keys:
    description:
      - The Fernet keys, primary (newest) first, then the older ones still needed to decrypt.
      - The same list the application gets, for example its C(FIELD_ENCRYPTION_KEYS).
    type: list
    elements: str
    required: true
  path:
    description: A file of tokens. Exactly one of O(path) and O(paths) is required.
    type: path
  paths:
    description: Several files of tokens, all handled in one task; when one fails, none is changed.
    type: list
    elements: path
  backup:
    description: Keep a copy of each changed file next to it (C(PATH.PID.DATE~)), mode V('0600'), owned by the user running the module.
    type: bool
    default: false
  follow:
    description:
      - When a file of O(path) or O(paths) is a symbolic link, work on the file it points to.
      - With V(false) (the default) a symbolic link fails the task and no file is changed.
    type: bool
    default: false
  allow_shared_parent:
    description:
      - Accept a directory that users other than its owner can write (group or other write bit without the
        sticky bit) or that belongs to a user other than root and the user running the module.
      - Such a user can swap a file between the module's checks and its write; only set V(true) when you
        trust every user who can write that directory.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: One C(line N=<changed>) entry per re-encrypted token; old tokens show as C(********).
  platform:
    platforms: posix
seealso:
  - module: turnkey.secrets.env_file
'''

EXAMPLES = r'''
- name: Re-encrypt the stored OAuth tokens under the new Fernet key
  turnkey.secrets.fernet_rotate:
    path: /srv/app/data/oauth_tokens.txt
    keys: "{{ [vault_field_encryption_key] + vault_field_encryption_key_previous }}"
    backup: true

- name: Several files in one task
  turnkey.secrets.fernet_rotate:
    paths:
      - /srv/app/data/a.tokens
      - /srv/app/data/b.tokens
    keys: "{{ app_fernet_keys }}"
'''

RETURN = r'''
files:
  description: One entry per file.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path of the file.
      type: str
      returned: always
    tokens:
      description: Number of tokens in the file.
      type: int
      returned: always
    rotated:
      description: Line numbers of the tokens re-encrypted under the primary key.
      type: list
      elements: int
      returned: always
    backup_file:
      description: The copy of the previous file.
      type: str
      returned: when O(backup=true) and the file changed
rotated:
  description: Total number of tokens re-encrypted.
  returned: always
  type: int
'''

import contextlib

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _fernet
from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError


def work(module):
    p = module.params
    with contextlib.ExitStack() as stack:
        targets = {}
        for given in ([p['path']] if p['path'] else p['paths']):
            target = stack.enter_context(_atomic.Target(given, p['follow'], p['allow_shared_parent']))
            targets.setdefault(target.path, target)
        if not module.check_mode:
            # Locks in sorted order, so two runs over overlapping file sets cannot deadlock.
            for path in sorted(targets):
                stack.enter_context(targets[path].lock())
        return _work(module, list(targets.values()))


def _work(module, targets):
    planned = []
    # Every file is read and re-encrypted in memory first, so one bad token changes no file.
    for target in targets:
        path = target.path
        raw = target.read()
        if raw is None:
            raise InputError('%s does not exist; nothing was changed' % path)
        try:
            text = raw.decode('ascii')
        except UnicodeDecodeError:
            raise InputError('%s holds non-ASCII bytes; Fernet tokens are url-safe base64, one per line' % path) from None
        new_text, rotated, count = _fernet.rotate_text(text, module.params['keys'], path)
        planned.append((target, new_text, rotated, count))

    files, diff, total = [], [], 0
    for target, new_text, rotated, count in planned:
        path = target.path
        entry = {'path': path, 'tokens': count, 'rotated': rotated}
        if rotated and not module.check_mode:
            backup_file = target.write(new_text, backup=module.params['backup'])
            if backup_file:
                entry['backup_file'] = backup_file
        total += len(rotated)
        files.append(entry)
        if rotated:
            diff.append({'before_header': path, 'after_header': path,
                         'before': ''.join('line %d=********\n' % n for n in rotated),
                         'after': ''.join('line %d=<changed>\n' % n for n in rotated)})
    result = {'changed': total > 0, 'files': files, 'rotated': total}
    if module._diff:
        result['diff'] = diff
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            keys=dict(type='list', elements='str', required=True, no_log=True),
            path=dict(type='path'),
            paths=dict(type='list', elements='path'),
            backup=dict(type='bool', default=False),
            follow=dict(type='bool', default=False),
            allow_shared_parent=dict(type='bool', default=False),
        ),
        mutually_exclusive=[['path', 'paths']],
        required_one_of=[['path', 'paths']],
        supports_check_mode=True,
    )
    if _fernet.IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=_fernet.IMPORT_ERROR)
    run_module(module, work)


if __name__ == '__main__':
    main()
