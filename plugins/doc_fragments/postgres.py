# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # The connection options of _postgres.CONNECTION_SPEC; keep the two in step (sanity checks it).
    DOCUMENTATION = r'''
options:
  login_host:
    description:
      - Host name or address of the server. A path (starting with C(/)) is the directory of a Unix
        socket.
      - Empty (the default, as in community.postgresql) connects through the local Unix socket, in
        O(login_unix_socket) or libpq's default directory (C(/var/run/postgresql)), for example with peer
        authentication (C(become_user=postgres)). Before 0.2.0 the default was V(localhost) (TCP).
    type: str
    default: ''
  login_unix_socket:
    description:
      - Directory of the server's Unix socket, used when O(login_host) is empty or V(localhost), as in
        community.postgresql.
    type: str
    default: ''
    version_added: 0.2.0
  login_port:
    description:
      - Port of the server (also the number in the Unix socket's name).
      - The alias V(port) is community.postgresql's name for it.
    type: int
    default: 5432
    aliases: [port]
  login_user:
    description:
      - Role the module connects as. A superuser lets the module verify passwords against
        C(pg_authid); a role with C(CREATEROLE) can set passwords of non-superusers.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user). Omit for peer or certificate authentication.
    type: str
  login_db:
    description:
      - Database O(login_user) connects to.
      - The alias V(db) is community.postgresql's name for it.
    type: str
    default: postgres
    aliases: [db]
  ssl_mode:
    description: libpq C(sslmode) of every connection.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: prefer
  ca_cert:
    description: CA certificate file (libpq C(sslrootcert)) for O(ssl_mode=verify-ca) or O(ssl_mode=verify-full).
    type: path
  ssl_cert:
    description:
      - Client certificate file (libpq C(sslcert)), for servers that authenticate clients by certificate
        (C(cert) in C(pg_hba.conf), or C(clientcert=verify-full)).
    type: path
    version_added: 0.2.0
  ssl_key:
    description:
      - Private key file of O(ssl_cert) (libpq C(sslkey)). libpq refuses a key file that its group or others
        can read.
    type: path
    version_added: 0.2.0
  session_role:
    description:
      - Role to switch to (C(SET ROLE)) after O(login_user) connects; O(login_user) must be a member of it.
        The passwords are read and set with its privileges. Test logins are not affected.
    type: str
    version_added: 0.2.0
  connect_timeout:
    description: Seconds to wait for each connection.
    type: int
    default: 10
'''
