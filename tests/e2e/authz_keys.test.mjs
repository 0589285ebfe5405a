// The keys other than an HS256 secret, through the real binary and the real mosquitto plugin: RS256 and
// ES256 PEM keys and a JWKS file (made with `openssl genpkey` here), tokens minted by `kabar token --key`,
// iss/aud enforced, and a custom policy file that kabar and the plugin both load and decide alike at
// /sse and at MQTT subscribe. Two ways to hand the plugin its keys: kabar's own config (auth.jwt, passed
// on to the embedded broker) and plugin_opt_jwt_* written by hand for a mosquitto kabar does not run.
//
// Then the operator's tools: `kabar check-config` on policies (a mistake names the file, the line and
// the reason), `kabar authz explain`, `check-config --print` without secrets, and webhook URLs logged
// without their credentials.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  KABAR_BIN, Kabar, Mosquitto, freePort, makeTempDir, requireKabarBinary, runKabar, track, useHarness, waitUntil,
  withTimeout,
} from './lib/harness.mjs';
import { RawSse, mqttWithToken } from './lib/clients.mjs';

useHarness();

const PLUGIN = path.join(path.dirname(KABAR_BIN), 'kabar_auth_plugin.so');
const ISSUER = 'https://laravel.test';
const AUDIENCE = 'kabar';

let dir;
const file = (name) => path.join(dir, name);

// ---- helpers ---------------------------------------------------------------------------------------

function run(command, args, timeout = 15000) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

// A private key and its public half as PEM files: "rsa" (2048 bits, RS256) or "ec" (P-256, ES256).
async function keyPair(name, type) {
  const options = type === 'rsa' ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
    : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await run('openssl', ['genpkey', ...options, '-out', file(`${name}.pem`)]);
  await run('openssl', ['pkey', '-in', file(`${name}.pem`), '-pubout', '-out', file(`${name}.pub.pem`)]);
  return { private: file(`${name}.pem`), public: file(`${name}.pub.pem`) };
}

// A JWK of a public PEM key, for a JWKS file.
const jwkOf = (pem, kid, alg) => ({ ...crypto.createPublicKey(fs.readFileSync(pem)).export({ format: 'jwk' }), kid, alg, use: 'sig' });

// `kabar token --key`: the CLI is what a developer would use, so it is what mints here too.
async function mint(key, { sub, role, cabang, kid, iss = ISSUER, aud = AUDIENCE, ttl = 600 }) {
  const args = ['token', '--key', key, '--sub', sub, '--ttl', String(ttl)];
  if (role) args.push('--role', role);
  if (cabang) args.push('--cabang', cabang);
  if (kid) args.push('--kid', kid);
  if (iss) args.push('--iss', iss);
  if (aud) args.push('--aud', aud);
  const result = await runKabar(args);
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

const headerOf = (token) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());

// MQTT 5 so refusals come back as reason codes; no reconnects, so a refusal is final.
const mqttAs = (port, token) => mqttWithToken(`mqtt://127.0.0.1:${port}`, token);
const notAuthorized = (error) => error.code === 135 || error.code === 134 || /authori|bad user/i.test(error.message);

// 0 when granted, else the SUBACK reason code.
async function subscribeCode(client, topic) {
  try {
    await withTimeout(client.subscribeAsync(topic, { qos: 1 }), 5000, `SUBACK for ${topic}`);
    return 0;
  } catch (error) {
    const code = error.packet?.granted?.[0] ?? error.code;
    if (typeof code !== 'number') throw error;
    return code;
  }
}

// GET /sse for one channel: the stream when it opens (status 200), else the status and the JSON answer.
async function sse(kabar, channel, token) {
  const stream = await RawSse.open(kabar.url(`/sse?channel=${channel}`), { headers: { Authorization: `Bearer ${token}` } });
  if (stream.status === 200) return { status: 200, stream };
  await stream.waitEnd(5000);
  return { status: stream.status, body: JSON.parse(stream.text) };
}

