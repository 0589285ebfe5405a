// The .deb (issue 12 part 1, docs/operations.md "Install from the .deb"): cpack packages the build that
// is already there (no rebuild) and the package is checked as a Debian machine would take it:
//
// * its contents: the binary, the broker plugin, the unit, the default configuration under /etc/kabar
//   (conffiles), the data folder /var/lib/kabar; its control file and maintainer scripts (sh -n, and what
//   they do to a real system below);
// * the unit: `systemd-analyze verify` says nothing about it, and `systemd-analyze security` rates it
//   at most 2.0 ("OK"), the hardening options present;
// * `cmake --install --prefix /opt/kabar` keeps everything under its prefix;
// * installed with `dpkg --root` into a fresh Debian 12 (debootstrap, lib/debian_root.mjs; never into
//   this machine, whose kabar, users and units stay untouched): dpkg resolves its Depends there, the
//   postinst makes the user kabar and its data folder and enables the unit; the installed binary's
//   `kabar check-config` accepts the default configuration; the installed kabar runs there as user kabar
//   with that configuration (its embedded broker with the installed plugin), and `kabar health` says it
//   is ready; the drop-in loads the installed plugin into the installed mosquitto (anonymous refused, a
//   backend token accepted); `dpkg --purge` removes every file, the unit's enablement and the data.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  KABAR_BIN, KABAR_SOURCE_DIR, freePort, makeTempDir, requireKabarBinary, startChild, useHarness, waitForTcp, waitUntil,
} from './lib/harness.mjs';
import { copyRoot, debianRoot, debianRootUnavailable, runTool, show } from './lib/debian_root.mjs';

useHarness();

const BUILD_DIR = path.dirname(KABAR_BIN);
const CPACK_CONFIG = path.join(BUILD_DIR, 'CPackConfig.cmake');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

async function ok(command, args, options) {
  const result = await runTool(command, args, options);
  assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${show(result)}`);
  return result;
}

let deb;        // the package file
let contents;   // path -> {mode, owner}
let extracted;  // dpkg-deb -x of it

before(async () => {
  requireKabarBinary();
  assert.ok(fs.existsSync(CPACK_CONFIG), `${CPACK_CONFIG} is there (cmake -S . -B build writes it: cmake/install.cmake)`);
  const out = makeTempDir('kabar-e2e-deb-');
  const started = Date.now();
  const made = await ok('cpack', ['--config', CPACK_CONFIG, '-B', out], { timeout: 180000 });
  deb = path.join(out, fs.readdirSync(out).find((f) => f.endsWith('.deb')) || 'missing.deb');
  assert.ok(fs.existsSync(deb), show(made));
  process.stderr.write(`# package: cpack took ${Date.now() - started} ms, ${(fs.statSync(deb).size / 1e6).toFixed(1)} MB\n`);
  const list = await ok('dpkg-deb', ['--contents', deb]);
  contents = new Map(list.stdout.trim().split('\n').map((line) => {
    const [mode, owner, , , , file] = line.split(/\s+/);
    return [file.replace(/^\./, '').replace(/\/$/, '') || '/', { mode, owner }];
  }));
  extracted = path.join(out, 'root');
  await ok('dpkg-deb', ['-x', deb, extracted]);
});

