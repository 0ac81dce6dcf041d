# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain exceptions raised by module_utils and converted once at the module edge."""

from __future__ import annotations


class TurnkeyError(Exception):
    """A failure the user can act on. ``msg`` must never contain a secret value."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        # Extra keys for fail_json (e.g. ``path``, ``errcode``); never secret values.
        self.details = details


class InputError(TurnkeyError):
    """Bad option values: nothing was changed."""


class CommandError(TurnkeyError):
    """An external command failed; its output has already been redacted."""

    def __init__(self, msg, rc=None, stdout='', stderr='', **details):
        super().__init__(msg, rc=rc, stdout=stdout, stderr=stderr, **details)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
