#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: postgres_password
short_description: Set PostgreSQL role passwords without the plaintext ever reaching the server
version_added: 0.1.0
author: Turnkey Secrets Maintainers (@turnkey-secrets)
description:
  - Sets the password of existing PostgreSQL roles by sending a SCRAM-SHA-256 verifier computed on the
    managed host (C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>), RFC 5802 and RFC 7677,
    4096 iterations, 16-byte random salt), as C(psql)'s C(\password) does. The plaintext never reaches
    the server, so it is not in its statement log (C(log_statement=all)), C(pg_stat_activity) or
    C(pg_stat_statements), nor in any shell history.
  - "Idempotent by verification, never by comparing salted output. When O(login_user) is a superuser
    the module reads the stored verifier from C(pg_authid) and checks the password against it with the
    stored salt and iteration count (RV(checked_with=pg_authid)). Otherwise C(pg_authid) is not
    readable and the module logs in as the role with the password instead (RV(checked_with=login)): a
    role that cannot log in from the managed host (C(NOLOGIN), C(pg_hba.conf)) then reads as changed
    on every run."
  - A role whose password matches a legacy C(md5) hash is reported changed and gets a SCRAM verifier.
  - Several roles are set in one transaction over one connection (O(roles)).
  - Never creates roles; a missing role fails before anything is changed.
options:
  role:
    description:
      - Name of the role (user) whose password is set. Quoted as an identifier, so any name works.
      - Mutually exclusive with O(roles).
      - The aliases V(name) and V(user) are community.postgresql's names for it.
    type: str
    aliases: [name, user]
  password:
    description:
      - The wanted password of O(role). Not sent to the server; only its verifier is.
    type: str
  roles:
    description:
      - Several roles handled in one call (one connection, one transaction, one C(pg_authid) read).
      - Mutually exclusive with O(role) and O(password).
    type: list
    elements: dict
    suboptions:
      role:
        description: Name of the role.
        type: str
        required: true
        aliases: [name, user]
      password:
        description: The wanted password of the role.
        type: str
        required: true
      expires:
        description: C(VALID UNTIL) of this role; O(expires) when omitted.
        type: str
        version_added: 0.2.0
  state:
    description:
      - V(present) sets the passwords that do not match.
      - V(verified) only logs in as each role with its password, through O(login_host), O(login_port),
        O(test_login_db) and O(ssl_mode), and fails if the server refuses; O(login_user) and
        O(login_password) are not used, and nothing is changed. This is the test step of a rotation.
    type: str
    choices: [present, verified]
    default: present
  test_login:
    description:
      - After setting the passwords, log in as each role with its new password (to O(test_login_db)) before
        reporting success, also when nothing had to change.
      - If a login fails, the previous verifiers are put back (when they were read from C(pg_authid))
        and the module fails.
      - In check mode, roles whose password would change are not tested.
    type: bool
    default: false
  test_login_db:
    description:
      - Database the roles log in to for O(test_login) and O(state=verified), when they may not
        connect to O(login_db). O(login_db) when omitted.
    type: str
  expires:
    description:
      - When the password of each role stops working (C(VALID UNTIL)), as PostgreSQL reads a timestamp, for
        example V(2027-06-30) or V(infinity) (never). Compared by the server with the role's current
        C(rolvaliduntil); unset leaves it alone.
      - Applied after the test logins of O(test_login), so a date in the past does not undo a good password.
      - Default for the items of O(roles). Same as community.postgresql's C(expires).
    type: str
    version_added: 0.2.0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - turnkey.secrets.postgres
attributes:
  check_mode:
    support: full
    details: Connects and verifies, changes nothing.
  diff_mode:
    support: full
    details: Role names with C(<changed>) or C(<unchanged>), never a password or verifier.
  platform:
    platforms: posix
notes:
  - The verifier, not the password, is written to the statement log when C(log_statement) is C(ddl)
    or C(all). It is what C(pg_authid) holds; protect the log like C(pg_authid).
  - SASLprep is applied as PostgreSQL does (ASCII passwords are used as is; a password SASLprep rejects
    is hashed unchanged), so non-ASCII passwords log in through libpq.
  - Test logins that fail appear in the server log as C(password authentication failed), without the
    password.
