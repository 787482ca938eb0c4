// Login burst: while 200 wrong logins arrive at once, how long does a verified user's
// GET take? Real argon2 cost (the default m=64 MiB, t=3, p=4), the real gateway on
// 127.0.0.1, a 64 KiB encrypted file. Two bursts: from one address (the throttle
// refuses most before any argon2), and from 200 addresses via a trusted proxy's
// X-Forwarded-For, for one user name and for 200 names (only the argon2 gate bounds the work). The burst comes from a
// separate node process, so its client work does not share the gateway's event loop.
//   npx tsx bench/login-burst.ts            (LEGACY=1: no config keys older trees lack)
import { spawn } from 'node:child_process';
import { request } from 'undici';
import { DEFAULT_ARGON2_PARAMS } from '../src/crypto/index.js';
import { startTestGateway } from '../test/helpers/gateway.js';

const legacy = process.env.LEGACY === '1';

async function timedGet(url: URL, auth: string): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  const res = await request(url, { headers: { authorization: auth } });
  await res.body.dump();
  return { ms: performance.now() - t0, status: res.statusCode };
}

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(1);
  return `n=${s.length} median=${q(0.5)} ms p95=${q(0.95)} ms max=${s[s.length - 1]!.toFixed(1)} ms`;
}

const gw = await startTestGateway({
  users: {}, encrypt: true,
  config: { keys: { argon2: { ...DEFAULT_ARGON2_PARAMS } }, ...(legacy ? {} : { server: { trustedProxies: ['127.0.0.1'] } }) },
});
try {
  await gw.gateway.users.accounts.add('alice', 'alice-password');
  gw.users.alice = 'alice-password';
  const auth = gw.authHeader('alice');
  const file = new URL('/file.bin', gw.url);
  const put = await request(file, { method: 'PUT', body: Buffer.alloc(65536, 7), headers: { authorization: auth } });
  await put.body.dump();
  console.log(`PUT ${put.statusCode}; argon2 m=${DEFAULT_ARGON2_PARAMS.m} t=${DEFAULT_ARGON2_PARAMS.t} p=${DEFAULT_ARGON2_PARAMS.p}${legacy ? ' (legacy tree)' : ''}`);
  const idle: number[] = [];
  for (let i = 0; i < 30; i++) idle.push((await timedGet(file, auth)).ms);
  console.log(`idle GET: ${summary(idle)}`);

  for (const [spread, names] of [[false, false], [true, false], [true, true]] as const) {
    const t0 = performance.now();
    // 200 requests at once from a child process; it prints the statuses as JSON when all are answered.
    const script = `const base = ${JSON.stringify(gw.url)}; const spread = ${spread}; const names = ${names};
      const basic = (u, p) => 'Basic ' + Buffer.from(u + ':' + p).toString('base64');
      const all = await Promise.all(Array.from({ length: 200 }, (_, i) => fetch(base, { headers: { authorization: basic(names ? 'nobody' + i : 'alice', 'wrong-' + spread + '-' + i),
        ...(spread ? { 'x-forwarded-for': '10.77.' + (i >> 8) + '.' + (i & 255) } : {}) } }).then(async (r) => { await r.arrayBuffer(); return r.status; })));
      process.stdout.write(JSON.stringify(all));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const burst = new Promise<number[]>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`burst exited ${code}`)))));
    await new Promise((res) => setTimeout(res, 150)); // let the child start and send
    let done = false;
    const all = burst.then((s) => { done = true; return s; });
    const during: number[] = [];
    const statuses = new Set<number>();
    while (!done) {
      const r = await timedGet(file, auth);
      during.push(r.ms);
      statuses.add(r.status);
      await new Promise((res) => setTimeout(res, 50));
    }
    const results = await all;
    const count = (s: number) => results.filter((x) => x === s).length;
    console.log(`burst of 200 wrong logins from ${spread ? '200 addresses' : 'one address'}${names ? ', 200 user names' : ''}: ${(performance.now() - t0).toFixed(0)} ms; ` +
      `401=${count(401)} 429=${count(429)} 503=${count(503)}; verified GET meanwhile (status ${[...statuses].join(',')}): ${summary(during)}`);
    await new Promise((res) => setTimeout(res, 500));
  }
  console.log(`argon2 runs in total: ${gw.gateway.users.authenticator.stats().argon2}`);
} finally {
  await gw.close();
}
