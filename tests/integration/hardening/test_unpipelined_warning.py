"""Issue 12: a secret-bearing module run without pipelining warns (its arguments were on disk)."""

from harness import new_secret


def test_unpipelined_run_warns_and_pipelined_does_not(tmp_path, playbook):
    values = {'token': new_secret()}
    task = {'name': 'env', 'turnkey.secrets.env_file': {'path': str(tmp_path / 'app.env'),
                                                        'values': {'TOKEN': '{{ token }}'}}}
    plain = {'name': 'no secret', 'turnkey.secrets.env_file': {'path': str(tmp_path / 'app.env'), 'remove': ['X']}}
    unpiped = playbook(tasks=[task, plain], secret_vars=values, env={'ANSIBLE_PIPELINING': 'False'})
    warnings = unpiped.task('env')['result'].get('warnings') or []
    assert any('ran without pipelining' in w and 'docs/security.md' in w for w in warnings), warnings
    assert not unpiped.task('no secret')['result'].get('warnings')
    piped = playbook(tasks=[task], secret_vars=values)
    assert not piped.task('env')['result'].get('warnings')
