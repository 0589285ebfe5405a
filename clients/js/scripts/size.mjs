// The size budget of kabar.js: minified and gzipped, at most 6 KB (6144 bytes).
// Minifies with esbuild (a devDependency: `npm install` in clients/js), else with terser or esbuild
// from tests/e2e/node_modules; without any of them it says so and fails rather than guess.
//   node clients/js/scripts/size.mjs [file...]     (default: kabar.js)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const BUDGET = 6 * 1024;

async function load(name) {
  for (const base of [ROOT, path.resolve(ROOT, '../../tests/e2e')]) {
    try {
      return await import(createRequire(path.join(base, 'package.json')).resolve(name));
    } catch { /* not there */ }
  }
  return null;
}

async function minifier() {
  const esbuild = await load('esbuild');
  if (esbuild) {
    const { transform } = esbuild.default || esbuild;
    return { name: 'esbuild', run: async (code) => (await transform(code, { minify: true, format: 'esm', target: 'es2020' })).code };
  }
  const terser = await load('terser');
  if (terser) {
    const { minify } = terser.default || terser;
    return { name: 'terser', run: async (code) => (await minify(code, { module: true, compress: true, mangle: true })).code };
  }
  return null;
}

const files = process.argv.slice(2).length ? process.argv.slice(2) : [path.join(ROOT, 'kabar.js')];
const tool = await minifier();
if (!tool) {
  console.error('size: no minifier found: run `npm install` in clients/js (esbuild is a devDependency)');
  process.exit(2);
}
let over = false;
for (const file of files) {
  const source = fs.readFileSync(file, 'utf8');
  const minified = await tool.run(source);
  const gzipped = zlib.gzipSync(minified, { level: 9 }).length;
  const ok = gzipped <= BUDGET;
  over ||= !ok;
  console.log(`${path.relative(process.cwd(), file) || file}: ${source.length} bytes source, ${minified.length} minified (${tool.name}), ` +
    `${gzipped} gzipped (budget ${BUDGET}): ${ok ? 'ok' : 'OVER BUDGET'}`);
}
process.exit(over ? 1 : 0);
