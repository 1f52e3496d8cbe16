'use strict';
// Writes the action's checksum table for a release, as the release workflow commits it:
//
//   node scripts/release-checksums.js action/checksums.json VERSION dist/SHA256SUMS [TARGET...]
//
// The table becomes { VERSION: { "prod-access-TARGET": sha256, ... } } for the bare binaries
// listed in SHA256SUMS (archives, SBOMs and anything else are not run by the action and are
// left out). Every TARGET named must have its binary there; with none named, every target the
// shim knows (action/lib.js TARGETS) must. The release names none; the rehearsal, which builds
// one target on this machine, names that one. Older versions are dropped: a commit of the
// action pins the binaries of its own version only (lib.js VERSION).
const fs = require('node:fs');
const path = require('node:path');
const { TARGETS, VERSION } = require(path.join(__dirname, '..', 'action', 'lib.js'));

function fail(message) {
  process.stderr.write(`release-checksums: ${message}\n`);
  process.exit(1);
}

const [file, version, sums, ...named] = process.argv.slice(2);
if (!file || !version || !sums) fail('usage: release-checksums.js CHECKSUMS_JSON VERSION SHA256SUMS [TARGET...]');
if (version !== VERSION) fail(`version ${version} is not the shim's VERSION ${VERSION} (action/lib.js)`);
const targets = named.length ? named : Object.values(TARGETS);
for (const t of targets) {
  if (!Object.values(TARGETS).includes(t)) fail(`${t} is not a target the shim downloads`);
}
const wanted = new Set(targets.map((t) => `prod-access-${t}`));
const entries = {};
for (const line of fs.readFileSync(sums, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  // `sha256sum` format: 64 hex digits, two spaces (or space and `*` for binary mode), the name.
  const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
  if (!m) fail(`not a sha256sum line: ${JSON.stringify(line)}`);
  const name = m[2].replace(/^\.\//, '');
  if (wanted.has(name)) {
    if (entries[name]) fail(`${name} is listed twice`);
    entries[name] = m[1];
  }
}
const missing = [...wanted].filter((n) => !entries[n]);
if (missing.length) fail(`no sha256 in ${sums} for ${missing.join(', ')}`);
const table = { [version]: Object.fromEntries(Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : 1))) };
fs.writeFileSync(file, `${JSON.stringify(table, null, 2)}\n`);
process.stdout.write(`release-checksums: ${file}: v${version}: ${Object.keys(entries).join(', ')}\n`);
