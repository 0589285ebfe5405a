// Debian's nginx on loopback with the compose config (compose/nginx.conf): its upstream, locations and
// headers as they are, only the gateways' addresses, the ports, the log files and (with `tls`) the
// certificate rewritten. One process (master_process off), so stopping its pid stops all of nginx.
// Used by failover_nginx.test.mjs and tls_proxy.test.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { KABAR_SOURCE_DIR, freePort, makeTempDir, startChild, waitForTcp } from './harness.mjs';

export const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
export const NGINX_MISSING = fs.existsSync(NGINX)
  ? false
  : `nginx is not installed (${NGINX}): apt-get install nginx (scripts/setup.sh --test does)`;

// Replaces `from` in `text`, failing when compose/nginx.conf no longer has it (the test would silently
// stop testing what it claims).
function swap(text, from, to) {
  assert.ok(text.includes(from), `compose/nginx.conf has "${from}"`);
  return text.replace(from, to);
}

// `upstreams`: the gateways' ports (server gateway1, gateway2). `tls`: {port, certFile, keyFile}: the
// config's commented TLS lines are turned on, on that port.
export function nginxConfig(dir, port, upstreams, { tls } = {}) {
  let site = fs.readFileSync(path.join(KABAR_SOURCE_DIR, 'compose/nginx.conf'), 'utf8');
  assert.doesNotMatch(site, /^\s*ip_hash/m, 'the compose nginx config keeps no client on one node');
  site = swap(site, 'server gateway1:8080', `server 127.0.0.1:${upstreams[0]}`);
  site = swap(site, 'server gateway2:8080', `server 127.0.0.1:${upstreams[1] ?? upstreams[0]}`);
  site = swap(site, 'listen 80;', `listen 127.0.0.1:${port};`);
  site = swap(site, '/var/log/nginx/access.log', path.join(dir, 'access.log'));
  site = swap(site, '/var/log/nginx/error.log', path.join(dir, 'error.log'));
  if (tls) {
    site = swap(site, '# listen 443 ssl;', `listen 127.0.0.1:${tls.port} ssl;`);
    site = swap(site, '# ssl_certificate /etc/nginx/certs/kabar.crt;', `ssl_certificate ${tls.certFile};`);
    site = swap(site, '# ssl_certificate_key /etc/nginx/certs/kabar.key;', `ssl_certificate_key ${tls.keyFile};`);
    site = swap(site, '# ssl_protocols', 'ssl_protocols');
  }
  const temp = (name) => `${name}_temp_path ${path.join(dir, name)};`;
  return `daemon off;
master_process off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} crit;
events {}
http {
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
${site}
}
`;
}

// Starts nginx in front of `upstreams`; {child, port, tlsPort, dir}. Stop it with child.stop().
export async function startNginx(upstreams, { tls } = {}) {
  const dir = makeTempDir('kabar-e2e-nginx-');
  const port = await freePort();
  const tlsOptions = tls ? { ...tls, port: await freePort() } : undefined;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, port, upstreams, { tls: tlsOptions }));
  const child = startChild('nginx', NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')],
    { logFile: path.join(dir, 'nginx.out') });
  await waitForTcp(port, { what: 'nginx' });
  if (tlsOptions) await waitForTcp(tlsOptions.port, { what: 'nginx (TLS)' });
  return { child, port, tlsPort: tlsOptions?.port, dir };
}
