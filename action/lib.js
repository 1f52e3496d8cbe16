'use strict';
// The shared part of the action's shim: pick the binary for this runner, fetch it from the
// release of this action's version (or a mirror, PROD_ACCESS_RELEASE_URL), verify its sha256
// against the table committed next to this file (filled by the release in the tagged commit:
// docs/releasing.md), cache it, and run it with the runner's environment unchanged.
//
// No npm dependencies and no build step: what runs is what is reviewed.
// See: https://docs.github.com/actions/sharing-automations/creating-actions/creating-a-javascript-action

const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

/** The binary version this commit of the action runs; equals Cargo.toml's (a test checks). */
const VERSION = '0.1.0';
/** Where the release binaries live. SECURITY: the download is trusted only through its sha256. */
const REPOSITORY = 'prod-access/prod-access';
const MAX_BYTES = 64 * 1024 * 1024;
const MAX_REDIRECTS = 5;

const TARGETS = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
};

class ShimError extends Error {
  /** @param {string} message @param {number} exitCode contract §5: 2 configuration, 3 upstream */
  constructor(message, exitCode) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The release asset for a platform, or a ShimError (exit 2) for one we do not build. */
function assetName(platform, arch) {
  const target = TARGETS[`${platform}-${arch}`];
  if (!target) {
    throw new ShimError(
      `prod-access: no binary for ${platform}/${arch}; supported: ${Object.keys(TARGETS).join(', ')}` +
        ' (set PROD_ACCESS_BIN to a binary you built)',
      2,
    );
  }
  return `prod-access-${target}`;
}

/**
 * The version to run. A full `vX.Y.Z` action ref must name VERSION itself (the checksums in
 * this commit are for VERSION only); anything else (`v1`, a commit sha, a branch) runs VERSION.
 */
function releaseVersion(env) {
  const ref = env.GITHUB_ACTION_REF || '';
  const m = /^v(\d+\.\d+\.\d+)$/.exec(ref);
  if (m && m[1] !== VERSION) {
    throw new ShimError(
      `prod-access: action ref ${ref} does not match the shim's version v${VERSION}`,
      2,
    );
  }
  return VERSION;
}

function loadChecksums(file = path.join(__dirname, 'checksums.json')) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The committed sha256 for an asset, or a ShimError: SECURITY: no entry, no run. */
function expectedSha256(checksums, version, asset) {
  const sha = checksums && checksums[version] && checksums[version][asset];
  if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)) {
    throw new ShimError(
      `prod-access: action/checksums.json has no sha256 for ${asset} v${version}; refusing to run an unverified binary`,
      2,
    );
  }
  return sha;
}

function sha256(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** GET over https only (redirects too), size-capped. Resolves to a Buffer. */
function httpsGet(url, redirects = 0) {
  return new Promise((resolve, reject) => {
    let u;
    try {
      u = new URL(url);
    } catch {
      return reject(new ShimError(`prod-access: bad download URL`, 3));
    }
    if (u.protocol !== 'https:') {
      return reject(new ShimError(`prod-access: refusing a non-https download (${u.protocol})`, 3));
    }
    const req = https.get(u, { headers: { 'user-agent': `prod-access-action/${VERSION}` }, timeout: 60_000 }, (res) => {
      const status = res.statusCode || 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) return reject(new ShimError('prod-access: too many redirects', 3));
        return resolve(httpsGet(new URL(res.headers.location, u).toString(), redirects + 1));
      }
      if (status !== 200) {
        res.resume();
        return reject(new ShimError(`prod-access: download failed: HTTP ${status} for ${u.origin}${u.pathname}`, 3));
      }
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size > MAX_BYTES) {
          req.destroy();
          reject(new ShimError('prod-access: download larger than expected', 3));
        } else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', (e) => reject(new ShimError(`prod-access: download failed: ${e.message}`, 3)));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new ShimError(`prod-access: download failed: ${e.message}`, 3)));
  });
}

/** The environment variable naming a mirror of the release downloads (see releaseBase). */
const MIRROR_ENV = 'PROD_ACCESS_RELEASE_URL';

/**
 * The base URL the release assets are fetched from: `<base>/v<version>/<asset>`. By default
 * GitHub's releases of REPOSITORY; `PROD_ACCESS_RELEASE_URL` names a mirror (a GitHub
 * Enterprise Server runner that cannot reach github.com, an internal artifact store, the
 * release rehearsal's loopback server). SECURITY: a mirror only changes where the bytes come
 * from; what may run is still decided by the sha256 in checksums.json of this commit of the
 * action, so a mirror can make the step fail, never run other bytes. It must be https (a
 * mirror cannot downgrade the transport), and may carry no credentials, query or fragment
 * (they would end up in logs).
 */