// A policy unlike the built-in one: a cashier may read her branch's transactions (built in: the admin's
// only) and never the takings (built in: hers to read); the backend may do everything.
const CUSTOM_POLICY = {
  version: 1,
  roles: ['kasir', 'backend'],
  rules: [
    { name: 'kasir-transaksi', roles: ['kasir'], actions: ['read'], channels: ['private-cabang.{cabang}.admin'],
      topics: ['cabang/{cabang}/transaksi'], where: { cabang: { in_claim: 'cabang' } } },
    { name: 'no-omset', effect: 'deny', roles: ['kasir'], actions: ['read'], channels: ['private-cabang.{cabang}'],
      topics: ['cabang/{cabang}/omset'] },
    { name: 'backend', roles: ['backend'], actions: ['read', 'publish'], channels: ['*'], topics: ['#'] },
  ],
};

// What the custom policy says to a cashier of branch 3, and on which topic each channel is fed.
const CASHIER_CELLS = [
  { channel: 'private-cabang.3.admin', topic: 'cabang/3/transaksi', allowed: true },
  { channel: 'private-cabang.3', topic: 'cabang/3/omset', allowed: false, reason: 'denied' },
  { channel: 'private-cabang.7.admin', topic: 'cabang/7/transaksi', allowed: false, reason: 'claim_mismatch' },
];

// The same decision at /sse and at MQTT subscribe, cell by cell; then an allowed cell gets a real event at
// both doors, published by the backend through the same broker.
async function assertSameDecisions(kabar, mqttPort, cashier, backend, eventId) {
  const kasir = await mqttAs(mqttPort, cashier);
  const received = [];
  kasir.on('message', (topic, payload) => received.push({ topic, payload: JSON.parse(payload) }));
  const streams = [];
  for (const { channel, topic, allowed, reason } of CASHIER_CELLS) {
    const answer = await sse(kabar, channel, cashier);
    const code = await subscribeCode(kasir, topic);
    if (allowed) {
      assert.equal(answer.status, 200, `/sse ${channel}: ${JSON.stringify(answer.body)}`);
      assert.equal(code, 0, `MQTT subscribe ${topic} granted like /sse ${channel}`);
      streams.push({ channel, stream: answer.stream });
    } else {
      assert.equal(answer.status, 403, `/sse ${channel}`);
      assert.deepEqual([answer.body.error, answer.body.reason], ['forbidden_channel', reason], JSON.stringify(answer.body));
      assert.equal(code, 135, `MQTT subscribe ${topic} refused (0x87) like /sse ${channel}`);
    }
  }
  const publisher = await mqttAs(mqttPort, backend);
  const data = { transaksi: { id: 1, nomor: 'INV-1', total: 5 } };
  await withTimeout(publisher.publishAsync('cabang/3/transaksi', JSON.stringify({ id: eventId, data }), { qos: 1 }), 5000, 'PUBACK');
  for (const { channel, stream } of streams) {
    await stream.waitMessage((frame) => frame.type === 'event' && frame.id === eventId, { timeout: 5000, what: `${eventId} at /sse ${channel}` });
    stream.close();
  }
  await waitUntil(() => received.some((m) => m.topic === 'cabang/3/transaksi' && m.payload.id === eventId),
    { timeout: 5000, what: `${eventId} at the MQTT subscriber` });
  assert.ok(!received.some((m) => m.topic !== 'cabang/3/transaksi'), 'nothing refused reached MQTT');
  kasir.end(true);
  publisher.end(true);
}

// A token refused at /sse with `reason`, and at the broker's CONNECT.
async function assertRefusedToken(kabar, mqttPort, token, reason) {
  const answer = await sse(kabar, 'dokumen.1', token);
  assert.equal(answer.status, 401, `${reason}: ${JSON.stringify(answer.body)}`);
  assert.deepEqual([answer.body.error, answer.body.reason], ['invalid_token', reason]);
  await assert.rejects(mqttAs(mqttPort, token), notAuthorized, `${reason}: MQTT CONNECT refused`);
}