seealso:
  - module: turnkey.secrets.redis_password
  - name: PostgreSQL password authentication
    description: How SCRAM-SHA-256 verifiers are stored and checked.
    link: https://www.postgresql.org/docs/current/auth-password.html
requirements:
  - psycopg >= 3.1 (psycopg 3)
'''

EXAMPLES = r'''
- name: Set the application's database password and prove it works
  turnkey.secrets.postgres_password:
    role: trading
    password: "{{ vault_db_password }}"
    login_host: db1.internal
    login_user: postgres
    login_password: "{{ vault_postgres_admin_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/internal-ca.pem
    test_login: true

- name: Several roles in one transaction, as postgres over the local socket (peer authentication)
  become: true
  become_user: postgres
  turnkey.secrets.postgres_password:
    login_host: /var/run/postgresql
    roles:
      - role: trading
        password: "{{ vault_db_password }}"
      - role: reporting
        password: "{{ vault_reporting_db_password }}"

- name: As community.postgresql.postgresql_user would be written, with a client certificate and an expiry
  turnkey.secrets.postgres_password:
    name: trading
    password: "{{ vault_db_password }}"
    login_host: db1.internal
    port: 5433
    db: trading
    ssl_mode: verify-full
    ca_cert: /etc/ssl/certs/internal-ca.pem
    ssl_cert: /etc/ansible/pki/admin.crt
    ssl_key: /etc/ansible/pki/admin.key
    session_role: credential_admin
    expires: "2027-06-30"
- name: Test step of a rotation (logs in as the role, changes nothing)
  turnkey.secrets.postgres_password:
    role: trading
    password: "{{ vault_db_password_pending }}"
    login_host: db1.internal
    test_login_db: trading
    state: verified
'''

RETURN = r'''
roles:
  description: One entry per role, in order. Never holds a password or verifier.
  returned: always
  type: list
  elements: dict
  contains:
    role:
      description: Role name.
      type: str
      sample: trading
    changed:
      description: Whether the password was (in check mode, would be) set.
      type: bool
    checked_with:
      description: How the current password was verified, C(pg_authid) or C(login).
      type: str
      sample: pg_authid
    login_tested:
      description: Whether a login with the password was made and succeeded.
      type: bool
    expires_changed:
      description: Whether C(VALID UNTIL) was (in check mode, would be) set to O(expires).
      type: bool
      returned: when O(expires) applies to the role
      version_added: 0.2.0
    upgraded_from:
      description: C(md5) when the password matched a legacy md5 hash and now has a SCRAM verifier.
      type: str
      returned: when a legacy hash was replaced
      sample: md5
role:
  description: The only entry of RV(roles), when O(role) is used.
  returned: when O(role) is used
  type: dict
checked_with:
  description:
    - C(pg_authid) (O(login_user) is a superuser; the password was verified against the stored
      verifier) or C(login) (verified by logging in as the role).
  returned: when O(state=present)
  type: str
  sample: pg_authid
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.turnkey.secrets.plugins.module_utils import _postgres
from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            role=dict(type='str', aliases=['name', 'user']),
            password=dict(type='str', no_log=True),
            roles=dict(type='list', elements='dict', no_log=False, options=dict(
                role=dict(type='str', required=True, aliases=['name', 'user']),
                password=dict(type='str', required=True, no_log=True),
                expires=dict(type='str'),
            )),
            expires=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'verified']),
            test_login=dict(type='bool', default=False),
            test_login_db=dict(type='str'),
            **_postgres.CONNECTION_SPEC
        ),
        mutually_exclusive=[['role', 'roles'], ['password', 'roles']],
        required_one_of=[['role', 'roles']],
        required_by={'role': 'password'},
        supports_check_mode=True,
    )
    if _postgres.IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib('psycopg (psycopg 3)'), exception=_postgres.IMPORT_ERROR)

    def work(mod):
        result = _postgres.manage(mod.params, check_mode=mod.check_mode, warn=mod.warn)
        if not mod._diff:
            result.pop('diff', None)
        return result

    run_module(module, work)


if __name__ == '__main__':
    main()
