"""Test-only callback: append each task result as a JSON line to $TURNKEY_TEST_RESULTS.

Tests read ``changed``/``failed`` from here instead of scraping the text output; the
file is leak-checked like the output.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: results_file
type: aggregate
short_description: write task results to a JSON lines file for the test suite
description: Test-only.
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'results_file'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._task_started = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started = time.time()

    def _write(self, result, status):
        path = os.environ.get('TURNKEY_TEST_RESULTS')
        if not path:
            return
        res = result._result  # pylint: disable=protected-access
        record = {
            'host': result._host.get_name(),  # pylint: disable=protected-access
            'task': result._task.get_name(),  # pylint: disable=protected-access
            'status': status,
            'changed': bool(res.get('changed', False)),
            'failed': status in ('failed', 'unreachable'),
            'skipped': status == 'skipped',
            'result': json.loads(json.dumps(res, default=str)),
            # Wall clock of the task (benchmarks): from its start to this result.
            'started': self._task_started,
            'ended': time.time(),
        }
        with open(path, 'a') as handle:
            handle.write(json.dumps(record) + '\n')

    def v2_runner_on_ok(self, result):
        self._write(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._write(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._write(result, 'unreachable')
