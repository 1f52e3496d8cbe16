'use strict';
// Tests of the action's shim with node's own runner: `node --test action/test/*.test.js`
// (name the files: Node 22 and later read a folder argument as a module and fail).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const lib = require('../lib.js');
const ACTION = path.join(__dirname, '..');
const REPO = path.join(ACTION, '..');

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'prod-access-shim-'));
}

/** A fake binary that records its argv and environment, then exits with FAKE_EXIT. */
function fakeBinary(dir) {
  const bin = path.join(dir, 'fake-prod-access');
  fs.writeFileSync(
    bin,
    `#!${process.execPath}\n` +
      `require('fs').writeFileSync(process.env.FAKE_RECORD, JSON.stringify({ argv: process.argv.slice(2), env: process.env }));\n` +
      `process.stdout.write('fake stdout\\n');\n` +
      `process.exit(Number(process.env.FAKE_EXIT || 0));\n`,
    { mode: 0o755 },
  );
  return bin;
}

/** Runs main.js or post.js as the runner would: `node action/<step>.js` with env. */
function runStep(step, env) {
  return spawnSync(process.execPath, [path.join(ACTION, step)], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
}

test('main runs `grant` with every INPUT_* and GITHUB_* passed through unchanged', () => {
  const dir = tmpdir();
  const record = path.join(dir, 'record.json');
  const env = {
    PROD_ACCESS_BIN: fakeBinary(dir),
    FAKE_RECORD: record,
    'INPUT_GITHUB-TOKEN': 'ghs_example',
    INPUT_SCOPE: 'db-read',
    INPUT_REASON: 'INC-42 $(touch /tmp/pwned) `x` "quoted"\nsecond line',
    INPUT_TTL: '15m',
    INPUT_POLICY: '.github/prod-access.yml',
    INPUT_AUDIENCE: 'prod-access',
    'INPUT_PULL-REQUEST': '7',
    'INPUT_DRY-RUN': 'false',
    'INPUT_IF-NO-REQUEST': 'skip',
    GITHUB_EVENT_NAME: 'pull_request_target',
    GITHUB_OUTPUT: path.join(dir, 'out'),
    GITHUB_STATE: path.join(dir, 'state'),
  };
  const r = runStep('main.js', env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /fake stdout/);
  const seen = JSON.parse(fs.readFileSync(record, 'utf8'));
  assert.deepEqual(seen.argv, ['grant']);
  for (const [k, v] of Object.entries(env)) assert.equal(seen.env[k], v, k);
});

test('exit codes 0, 1, 2 and 3 pass through, for main and post', () => {
  const dir = tmpdir();
  const bin = fakeBinary(dir);
  for (const step of ['main.js', 'post.js']) {
    for (const code of [0, 1, 2, 3]) {
      const r = runStep(step, { PROD_ACCESS_BIN: bin, FAKE_RECORD: path.join(dir, 'r'), FAKE_EXIT: String(code) });
      assert.equal(r.status, code, `${step} exit ${code}: ${r.stderr}`);
    }
  }
});

test('post runs `revoke` with the STATE_* the runner provides', () => {
  const dir = tmpdir();
  const record = path.join(dir, 'record.json');
  const env = {
    PROD_ACCESS_BIN: fakeBinary(dir),
    FAKE_RECORD: record,
    STATE_handle: '{"kind":"jwt","grant_id":"g-1"}',
    STATE_pr: '7',
    STATE_comment: '99',
    'INPUT_GITHUB-TOKEN': 'ghs_example',
  };
  const r = runStep('post.js', env);
  assert.equal(r.status, 0, r.stderr);
  const seen = JSON.parse(fs.readFileSync(record, 'utf8'));
  assert.deepEqual(seen.argv, ['revoke']);
  for (const [k, v] of Object.entries(env)) assert.equal(seen.env[k], v, k);
});

test('a binary that cannot be run is exit 3', () => {
  const r = runStep('main.js', { PROD_ACCESS_BIN: path.join(tmpdir(), 'missing') });
  assert.equal(r.status, 3);
  assert.match(r.stderr, /cannot run/);
});

test('unknown platforms are refused (exit 2), the four release targets are known', () => {
  for (const [p, a] of [['win32', 'x64'], ['linux', 'ia32'], ['freebsd', 'x64'], ['linux', 's390x']]) {
    assert.throws(() => lib.assetName(p, a), (e) => e instanceof lib.ShimError && e.exitCode === 2);
  }
  assert.equal(lib.assetName('linux', 'x64'), 'prod-access-x86_64-unknown-linux-musl');
  assert.equal(lib.assetName('linux', 'arm64'), 'prod-access-aarch64-unknown-linux-musl');
  assert.equal(lib.assetName('darwin', 'x64'), 'prod-access-x86_64-apple-darwin');
  assert.equal(lib.assetName('darwin', 'arm64'), 'prod-access-aarch64-apple-darwin');
});

test('unknown platform through verifiedBinary never downloads', async () => {
  let called = false;
  await assert.rejects(
    lib.verifiedBinary({ platform: 'win32', arch: 'x64', env: {}, checksums: {}, download: async () => { called = true; } }),
    (e) => e.exitCode === 2,
  );
  assert.equal(called, false);
});

const GOOD = Buffer.from('#!/bin/sh\necho good binary\n');
const asset = lib.assetName('linux', 'x64');
const table = (sha) => ({ [lib.VERSION]: { [asset]: sha } });

test('a download whose sha256 does not match is refused and never written', async () => {
  const cache = tmpdir();
  const download = async () => Buffer.from('#!/bin/sh\necho evil\n');
  await assert.rejects(
    lib.verifiedBinary({ platform: 'linux', arch: 'x64', env: { RUNNER_TOOL_CACHE: cache }, checksums: table(lib.sha256(GOOD)), download }),
    (e) => e instanceof lib.ShimError && e.exitCode === 3 && /sha256 mismatch/.test(e.message),
  );
  assert.equal(fs.existsSync(path.join(cache, 'prod-access', lib.VERSION, 'linux-x64', 'prod-access')), false);
});

test('a missing checksum entry is refused before any download', async () => {
  let called = false;
  const download = async () => { called = true; return GOOD; };
  for (const checksums of [{}, { [lib.VERSION]: {} }, table('not-a-sha')]) {
    await assert.rejects(
      lib.verifiedBinary({ platform: 'linux', arch: 'x64', env: { RUNNER_TOOL_CACHE: tmpdir() }, checksums, download }),
      (e) => e.exitCode === 2 && /no sha256/.test(e.message),
    );
  }
  assert.equal(called, false);
});

test('a matching download is cached and reused; a tampered cache is fetched again', async () => {
  const cache = tmpdir();
  const urls = [];
  const download = async (url) => { urls.push(url); return GOOD; };
  const opts = { platform: 'linux', arch: 'x64', env: { RUNNER_TOOL_CACHE: cache, RUNNER_TEMP: tmpdir() }, checksums: table(lib.sha256(GOOD)), download };
  const cached = path.join(cache, 'prod-access', lib.VERSION, 'linux-x64', 'prod-access');
  const bin = await lib.verifiedBinary(opts);
  assert.deepEqual(urls, [`https://github.com/${lib.REPOSITORY}/releases/download/v${lib.VERSION}/${asset}`]);
  assert.equal(lib.sha256(fs.readFileSync(cached)), lib.sha256(GOOD));
  // What runs is a private copy of the verified bytes, not the shared cache file.
  assert.notEqual(bin, cached);
  assert.equal(fs.statSync(bin).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.dirname(bin)).mode & 0o777, 0o700);
  assert.equal(lib.sha256(fs.readFileSync(bin)), lib.sha256(GOOD));
  await lib.verifiedBinary(opts);
  assert.equal(urls.length, 1, 'the verified cache is reused');
  fs.writeFileSync(cached, '#!/bin/sh\necho tampered\n');
  const again = await lib.verifiedBinary(opts);
  assert.equal(urls.length, 2, 'a tampered cache is downloaded again');
  assert.equal(lib.sha256(fs.readFileSync(cached)), lib.sha256(GOOD));
  assert.equal(lib.sha256(fs.readFileSync(again)), lib.sha256(GOOD));
});

