# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options of the PostgreSQL and Redis modules (their doc fragments describe them).

Apart from _postgres/_redis so that the controller's kind registry reads them without
importing psycopg or redis (every rotation step would pay for it).
"""

from __future__ import annotations

POSTGRES = dict(
    login_host=dict(type='str', default=''),
    login_unix_socket=dict(type='str', default=''),
    login_port=dict(type='int', default=5432, aliases=['port']),
    login_user=dict(type='str', default='postgres'),
    login_password=dict(type='str', no_log=True),
    login_db=dict(type='str', default='postgres', aliases=['db']),
    ssl_mode=dict(type='str', default='prefer', choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
    ca_cert=dict(type='path'),
    ssl_cert=dict(type='path'),
    ssl_key=dict(type='path', no_log=False),
    session_role=dict(type='str'),
    connect_timeout=dict(type='int', default=10),
)

REDIS = dict(
    login_host=dict(type='str', default='localhost'),
    login_port=dict(type='int', default=6379),
    login_user=dict(type='str'),
    login_password=dict(type='str', no_log=True),
    tls=dict(type='bool', default=False),
    validate_certs=dict(type='bool', default=True),
    ca_certs=dict(type='path'),
    client_cert_file=dict(type='path'),
    client_key_file=dict(type='path', no_log=False),
    connect_timeout=dict(type='int', default=10),
)