const keys = {};

before(async () => {
  requireKabarBinary();
  assert.ok(fs.existsSync(PLUGIN), `the broker plugin is built next to kabar: ${PLUGIN}`);
  dir = makeTempDir('kabar-e2e-keys-');
  [keys.rsa, keys.ec, keys.ec2, keys.stranger] = await Promise.all([
    keyPair('rsa', 'rsa'), keyPair('ec', 'ec'), keyPair('ec2', 'ec'), keyPair('stranger', 'ec'),
  ]);
  fs.writeFileSync(file('jwks.json'), JSON.stringify({
    keys: [jwkOf(keys.rsa.public, 'r1', 'RS256'), jwkOf(keys.ec2.public, 'e2', 'ES256')],
  }, null, 2));
  fs.writeFileSync(file('custom-policy.json'), JSON.stringify(CUSTOM_POLICY, null, 2));
});

// ---- keys from kabar's config: RS256, iss/aud, the custom policy, all handed on to the embedded broker --

describe('RS256 key, issuer, audience and a custom policy in the config (embedded broker)', () => {
  let kabar;
  let mqttPort;
  before(async () => {
    mqttPort = await freePort();
    kabar = await Kabar.create({
      mqttPort,
      config: {
        broker: { embedded: true },
        auth: {
          policy_file: file('custom-policy.json'),
          jwt: { public_key_file: keys.rsa.public, issuer: ISSUER, audience: AUDIENCE, clock_skew_s: 0 },
        },
      },
    });
    await kabar.start();
  });

  test('the embedded broker is handed the same key, issuer, audience and policy', () => {
    const conf = fs.readFileSync(path.join(kabar.dataDir, 'broker', 'mosquitto.conf'), 'utf8');
    assert.match(conf, new RegExp(`^plugin_opt_policy ${file('custom-policy.json')}$`, 'm'));
    assert.match(conf, new RegExp(`^plugin_opt_jwt_public_key ${keys.rsa.public}$`, 'm'));
    assert.match(conf, new RegExp(`^plugin_opt_jwt_issuer ${ISSUER}$`, 'm'));
    assert.match(conf, new RegExp(`^plugin_opt_jwt_audience ${AUDIENCE}$`, 'm'));
  });

  test('an RS256 cashier gets the same custom-policy answers at /sse and at MQTT subscribe', async () => {
    const cashier = await mint(keys.rsa.private, { sub: 'kasir-3', role: 'kasir', cabang: '3' });
    assert.equal(headerOf(cashier).alg, 'RS256');
    const backend = await mint(keys.rsa.private, { sub: 'laravel', role: 'backend' });
    await assertSameDecisions(kabar, mqttPort, cashier, backend, 'keys-rs256-1');
  });

  test('a wrong or missing aud, a wrong iss and an ES256 token are refused with their reason', async () => {
    const claims = { sub: 'kasir-3', role: 'kasir', cabang: '3' };
    await assertRefusedToken(kabar, mqttPort, await mint(keys.rsa.private, { ...claims, aud: 'someone-else' }), 'wrong_audience');
    await assertRefusedToken(kabar, mqttPort, await mint(keys.rsa.private, { ...claims, aud: '' }), 'wrong_audience');
    await assertRefusedToken(kabar, mqttPort, await mint(keys.rsa.private, { ...claims, iss: 'https://evil.test' }), 'wrong_issuer');
    // The key is RSA, so it verifies RS256 only: an ES256 token cannot pick its algorithm.
    await assertRefusedToken(kabar, mqttPort, await mint(keys.ec.private, claims), 'wrong_algorithm');
  });
});

// ---- keys as plugin options for a mosquitto run by hand: an ES256 PEM key and a JWKS file -----------

