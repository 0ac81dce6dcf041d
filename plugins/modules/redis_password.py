#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: redis_password
short_description: Rotate Redis ACL user passwords with no downtime, sending only hashes
version_added: 0.1.0
author: Turnkey Secrets Maintainers (@turnkey-secrets)
description:
  - Manages the passwords of existing Redis 6+ ACL users, the C(default) user included. A user can hold
    several passwords at once, so a rotation adds the new one beside the old (O(keep_previous=true)),
    deploys it to the clients, then retires the old one (O(retire_previous=true)).
  - "Passwords are sent as their SHA-256 hash (C(ACL SETUSER <user> resetpass #<sha256> ...)), the form
    Redis stores them in; the plaintext never reaches the server, so it cannot show up in C(MONITOR),
    the slowlog, C(CONFIG GET) or C(redis.conf). Only the test logins of O(test_login) and
    O(state=verified) authenticate with it, as every client does."
  - Idempotent by comparing the SHA-256 of the wanted passwords with the hashes C(ACL GETUSER) lists.
    Those hashes are unsalted by Redis's own design; the module only reads them and never returns them.
  - The whole password list of a user is replaced in one command, and all users of one call in one
    C(MULTI) transaction.
  - For the C(default) user, a C(requirepass) left in the configuration is cleared in the same
    transaction. C(requirepass) keeps the plaintext it was given (C(CONFIG GET requirepass) shows it,
    C(CONFIG REWRITE) writes it back) and would still hold the old password after a rotation. The
    module never sets C(requirepass), which also avoids the number parsing that turns C(12K) into
    C(12288) through M(community.general.redis).
  - Never creates users; a missing user fails before anything is changed.
options:
  user:
    description:
      - The ACL user whose passwords are managed. V(default) when omitted.
      - Mutually exclusive with O(users).
    type: str
  password:
    description:
      - With O(state=present), the password the user must accept; with O(state=absent), the one to
        remove; with O(state=verified), the one to log in with.
    type: str
  users:
    description:
      - Several users handled in one call (one connection, one transaction, one persist).
      - O(state), O(keep_previous), O(retire_previous) and O(previous_password) given at the top
        level are defaults for the items.
      - Mutually exclusive with O(user) and O(password).
    type: list
    elements: dict
    suboptions:
      user:
        description: The ACL user.
        type: str
        required: true
      password:
        description: See O(password).
        type: str
        required: true
      state:
        description: See O(state).
        type: str
        choices: [present, absent, verified]
      keep_previous:
        description: See O(keep_previous).
        type: bool
      retire_previous:
        description: See O(retire_previous).
        type: bool
      previous_password:
        description: See O(previous_password).
        type: str
  state:
    description:
      - V(present) makes O(password) valid for the user.
      - V(absent) removes O(password) from the user's passwords; removing the last one fails (the user
        would be locked out).
      - V(verified) only authenticates as the user with O(password) and fails if Redis refuses; no
        admin login, nothing changed. This is the test step of a rotation.
    type: str
    choices: [present, absent, verified]
    default: present
  keep_previous:
    description:
      - With V(true), the passwords the user already has stay valid beside O(password) (the set step of
        a rotation). With O(previous_password), only that one stays valid beside O(password).
      - With V(false), O(password) becomes the user's only password.
      - The C(nopass) flag is always removed; a user accepting any password cannot be rotated.
    type: bool
    default: false
  retire_previous:
    description:
      - Drop every password but O(password) (the finish step of a rotation). This is what
        O(keep_previous=false) does; the option states the intent in a rotation playbook.
      - Mutually exclusive with O(keep_previous=true).
    type: bool
    default: false
  previous_password:
    description:
      - With O(keep_previous=true), the one previous password to keep valid; any other password is
        dropped (for example one left over from an aborted rotation).
      - It is kept only if the user still has it, so a retired password is never brought back and a
        rerun after the finish step changes nothing; a warning says when it is not there.
    type: str
  persist:
    description:
      - How a change survives a restart, run once after all users are set and tested.
      - V(acl_save) runs C(ACL SAVE) (the server must have an C(aclfile)). Redis writes a new ACL file
        with its own umask (usually V('0644'), readable by every local user) and owner; when the server
        runs on this host (O(login_host) a loopback name or address) and the module can see the file
        (C(CONFIG GET aclfile) and C(dir)), the file's previous mode and owner are put back right after,
        see RV(acl_file). Otherwise the module warns, and the file must be checked on the Redis host.
        Redis has no way to write the file narrower, so a new file is wide for the moment between the
        save and the restore, so keep the ACL file's directory closed to other users (mode V('0700')).
      - V(config_rewrite) runs C(CONFIG REWRITE), which writes the users into C(redis.conf) (the
        server must run from a config file, without an C(aclfile)).
      - V(auto) picks V(acl_save) when an C(aclfile) is configured, else V(config_rewrite) when the
        server runs from a config file, else V(none) with a warning.
      - V(none) changes the running server only.
      - The mode is checked before anything is changed; if persisting fails, the previous passwords
        are put back in the running server and the module fails.
    type: str
    choices: [auto, acl_save, config_rewrite, none]
    default: auto
  test_login:
    description:
      - After the change, authenticate as each user with O(password) (O(state=present) only) before
        persisting and reporting success. On failure the previous passwords are put back.
      - In check mode, users whose passwords would change are not tested.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - turnkey.secrets.redis
