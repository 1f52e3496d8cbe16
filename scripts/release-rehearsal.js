'use strict';
// The action half of the release rehearsal (scripts/release-rehearsal runs it):
//
//   node scripts/release-rehearsal.js DIST ACTION_ROOT WORK SIM
//
// DIST holds the release files (as the release publishes them), ACTION_ROOT is the action at
// the "tagged commit" (action.yml and action/ with the filled checksums.json), WORK a private
// folder with tls/cert.pem and tls/key.pem, SIM the loopback GitHub + OIDC story
// (examples/rehearsal_sim.rs). It
//
// 1. serves DIST over https on 127.0.0.1 (a release download URL, and a copy with one byte
//    changed), the certificate trusted through NODE_EXTRA_CA_CERTS as a runner's CA would be;
// 2. runs the shim's main step against the changed copy: it must refuse (exit 3) and run
//    nothing;
// 3. runs `node ACTION_ROOT/action/main.js` as the runner would (INPUT_* from action.yml's
//    defaults, the runner files, GITHUB_ACTION_REF v1, an empty tool cache, the mirror set
//    to the loopback release): it downloads, verifies against checksums.json, caches, runs
//    `prod-access grant`, which must grant;
// 4. runs `node ACTION_ROOT/action/post.js` with the STATE_* and GITHUB_ENV of the main step:
//    the cached binary (no second download) runs `revoke`, which edits the audit comment;
// 5. prints, last, the line that says so with the binary's sha256.
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const { spawn } = require('node:child_process');

const [dist, actionRoot, work, sim] = process.argv.slice(2);
if (!dist || !actionRoot || !work || !sim) {
  process.stderr.write('usage: release-rehearsal.js DIST ACTION_ROOT WORK SIM\n');
  process.exit(2);
}
const lib = require(path.join(path.resolve(actionRoot), 'action', 'lib.js'));
const ASSET = lib.assetName(process.platform, process.arch);

function say(line) {
  process.stdout.write(`rehearsal: ${line}\n`);
}
function fail(line) {
  process.stderr.write(`rehearsal: FAIL: ${line}\n`);
  process.exit(1);
}
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