describe('the package', () => {
  test('holds the binary, the plugin, the unit, the configuration and the data folder, all root-owned', () => {
    const expected = {
      '/usr/bin/kabar': /^-rwxr-xr-x$/,
      '/usr/lib/kabar/kabar_auth_plugin.so': /^-rw-r--r--$/,
      '/usr/lib/systemd/system/kabar.service': /^-rw-r--r--$/,
      '/etc/kabar/kabar.json': /^-rw-r--r--$/,
      '/etc/kabar/mosquitto-kabar.conf': /^-rw-r--r--$/,
      '/var/lib/kabar': /^d/,
    };
    for (const [file, mode] of Object.entries(expected)) {
      assert.ok(contents.has(file), `${file} is in the package:\n${[...contents.keys()].join('\n')}`);
      assert.match(contents.get(file).mode, mode, file);
    }
    for (const [file, { owner }] of contents) assert.equal(owner, 'root/root', `${file}: dpkg gives the files to root`);
    // Stripped: the 160 MB debug build would make a 160 MB package.
    assert.ok(fs.statSync(path.join(extracted, 'usr/bin/kabar')).size < 30e6, 'the packaged binary is stripped');
    const config = JSON.parse(fs.readFileSync(path.join(extracted, 'etc/kabar/kabar.json'), 'utf8'));
    assert.equal(config.store.data_dir, '/var/lib/kabar');
    assert.equal(config.broker.auth_plugin, '/usr/lib/kabar/kabar_auth_plugin.so');
    assert.equal(config.http.listen, '127.0.0.1', 'the gateway is opened to the network by the operator (behind a proxy)');
  });

  test('control: the name, the Depends from dpkg-shlibdeps plus mosquitto and adduser; the maintainer scripts parse', async () => {
    const field = async (name) => (await ok('dpkg-deb', ['--field', deb, name])).stdout.trim();
    assert.equal(await field('Package'), 'kabar');
    const depends = (await field('Depends')).split(/,\s*/).map((d) => d.split(' ')[0]);
    for (const pkg of ['mosquitto', 'adduser', 'libc6', 'libpaho-mqttpp3-1', 'libsqlite3-0', 'libssl3']) {
      assert.ok(depends.includes(pkg), `Depends names ${pkg}: ${depends.join(', ')}`);
    }
    const control = path.join(path.dirname(deb), 'control');
    await ok('dpkg-deb', ['--control', deb, control]);
    assert.deepEqual(fs.readFileSync(path.join(control, 'conffiles'), 'utf8').trim().split('\n').sort(),
      ['/etc/kabar/kabar.json', '/etc/kabar/mosquitto-kabar.conf']);
    for (const script of ['postinst', 'prerm', 'postrm']) {
      const file = path.join(control, script);
      assert.equal(fs.statSync(file).mode & 0o777, 0o755, `${script} is executable`);
      await ok('sh', ['-n', file]);
    }
    const postinst = fs.readFileSync(path.join(control, 'postinst'), 'utf8');
    assert.match(postinst, /adduser --system --group --home \/var\/lib\/kabar/);
    assert.match(fs.readFileSync(path.join(control, 'postrm'), 'utf8'), /purge[\s\S]*rm -rf \/var\/lib\/kabar/);
  });

  test('the unit: systemd-analyze verify finds nothing, the hardening is there, the exposure is at most 2.0',
    { skip: !fs.existsSync(SYSTEMD_ANALYZE) && `${SYSTEMD_ANALYZE} is missing (apt-get install systemd)` }, async () => {
      const unitFile = path.join(extracted, 'usr/lib/systemd/system/kabar.service');
      const unit = fs.readFileSync(unitFile, 'utf8');
      for (const line of ['User=kabar', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ReadWritePaths=/var/lib/kabar',
        'PrivateTmp=yes', 'ProtectHome=yes', 'CapabilityBoundingSet=', 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
        'LimitNOFILE=1048576', 'ExecStart=/usr/bin/kabar serve --config /etc/kabar/kabar.json']) {
        assert.ok(unit.split('\n').includes(line), `kabar.service has ${line}`);
      }
      // verify looks for ExecStart's binary and the targets the unit names: a root with the package's
      // files and this machine's systemd units.
      const root = makeTempDir('kabar-e2e-unitroot-');
      fs.cpSync(extracted, root, { recursive: true });
      await ok('cp', ['-a', '-n', '/usr/lib/systemd/system/.', path.join(root, 'usr/lib/systemd/system')]);
      const verify = await runTool(SYSTEMD_ANALYZE, ['verify', `--root=${root}`, '/usr/lib/systemd/system/kabar.service']);
      assert.equal(verify.status, 0, show(verify));
      assert.equal(`${verify.stdout}${verify.stderr}`.trim(), '', `systemd-analyze verify has something to say:\n${show(verify)}`);
      // ...and it would: a typo is reported (so the check above can fail).
      const broken = path.join(root, 'usr/lib/systemd/system/kabar-typo.service');
      fs.writeFileSync(broken, unit.replace('ProtectSystem=strict', 'ProtectSytem=strict'));
      const typo = await runTool(SYSTEMD_ANALYZE, ['verify', `--root=${root}`, '/usr/lib/systemd/system/kabar-typo.service']);
      assert.match(`${typo.stdout}${typo.stderr}`, /Unknown key 'ProtectSytem'/);
      const security = await runTool(SYSTEMD_ANALYZE, ['security', '--offline=yes', `--root=${root}`, '--threshold=20', '--no-pager', '/usr/lib/systemd/system/kabar.service']);
      const score = /Overall exposure level for kabar\.service: ([\d.]+)/.exec(`${security.stdout}${security.stderr}`);
      assert.ok(score, show(security));
      process.stderr.write(`# package: systemd-analyze security exposure ${score[1]}\n`);
      assert.ok(Number(score[1]) <= 2.0, `exposure ${score[1]} > 2.0:\n${security.stdout}`);
    });

  test('cmake --install --prefix keeps the configuration and the data under that prefix', async () => {
    const stage = makeTempDir('kabar-e2e-install-');
    await ok('cmake', ['--install', BUILD_DIR, '--prefix', '/opt/kabar'], { env: { ...process.env, DESTDIR: stage } });
    for (const file of ['opt/kabar/bin/kabar', 'opt/kabar/lib/kabar/kabar_auth_plugin.so', 'opt/kabar/etc/kabar/kabar.json',
      'opt/kabar/lib/systemd/system/kabar.service', 'opt/kabar/var/lib/kabar']) {
      assert.ok(fs.existsSync(path.join(stage, file)), `${file} installed`);
    }
    assert.deepEqual(fs.readdirSync(stage), ['opt'], 'nothing outside the prefix');
    const config = JSON.parse(fs.readFileSync(path.join(stage, 'opt/kabar/etc/kabar/kabar.json'), 'utf8'));
    assert.equal(config.store.data_dir, '/opt/kabar/var/lib/kabar');
    assert.match(fs.readFileSync(path.join(stage, 'opt/kabar/lib/systemd/system/kabar.service'), 'utf8'),
      /^ExecStart=\/opt\/kabar\/bin\/kabar serve --config \/opt\/kabar\/etc\/kabar\/kabar\.json$/m);
    // An operator's configuration is not overwritten by a second install.
    const configFile = path.join(stage, 'opt/kabar/etc/kabar/kabar.json');
    fs.writeFileSync(configFile, '{"http": {"port": 9999}}');
    await ok('cmake', ['--install', BUILD_DIR, '--prefix', '/opt/kabar'], { env: { ...process.env, DESTDIR: stage } });
    assert.equal(fs.readFileSync(configFile, 'utf8'), '{"http": {"port": 9999}}');
  });
});