attributes:
  check_mode:
    support: full
    details: Connects and compares hashes, changes nothing.
  diff_mode:
    support: full
    details: Per user, one placeholder per password (C(<unchanged>), C(<new>), C(<removed>)); never a password or hash.
  platform:
    platforms: posix
notes:
  - Connections already authenticated keep working after their password is retired; new connections
    need a valid password.
  - Changing the password of O(login_user) itself works; the module's connection stays authenticated.
seealso:
  - module: turnkey.secrets.postgres_password
  - name: Redis ACL
    description: ACL users, their passwords and the ACL file.
    link: https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/
requirements:
  - redis (redis-py) >= 5
'''

EXAMPLES = r'''
- name: Rotation, set step - the new password works, the old one still does
  turnkey.secrets.redis_password:
    user: trading
    password: "{{ vault_redis_password_pending }}"
    previous_password: "{{ vault_redis_password }}"
    keep_previous: true
    login_user: admin
    login_password: "{{ vault_redis_admin_password }}"
    test_login: true

- name: Rotation, finish step (every client has the new password) - retire the old one
  turnkey.secrets.redis_password:
    user: trading
    password: "{{ vault_redis_password }}"
    retire_previous: true
    login_user: admin
    login_password: "{{ vault_redis_admin_password }}"

- name: The default user of a redis.conf-configured server (requirepass), saved with CONFIG REWRITE
  turnkey.secrets.redis_password:
    password: "{{ vault_redis_password }}"
    login_password: "{{ vault_redis_password_previous }}"
    persist: config_rewrite

- name: Several users in one transaction
  turnkey.secrets.redis_password:
    login_user: admin
    login_password: "{{ vault_redis_admin_password }}"
    users:
      - user: trading
        password: "{{ vault_redis_password }}"
      - user: reporting
        password: "{{ vault_redis_reporting_password }}"
'''

RETURN = r'''
users:
  description: One entry per user, in order. Never holds a password or hash.
  returned: always
  type: list
  elements: dict
  contains:
    user:
      description: ACL user.
      type: str
      sample: trading
    changed:
      description: Whether the user's passwords were (in check mode, would be) changed.
      type: bool
    action:
      description:
        - C(added) (new password beside the old ones), C(retired) (others dropped), C(removed)
          (O(state=absent)), C(replaced), C(unchanged) or C(verified).
      type: str
      sample: added
    passwords:
      description: How many passwords the user holds after the run.
      type: int
      returned: unless O(state=verified)
      sample: 2
    enabled:
      description: Whether the user is enabled (C(on)).
      type: bool
      returned: unless O(state=verified)
    login_tested:
      description: Whether a login with O(password) was made and succeeded.
      type: bool
user:
  description: The only entry of RV(users), when O(users) is not used.
  returned: when O(users) is not used
  type: dict
persisted:
  description: How the change was persisted, C(acl_save), C(config_rewrite) or C(none).
  returned: when something changed, outside check mode
  type: str
  sample: acl_save
acl_file:
  description: The ACL file rewritten by C(ACL SAVE), and whether its previous mode and owner were put back.
  returned: when O(persist) resolved to V(acl_save) and something changed, outside check mode
  type: dict
  contains:
    path:
      description: Path of the ACL file, as the server reports it.
      type: str
      sample: /etc/redis/users.acl
    restored:
      description: Whether the previous mode and owner were put back (false means a warning was given).
      type: bool
    mode:
      description: The mode the file has again.
      type: str
      returned: when RV(acl_file.restored) is true
      sample: '0600'
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.turnkey.secrets.plugins.module_utils import _redis
from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type='str'),
            password=dict(type='str', no_log=True),
            users=dict(type='list', elements='dict', no_log=False, options=dict(
                user=dict(type='str', required=True),
                password=dict(type='str', required=True, no_log=True),
                state=dict(type='str', choices=['present', 'absent', 'verified']),
                keep_previous=dict(type='bool'),
                retire_previous=dict(type='bool'),
                previous_password=dict(type='str', no_log=True),
            )),
            state=dict(type='str', default='present', choices=['present', 'absent', 'verified']),
            keep_previous=dict(type='bool', default=False),
            retire_previous=dict(type='bool', default=False),
            previous_password=dict(type='str', no_log=True),
            persist=dict(type='str', default='auto', choices=list(_redis.PERSIST_CHOICES)),
            test_login=dict(type='bool', default=False),
            **_redis.CONNECTION_SPEC
        ),
        mutually_exclusive=[['user', 'users'], ['password', 'users']],
        required_one_of=[['password', 'users']],
        supports_check_mode=True,
    )
    if _redis.IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib('redis (redis-py)'), exception=_redis.IMPORT_ERROR)

    def work(mod):
        result = _redis.manage(mod.params, check_mode=mod.check_mode, warn=mod.warn)
        if not mod._diff:
            result.pop('diff', None)
        return result

    run_module(module, work)


if __name__ == '__main__':
    main()
