"""Helpers for the podman secret tests: real podman, names under the session prefix."""

import json

import pytest


class Secrets(object):
    def __init__(self, podman):
        self.podman = podman
        self.prefix = podman.prefix

    def name(self, suffix):
        return self.prefix + suffix

    def labels(self, name):
        out = self.podman('secret', 'inspect', '--format', '{{json .Spec.Labels}}', name).stdout
        return json.loads(out)

    def exists(self, name):
        names = self.podman('secret', 'ls', '--format', '{{.Name}}').stdout.decode().split()
        return name in names

    def container_id(self, name):
        return self.podman('container', 'inspect', '--format', '{{.Id}}', name).stdout.decode().strip()

    def read(self, container, path):
        return self.podman('exec', container, 'cat', path).stdout.decode()

    def env(self, container, var):
        return self.podman('exec', container, 'printenv', var).stdout.decode().rstrip('\n')


@pytest.fixture
def pm(podman):
    return Secrets(podman)
