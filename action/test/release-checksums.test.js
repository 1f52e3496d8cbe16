'use strict';
// The release's writer of action/checksums.json (scripts/release-checksums.js): what it
// writes is what the shim verifies against, and it refuses an incomplete release.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const lib = require('../lib.js');
const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'release-checksums.js');

const hex = (c) => c.repeat(64);
const ALL = Object.values(lib.TARGETS);

/** A release folder's SHA256SUMS with the bare binaries of `targets`, plus archives and SBOMs. */
function sums(dir, targets) {
  const lines = [];
  targets.forEach((t, i) => {
    const c = 'abcd'[i];
    lines.push(`${hex(c)}  prod-access-${t}`);
    lines.push(`${hex('e')}  prod-access-v${lib.VERSION}-${t}.tar.gz`);
    lines.push(`${hex('f')}  prod-access-v${lib.VERSION}-${t}.cdx.json`);
  });
  const file = path.join(dir, 'SHA256SUMS');
  fs.writeFileSync(file, `${lines.sort().join('\n')}\n`);
  return file;
}

function run(...args) {
  return spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
}

function fresh() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prod-access-sums-'));
  const table = path.join(dir, 'checksums.json');
  fs.writeFileSync(table, '{\n  "0.0.1": { "prod-access-x86_64-apple-darwin": "' + hex('0') + '" }\n}\n');
  return { dir, table };
}

test('a complete release fills the table the shim reads: bare binaries only, this version only', () => {
  const { dir, table } = fresh();
  const r = run(table, lib.VERSION, sums(dir, ALL));
  assert.equal(r.status, 0, r.stderr);
  const written = lib.loadChecksums(table);
  assert.deepEqual(Object.keys(written), [lib.VERSION]);
  assert.deepEqual(Object.keys(written[lib.VERSION]).sort(), ALL.map((t) => `prod-access-${t}`).sort());
  ALL.forEach((t, i) => {
    const platform = Object.keys(lib.TARGETS).find((k) => lib.TARGETS[k] === t).split('-');
    assert.equal(lib.expectedSha256(written, lib.VERSION, lib.assetName(platform[0], platform[1])), hex('abcd'[i]));
  });
  assert.ok(fs.readFileSync(table, 'utf8').endsWith('}\n'));
});

test('a release missing a target is refused and the table is left alone', () => {
  const { dir, table } = fresh();
  const before = fs.readFileSync(table, 'utf8');
  const r = run(table, lib.VERSION, sums(dir, ALL.slice(1)));
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`no sha256 .* for prod-access-${ALL[0]}`));
  assert.equal(fs.readFileSync(table, 'utf8'), before);
});

test('named targets (the rehearsal builds one) must be there; unknown targets and other versions are refused', () => {
  const { dir, table } = fresh();
  const one = sums(dir, [ALL[0]]);
  assert.equal(run(table, lib.VERSION, one, ALL[0]).status, 0);
  assert.deepEqual(Object.keys(lib.loadChecksums(table)[lib.VERSION]), [`prod-access-${ALL[0]}`]);
  assert.equal(run(table, lib.VERSION, one, ALL[1]).status, 1);
  const unknown = run(table, lib.VERSION, one, 'x86_64-pc-windows-msvc');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /not a target the shim downloads/);
  const other = run(table, '9.9.9', one, ALL[0]);
  assert.equal(other.status, 1);
  assert.match(other.stderr, /not the shim's VERSION/);
});

test('a malformed or duplicated SHA256SUMS line is refused', () => {
  const { dir, table } = fresh();
  const file = path.join(dir, 'SHA256SUMS');
  fs.writeFileSync(file, `${hex('a')}  prod-access-${ALL[0]}\nnot a line\n`);
  assert.equal(run(table, lib.VERSION, file, ALL[0]).status, 1);
  fs.writeFileSync(file, `${hex('a')}  prod-access-${ALL[0]}\n${hex('b')} *prod-access-${ALL[0]}\n`);
  const dup = run(table, lib.VERSION, file, ALL[0]);
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /listed twice/);
});
