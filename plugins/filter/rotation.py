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


def rotation_plan(catalogue, rotation=None, run_tags=None, force=False, defined_vars=None):
    try:
        return _rotation.plan(catalogue, rotation or {}, run_tags=run_tags or ['all'], force=bool(force),
                              defined_vars=defined_vars or [])
    except TurnkeyError as exc:
        raise AnsibleFilterError(exc.msg) from None


def rotation_outcome(rotation_plan_, due_names, hostvars, groups):
    done = {}
    for host in hostvars:
        done[host] = list(hostvars[host].get('rotation_done') or [])
    try:
        return _rotation.outcome(rotation_plan_, list(due_names or []), done, dict(groups))
    except TurnkeyError as exc:
        raise AnsibleFilterError(exc.msg) from None


def rotation_promotion(rotation_plan_, names, new_values, current, bounds=None):
    try:
        return _rotation.promotion(rotation_plan_, list(names or []), dict(new_values or {}), dict(current or {}), bounds)
    except TurnkeyError as exc:
        raise AnsibleFilterError(exc.msg) from None


def rotation_resolve(spec, current, variables):
    try:
        return _rotation.resolve(spec, dict(current or {}), variables)
    except TurnkeyError as exc:
        raise AnsibleFilterError(exc.msg) from None


def rotation_resolve_items(items, current, variables, source_key='var', value_key='data'):
    try:
        return _rotation.resolve_items(items, dict(current or {}), variables, source_key, value_key)
    except TurnkeyError as exc:
        raise AnsibleFilterError(exc.msg) from None


def rotation_items(rotation_plan_, kind, due_names, catalogue, new_values, variables):
    try:
        return _rotation.items(rotation_plan_, kind, list(due_names or []), dict(catalogue or {}),
                               dict(new_values or {}), variables)
    except TurnkeyError as exc:
        raise AnsibleFilterError(exc.msg) from None


class FilterModule(object):
    def filters(self):
        return {'rotation_due': rotation_due, 'rotation_plan': rotation_plan, 'rotation_outcome': rotation_outcome,
                'rotation_promotion': rotation_promotion, 'rotation_resolve': rotation_resolve,
                'rotation_resolve_items': rotation_resolve_items, 'rotation_items': rotation_items}