describe('ES256 key and JWKS file as plugin_opt_* of a mosquitto kabar does not run', () => {
  let kabar;
  let broker;
  before(async () => {
    const port = await freePort();
    const lines = [
      'per_listener_settings false',
      'allow_anonymous false',
      `listener ${port} 127.0.0.1`,
      `plugin ${PLUGIN}`,
      `plugin_opt_policy ${file('custom-policy.json')}`,
      `plugin_opt_jwt_public_key ${keys.ec.public}`,
      `plugin_opt_jwt_jwks ${file('jwks.json')}`,
      `plugin_opt_jwt_issuer ${ISSUER}`,
      `plugin_opt_jwt_audience ${AUDIENCE}`,
      'plugin_opt_jwt_clock_skew_s 0',
      'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice',
    ];
    if (process.getuid && process.getuid() === 0) lines.push('user root');
    fs.writeFileSync(file('mosquitto.conf'), `${lines.join('\n')}\n`);
    broker = await new Mosquitto(dir, port, file('mosquitto.conf')).start();
    // kabar logs in as a backend, with a token of the PEM key; its doors use the same keys and policy.
    const gateway = await mint(keys.ec.private, { sub: 'kabar-gw', role: 'backend', ttl: 3600 });
    kabar = await Kabar.create({
      mqttPort: port,
      config: {
        broker: { username: 'kabar-gw', password: gateway },
        auth: {
          policy_file: file('custom-policy.json'),
          jwt: { public_key_file: keys.ec.public, jwks_file: file('jwks.json'), issuer: ISSUER, audience: AUDIENCE, clock_skew_s: 0 },
        },
      },
    });
    await kabar.start();
  });

  test('an ES256 cashier (the PEM key, no kid) gets the same answers at /sse and at MQTT subscribe', async () => {
    const cashier = await mint(keys.ec.private, { sub: 'kasir-3', role: 'kasir', cabang: '3' });
    assert.equal(headerOf(cashier).alg, 'ES256');
    const backend = await mint(keys.ec.private, { sub: 'laravel', role: 'backend' });
    await assertSameDecisions(kabar, broker.port, cashier, backend, 'keys-es256-1');
  });

  test('JWKS keys are picked by kid: RS256 "r1" and ES256 "e2" tokens are accepted at both doors', async () => {
    for (const [key, kid] of [[keys.rsa.private, 'r1'], [keys.ec2.private, 'e2']]) {
      const cashier = await mint(key, { sub: `kasir-${kid}`, role: 'kasir', cabang: '3', kid });
      assert.equal(headerOf(cashier).kid, kid);
      const backend = await mint(key, { sub: `laravel-${kid}`, role: 'backend', kid });
      await assertSameDecisions(kabar, broker.port, cashier, backend, `keys-jwks-${kid}`);
    }
  });

  test('a key nobody configured, a kid of the other type, a wrong aud: refused with their reason', async () => {
    const claims = { sub: 'kasir-3', role: 'kasir', cabang: '3' };
    // No kid: the PEM key decides, and it did not sign this.
    await assertRefusedToken(kabar, broker.port, await mint(keys.stranger.private, claims), 'bad_signature');
    // kid r1 is the JWKS's RSA key: an ES256 token under its name is refused before any signature check.
    await assertRefusedToken(kabar, broker.port, await mint(keys.ec2.private, { ...claims, kid: 'r1' }), 'wrong_algorithm');
    await assertRefusedToken(kabar, broker.port, await mint(keys.rsa.private, { ...claims, kid: 'r1', aud: 'app' }), 'wrong_audience');
    const log = await waitUntil(() => {
      const text = fs.readFileSync(path.join(dir, 'mosquitto.log'), 'utf8');
      return ['bad_signature', 'wrong_algorithm', 'wrong_audience'].every((r) => text.includes(`token ${r}`)) && text;
    }, { timeout: 5000, what: 'the refusal reasons in the broker log' });
    assert.match(log, /kabar-auth: policy policy file .*custom-policy\.json with 3 rules loaded/);
  });
});