function releaseBase(env = {}) {
  const raw = env[MIRROR_ENV];
  if (!raw) return `https://github.com/${REPOSITORY}/releases/download`;
  let u;
  try {
    u = new URL(raw);
  } catch {
    throw new ShimError(`prod-access: ${MIRROR_ENV} is not a URL`, 2);
  }
  if (u.protocol !== 'https:' || u.username || u.password || u.search || u.hash) {
    throw new ShimError(
      `prod-access: ${MIRROR_ENV} must be an https URL without credentials, query or fragment`,
      2,
    );
  }
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

function downloadUrl(version, asset, env = {}) {
  return `${releaseBase(env)}/v${version}/${asset}`;
}

/**
 * The path of a verified binary. The bytes come from the tool cache if their hash still
 * matches, else from a fresh download that matches; nothing unverified is ever written
 * executable. SECURITY: what runs is a private copy of the bytes that were hashed (a fresh
 * 0700 directory), not the shared cache file, which could change between check and exec.
 */
async function verifiedBinary({ env = process.env, platform = process.platform, arch = process.arch, checksums, download = httpsGet } = {}) {
  const asset = assetName(platform, arch);
  const version = releaseVersion(env);
  const want = expectedSha256(checksums || loadChecksums(), version, asset);
  const url = downloadUrl(version, asset, env);
  const root = env.RUNNER_TOOL_CACHE || env.RUNNER_TEMP || os.tmpdir();
  const dir = path.join(root, 'prod-access', version, `${platform}-${arch}`);
  const cached = path.join(dir, 'prod-access');
  let bytes = null;
  // SECURITY: the tool cache is writable by earlier steps: the cached file is hashed again.
  if (fs.existsSync(cached)) {
    const b = fs.readFileSync(cached);
    if (sha256(b) === want) bytes = b;
    else {
      process.stderr.write(`prod-access: cached binary ${cached} does not match its sha256; downloading again\n`);
      fs.rmSync(cached, { force: true });
    }
  }
  if (!bytes) {
    const b = await download(url);
    const got = sha256(b);
    if (got !== want) {
      throw new ShimError(
        `prod-access: sha256 mismatch for ${asset} v${version}: expected ${want}, got ${got}; refusing to run it`,
        3,
      );
    }
    bytes = b;
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${cached}.${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
    fs.writeFileSync(tmp, bytes, { mode: 0o755, flag: 'wx' });
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, cached);
  }
  const run = fs.mkdtempSync(path.join(env.RUNNER_TEMP || os.tmpdir(), 'prod-access-bin-'));
  const bin = path.join(run, 'prod-access');
  fs.writeFileSync(bin, bytes, { mode: 0o700, flag: 'wx' });
  fs.chmodSync(bin, 0o700);
  return bin;
}

/** Runs `bin subcommand` with the environment unchanged and stdio inherited; its exit code. */
function runBinary(bin, subcommand, env = process.env) {
  const r = spawnSync(bin, [subcommand], { stdio: 'inherit', env });
  if (r.error) {
    process.stderr.write(`prod-access: cannot run ${bin}: ${r.error.message}\n`);
    return 3;
  }
  if (r.status === null) {
    process.stderr.write(`prod-access: ${subcommand} was killed by ${r.signal}\n`);
    return 3;
  }
  return r.status;
}

/** The whole step: `grant` for main, `revoke` for post. Exits the process with the code. */
async function main(subcommand) {
  let code;
  try {
    const local = process.env.PROD_ACCESS_BIN;
    // PROD_ACCESS_BIN: a binary the workflow provides (tests, self-hosted runners); it is
    // run as given, without a checksum: whoever sets it controls the job already.
    const bin = local ? path.resolve(local) : await verifiedBinary();
    code = runBinary(bin, subcommand);
  } catch (e) {
    process.stderr.write(`${e instanceof ShimError ? e.message : `prod-access: ${e && e.message}`}\n`);
    code = e instanceof ShimError ? e.exitCode : 3;
  }
  process.exit(code);
}

module.exports = {
  VERSION,
  REPOSITORY,
  MIRROR_ENV,
  TARGETS,
  ShimError,
  assetName,
  releaseVersion,
  loadChecksums,
  expectedSha256,
  sha256,
  releaseBase,
  downloadUrl,
  httpsGet,
  verifiedBinary,
  runBinary,
  main,
};
