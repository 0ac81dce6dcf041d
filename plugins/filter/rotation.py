# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils import _rotation


def rotation_due(rotation, names=None, force=False, pending=None):
    try:
        return _rotation.due(rotation, names=names, force=bool(force), pending=set(pending or ()))
    except TurnkeyError as exc:
        raise AnsibleFilterError(exc.msg) from None


class FilterModule(object):
    def filters(self):
        return {'rotation_due': rotation_due}
