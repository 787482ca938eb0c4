// `npm run bench`: starts Apache mod_dav (on a tmpfs when allowed), nginx as a bare
// reverse proxy in front of it, the davcrypt gateway twice (child processes, encrypting
// mount over that Apache; server.workers 1 and N) and `rclone serve webdav` + crypt,
// measures the issue-15 metrics against each (large transfers timed with curl, small-GET
// throughput with wrk), prints one table and writes bench/results/latest.json. Peers
// whose binaries or entry points are missing are skipped with the reason printed.
// Options: bench/README.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { apacheAvailable, startApache, type ApacheServer } from '../test/helpers/apache.js';
import { basicAuth, createAgent } from './lib/client.js';
import { buildDist, compileGateway, davcryptAvailable, startDavcrypt, type DavcryptServer } from './lib/davcrypt.js';
import { measurePeer, type PeerUnderTest } from './lib/measure.js';
import { parseOptions, type BenchOptions, type PeerId } from './lib/options.js';
import { readCpuProfile, renderProfile, summarizeCpuProfile } from './lib/cpuprofile.js';
import { clientSha256MBs, Payload } from './lib/payload.js';
import { which } from './lib/procs.js';
import { rcloneAvailable, startRcloneCrypt, type RcloneServer } from './lib/rclone.js';
import { buildRows, describeMachine, renderCpuTable, renderTable, type AllResults } from './lib/report.js';
import { createScratch } from './lib/scratch.js';
import { curlAvailable } from './lib/curl.js';
import { nginxAvailable, startNginxProxy, type NginxServer } from './lib/nginx.js';
import { startNodeProxy, type NodeProxyServer } from './lib/node-proxy.js';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (line: string): void => { process.stderr.write(line + '\n'); };