// ---- check-config and explain ------------------------------------------------------------------------

describe('kabar check-config on policy files', () => {
  // Each mistake on a line of its own, so the message must name that line.
  const BAD = [
    { name: 'unknown-role', line: 5, reason: "/rules/0/roles/0: unknown role 'kasr' (the policy's roles: kasir)", text: [
      '{', '  "version": 1,', '  "roles": ["kasir"],', '  "rules": [',
      '    {"name": "a", "roles": ["kasr"], "actions": ["read"], "channels": ["c"]}', '  ]', '}'] },
    { name: 'syntax', line: 4, reason: 'not valid JSON', text: [
      '{', '  "version": 1,', '  "rules": [', '    {"name": "a",, }', '  ]', '}'] },
    { name: 'unknown-key', line: 4, reason: "/rulez: unknown key 'rulez'", text: [
      '{', '  "version": 1,', '  "rules": [],', '  "rulez": []', '}'] },
    { name: 'bad-pattern', line: 6, reason: "/rules/0/channels/1: channel pattern 'a*.b': '*' may only end the pattern", text: [
      '{', '  "version": 1,', '  "rules": [', '    {"name": "a", "roles": ["*"], "actions": ["read"],',
      '     "channels": [', '       "ok", "a*.b"]}', '  ]', '}'] },
    { name: 'bad-where', line: 6, reason: "/rules/0/where/cabng: no channel or topic pattern of rule 'a' has {cabng}", text: [
      '{', '  "version": 1,', '  "rules": [', '    {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["c.{cabang}"],',
      '     "where": {', '       "cabng": {"in_claim": "cabang"}}}', '  ]', '}'] },
    { name: 'duplicate-name', line: 5, reason: "/rules/1/name: a rule named 'a' comes earlier", text: [
      '{', '  "version": 1,', '  "rules": [', '    {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["c"]},',
      '    {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["d"]}', '  ]', '}'] },
  ];

  test('a good policy passes: --policy, and as auth.policy_file of the config', async () => {
    const policy = file('custom-policy.json');
    const direct = await runKabar(['check-config', '--policy', policy]);
    assert.equal(direct.status, 0, direct.stderr);
    assert.match(direct.stdout, new RegExp(`policy file ${policy} is valid \\(3 rules\\)`));
    assert.match(direct.stdout, /configuration is valid/);
    fs.writeFileSync(file('good-config.json'), JSON.stringify({ auth: { policy_file: policy } }));
    const viaConfig = await runKabar(['check-config', '-c', file('good-config.json')]);
    assert.equal(viaConfig.status, 0, viaConfig.stderr);
  });

  test('a bad policy exits 2 naming the file, the line and the reason, wherever it is named', async () => {
    for (const { name, line, reason, text } of BAD) {
      const policy = file(`bad-${name}.json`);
      fs.writeFileSync(policy, `${text.join('\n')}\n`);
      const place = `policy file ${policy}, line ${line}, column `;
      const direct = await runKabar(['check-config', '--policy', policy]);
      assert.equal(direct.status, 2, `${name}: ${direct.stdout}${direct.stderr}`);
      assert.ok(direct.stderr.startsWith(`kabar: ${place}`), `${name}: ${direct.stderr}`);
      assert.ok(direct.stderr.includes(reason), `${name}: ${direct.stderr}`);
      fs.writeFileSync(file('bad-config.json'), JSON.stringify({ auth: { policy_file: policy } }));
      const viaConfig = await runKabar(['check-config', '-c', file('bad-config.json')]);
      assert.equal(viaConfig.status, 2, `${name} via the config: ${viaConfig.stderr}`);
      assert.ok(viaConfig.stderr.includes(place) && viaConfig.stderr.includes(reason), viaConfig.stderr);
    }
    // `serve` stops the same way before it starts anything.
    const serve = await runKabar(['serve', '-c', file('bad-config.json')]);
    assert.equal(serve.status, 2, serve.stderr);
    assert.ok(serve.stderr.includes(`policy file ${file('bad-duplicate-name.json')}, line 5, column`), serve.stderr);
  });
});

