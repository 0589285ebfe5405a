// The size budget (scripts/size.mjs: minified and gzipped, at most 6 KB) as a test. Skipped, with the
// reason, when no minifier is installed (`npm install` in clients/js brings esbuild).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../scripts/size.mjs');

test('kabar.js is at most 6 KB minified and gzipped', async (t) => {
  const result = await new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT], (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }));
  });
  if (result.code === 2) return t.skip(result.stderr.trim());
  t.diagnostic(result.stdout.trim());
  assert.equal(result.code, 0, result.stdout + result.stderr);
});
