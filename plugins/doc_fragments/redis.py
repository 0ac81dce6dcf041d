# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # The connection options of _redis.CONNECTION_SPEC; keep the two in step (sanity checks it).
    DOCUMENTATION = r'''
options:
  login_host:
    description: Host name or address of the server.
    type: str
    default: localhost
  login_port:
    description: Port of the server.
    type: int
    default: 6379
  login_user:
    description:
      - ACL user the module authenticates as. It needs C(+acl) (or C(+@admin)) and, for O(persist),
        C(+config) (C(CONFIG GET), C(CONFIG REWRITE)).
      - Omitted means password-only C(AUTH), that is the C(default) user.
    type: str
  login_password:
    description: Password of O(login_user).
    type: str
  tls:
    description: Connect with TLS.
    type: bool
    default: false
  validate_certs:
    description: Verify the server certificate when O(tls=true).
    type: bool
    default: true
  ca_certs:
    description: CA certificates file for O(tls=true).
    type: path
  client_cert_file:
    description:
      - Client certificate file (PEM) sent in the TLS handshake, for servers that require one
        (C(tls-auth-clients yes)). Needs O(tls=true).
    type: path
    version_added: 0.2.0
  client_key_file:
    description:
      - Private key file of O(client_cert_file) (PEM, unencrypted); it may also be in O(client_cert_file).
    type: path
    version_added: 0.2.0
  connect_timeout:
    description: Seconds to wait for a connection or an answer.
    type: int
    default: 10
'''
