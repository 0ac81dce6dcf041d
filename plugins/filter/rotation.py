# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils import _rotation


def _domain_errors(filter_function):
    """Turn the rotation helpers' TurnkeyError into a filter error, once for every filter."""
    @functools.wraps(filter_function)
    def wrapper(*args, **kwargs):
        try:
            return filter_function(*args, **kwargs)
        except TurnkeyError as exc:
            raise AnsibleFilterError(exc.msg) from None
    return wrapper


@_domain_errors
def rotation_due(rotation, names=None, force=False, pending=None):
    return _rotation.due(rotation, names=names, force=bool(force), pending=set(pending or ()))


@_domain_errors
def rotation_plan(catalogue, rotation=None, run_tags=None, force=False, defined_vars=None):
    return _rotation.plan(catalogue, rotation or {}, run_tags=run_tags or ['all'], force=bool(force),
                          defined_vars=defined_vars or [])


@_domain_errors
def rotation_outcome(rotation_plan_, due_names, hostvars, groups):
    done = {host: list(hostvars[host].get('rotation_done') or []) for host in hostvars}
    return _rotation.outcome(rotation_plan_, list(due_names or []), done, dict(groups))


@_domain_errors
def rotation_promotion(rotation_plan_, names, new_values, current, bounds=None):
    return _rotation.promotion(rotation_plan_, list(names or []), dict(new_values or {}), dict(current or {}), bounds)


@_domain_errors
def rotation_resolve(spec, current, variables):
    return _rotation.resolve(spec, dict(current or {}), variables)


@_domain_errors
def rotation_resolve_items(items, current, variables, source_key='var', value_key='data'):
    return _rotation.resolve_items(items, dict(current or {}), variables, source_key, value_key)


@_domain_errors
def rotation_items(rotation_plan_, kind, due_names, catalogue, new_values, variables):
    return _rotation.items(rotation_plan_, kind, list(due_names or []), dict(catalogue or {}),
                           dict(new_values or {}), variables)


class FilterModule(object):
    def filters(self):
        return {'rotation_due': rotation_due, 'rotation_plan': rotation_plan, 'rotation_outcome': rotation_outcome,
                'rotation_promotion': rotation_promotion, 'rotation_resolve': rotation_resolve,
                'rotation_resolve_items': rotation_resolve_items, 'rotation_items': rotation_items}