describe('installed with dpkg into a fresh Debian 12', { skip: debianRootUnavailable() || false }, () => {
  let root;
  const inRoot = (args, options) => runTool('chroot', [root, ...args], options);

  before(async () => {
    const started = Date.now();
    const { rootfs } = await debianRoot();
    root = copyRoot(rootfs, path.join(makeTempDir('kabar-e2e-dpkgroot-'), 'root'));
    process.stderr.write(`# package: Debian root ready in ${Date.now() - started} ms\n`);
  });

  test('dpkg -i: Depends met, the user kabar, the data folder, the unit enabled; check-config accepts the default configuration', async () => {
    const install = await ok('dpkg', [`--root=${root}`, '-i', deb], { timeout: 120000 });
    assert.match(install.stdout, /Setting up kabar \(/, show(install));
    const user = await ok('chroot', [root, 'getent', 'passwd', 'kabar']);
    assert.match(user.stdout, /^kabar:x:\d+:\d+:[^:]*:\/var\/lib\/kabar:\/usr\/sbin\/nologin$/m);
    const stat = await ok('chroot', [root, 'stat', '-c', '%U:%G %a', '/var/lib/kabar']);
    assert.equal(stat.stdout.trim(), 'kabar:kabar 750');
    assert.ok(fs.lstatSync(path.join(root, 'etc/systemd/system/multi-user.target.wants/kabar.service')).isSymbolicLink(),
      'the postinst enabled the unit');
    const check = await inRoot(['/usr/bin/kabar', 'check-config', '--config', '/etc/kabar/kabar.json']);
    assert.equal(check.status, 0, show(check));
    assert.match(check.stdout, /configuration is valid/);
    // ...and it can fail: a wrong key in the installed configuration is refused.
    const bad = await inRoot(['/usr/bin/kabar', 'check-config', '--config', '/etc/kabar/kabar.json'], { env: { ...process.env, KABAR_HTTP_PORT: 'x' } });
    assert.equal(bad.status, 2, show(bad));
  });

  test('the installed kabar runs as user kabar with the default configuration, and kabar health says ready', async () => {
    const port = await freePort();
    const env = { ...process.env, KABAR_HTTP_PORT: String(port), KABAR_BROKER_PORT: String(await freePort()) };
    const gateway = startChild('installed-kabar', 'chroot', ['--userspec=kabar:kabar', root, '/usr/bin/kabar', 'serve',
      '--config', '/etc/kabar/kabar.json'], { env });
    const health = () => inRoot(['/usr/bin/kabar', 'health', '--config', '/etc/kabar/kabar.json', '--timeout-ms', '1000'], { env, timeout: 10000 });
    await waitUntil(async () => {
      if (gateway.exited) throw new Error(`kabar exited: ${JSON.stringify(gateway.exitStatus)}\n${gateway.tail(30)}`);
      return (await health()).status === 0;
    }, { timeout: 30000, interval: 200, what: 'kabar health == 0 for the installed kabar' });
    const ready = await health();
    assert.match(ready.stdout, new RegExp(`http://127\\.0\\.0\\.1:${port}/readyz answered 200`));
    assert.ok(fs.existsSync(path.join(root, 'var/lib/kabar/kabar.db')), `the store is in /var/lib/kabar: ${fs.readdirSync(path.join(root, 'var/lib/kabar'))}`);
    const owners = await ok('chroot', [root, 'find', '/var/lib/kabar', '!', '-user', 'kabar']);
    assert.equal(owners.stdout.trim(), '', 'everything kabar wrote belongs to kabar');
    assert.equal((await gateway.stop()).code, 0, gateway.tail(20));
    const down = await health();
    assert.equal(down.status, 1, show(down));
    assert.match(down.stderr, /not ready: connect: Connection refused/);
  });

  test('the mosquitto drop-in loads the installed plugin into the installed broker: anonymous refused, a backend token accepted', async () => {
    const port = await freePort();
    const secret = crypto.randomBytes(32).toString('base64');
    fs.writeFileSync(path.join(root, 'etc/kabar/jwt.secret'), secret, { mode: 0o644 });
    const dropIn = fs.readFileSync(path.join(root, 'etc/kabar/mosquitto-kabar.conf'), 'utf8')
      .replace(/^listener 1883 127\.0\.0\.1$/m, `listener ${port} 127.0.0.1`)
      .replace(/^plugin_opt_state_file .*$/m, 'plugin_opt_state_file /tmp/kabar-auth.state');
    assert.match(dropIn, new RegExp(`^listener ${port} `, 'm'));
    fs.writeFileSync(path.join(root, 'tmp/mosquitto.conf'), `${dropIn}\nlog_dest stderr\nuser root\n`);
    const broker = startChild('installed-mosquitto', 'chroot', [root, '/usr/sbin/mosquitto', '-c', '/tmp/mosquitto.conf']);
    await waitForTcp(port, { timeout: 10000, what: 'the installed mosquitto' });
    assert.match(broker.output(), /kabar-auth/, 'the plugin is loaded');
    const anonymous = await runTool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'dokumen/1/updated', '-m', '{}'], { timeout: 15000 });
    assert.notEqual(anonymous.status, 0, show(anonymous));
    const token = (await ok('chroot', [root, '/usr/bin/kabar', 'token', '--secret-file', '/etc/kabar/jwt.secret', '--sub', 'laravel', '--role', 'backend'])).stdout.trim();
    const pub = await runTool('mosquitto_pub', ['-d', '-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '-u', 'laravel', '-P', token, '-q', '1',
      '-t', 'dokumen/1/updated', '-m', '{}'], { timeout: 15000 });
    assert.match(pub.stdout, /received PUBACK \(Mid: \d+, RC:(0|16)\)/, show(pub));
    await broker.stop();
  });

  test('dpkg --purge removes every file, the enablement and the data folder', async () => {
    const files = (await ok('dpkg', [`--root=${root}`, '-L', 'kabar'])).stdout.trim().split('\n')
      .filter((f) => contents.has(f) && !contents.get(f).mode.startsWith('d'));
    assert.ok(files.includes('/usr/bin/kabar'), files.join('\n'));
    await ok('dpkg', [`--root=${root}`, '--purge', 'kabar'], { timeout: 120000 });
    for (const file of files) assert.ok(!fs.existsSync(path.join(root, file)), `${file} removed`);
    assert.ok(!fs.existsSync(path.join(root, 'var/lib/kabar')), 'purge deletes the data folder');
    assert.ok(!fs.existsSync(path.join(root, 'etc/systemd/system/multi-user.target.wants/kabar.service')), 'the unit is no longer enabled');
    const status = await runTool('dpkg', [`--root=${root}`, '-s', 'kabar']);
    assert.notEqual(status.status, 0, 'dpkg no longer knows kabar');
  });
});
