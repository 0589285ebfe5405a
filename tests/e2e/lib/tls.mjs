// Self-signed certificates for the TLS tests, made by the real openssl: a P-256 key and a certificate for
// localhost and 127.0.0.1, valid for a day. The certificate is its own CA: a client given it as `ca`
// verifies the server, a client without it refuses the server.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const OPENSSL = process.env.OPENSSL_BIN || '/usr/bin/openssl';
export const OPENSSL_MISSING = fs.existsSync(OPENSSL)
  ? false
  : `openssl is not installed (${OPENSSL}): apt-get install openssl`;

// {certFile, keyFile, cert, key} in `dir`, named `name`.
// `san`: the names the certificate is for (a client checks the host it dialled against them).
export function makeCertificate(dir, name = 'server', { cn = 'localhost', san = 'DNS:localhost,IP:127.0.0.1' } = {}) {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const result = spawnSync(OPENSSL, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=${san}`,
  ], { encoding: 'utf8', timeout: 20000 });
  if (result.status !== 0) throw new Error(`openssl req failed: ${result.error?.message || ''}${result.stderr}`);
  return { certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}