describe('kabar authz explain', () => {
  test('--publish explains publishing: a cashier may read her branch, not publish to it', async () => {
    const cashier = await mint(keys.rsa.private, { sub: 'kasir-3', role: 'kasir', cabang: '3' });
    const result = await runKabar(['authz', 'explain', '--key', keys.rsa.public, '--publish', cashier, 'private-cabang.3']);
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^policy: built-in policy$/m);
    assert.match(result.stdout, /^token: valid$/m);
    assert.match(result.stdout, /asks to publish channel private-cabang\.3/);
    assert.match(result.stdout, /rule kasir-omset \(allow\): pattern private-cabang\.\{cabang\} matches with cabang=3; applies, but grants no publish/);
    assert.match(result.stdout, /^REFUSED \(action_not_allowed\): may not publish channel private-cabang\.3: rule kasir-omset grants only read$/m);
    const backend = await mint(keys.rsa.private, { sub: 'laravel', role: 'backend' });
    const allowed = await runKabar(['authz', 'explain', '--key', keys.rsa.public, '--publish', backend, 'cabang/3/omset']);
    assert.equal(allowed.status, 0, allowed.stdout);
    assert.match(allowed.stdout, /asks to publish topic cabang\/3\/omset/);
    assert.match(allowed.stdout, /^ALLOWED \(rule\): allowed by rule backend$/m);
  });

  test('without a key it decodes the token unverified and says so; with the custom policy the deny rule decides', async () => {
    const cashier = await mint(keys.ec.private, { sub: 'kasir-3', role: 'kasir', cabang: '3' });
    const builtin = await runKabar(['authz', 'explain', cashier, 'cabang/3/omset']);
    assert.equal(builtin.status, 0, builtin.stdout + builtin.stderr);
    assert.match(builtin.stdout, /^token: NOT verified \(no key configured: give --secret-file, --key or --jwks\)$/m);
    assert.match(builtin.stdout, /^ALLOWED \(rule\): allowed by rule kasir-omset$/m);
    const custom = await runKabar(['authz', 'explain', '--policy', file('custom-policy.json'), cashier, 'cabang/3/omset']);
    assert.equal(custom.status, 1, custom.stdout);
    assert.match(custom.stdout, new RegExp(`^policy: policy file ${file('custom-policy.json')}$`, 'm'));
    assert.match(custom.stdout, /rule no-omset \(deny\): pattern cabang\/\{cabang\}\/omset matches with cabang=3; applies -> DENY/);
    assert.match(custom.stdout, /^REFUSED \(denied\): read topic cabang\/3\/omset is denied by rule no-omset$/m);
    // No token at all ("-"): anonymous.
    const anonymous = await runKabar(['authz', 'explain', '-', 'private-cabang.3']);
    assert.equal(anonymous.status, 1);
    assert.match(anonymous.stdout, /^token: none \(anonymous\)$/m);
    assert.match(anonymous.stdout, /^REFUSED \(token_required\)/m);
    // With the key, a token for another key is refused as such.
    const wrongKey = await runKabar(['authz', 'explain', '--key', keys.rsa.public, cashier, 'cabang/3/omset']);
    assert.equal(wrongKey.status, 1);
    assert.match(wrongKey.stdout, /^token: refused: wrong_algorithm: /m);
  });
});

// ---- secrets in output ------------------------------------------------------------------------------

