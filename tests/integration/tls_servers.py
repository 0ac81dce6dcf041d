"""TLS-only PostgreSQL and Redis on loopback, with certificates made by openssl at test time.

``make_certificates(dir)`` makes a throwaway self-signed CA and a server certificate it
signs for ``localhost`` / 127.0.0.1; ``TlsPostgres`` accepts only ``hostssl`` connections
(no ``host`` line in pg_hba.conf), ``TlsRedis`` listens only on its TLS port (``port 0``).
Both are real servers, children of the test process, stopped at teardown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap

from harness import Postgres, Redis, new_secret, wait_for_port

HOSTNAME = 'localhost'


def make_certificates(directory, clients=()):
    """{'ca': path, 'cert': path, 'key': path}: a CA and a server certificate for localhost.

    Each name in ``clients`` also gets a client certificate with that CN, signed by the
    same CA: ``'client:NAME'`` and ``'client_key:NAME'`` (key mode 0600, as libpq wants).
    """
    os.makedirs(directory, exist_ok=True)
    names = ('ca.crt', 'ca.key', 'server.csr', 'server.crt', 'server.key', 'server.ext')
    path = {name: os.path.join(directory, name) for name in names}
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

    def openssl(*args):
        subprocess.run(['openssl'] + list(args), check=True, capture_output=True)

    openssl('req', '-x509', *ec, '-keyout', path['ca.key'], '-out', path['ca.crt'], '-days', '2',
            '-subj', '/CN=turnkey-test-ca-%s' % new_secret(4), '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    openssl('req', *ec, '-keyout', path['server.key'], '-out', path['server.csr'], '-subj', '/CN=' + HOSTNAME)
    with open(path['server.ext'], 'w') as handle:
        handle.write(textwrap.dedent('''\
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature
            extendedKeyUsage = serverAuth
            subjectAltName = DNS:localhost, IP:127.0.0.1
            authorityKeyIdentifier = keyid
            subjectKeyIdentifier = hash
            '''))
    openssl('x509', '-req', '-in', path['server.csr'], '-CA', path['ca.crt'], '-CAkey', path['ca.key'],
            '-CAcreateserial', '-out', path['server.crt'], '-days', '2', '-extfile', path['server.ext'])
    os.chmod(path['server.key'], 0o600)
    out = {'ca': path['ca.crt'], 'cert': path['server.crt'], 'key': path['server.key']}
    for name in clients:
        base = os.path.join(directory, 'client-' + name)
        openssl('req', *ec, '-keyout', base + '.key', '-out', base + '.csr', '-subj', '/CN=' + name)
        with open(base + '.ext', 'w') as handle:
            handle.write('basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n'
                         'extendedKeyUsage = clientAuth\n')
        openssl('x509', '-req', '-in', base + '.csr', '-CA', path['ca.crt'], '-CAkey', path['ca.key'],
                '-CAcreateserial', '-out', base + '.crt', '-days', '2', '-extfile', base + '.ext')
        os.chmod(base + '.key', 0o600)
        out['client:' + name], out['client_key:' + name] = base + '.crt', base + '.key'
    os.unlink(path['ca.key'])  # nothing else is ever signed with it
    return out


class TlsPostgres(Postgres):
    """PostgreSQL 15 with ssl=on and only ``hostssl`` lines: a plain TCP login is refused.

    ``cert_users`` log in over TLS by client certificate only (``cert``: the CN is the
    role name; the server checks it against the test CA).
    """

    def __init__(self, certs, workdir=None, cert_users=()):
        super().__init__(workdir)
        self.host = HOSTNAME
        self.certs = certs
        self.cert_users = cert_users

    def start(self):
        self.initdb()
        # The server reads its key as the postgres user, which must own it (0600).
        for name in ('cert', 'key', 'ca'):
            target = os.path.join(self.data, name + '.cert' if name == 'ca' else 'server.' + name)
            shutil.copy(self.certs[name], target)
            shutil.chown(target, 'postgres', 'postgres')
            os.chmod(target, 0o600)
        with open(os.path.join(self.data, 'pg_hba.conf'), 'w') as handle:
            handle.write('local all postgres peer\n')
            for user in self.cert_users:
                handle.write('hostssl all %s 127.0.0.1/32 cert\n' % user)
            handle.write('hostssl all all 127.0.0.1/32 scram-sha-256\n'
                         'hostssl all all ::1/128 scram-sha-256\n')
        return self.pg_ctl_start('-c ssl=on -c ssl_cert_file=server.cert -c ssl_key_file=server.key '
                                 '-c ssl_ca_file=ca.cert -c log_connections=on')

    def connect(self, user=None, password=None, dbname='postgres', sslmode='verify-full'):
        import psycopg
        return psycopg.connect(host=self.host, port=self.port, user=user or self.admin_user,
                               password=self.admin_password if password is None else password,
                               dbname=dbname, connect_timeout=5, autocommit=True, sslmode=sslmode,
                               sslrootcert=self.certs['ca'])

    def can_login(self, user, password, dbname='postgres', sslmode='verify-full'):
        import psycopg
        try:
            self.connect(user, password, dbname, sslmode=sslmode).close()
            return True
        except psycopg.OperationalError:
            return False

    def ssl_in_use(self, user=None, password=None):
        with self.connect(user, password) as conn:
            return conn.execute('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()').fetchone()[0]


class TlsRedis(Redis):
    """redis-server 7 on a TLS port only (``port 0``); with ``client_cert`` (a make_certificates
    client name) it requires a client certificate from the test CA (``tls-auth-clients yes``)."""

    def __init__(self, workdir, certs, client_cert=None):
        super().__init__(workdir)
        self.host = HOSTNAME
        self.certs = certs
        self.client_cert = client_cert

    def start(self, fresh=True):
        os.makedirs(self.workdir, exist_ok=True)
        if fresh:
            fd = os.open(self.aclfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as handle:
                handle.write('user default off\n')
                handle.write('user %s on >%s ~* &* +@all\n' % (self.admin_user, self.admin_password))
            with open(self.conffile, 'w') as handle:
                handle.write(textwrap.dedent('''\
                    port 0
                    tls-port {port}
                    tls-cert-file {cert}
                    tls-key-file {key}
                    tls-ca-cert-file {ca}
                    tls-auth-clients {auth_clients}
                    bind 127.0.0.1
                    dir {w}
                    aclfile {acl}
                    save ""
                    appendonly no
                    daemonize yes
                    pidfile {w}/redis.pid
                    logfile {w}/redis.log
                    ''').format(port=self.port, cert=self.certs['cert'], key=self.certs['key'], ca=self.certs['ca'],
                                w=self.workdir, acl=self.aclfile, auth_clients='yes' if self.client_cert else 'no'))
        subprocess.run(['redis-server', self.conffile], check=True, capture_output=True)
        wait_for_port(self.port)
        return self

    def client(self, user=None, password=None, tls=True):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        extra = dict(ssl=True, ssl_ca_certs=self.certs['ca'], ssl_cert_reqs='required',
                     ssl_check_hostname=True) if tls else {}
        if tls and self.client_cert:
            extra.update(ssl_certfile=self.certs['client:' + self.client_cert],
                         ssl_keyfile=self.certs['client_key:' + self.client_cert])
        return redis.Redis(host=self.host, port=self.port, username=user or self.admin_user,
                           password=self.admin_password if password is None else password, socket_timeout=5,
                           socket_connect_timeout=5, retry=Retry(NoBackoff(), 0), **extra)

    def can_login(self, user, password, tls=True):
        import redis
        try:
            return bool(self.client(user, password, tls=tls).ping())
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):
            return False

    def plain_refused(self):
        """True when a client without TLS gets no answer (the port speaks TLS only)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        plain = redis.Redis(host=self.host, port=self.port, socket_timeout=5, socket_connect_timeout=5,
                            retry=Retry(NoBackoff(), 0))  # no credentials: nothing sent in clear
        try:
            plain.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            return True
        return False
