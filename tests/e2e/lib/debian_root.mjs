// A Debian 12 root file system made with debootstrap from the Debian archive (no container registry is
// needed), with the runtime packages of compose/Dockerfile's runtime stage: the fresh machine a .deb is
// installed on (package.test.mjs, with dpkg --root) and the base the test image is built on
// (compose_image.test.mjs, the stand-in for debian:bookworm-slim). Made once and kept under the build
// folder (build/debian-root/<key>/rootfs, ~220 MB, ~3 min the first time), keyed by the package list;
// tests copy it and never change it. Two test files asking at once: one makes it, the other waits.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { KABAR_BIN, KABAR_SOURCE_DIR, sleep } from './harness.mjs';

export const SUITE = 'bookworm';
export const MIRROR = process.env.KABAR_DEBIAN_MIRROR || 'http://deb.debian.org/debian';
export const CACHE_DIR = process.env.KABAR_IMAGE_CACHE ||
  path.join(process.env.KABAR_E2E_SUITE || path.dirname(KABAR_BIN), 'debian-root');
const DEBOOTSTRAP = ['/usr/sbin/debootstrap', '/usr/bin/debootstrap'].find((p) => fs.existsSync(p));

// Why a test needing the root cannot run here, or '' when it can.
export function debianRootUnavailable() {
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, chroot, dpkg --root)';
  if (!DEBOOTSTRAP) return 'debootstrap is not installed (apt-get install debootstrap; scripts/setup.sh --test installs it)';
  return '';
}

// The runtime stage of compose/Dockerfile (from its second FROM) and the packages it installs.
export function runtimeStage() {
  const dockerfile = fs.readFileSync(path.join(KABAR_SOURCE_DIR, 'compose', 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^(?=FROM )/m).filter((s) => s.startsWith('FROM '));
  if (stages.length !== 2) throw new Error(`compose/Dockerfile: expected a build and a runtime stage, found ${stages.length}`);
  return stages[1];
}
export function runtimePackages() {
  const install = /apt-get install[^\n]*\\\n([\s\S]*?)&&/.exec(runtimeStage());
  if (!install) throw new Error('compose/Dockerfile: the runtime stage has no apt-get install list');
  return install[1].split(/[\s\\]+/).filter(Boolean).sort();
}

// Runs a tool to completion with a timeout; never throws: {status, signal, stdout, stderr}. The packaging
// tests (package, compose_image) run every outside tool through it.
export function runTool(command, args, { timeout = 60000, env, cwd } = {}) {
  return new Promise((resolve) => {
    const proc = spawn(command, args, { env: env || process.env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => { stdout += c; });
    proc.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeout);
    proc.once('error', (error) => { clearTimeout(timer); resolve({ status: null, stdout, stderr: `${stderr}${error.message}` }); });
    proc.once('close', (status, signal) => { clearTimeout(timer); resolve({ status, signal, stdout, stderr }); });
  });
}
// A runTool result for an assertion message.
export const show = (r) => `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}\n${r.stdout}${r.stderr}`;

function run(command, args, { timeout, log }) {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = fs.createWriteStream(log);
    proc.stdout.pipe(out);
    proc.stderr.pipe(out, { end: false });
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeout);
    proc.once('error', (error) => { clearTimeout(timer); reject(error); });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')}: exit ${code}${signal ? ` (${signal})` : ''}; log: ${log}\n` +
        fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')));
    });
  });
}

const alivePid = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

// Path of the root file system, made now if it is not there yet.
export async function debianRoot({ timeout = 600000 } = {}) {
  const packages = runtimePackages();
  const key = crypto.createHash('sha256').update(JSON.stringify({ SUITE, variant: 'minbase', packages })).digest('hex').slice(0, 12);
  const dir = path.join(CACHE_DIR, key);
  const rootfs = path.join(dir, 'rootfs');
  const done = path.join(dir, 'complete');
  const lock = path.join(dir, 'lock');
  fs.mkdirSync(dir, { recursive: true });
  const deadline = Date.now() + timeout;
  while (!fs.existsSync(done)) {
    let fd;
    try {
      fd = fs.openSync(lock, 'wx');
    } catch {
      const holder = Number(fs.readFileSync(lock, 'utf8')) || 0;
      if (holder && !alivePid(holder)) { fs.rmSync(lock, { force: true }); continue; }  // its maker died
      if (Date.now() > deadline) throw new Error(`timed out waiting for pid ${holder} to make ${rootfs}`);
      await sleep(1000);
      continue;
    }
    try {
      fs.writeSync(fd, String(process.pid));
      const partial = path.join(dir, 'partial');
      fs.rmSync(partial, { recursive: true, force: true });
      await run(DEBOOTSTRAP, ['--variant=minbase', `--include=${packages.join(',')}`, SUITE, partial, MIRROR],
        { timeout: Math.max(1000, deadline - Date.now()), log: path.join(dir, 'debootstrap.log') });
      fs.rmSync(rootfs, { recursive: true, force: true });
      fs.renameSync(partial, rootfs);
      fs.writeFileSync(done, `${new Date().toISOString()} ${packages.join(' ')}\n`);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(lock, { force: true });
    }
  }
  return { rootfs, key };
}

// A copy of the root to change (cp -a keeps owners, modes and device nodes).
export function copyRoot(rootfs, target) {
  const copy = spawnSync('cp', ['-a', '--reflink=auto', rootfs, target], { encoding: 'utf8', timeout: 120000 });
  if (copy.status !== 0) throw new Error(`cp -a ${rootfs} ${target}: ${copy.stderr || copy.error}`);
  return target;
}