describe('secrets stay out of printed configuration and logs', () => {
  const HOOK_TOKEN = 'hook-token-e2e-0123456789';
  const SECRETS = ['broker-password-e2e', 'app-secret-e2e-1', 'app-secret-e2e-2', HOOK_TOKEN, 'env-password-e2e'];

  test('check-config --print shows "***" for passwords, app secrets and URL queries; key paths stay', async () => {
    fs.writeFileSync(file('secret-config.json'), JSON.stringify({
      broker: { username: 'gw', password: 'broker-password-e2e' },
      auth: { jwt: { public_key_file: keys.rsa.public, jwks_file: file('jwks.json') } },
      apps: [
        { id: 'one', key: 'one-key', secret: 'app-secret-e2e-1',
          webhooks: [{ url: `http://127.0.0.1:9/hooks/pusher?token=${HOOK_TOKEN}` }] },
        { id: 'two', key: 'two-key', secret: 'app-secret-e2e-2', webhooks: [{ url: 'http://127.0.0.1:9/plain' }] },
      ],
    }));
    const result = await runKabar(['check-config', '-c', file('secret-config.json'), '--print']);
    assert.equal(result.status, 0, result.stderr);
    for (const secret of SECRETS) assert.ok(!result.stdout.includes(secret), `${secret} is not printed`);
    const printed = JSON.parse(result.stdout);
    assert.equal(printed.broker.password, '***');
    assert.equal(printed.broker.username, 'gw');
    assert.deepEqual(printed.apps.map((app) => app.secret), ['***', '***']);
    assert.deepEqual(printed.apps.map((app) => app.webhooks[0].url),
      ['http://127.0.0.1:9/hooks/pusher?***', 'http://127.0.0.1:9/plain']);
    assert.equal(printed.auth.jwt.public_key_file, keys.rsa.public, 'a key file path is not a secret');
    assert.equal(printed.auth.jwt.jwks_file, file('jwks.json'));
    // A secret from the environment, and an unset one, which shows as unset.
    const fromEnv = await runKabar(['check-config', '--print'], { env: { KABAR_BROKER_PASSWORD: 'env-password-e2e' } });
    assert.equal(JSON.parse(fromEnv.stdout).broker.password, '***');
    assert.ok(!fromEnv.stdout.includes('env-password-e2e'));
    const unset = await runKabar(['check-config', '--print'], { env: { KABAR_BROKER_PASSWORD: '' } });
    assert.equal(JSON.parse(unset.stdout).broker.password, '');
  });

  test('failing webhooks are logged as scheme://host:port/path, without the query', async () => {
    const closed = await freePort(); // nobody listens: every POST fails at once
    const mqttPort = await freePort();
    const kabar = await Kabar.create({
      mqttPort,
      config: {
        broker: { embedded: true },
        log: { level: 'debug' },
        apps: [{ id: 'hooks', key: 'hooks-key', secret: 'app-secret-e2e-1', webhooks: [
          { url: `http://127.0.0.1:${closed}/hooks/query?token=${HOOK_TOKEN}` },
        ] }],
      },
    });
    await kabar.start();
    // A subscription occupies a channel: that is a webhook (channel_occupied). (A URL with user:pw@ is a
    // config error: badinput.test.mjs.)
    const ws = new WebSocket(`${kabar.wsUrl.replace(/\/ws$/, '')}/app/hooks-key?protocol=7`);
    track({ close: () => ws.terminate() });
    const frames = [];
    ws.on('message', (data) => frames.push(JSON.parse(data)));
    await waitUntil(() => frames.some((f) => f.event === 'pusher:connection_established'), { timeout: 5000, what: 'Pusher connection' });
    ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'news' } }));
    await waitUntil(() => frames.some((f) => f.event === 'pusher_internal:subscription_succeeded'), { timeout: 5000, what: 'subscription' });
    const log = await waitUntil(() => {
      const text = fs.readFileSync(path.join(kabar.dir, 'kabar.log'), 'utf8');
      return text.includes(`webhook to http://127.0.0.1:${closed}/hooks/query failed`) && text;
    }, { timeout: 15000, what: 'the webhook failure in the kabar log' });
    for (const secret of SECRETS) assert.ok(!log.includes(secret), `${secret} is not logged`);
    assert.ok(!log.includes('?token='), 'no query in the log');
    ws.terminate();
    await kabar.stop();
  });
});
