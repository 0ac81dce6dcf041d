#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: htpasswd
short_description: Manage users of an htpasswd file (nginx and Apache basic authentication)
version_added: 0.1.0
author: Turnkey Secrets Maintainers (@turnkey-secrets)
description:
  - Adds, updates and removes users of an htpasswd file, as read by nginx C(auth_basic_user_file) and
    Apache C(AuthUserFile). The options are a superset of M(community.general.htpasswd).
  - Needs neither passlib 1.7 (broken with bcrypt 5) nor the C(crypt) module (removed in Python 3.13).
  - A user is left alone when the given password verifies against its stored hash and that hash
    already uses O(hash_scheme) (any scheme when O(hash_scheme) is omitted); salted output is never
    compared. A hash of another scheme (for example C($apr1$) when O(hash_scheme=bcrypt)), or of a
    format this module cannot verify (C($y$), C({SSHA})), is replaced by a new hash of the password.
  - Each user costs at most one verification and one hash per run. The users of O(users) are
    verified and hashed in parallel, one thread per CPU core (bcrypt runs outside the Python lock).
  - Other users, their order, comment lines, blank lines and extra C(:field) columns are kept byte
    for byte. Later lines of a managed user (nginx only reads the first) are removed.
  - The file is replaced atomically, with its final owner, group and mode set before the data lands.
  - Concurrent runs on one file are serialised by an exclusive lock on C(.NAME.lock) next to it (created
    V('0600'), kept); a run that waits more than 10 seconds fails with a "busy" message and changes nothing.
  - A password containing a line break (newline, carriage return) or a NUL character is refused.
  - A file that is not UTF-8 text fails the task and is left unchanged.
  - A file with a line that is not C(user:hash), or that cannot be read, fails the task with the line
    number (never its content) and is left unchanged.
