# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module edge: turn domain exceptions into ``fail_json`` without tracebacks or secrets."""

from __future__ import annotations

import traceback

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import redact, redact_obj


def secret_values_of(module, extra=()):
    """Every value of a ``no_log`` option (also inside list-form suboptions) plus ``extra``."""
    values = list(getattr(module, 'no_log_values', ()) or ())
    values.extend(v for v in extra if v is not None)
    return values


def run_module(module, main, extra_secrets=()):
    """Call ``main(module)`` (which returns the result dict) and exit the module.

    A ``TurnkeyError`` becomes ``fail_json(msg=...)``; anything else becomes a short
    message naming the exception type, with the traceback kept only at high verbosity
    and always passed through the redactor.
    """
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
