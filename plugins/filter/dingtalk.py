# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.turnkey.secrets.plugins.module_utils._dingtalk import sign, verify_callback
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError


def dingtalk_sign(secret, timestamp=None):
    try:
        return sign(str(secret) if secret is not None else secret, timestamp)
    except TurnkeyError as exc:
        raise AnsibleFilterError(exc.msg) from None


def dingtalk_verify(headers, app_secret, max_skew=3600):
    if not isinstance(headers, dict):
        raise AnsibleFilterError('dingtalk_verify expects the request headers as a dict (timestamp, sign)')
    try:
        return verify_callback(headers, str(app_secret) if app_secret is not None else app_secret, max_skew)
    except TurnkeyError as exc:
        raise AnsibleFilterError(exc.msg) from None


class FilterModule(object):
    def filters(self):
        return {'dingtalk_sign': dingtalk_sign, 'dingtalk_verify': dingtalk_verify}