/** A runner file (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STATE): `k=v` and `k<<DELIM` blocks. */
function runnerFile(file) {
  const out = {};
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, key, delim] = heredoc;
      const value = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]);
      if (i >= lines.length) fail(`${file}: ${key} has no closing delimiter`);
      out[key] = value.join('\n');
    } else {
      const eq = line.indexOf('=');
      if (eq < 1) fail(`${file}: not a runner file line`);
      out[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return out;
}

/** action.yml's inputs with their defaults, as the runner turns them into INPUT_*. */
function actionInputs(token) {
  const yml = fs.readFileSync(path.join(actionRoot, 'action.yml'), 'utf8');
  const inputs = {};
  let section = null;
  let name = null;
  for (const line of yml.split('\n')) {
    const top = /^([a-z][a-z0-9_-]*):/.exec(line);
    if (top) {
      section = top[1];
      name = null;
      continue;
    }
    if (section !== 'inputs') continue;
    let m = /^ {2}([a-z][a-z0-9-]*):\s*$/.exec(line);
    if (m) {
      name = m[1];
      inputs[name] = '';
      continue;
    }
    m = /^ {4}default:\s*(.*)$/.exec(line);
    if (m && name) inputs[name] = m[1].replace(/^'(.*)'$/, '$1');
  }
  const env = {};
  for (const [k, v] of Object.entries(inputs)) {
    // `${{ github.token }}` is the runner's GITHUB_TOKEN: here the simulator's.
    env[`INPUT_${k.toUpperCase()}`] = v.includes('${{') ? token : v;
  }
  return env;
}

/** Runs `node script` with exactly `env` (plus PATH and the CA); its code and output. */
function step(script, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], {
      env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The step's log as the runner would show it, secrets withheld here as the demo does. */
function show(name, r) {
  for (const line of `${r.stdout}${r.stderr}`.split('\n')) {
    if (!line) continue;
    const mask = /^::add-mask::(.*)$/.exec(line);
    say(`  ${name} | ${mask ? `::add-mask::<${mask[1].length} characters withheld>` : line}`);
  }
}

async function main() {
  // 1. The release download, over https on loopback.
  const downloads = [];
  const server = https.createServer(
    { cert: fs.readFileSync(path.join(work, 'tls', 'cert.pem')), key: fs.readFileSync(path.join(work, 'tls', 'key.pem')) },
    (req, res) => {
      const m = /^\/(releases\/download|tampered)\/v([0-9.]+)\/([A-Za-z0-9._-]+)$/.exec(req.url || '');
      const file = m && m[2] === lib.VERSION ? path.join(dist, m[3]) : null;
      if (req.method !== 'GET' || !file || !fs.existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      downloads.push(req.url);
      const bytes = Buffer.from(fs.readFileSync(file));
      if (m[1] === 'tampered') bytes[bytes.length - 1] ^= 1;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
    },
  );
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `https://127.0.0.1:${server.address().port}`;
  say(`release files served at ${base}/releases/download/v${lib.VERSION}/ (https, loopback)`);

  // The simulators: one JSON line with the main and post steps' runner environments.
  const simulator = spawn(sim, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const simLines = [];
  let simBuf = '';
  const nextSimLine = () =>
    new Promise((resolve, reject) => {
      const poll = () => {
        if (simLines.length) return resolve(simLines.shift());
        if (simulator.exitCode !== null) return reject(new Error(`the simulator exited (${simulator.exitCode})`));
        setTimeout(poll, 20);
      };
      poll();
    });
  simulator.stdout.on('data', (c) => {
    simBuf += c;
    let nl;
    while ((nl = simBuf.indexOf('\n')) >= 0) {
      simLines.push(simBuf.slice(0, nl));
      simBuf = simBuf.slice(nl + 1);
    }
  });
  const envs = JSON.parse(await nextSimLine());
  say(`simulated GitHub API ${envs.main.GITHUB_API_URL}, OIDC issuer ${new URL(envs.main.ACTIONS_ID_TOKEN_REQUEST_URL).origin}`);
  const inputs = actionInputs(envs.main.GITHUB_TOKEN);
  const mainJs = path.join(actionRoot, 'action', 'main.js');
  const postJs = path.join(actionRoot, 'action', 'post.js');
  const runner = { GITHUB_ACTION_REF: 'v1', GITHUB_ACTION_PATH: actionRoot };

  // 2. A release file that is not the one pinned: refused, nothing runs.
  const bad = path.join(work, 'tampered');
  fs.mkdirSync(bad, { recursive: true });
  for (const f of ['env', 'output', 'state', 'summary.md']) fs.writeFileSync(path.join(bad, f), '');
  const refused = await step(mainJs, {
    ...envs.main,
    ...inputs,
    ...runner,
    GITHUB_ENV: path.join(bad, 'env'),
    GITHUB_OUTPUT: path.join(bad, 'output'),
    GITHUB_STATE: path.join(bad, 'state'),
    GITHUB_STEP_SUMMARY: path.join(bad, 'summary.md'),
    RUNNER_TOOL_CACHE: path.join(work, 'toolcache-tampered'),
    [lib.MIRROR_ENV]: `${base}/tampered`,
  });
  show('main (one byte changed)', refused);
  if (refused.code !== 3 || !/sha256 mismatch/.test(refused.stderr)) fail(`a changed binary was not refused (exit ${refused.code})`);
  for (const f of ['env', 'output', 'state']) {
    if (fs.readFileSync(path.join(bad, f), 'utf8')) fail(`the refused step wrote ${f}: something ran`);
  }
  if (fs.existsSync(path.join(work, 'toolcache-tampered', 'prod-access'))) fail('the changed binary was cached');
  say('a binary one byte off the pinned sha256 is refused (exit 3), not cached, not run');
  downloads.length = 0;

  // 3. The main step: download, verify, cache, run `grant`.
  const cache = path.join(work, 'toolcache');
  const main = await step(mainJs, { ...envs.main, ...inputs, ...runner, RUNNER_TOOL_CACHE: cache, [lib.MIRROR_ENV]: `${base}/releases/download` });
  show('main', main);
  const want = lib.expectedSha256(lib.loadChecksums(path.join(actionRoot, 'action', 'checksums.json')), lib.VERSION, ASSET);
  const served = sha256(fs.readFileSync(path.join(dist, ASSET)));
  if (served !== want) fail(`the served ${ASSET} is ${served}, checksums.json pins ${want}`);
  if (main.code !== 0) fail(`main exited ${main.code}`);
  const output = runnerFile(envs.main.GITHUB_OUTPUT);
  if (output.granted !== 'true') fail(`main wrote granted=${output.granted}`);
  const exported = runnerFile(envs.main.GITHUB_ENV);
  const token = exported.PROD_ACCESS_TOKEN;
  if (!token) fail('no PROD_ACCESS_TOKEN in GITHUB_ENV');
  const maskAt = main.stdout.indexOf(`::add-mask::${token}`);
  if (maskAt < 0) fail('the token was not masked');
  if (main.stdout.split(token).length !== 2 || main.stderr.includes(token)) fail('the token appears in the log outside its mask line');
  if (downloads.length !== 1 || !downloads[0].endsWith(`/v${lib.VERSION}/${ASSET}`)) fail(`expected one download of ${ASSET}, saw ${JSON.stringify(downloads)}`);
  const cached = path.join(cache, 'prod-access', lib.VERSION, `${process.platform}-${process.arch}`, 'prod-access');
  if (sha256(fs.readFileSync(cached)) !== want) fail('the cached binary is not the pinned one');
  say(`main: downloaded ${ASSET} once, sha256 ${want} as pinned, cached, ran grant: exit 0, granted=${output.granted}, grant-id=${output['grant-id']}, scope=${output.scope}, approvers=${output.approvers}, expires-at=${output['expires-at']}`);

  // 4. The post step: STATE_* from the main step's GITHUB_STATE, its GITHUB_ENV for later steps.
  const state = runnerFile(envs.main.GITHUB_STATE);
  const stateEnv = Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]));
  const post = await step(postJs, { ...envs.post, ...exported, ...inputs, ...runner, ...stateEnv, RUNNER_TOOL_CACHE: cache, [lib.MIRROR_ENV]: `${base}/releases/download` });
  show('post', post);
  if (post.code !== 0) fail(`post exited ${post.code}`);
  if (downloads.length !== 1) fail(`post downloaded again: ${JSON.stringify(downloads)}`);
  say('post: the cached binary (hashed again, not downloaded) ran revoke: exit 0');

  // 5. What the simulated PR shows.
  simulator.stdin.end();
  const report = JSON.parse(await nextSimLine());
  server.close();
  if (report.comments.length !== 1) fail(`expected one audit comment (the refused step posts none), found ${report.comments.length}`);
  const status = (report.comments[0].match(/\*\*Status:\*\*[^\n]*/) || [''])[0];
  if (!/revoked|not revocable/.test(status)) fail(`the audit comment was not edited by revoke: ${status || report.comments[0].slice(0, 200)}`);
  say(`the audit comment on PR #42, edited by the post step: ${status}`);
  say(`${report.requests} requests reached the simulated GitHub API`);
  if (process.env.REHEARSAL_START) say(`rehearsed in ${Math.round(Date.now() / 1000) - Number(process.env.REHEARSAL_START)}s`);
  const quick = process.env.REHEARSAL_QUICK === '1' ? ' [quick: the debug build stood in for the release binary]' : '';
  say(`the shim granted through a downloaded, verified binary (${want})${quick}`);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