function firstLine(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').split('\n')[0]?.trim() || undefined;
}

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    log((err as Error).message);
    return 2;
  }
  const started = Date.now();
  const loadAvgStart = loadavg()[0]!;
  if (loadAvgStart > 0.5) log(`warning: load average ${loadAvgStart.toFixed(2)} before start; other processes will skew the numbers`);
  const MiB = 1024 * 1024;
  const user = 'bench';
  const password = randomBytes(12).toString('base64url');
  const backendPassword = randomBytes(12).toString('base64url');
  const skipped: Partial<Record<PeerId, string>> = {};
  const payload = new Payload();
  const shaMBs = clientSha256MBs();
  log(`client sha256: ${shaMBs.toFixed(0)} MB/s (ceiling for verified GETs)`);

  // The backend's copies (one peer's at a time), the curl payload file and the small files.
  const scratch = createScratch(Math.max(4 * 1024 * MiB, 3 * opts.sizeMiB * MiB + 1024 * MiB), !opts.noTmpfs);
  log(`storage: ${scratch.description}`);
  const davRoot = join(scratch.dir, 'dav');
  for (const d of ['', 'direct', 'nginx', 'nodeproxy', 'davcrypt', 'davcryptN', 'rclone']) mkdirSync(join(davRoot, d), { recursive: true });
  chmodSync(scratch.dir, 0o755);
  const useCurl = !opts.noCurl && curlAvailable();
  let payloadFile: string | undefined;
  if (useCurl) {
    payloadFile = join(scratch.dir, 'payload.bin');
    await pipeline(Readable.from(payload.stream(opts.sizeMiB * MiB)), createWriteStream(payloadFile));
    log(`curl payload: ${payloadFile} (${opts.sizeMiB} MiB)`);
  }

  let apache: ApacheServer | undefined;
  let nginx: NginxServer | undefined;
  let nodeProxy: NodeProxyServer | undefined;
  let gateway: DavcryptServer | undefined;
  let gatewayN: DavcryptServer | undefined;
  let rclone: RcloneServer | undefined;
  const apacheMissing = apacheAvailable();
  if (apacheMissing) {
    skipped.apache = apacheMissing;
  } else {
    try {
      apache = await startApache({ root: davRoot, user, password: backendPassword });
      log(`apache: ${apache.url} (config and logs in ${apache.serverDir})`);
    } catch (err) {
      skipped.apache = (err as Error).message;
    }
  }
  const backendUrl = (folder: string): string => `${apache!.url}${folder}/`;

  if (opts.peers.has('nginx')) {
    const a = nginxAvailable();
    if (!a.ok) skipped.nginx = a.reason;
    else if (!apache) skipped.nginx = 'needs the Apache backend, which is not running';
    else {
      try {
        nginx = await startNginxProxy(apache.port);
        log(`nginx: ${nginx.url} (pid ${nginx.pid}, ${nginx.version})`);
      } catch (err) {
        skipped.nginx = (err as Error).message;
      }
    }
  }

  if (opts.peers.has('nodeproxy')) {
    if (!apache) skipped.nodeproxy = 'needs the Apache backend, which is not running';
    else {
      try {
        nodeProxy = await startNodeProxy(repoRoot, apache.port);
        log(`node bare proxy: ${nodeProxy.url} (pid ${nodeProxy.pid})`);
      } catch (err) {
        skipped.nodeproxy = (err as Error).message;
      }
    }
  }

  let built = false;
  for (const id of ['davcrypt', 'davcryptN'] as const) {
    if (!opts.peers.has(id)) continue;
    const a = davcryptAvailable(repoRoot);
    if (!a.ok) skipped[id] = a.reason;
    else if (!apache) skipped[id] = 'needs the Apache backend, which is not running';
    else {
      try {
        if (!built) {
          if (opts.cpuProfDir) mkdirSync(opts.cpuProfDir, { recursive: true });
          if (opts.runtime === 'node') log(`davcrypt: tsc into bench/results/build: ${compileGateway(repoRoot)}`);
          if (opts.runtime === 'bin') log(`davcrypt: npm run build (dist/): ${buildDist(repoRoot)}`);
          built = true;
        }
        const workers = id === 'davcrypt' ? 1 : opts.workers;
        const gw = await startDavcrypt({
          repoRoot, backendUrl: backendUrl(id), backendUser: user, backendPassword,
          user, password, cpuProfDir: opts.cpuProfDir, runtime: opts.runtime, nodeFlags: opts.gatewayNodeFlags, workers,
        });
        if (id === 'davcrypt') gateway = gw;
        else gatewayN = gw;
        log(`davcrypt (${workers} worker${workers > 1 ? 's' : ''}): ${gw.url} (pid ${gw.pid}, runtime ${opts.runtime}, log ${gw.logPath})`);
      } catch (err) {
        skipped[id] = (err as Error).message;
      }
    }
  }
  if (opts.peers.has('rclone')) {
    const a = rcloneAvailable();
    if (!a.ok) skipped.rclone = a.reason;
    else if (!apache) skipped.rclone = 'needs the Apache backend, which is not running';
    else {
      try {
        rclone = await startRcloneCrypt({ backendUrl: backendUrl('rclone'), backendUser: user, backendPassword, user, password });
        log(`rclone: ${rclone.url} (pid ${rclone.pid}, ${rclone.version})`);
      } catch (err) {
        skipped.rclone = (err as Error).message;
      }
    }
  }
  for (const id of ['apache', 'nginx', 'nodeproxy', 'davcrypt', 'davcryptN', 'rclone'] as const) {
    if (!opts.peers.has(id)) skipped[id] ??= 'not selected (--peers)';
  }
  for (const [peer, reason] of Object.entries(skipped)) log(`skipped ${peer}: ${reason}`);

  const peers: Array<PeerUnderTest & { id: PeerId }> = [];
  if (apache && opts.peers.has('apache')) {
    peers.push({ id: 'apache', label: 'Apache direct', target: { baseUrl: backendUrl('direct'), authorization: basicAuth(user, backendPassword) }, pid: apache.pid });
  }
  if (nginx) peers.push({ id: 'nginx', label: 'nginx proxy', target: { baseUrl: `${nginx.url}${new URL(backendUrl('nginx')).pathname}`, authorization: basicAuth(user, backendPassword) }, pid: nginx.pid });
  if (nodeProxy) peers.push({ id: 'nodeproxy', label: 'Node bare proxy', target: { baseUrl: `${nodeProxy.url}${new URL(backendUrl('nodeproxy')).pathname}`, authorization: basicAuth(user, backendPassword) }, pid: nodeProxy.pid });
  if (gateway) peers.push({ id: 'davcrypt', label: 'davcrypt 1 worker', target: { baseUrl: gateway.url + '/', authorization: basicAuth(user, password) }, pid: gateway.pid });
  if (gatewayN) peers.push({ id: 'davcryptN', label: `davcrypt ${opts.workers} workers`, target: { baseUrl: gatewayN.url + '/', authorization: basicAuth(user, password) }, pid: gatewayN.pid });
  if (rclone) peers.push({ id: 'rclone', label: 'rclone crypt', target: { baseUrl: rclone.url + '/', authorization: basicAuth(user, password) }, pid: rclone.pid });

  const useWrk = !opts.noWrk && which('wrk') !== undefined;
  const agent = createAgent();
  const results: AllResults = {};
  try {
    for (const peer of peers) {
      log(`measuring ${peer.label} …`);
      const t0 = Date.now();
      results[peer.id] = await measurePeer(peer, opts, payload, agent, useWrk, log, { curlPayloadFile: payloadFile });
      log(`  ${peer.label} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await agent.close();
    await gateway?.stop();
    await gatewayN?.stop();
    await nginx?.stop();
    await nodeProxy?.stop();
    await rclone?.stop();
    await apache?.stop();
    scratch.dispose();
    if (opts.runtime === 'node') rmSync(join(repoRoot, 'bench/results/build'), { recursive: true, force: true });
  }

  const machine = describeMachine(scratch.description, {
    apache: apache ? firstLine('apache2', ['-v'])?.replace(/^Server version:\s*/, '') : undefined,
    nginx: nginx?.version,
    rclone: rclone?.version,
    wrk: useWrk ? firstLine('wrk', ['-v'])?.replace(/ Copyright.*$/, '') : undefined,
    curl: useCurl ? firstLine('curl', ['--version'])?.split(' ').slice(0, 2).join(' ') : undefined,
  }, loadAvgStart);
  machine.clientSha256MBs = Math.round(shaMBs);
  const rows = buildRows(results, opts);
  const missing = Object.fromEntries((['apache', 'nginx', 'nodeproxy', 'davcrypt', 'davcryptN', 'rclone'] as const).map((id) => [id, skipped[id] ? 'skipped' : 'error']));
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write('\n' + renderTable(rows, missing, opts.workers) + '\n\n');
  const cpuTable = renderCpuTable(results, opts, opts.workers);
  if (cpuTable) process.stdout.write(cpuTable + '\n\n');
  process.stdout.write(
    `machine: ${machine.nproc} cores, ${machine.cpuModel}, ${machine.memTotalMiB} MiB RAM, node ${machine.node}, kernel ${machine.kernel}\n` +
      `backend storage: ${machine.storage}\npeers: ${machine.apache ?? '-'}; nginx ${machine.nginx ?? '-'}; davcrypt via ${{ bin: 'bin/davcrypt.js on dist/ (npm run build, as npm start)', tsx: 'tsx (src/cli.ts)', node: 'node on tsc output' }[opts.runtime]}${opts.gatewayNodeFlags.length ? ' ' + opts.gatewayNodeFlags.join(' ') : ''}; ${machine.rclone ?? '-'}; large PUT/GET via ${useCurl ? machine.curl ?? 'curl' : 'undici'}; small GETs via ${useWrk ? machine.wrk ?? 'wrk' : 'undici'}; other requests via undici; client sha256 ${machine.clientSha256MBs} MB/s\n` +
      `options: size ${opts.sizeMiB} MiB, reps ${opts.reps}, ${opts.smallCount} small files x ${opts.smallReps}, ${opts.rangeRequests} range GETs, ` +
      `${opts.propfindRequests} PROPFINDs, small GET ${opts.smallGetSeconds} s x ${opts.reps}; MB = 10^6 bytes; medians of reps\n` +
      `load average (1 min) ${machine.loadAvgStart?.toFixed(2)} at start, ${machine.loadAvgEnd?.toFixed(2)} at end; total ${seconds.toFixed(0)} s\n`,
  );
  for (const [peer, reason] of Object.entries(skipped)) process.stdout.write(`skipped ${peer}: ${reason.split('\n')[0]}\n`);
  for (const [peer, r] of Object.entries(results)) {
    for (const [metric, msg] of Object.entries(r?.errors ?? {})) process.stdout.write(`error ${peer} ${metric}: ${msg}\n`);
  }

  const jsonPath = resolve(repoRoot, opts.jsonPath);
  mkdirSync(dirname(jsonPath), { recursive: true });
  const json = {
    date: new Date().toISOString(),
    machine,
    options: { ...opts, only: [...opts.only], peers: [...opts.peers] },
    skipped,
    rows,
    results,
    seconds,
  };
  writeFileSync(jsonPath, JSON.stringify(json, null, 2) + '\n');
  process.stdout.write(`wrote ${opts.jsonPath}\n`);
  if (opts.cpuProfDir) {
    const dir = resolve(repoRoot, opts.cpuProfDir);
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx's loader has its own).
    const profiles = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f)).map((f) => join(dir, f));
    const newest = profiles.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    if (newest) {
      const profile = readCpuProfile(newest);
      process.stdout.write(`\ndavcrypt CPU profile ${relative(repoRoot, newest)}\n`);
      const phases = results.davcrypt?.phases ?? [];
      if (!phases.length) process.stdout.write(renderProfile(summarizeCpuProfile(profile)) + '\n');
      for (const phase of phases) process.stdout.write(renderProfile(summarizeCpuProfile(profile, 25, phase), 10, 18) + '\n');
    }
    else process.stdout.write(`no .cpuprofile in ${opts.cpuProfDir} (did the gateway exit cleanly on SIGINT?)\n`);
  }
  const hadErrors = Object.values(results).some((r) => r?.errors && Object.keys(r.errors).length > 0);
  return hadErrors ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