test('the verified binary actually runs through main', async () => {
  // End to end without the network: a verified "release" in the tool cache, a checksum
  // table naming it, then the step itself.
  const dir = tmpdir();
  const record = path.join(dir, 'record.json');
  const fake = fs.readFileSync(fakeBinary(dir));
  const opts = { env: { RUNNER_TOOL_CACHE: path.join(dir, 'cache'), RUNNER_TEMP: dir }, checksums: { [lib.VERSION]: {} } };
  let key;
  try { key = lib.assetName(process.platform, process.arch); } catch { return; }
  opts.checksums[lib.VERSION][key] = lib.sha256(fake);
  const bin = await lib.verifiedBinary({ ...opts, download: async () => fake });
  const code = lib.runBinary(bin, 'grant', { ...process.env, FAKE_RECORD: record, FAKE_EXIT: '1' });
  assert.equal(code, 1);
  assert.deepEqual(JSON.parse(fs.readFileSync(record, 'utf8')).argv, ['grant']);
});

test('a tampered cache with a bad download still refuses', async () => {
  const cache = tmpdir();
  const opts = { platform: 'linux', arch: 'x64', env: { RUNNER_TOOL_CACHE: cache, RUNNER_TEMP: tmpdir() }, checksums: table(lib.sha256(GOOD)) };
  await lib.verifiedBinary({ ...opts, download: async () => GOOD });
  fs.writeFileSync(path.join(cache, 'prod-access', lib.VERSION, 'linux-x64', 'prod-access'), 'evil');
  await assert.rejects(lib.verifiedBinary({ ...opts, download: async () => Buffer.from('evil') }), /sha256 mismatch/);
});