options:
  path:
    description:
      - Path of the htpasswd file. Its directory must exist.
    type: path
    required: true
    aliases: [dest, destfile]
  name:
    description:
      - User to add, update or remove. Must not be empty, contain C(:) or a control character such as
        a newline, or start with C(#).
      - Mutually exclusive with O(users).
    type: str
    aliases: [username]
  password:
    description:
      - Password of O(name). Required to add a user; when omitted, an existing user is left as is.
      - With O(hash_scheme=bcrypt) at most 72 bytes (UTF-8); a longer password fails instead of being
        cut silently the way bcrypt would.
    type: str
  users:
    description:
      - Several users handled in one task, verified and hashed in parallel.
      - Mutually exclusive with O(name) and O(password).
    type: list
    elements: dict
    suboptions:
      name:
        description: User name (same rules as O(name)).
        type: str
        required: true
      password:
        description: Password of the user (same rules as O(password)).
        type: str
      state:
        description: Whether the user should be in the file. Defaults to O(state).
        type: str
        choices: [present, absent]
  hash_scheme:
    description:
      - Scheme of the hashes written. V(bcrypt) is recommended.
      - When omitted, as in M(community.general.htpasswd), new users get V(apr_md5_crypt) (that module's
        default), and existing users are not rehashed - a stored hash of any scheme that the password
        verifies against is kept, and a user whose password changes keeps the scheme of the stored hash
        (V(apr_md5_crypt) instead when that was V(md5_crypt), V(des_crypt), V(ldap_sha1), plain text or unknown).
        A playbook moved from M(community.general.htpasswd) therefore rewrites no user on its first run.
      - When given, a stored hash of another scheme is replaced by a new hash of the password (RV(users[].changes)
        says C(scheme)).
      - V(bcrypt) is written as C($2y$), the prefix Apache tools write; nginx accepts it through libxcrypt.
      - V(apr_md5_crypt) is C($apr1$) (Apache's default), V(md5_crypt) is C($1$); both computed in pure Python.
      - V(sha512_crypt) and V(sha256_crypt) are C($6$) and C($5$) with 5000 rounds (the crypt(3) and
        Apache C(htpasswd -5)/C(-2) default); they need libpass.
      - V(portable_apache_24), V(portable), V(host_apache_24), V(host) and V(linux_apache_24) are V(bcrypt), and
        V(portable_apache_22) is V(apr_md5_crypt), as passlib's C(HtpasswdFile) resolves them.
      - V(des_crypt) (needs libpass; passwords of at most 8 bytes), V(ldap_sha1) (C({SHA}), unsalted) and V(plaintext)
        exist to migrate old files only; each use warns. nginx and Apache on Linux do not accept plain text.
    type: str
    choices: [bcrypt, apr_md5_crypt, sha512_crypt, sha256_crypt, md5_crypt, des_crypt, ldap_sha1, plaintext,
              host, host_apache_24, linux_apache_24, portable, portable_apache_22, portable_apache_24]
    aliases: [crypt_scheme]
  bcrypt_rounds:
    description:
      - bcrypt cost (log2 of the number of rounds), 4 to 31.
      - nginx verifies the hash on every request, blocking a worker meanwhile. Measured with nginx 1.22
        (libxcrypt) on one core, per request - cost 5 4 ms, 8 27 ms, 10 102 ms, 12 408 ms. The default,
        V(10), is OWASP's minimum and keeps a page load of a dozen requests near one second of CPU.
        Generated passwords (128 bits or more) do not need a higher cost.
      - When omitted, stored bcrypt hashes of any cost are accepted (files from C(htpasswd -B), cost 5,
        are left alone) and new bcrypt hashes use cost 10. When set, stored bcrypt hashes of another cost are
        rehashed.
    type: int
  state:
    description:
      - Whether the user should be in the file. Default for the items of O(users).
    type: str
    choices: [present, absent]
    default: present
  update_password:
    description:
      - V(always) sets the password of existing users when it does not verify against the stored hash.
      - V(on_create) only sets it when a user is added, without verifying existing users.
    type: str
    choices: [always, on_create]
    default: always
  create:
    description:
      - Create the file when it does not exist. With V(false) a missing file fails the task (when a user
        would be added).
    type: bool
    default: true
  backup:
    description:
      - Keep a copy of the previous file next to it (C(PATH.PID.DATE~)) when it changes, mode V('0600')
        and owned by the user running the module whatever the file's mode and owner.
    type: bool
    default: false
  mode:
    description:
      - Mode of the file. An existing file keeps its mode when omitted; a new one gets V('0600'), and so does
        one owned by a user other than root and the one running the module, which also becomes the latter's
        unless O(owner) keeps it (its group is kept when the new mode gives that group nothing more; see
        C(docs/security.md)).
      - Octal (V('0640')) or symbolic (V(u=rw,g=r,o=)); a symbolic mode is computed against the existing
        file's mode (V('0600') for a new file) and, like an octal one, set on the temporary file before
        any data is written. An invalid mode fails the task before the file is touched.
      - For nginx, whose workers run as C(www-data), use O(owner=root), O(group=www-data), O(mode=0640).
  follow:
    description:
      - When O(path) is a symbolic link, work on the file it points to.
      - With V(false) (the default) a symbolic link at O(path) fails the task and nothing is read or
        written, so a user who can write the directory cannot point the file at another one (for example
        a root-only file the module would otherwise rewrite in a file they can read).
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
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Stored hashes are verified, no new hash is computed.
  diff_mode:
    support: full
    details: The users of the file, with C(********), C(<new>) or C(<changed>) in place of the hashes.
  platform:
    platforms: posix
notes:
  - Passwords and hashes never appear in the result, the diff or an error message.
  - The hash is verified by nginx on every request. See O(bcrypt_rounds) before raising the cost.
seealso:
  - module: community.general.htpasswd
  - name: nginx auth_basic
    description: The nginx module reading the file.
    link: https://nginx.org/en/docs/http/ngx_http_auth_basic_module.html
requirements:
  - bcrypt (for O(hash_scheme=bcrypt) and to verify bcrypt hashes)
  - libpass (for O(hash_scheme=sha512_crypt) or V(sha256_crypt) and to verify those hashes)
'''

EXAMPLES = r'''
- name: Dashboard user for nginx (drop-in for community.general.htpasswd, with the recommended bcrypt)
  turnkey.secrets.htpasswd:
    path: /etc/nginx/htpasswd
    name: admin
    password: "{{ vault_dashboard_password }}"
    hash_scheme: bcrypt
    owner: root
    group: www-data
    mode: "0640"

- name: Several users in one task, one of them removed
  turnkey.secrets.htpasswd:
    path: /etc/nginx/htpasswd
    users:
      - name: admin
        password: "{{ vault_dashboard_password }}"
      - name: oncall
        password: "{{ vault_oncall_password }}"
      - name: former_trader
        state: absent
    hash_scheme: bcrypt
    backup: true
  register: htpasswd_result

- name: Create the user once, never reset its password afterwards
  turnkey.secrets.htpasswd:
    path: /etc/nginx/htpasswd
    name: viewer
    password: "{{ vault_viewer_password }}"
    hash_scheme: bcrypt
    update_password: on_create

- name: Apache-compatible file with SHA-512 crypt hashes
  turnkey.secrets.htpasswd:
    path: /etc/apache2/.htpasswd
    name: admin
    password: "{{ vault_dashboard_password }}"
    hash_scheme: sha512_crypt
'''

RETURN = r'''
path:
  description: Absolute path of the file.
  returned: always
  type: str
  sample: /etc/nginx/htpasswd
users:
  description: One entry per requested user, in order. Never holds a password or a hash.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: User name.
      type: str
      sample: admin
    state:
      description: The requested state.
      type: str
      sample: present
    action:
      description: C(added), C(updated), C(unchanged), C(removed) or C(absent) (already missing).
      type: str
      sample: updated
    changed:
      description: Whether this user was (or, in check mode, would be) changed.
      type: bool
    changes:
      description:
        - Why an existing user was updated. C(password) (did not verify), C(scheme) (stored hash of
          another or unknown scheme), C(rounds) (bcrypt cost differs from O(bcrypt_rounds)),
          C(duplicates) (later lines of the user removed).
      type: list
      elements: str
      sample: [password]
user:
  description: The only entry of RV(users), when O(name) is used.
  returned: when O(name) is used
  type: dict
bcrypt_rounds:
  description: The bcrypt cost of hashes written by this run.
  returned: always
  type: int
  sample: 10
msg:
  description: Counts of changed users by action.
  returned: always
  type: str
  sample: added 1, updated 1
backup_file:
  description: The copy of the previous file.
  returned: when O(backup=true) and the file changed
  type: str
  sample: /etc/nginx/htpasswd.4242.2025-01-31@10:00:00~
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module
from ansible_collections.turnkey.secrets.plugins.module_utils._htpasswd import ALL_SCHEMES, manage

STATES = ['present', 'absent']


def work(module):
    result = manage(module.params, check_mode=module.check_mode, want_diff=module._diff)
    for warning in result.pop('warnings'):
        module.warn(warning)
    path = result['path']
    if os.path.exists(path):
        # SELinux context and attributes; owner, group and mode (octal or symbolic) were set by the write.
        file_args = module.load_file_common_arguments(module.params, path=path)
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True, aliases=['dest', 'destfile']),
            name=dict(type='str', aliases=['username']),
            password=dict(type='str', no_log=True),
            users=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                password=dict(type='str', no_log=True),
                state=dict(type='str', choices=STATES),
            )),
            # No default: without one, stored hashes of any scheme are kept (see _htpasswd.plan).
            hash_scheme=dict(type='str', choices=list(ALL_SCHEMES), aliases=['crypt_scheme']),
            bcrypt_rounds=dict(type='int'),
            state=dict(type='str', default='present', choices=STATES),
            update_password=dict(type='str', default='always', choices=['always', 'on_create'], no_log=False),
            create=dict(type='bool', default=True),
            backup=dict(type='bool', default=False),
            follow=dict(type='bool', default=False),
            allow_shared_parent=dict(type='bool', default=False),
        ),
        mutually_exclusive=[['name', 'users'], ['password', 'users']],
        required_one_of=[['name', 'users']],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    run_module(module, work)


if __name__ == '__main__':
    main()
