// Webhooks over https (docs/operations.md "Webhooks over https, JWKS from a URL"): kabar POSTs to real
// https receivers (node:https with certificates openssl made for this run) and verifies them:
// * a receiver whose certificate chains to the webhook's ca_file gets the signed body;
// * the same kind of receiver with another CA as ca_file, a certificate for another host name, or no
//   ca_file (the system's CAs do not know the test's certificate) is refused at the TLS handshake: the
//   receiver never sees a request, kabar logs a warning that says why, kabar_webhooks_failed_total counts;
// * a ca_file on an http:// url, or one that is not a readable PEM file, stops kabar at start (exit 2).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { makeTempDir, metricSum, requireKabarBinary, runKabar, track, useHarness, waitUntil } from './lib/harness.mjs';
import { OPENSSL_MISSING, makeCertificate } from './lib/tls.mjs';
import { hmac, rawPusher, startStack } from './pusher-helpers.mjs';

useHarness();

const APP = { id: 'hooks', key: 'hooks-key', secret: 'hooks-secret-for-the-e2e-test' };

// An https receiver with `cert`; records the bodies it gets and the TLS handshakes that failed on its side.
async function startReceiver(cert) {
  const state = { bodies: [], tlsErrors: [] };
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    let raw = '';
    req.on('data', (chunk) => { raw += chunk; });
    req.on('end', () => {
      state.bodies.push({ raw, headers: req.headers, body: JSON.parse(raw) });
      res.writeHead(200).end('{}');
    });
  });
  server.on('tlsClientError', (error) => state.tlsErrors.push(error.message));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = server.address().port;
  track({ close: () => server.close() });
  return state;
}

describe('webhooks over https', { skip: OPENSSL_MISSING }, () => {
  let dir;
  let certs;
  let kabar;
  const receivers = {};

  before(async () => {
    requireKabarBinary();
    dir = makeTempDir('kabar-e2e-hooks-tls-');
    certs = {
      server: makeCertificate(dir, 'server'),
      other: makeCertificate(dir, 'other-ca', { cn: 'another CA' }),
      wrongHost: makeCertificate(dir, 'wrong-host', { cn: 'wrong.example', san: 'DNS:wrong.example' }),
    };
    for (const name of ['verified', 'otherCa', 'systemCas']) receivers[name] = await startReceiver(certs.server);
    receivers.wrongHost = await startReceiver(certs.wrongHost);
    const app = {
      ...APP,
      webhooks: [
        { url: `https://localhost:${receivers.verified.port}/pusher/webhooks`, ca_file: certs.server.certFile },
        { url: `https://localhost:${receivers.otherCa.port}/pusher/webhooks`, ca_file: certs.other.certFile },
        { url: `https://localhost:${receivers.systemCas.port}/pusher/webhooks` },
        { url: `https://localhost:${receivers.wrongHost.port}/pusher/webhooks`, ca_file: certs.wrongHost.certFile },
      ],
    };
    ({ kabar } = await startStack({ apps: [app] }));
  });

  test('a verified receiver gets the signed body; a wrong CA, the system CAs and a wrong host name are refused at the handshake', { timeout: 30000 }, async () => {
    const client = await rawPusher(kabar, { key: APP.key });
    await client.waitFrame((f) => f.event === 'pusher:connection_established');
    client.send({ event: 'pusher:subscribe', data: { channel: 'hooks-tls' } });
    await waitUntil(() => receivers.verified.bodies.length > 0, { timeout: 10000, what: 'the webhook over https' });
    const [first] = receivers.verified.bodies;
    assert.deepEqual(first.body.events, [{ name: 'channel_occupied', channel: 'hooks-tls' }]);
    assert.equal(first.headers['x-pusher-signature'], hmac(APP.secret, first.raw));
    assert.equal(first.headers.host, `localhost:${receivers.verified.port}`);

    // Each refused receiver: a handshake kabar broke off (the receiver saw it fail), never a request.
    const log = () => fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8');
    for (const name of ['otherCa', 'systemCas', 'wrongHost']) {
      await waitUntil(() => receivers[name].tlsErrors.length > 0, { timeout: 10000, what: `${name}: kabar's handshake to fail` });
      assert.equal(receivers[name].bodies.length, 0, `${name}: no body was sent`);
      const port = receivers[name].port;
      await waitUntil(() => new RegExp(`webhook to https://localhost:${port}/pusher/webhooks failed \\(TLS handshake with localhost: .*certificate verify failed`).test(log()),
        { timeout: 5000, what: `${name}: a warning that says the certificate was refused` });
    }
    assert.match(log(), new RegExp(`localhost:${receivers.systemCas.port}/pusher/webhooks failed \\(TLS handshake with localhost: .*self[- ]signed certificate`));
    assert.match(log(), new RegExp(`localhost:${receivers.wrongHost.port}/pusher/webhooks failed \\(TLS handshake with localhost: .*\\(hostname mismatch\\)`));
    const failed = metricSum(await kabar.metrics(), (s) => s.name === 'kabar_webhooks_failed_total');
    assert.ok(failed >= 3, `kabar_webhooks_failed_total counts the refusals (${failed})`);
    client.close();
  });

  test('a ca_file on an http:// url, or one that holds no certificate, stops kabar at start', async () => {
    const notPem = path.join(dir, 'not-a-ca.pem');
    fs.writeFileSync(notPem, 'not a certificate\n');
    for (const [hook, expected] of [
      [{ url: 'http://127.0.0.1:9/hooks', ca_file: certs.server.certFile }, /only https:\/\/ webhook urls use a CA file/],
      [{ url: 'https://127.0.0.1:9/hooks', ca_file: notPem }, /CA file .*not-a-ca\.pem: not PEM certificates/],
      [{ url: 'https://127.0.0.1:9/hooks', ca_file: path.join(dir, 'missing.pem') }, /CA file .*missing\.pem: cannot be read/],
    ]) {
      const file = path.join(dir, 'bad.json');
      fs.writeFileSync(file, JSON.stringify({ apps: [{ ...APP, webhooks: [hook] }] }));
      const result = await runKabar(['check-config', '-c', file]);
      assert.equal(result.status, 2, `${JSON.stringify(hook)}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, expected);
    }
  });
});