test('a full vX.Y.Z action ref must be the shim version; v1, shas and branches run VERSION', () => {
  assert.equal(lib.releaseVersion({ GITHUB_ACTION_REF: `v${lib.VERSION}` }), lib.VERSION);
  assert.equal(lib.releaseVersion({ GITHUB_ACTION_REF: 'v1' }), lib.VERSION);
  assert.equal(lib.releaseVersion({ GITHUB_ACTION_REF: 'a'.repeat(40) }), lib.VERSION);
  assert.equal(lib.releaseVersion({}), lib.VERSION);
  assert.throws(() => lib.releaseVersion({ GITHUB_ACTION_REF: 'v9.9.9' }), (e) => e.exitCode === 2);
});

test('non-https downloads are refused without a connection', async () => {
  await assert.rejects(lib.httpsGet('http://127.0.0.1:9/prod-access'), (e) => e.exitCode === 3 && /non-https/.test(e.message));
});

test('main without PROD_ACCESS_BIN refuses when the committed table has no entry (no download)', () => {
  const checksums = lib.loadChecksums();
  const key = `${process.platform}-${process.arch}`;
  if (checksums[lib.VERSION] && Object.keys(checksums[lib.VERSION]).length) return; // a release filled it
  const r = runStep('main.js', { RUNNER_TOOL_CACHE: tmpdir(), GITHUB_ACTION_REF: 'v1' });
  assert.equal(r.status, 2, `${key}: ${r.stderr}`);
  assert.match(r.stderr, /no sha256|no binary for/);
});

test('the shim version is the crate version, and the committed table parses', () => {
  const cargo = fs.readFileSync(path.join(REPO, 'Cargo.toml'), 'utf8');
  const m = /^version\s*=\s*"([^"]+)"/m.exec(cargo);
  assert.equal(m[1], lib.VERSION);
  const checksums = lib.loadChecksums();
  assert.ok(Object.hasOwn(checksums, lib.VERSION), 'checksums.json has a table for VERSION');
  for (const [name, sha] of Object.entries(checksums[lib.VERSION])) {
    assert.match(name, /^prod-access-(x86_64|aarch64)-(unknown-linux-musl|apple-darwin)$/);
    assert.match(sha, /^[0-9a-f]{64}$/);
  }
});

test('a mirror (PROD_ACCESS_RELEASE_URL) changes where the bytes come from, never what may run', async () => {
  const cache = tmpdir();
  const urls = [];
  const env = { RUNNER_TOOL_CACHE: cache, RUNNER_TEMP: tmpdir(), [lib.MIRROR_ENV]: 'https://mirror.example.test/prod-access/' };
  // The mirror serves other bytes: refused, exactly as from GitHub, and nothing is cached.
  await assert.rejects(
    lib.verifiedBinary({ platform: 'linux', arch: 'x64', env, checksums: table(lib.sha256(GOOD)), download: async (u) => { urls.push(u); return Buffer.from('evil'); } }),
    (e) => e instanceof lib.ShimError && e.exitCode === 3 && /sha256 mismatch/.test(e.message),
  );
  assert.deepEqual(urls, [`https://mirror.example.test/prod-access/v${lib.VERSION}/${asset}`]);
  assert.equal(fs.existsSync(path.join(cache, 'prod-access', lib.VERSION, 'linux-x64', 'prod-access')), false);
  // No committed checksum: refused before the mirror is asked.
  await assert.rejects(
    lib.verifiedBinary({ platform: 'linux', arch: 'x64', env, checksums: {}, download: async (u) => { urls.push(u); return GOOD; } }),
    (e) => e.exitCode === 2 && /no sha256/.test(e.message),
  );
  assert.equal(urls.length, 1);
  // The right bytes from the mirror run.
  const bin = await lib.verifiedBinary({ platform: 'linux', arch: 'x64', env, checksums: table(lib.sha256(GOOD)), download: async () => GOOD });
  assert.equal(lib.sha256(fs.readFileSync(bin)), lib.sha256(GOOD));
});

test('a mirror must be https without credentials, query or fragment (exit 2, no download)', async () => {
  for (const bad of ['http://mirror.example.test/', 'file:///tmp/dist', 'https://user:pw@mirror.example.test/', 'https://mirror.example.test/?x=1', 'https://mirror.example.test/#x', 'not a url']) {
    let called = false;
    await assert.rejects(
      lib.verifiedBinary({ platform: 'linux', arch: 'x64', env: { RUNNER_TOOL_CACHE: tmpdir(), [lib.MIRROR_ENV]: bad }, checksums: table(lib.sha256(GOOD)), download: async () => { called = true; return GOOD; } }),
      (e) => e instanceof lib.ShimError && e.exitCode === 2 && e.message.includes(lib.MIRROR_ENV),
      bad,
    );
    assert.equal(called, false, bad);
  }
  assert.equal(lib.downloadUrl(lib.VERSION, asset), `https://github.com/${lib.REPOSITORY}/releases/download/v${lib.VERSION}/${asset}`);
  assert.equal(lib.downloadUrl('1.2.3', asset, { [lib.MIRROR_ENV]: 'https://127.0.0.1:8443' }), `https://127.0.0.1:8443/v1.2.3/${asset}`);
});
