"""After converge: nginx (workers as www-data) takes the new admin password and refuses the old one."""

import base64
import os
import urllib.error
import urllib.request

import pytest
import yaml


@pytest.fixture(scope='module')
def values():
    path = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'htpasswd-values.yml')
    with open(path) as handle:
        return yaml.safe_load(handle)


def status(values, user, password):
    request = urllib.request.Request('http://127.0.0.1:%d/' % values['molecule_port'])  # noqa: S310 - loopback only
    request.add_header('Authorization', 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_file_is_root_www_data_0640(host, values):
    htpasswd = host.file(values['molecule_dir'] + '/htpasswd')
    assert htpasswd.user == 'root'
    assert htpasswd.group == 'www-data'
    assert htpasswd.mode == 0o640


def test_file_holds_bcrypt_2y_hashes_and_no_password(host, values):
    content = host.file(values['molecule_dir'] + '/htpasswd').content_string
    assert [line.split(':')[0] for line in content.splitlines()] == ['admin', 'viewer']
    assert all(line.split(':', 1)[1].startswith('$2y$10$') for line in content.splitlines())
    for key in ('molecule_admin_old', 'molecule_admin_new', 'molecule_viewer'):
        assert values[key] not in content


def test_nginx_takes_the_new_password_only(values):
    assert status(values, 'admin', values['molecule_admin_new']) == 200
    assert status(values, 'admin', values['molecule_admin_old']) == 401
    assert status(values, 'viewer', values['molecule_viewer']) == 200
    assert status(values, 'viewer', values['molecule_admin_new']) == 401
