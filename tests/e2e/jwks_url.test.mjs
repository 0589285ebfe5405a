// JWKS from a URL (auth.jwt.jwks_url; docs/operations.md "Webhooks over https, JWKS from a URL"): a real
// https server (node:https, a certificate openssl made for this run, trusted through jwks_ca_file)
// publishes a JWKS as an identity provider or Laravel Passport would, and rotates it. Tokens are minted
// here with node's crypto (RS256 and ES256) and shown to kabar's /api/history with Authorization: Bearer:
// * a token whose kid was published at start is accepted;
// * a key published later is accepted once a token naming its kid made kabar fetch again (the first such
//   request is refused unknown_key: kabar never waits on the network in a request);
// * a kid never published is refused, and a stream of such tokens fetches at most once per
//   jwks_min_refetch_s;
// * the server down: the keys fetched before are still used; a JWKS server with a certificate kabar does
//   not trust is refused (logged), and kabar then has no key.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Kabar, makeTempDir, requireKabarBinary, runKabar, sleep, startMosquitto, track, useHarness, waitUntil,
} from './lib/harness.mjs';
import { OPENSSL_MISSING, makeCertificate } from './lib/tls.mjs';

useHarness();

const MIN_REFETCH_S = 1;

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function signingKey(type, kid) {
  const { privateKey, publicKey } = type === 'RS256'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, alg: type, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: type, use: 'sig' } };
}

// A compact JWS: RS256 is PKCS#1 v1.5 over SHA-256, ES256 the raw r||s of ECDSA P-256 (RFC 7518 §3.4).
function mint(key, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64url({ alg: key.alg, typ: 'JWT', kid: key.kid })}.${b64url({ sub: 'jwks-user', iat: now, exp: now + 600, ...claims })}`;
  const signature = crypto.sign('sha256', Buffer.from(input), key.alg === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

// The identity provider: serves {keys: [...]} of `state.published`; `state.down` answers 503.
async function startJwksServer(cert) {
  const state = { published: [], fetches: 0, down: false };
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    if (req.url !== '/.well-known/jwks.json') { res.writeHead(404).end(); return; }
    state.fetches += 1;
    if (state.down) { res.writeHead(503).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.published.map((k) => k.jwk) }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `https://localhost:${server.address().port}/.well-known/jwks.json`;
  track({ close: () => server.close() });
  return state;
}

