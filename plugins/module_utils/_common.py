# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module edge: turn domain exceptions into ``fail_json`` without tracebacks or secrets."""

from __future__ import annotations

import os
import sys
import traceback

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import redact, redact_obj


def secret_values_of(module, extra=()):
    """Every value of a ``no_log`` option (also inside list-form suboptions) plus ``extra``."""
    values = list(getattr(module, 'no_log_values', ()) or ())
    values.extend(v for v in extra if v is not None)
    return values


def unpipelined_wrapper():
    """Path of the ``AnsiballZ_*.py`` file this module was started from, or None.

    With pipelining the wrapper comes on the interpreter's stdin (its frame's file is
    ``<stdin>``); without it, ansible wrote the wrapper, module arguments included, to a
    file under remote_tmp, where a killed run leaves it.
    """
    frame = sys._getframe()
    outer = None
    while frame is not None:
        outer = frame.f_globals.get('__file__') or outer
        frame = frame.f_back
    if outer and os.path.basename(outer).startswith('AnsiballZ_'):
        return outer
    return None


def warn_if_unpipelined(module):
    """Warn when a module holding secret values was not pipelined (see docs/security.md)."""
    if not getattr(module, 'no_log_values', None):
        return
    wrapper = unpipelined_wrapper()
    if wrapper:
        module.warn('this task ran without pipelining, so ansible wrote its arguments, secret values included, to %s; '
                    'a run killed now leaves them there. Set pipelining = True under [defaults] and [connection] in '
                    'ansible.cfg (see docs/security.md of turnkey.secrets)' % os.path.dirname(wrapper))


def run_module(module, main, extra_secrets=()):
    """Call ``main(module)`` (which returns the result dict) and exit the module.

    A ``TurnkeyError`` becomes ``fail_json(msg=...)``; anything else becomes a short
    message naming the exception type, with the traceback kept only at high verbosity
    and always passed through the redactor.
    """
    warn_if_unpipelined(module)
    try:
        result = main(module)
    except TurnkeyError as exc:
        secrets = secret_values_of(module, extra_secrets)
        details = redact_obj(dict(exc.details), secrets)
        details.pop('msg', None)
        module.fail_json(msg=redact(exc.msg, secrets), **details)
    except Exception as exc:  # pylint: disable=broad-except
        secrets = secret_values_of(module, extra_secrets)
        module.fail_json(
            msg=redact('unexpected %s: %s' % (type(exc).__name__, exc), secrets),
            exception=redact(traceback.format_exc(), secrets))
    module.exit_json(**result)
