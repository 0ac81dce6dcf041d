"""After converge: every blob opens with the new password only, with the stock CLI."""

import os

import pytest
import yaml

DIR = os.path.join(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', '/nonexistent'), 'vault-env')


@pytest.fixture(scope='module')
def values():
    with open(os.path.join(DIR, 'values.yml')) as handle:
        return yaml.safe_load(handle)


def view(host, password_file, path):
    return host.run('PAGER=cat ansible-vault view --vault-id molecule@%s %s', password_file, path)


def test_password_file_holds_the_new_password(host, values):
    current = host.file(os.path.join(DIR, 'vault_pass'))
    assert current.content_string.strip() == values['molecule_new_password']
    assert current.mode == 0o600
    assert host.file(os.path.join(DIR, 'vault_pass.old')).content_string.strip() == values['molecule_old_password']
    assert not host.file(os.path.join(DIR, 'vault_pass.new')).exists


def test_vault_file_opens_with_the_new_password_only(host, values):
    path = os.path.join(DIR, 'inventory/group_vars/all/vault.yml')
    out = view(host, os.path.join(DIR, 'vault_pass'), path)
    assert out.rc == 0 and yaml.safe_load(out.stdout) == {'vault_db_password': values['molecule_db_password']}
    assert view(host, os.path.join(DIR, 'vault_pass.old'), path).rc != 0
    assert host.file(path).content_string.startswith('$ANSIBLE_VAULT;1.2;AES256;molecule\n')


def test_inline_value_rekeyed_and_comments_kept(host, values, tmp_path):
    text = host.file(os.path.join(DIR, 'inventory/group_vars/all/main.yml')).content_string
    assert text.startswith('---\n# Plain settings with one inline secret.\nhttp_port: 8080\napi_token: !vault |\n')
    assert text.endswith('\n# end\n')
    blob = '\n'.join(line.strip() for line in text.split('!vault |\n')[1].split('\n# end')[0].split('\n'))
    blob_file = tmp_path / 'blob'
    blob_file.write_text(blob + '\n')
    out = view(host, os.path.join(DIR, 'vault_pass'), str(blob_file))
    assert out.rc == 0 and out.stdout.rstrip('\n') == values['molecule_api_token']