describe('auth.jwt.jwks_url', { skip: OPENSSL_MISSING }, () => {
  let dir;
  let cert;
  let broker;
  let idp;
  let kabar;
  const keys = {};

  // /api/history of a public channel: 200 for a valid token, 401 invalid_token with the reason otherwise.
  async function ask(token) {
    const res = await kabar.get('/api/history?channel=dokumen.1', { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, reason: res.status === 200 ? null : JSON.parse(res.body).reason, body: res.body };
  }

  before(async () => {
    requireKabarBinary();
    dir = makeTempDir('kabar-e2e-jwks-');
    cert = makeCertificate(dir, 'idp');
    keys.k1 = signingKey('RS256', 'k1');
    keys.k2 = signingKey('ES256', 'k2');
    keys.never = signingKey('RS256', 'never-published');
    idp = await startJwksServer(cert);
    idp.published = [keys.k1];
    broker = await startMosquitto();
    kabar = await Kabar.create({
      mqttPort: broker.port,
      config: {
        auth: { jwt: { jwks_url: idp.url, jwks_ca_file: cert.certFile, jwks_refresh_s: 3600, jwks_min_refetch_s: MIN_REFETCH_S } },
      },
    });
    await kabar.start();
  });

  after(async () => {
    await kabar?.stop();
    await broker?.stop('SIGKILL');
  });

  test('kid published at start accepted; a key published later accepted after the kid-miss refetch; unknown kids refused, refetches bounded', { timeout: 30000 }, async () => {
    assert.equal(idp.fetches, 1, 'fetched once at start');
    assert.equal((await ask(mint(keys.k1))).status, 200, 'k1 (RS256), published at start');
    const forged = await ask(mint({ ...keys.never, kid: 'k1' }));
    assert.deepEqual([forged.status, forged.reason], [401, 'bad_signature'], 'kid k1 signed with another key');
    assert.equal(idp.fetches, 1, 'a known kid fetches nothing');

    // The provider rotates: k2 (ES256) is published. The refresh is an hour away; a token naming k2 makes
    // kabar fetch again. That request itself is refused (nothing waits on the network in a request).
    idp.published = [keys.k1, keys.k2];
    await sleep(MIN_REFETCH_S * 1000);
    const k2Token = mint(keys.k2);
    const first = await ask(k2Token);
    assert.deepEqual([first.status, first.reason], [401, 'unknown_key'], first.body);
    await waitUntil(async () => (await ask(k2Token)).status === 200, { timeout: 5000, what: 'k2 accepted after the refetch' });
    assert.equal(idp.fetches, 2, 'one refetch');

    // A kid never published: refused, every time; 30 such tokens over ~1.5 s fetch at most twice.
    await sleep(MIN_REFETCH_S * 1000);
    const before = idp.fetches;
    const started = Date.now();
    for (let i = 0; i < 30; i++) {
      const res = await ask(mint(keys.never));
      assert.deepEqual([res.status, res.reason], [401, 'unknown_key']);
      await sleep(50);
    }
    await sleep(300);
    const elapsed = (Date.now() - started) / 1000;
    const refetches = idp.fetches - before;
    assert.ok(refetches >= 1 && refetches <= Math.ceil(elapsed / MIN_REFETCH_S) + 1,
      `unknown kids fetch at most once per ${MIN_REFETCH_S} s: ${refetches} fetches in ${elapsed.toFixed(1)} s`);
    assert.equal((await ask(mint(keys.k1))).status, 200, 'k1 still accepted');

    const log = fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8');
    assert.match(log, /JWKS https:\/\/localhost:\d+\/\.well-known\/jwks\.json: 1 signing key\(s\): k1/);
    assert.match(log, /JWKS https:\/\/localhost:\d+\/\.well-known\/jwks\.json: 2 signing key\(s\): k1, k2/);
    assert.ok(!log.includes(k2Token.split('.')[2]), 'no token in the log');
  });

  test('the JWKS server down: the keys fetched before are still used', { timeout: 20000 }, async () => {
    idp.down = true;
    await sleep(MIN_REFETCH_S * 1000);
    const fetches = idp.fetches;
    // An unknown kid makes kabar try; the failure keeps what it has.
    assert.equal((await ask(mint(keys.never))).status, 401);
    await waitUntil(() => idp.fetches > fetches, { timeout: 5000, what: 'a fetch while the server is down' });
    await waitUntil(() => /fetch failed \(HTTP 503\); keeping the 2 key\(s\) fetched before/.test(fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8')),
      { timeout: 5000, what: 'the failed fetch logged' });
    assert.equal((await ask(mint(keys.k1))).status, 200, 'k1 still accepted while the server is down');
    assert.equal((await ask(mint(keys.k2))).status, 200, 'k2 too');
    idp.down = false;
  });

  test('a JWKS server kabar does not trust gives it no key; bad settings stop it at start', { timeout: 30000 }, async () => {
    // jwks_ca_file left out: the system's CAs do not know the test's certificate.
    const untrusting = await Kabar.create({ mqttPort: broker.port, config: { auth: { jwt: { jwks_url: idp.url } } } });
    await untrusting.start();
    try {
      const res = await untrusting.get('/api/history?channel=dokumen.1', { headers: { authorization: `Bearer ${mint(keys.k1)}` } });
      assert.equal(res.status, 401);
      assert.equal(JSON.parse(res.body).reason, 'unknown_key');
      const log = fs.readFileSync(path.join(untrusting.dir, 'kabar.log'), 'utf8');
      assert.match(log, /JWKS https:\/\/localhost:\d+\/\.well-known\/jwks\.json: fetch failed \(TLS handshake with localhost: .*certificate verify failed.*\); no key yet/);
    } finally {
      await untrusting.stop();
    }

    const file = path.join(dir, 'bad.json');
    for (const [jwt, expected] of [
      [{ jwks_url: 'ftp://idp.test/jwks.json' }, /auth\.jwt\.jwks_url 'ftp:\/\/idp\.test\/jwks\.json' is not http\(s\):\/\/host/],
      [{ jwks_url: 'http://idp.test/jwks.json', jwks_ca_file: cert.certFile }, /jwks_ca_file is for an https:\/\/ jwks_url/],
      [{ jwks_url: idp.url, jwks_ca_file: path.join(dir, 'missing.pem') }, /jwks_ca_file: CA file .*missing\.pem: cannot be read/],
      [{ jwks_url: idp.url, jwks_min_refetch_s: 0 }, /jwks_min_refetch_s/],
    ]) {
      fs.writeFileSync(file, JSON.stringify({ auth: { jwt } }));
      const result = await runKabar(['check-config', '-c', file]);
      assert.equal(result.status, 2, `${JSON.stringify(jwt)}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, expected);
    }
  });
});
