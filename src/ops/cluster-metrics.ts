// /metrics for a gateway of several worker processes (server.workers): a scrape reaches one
// worker, which asks the serve primary over the cluster IPC channel; the primary collects
// every worker's registry (prom-client's AggregatorRegistry) and answers with their
// aggregate, so one scrape reports the whole gateway: counters and histograms summed,
// gauges summed unless the metric says otherwise (davcrypt_ready: min, build info: first).
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { davError } from '../errors.js';

const REQUEST = 'metrics';
const RESULT = 'metrics-result';
/** AggregatorRegistry waits 5 s for the workers; a little longer here. */
const SCRAPE_TIMEOUT_MS = 6_000;

interface ScrapeRequest { davcrypt: typeof REQUEST; id: number }
interface ScrapeResult { davcrypt: typeof RESULT; id: number; body?: string; error?: string }

/** In the serve primary: answers the workers' scrape requests. Returns the function that stops it. */
export function answerClusterScrapes(): () => void {
  const aggregator = new AggregatorRegistry();
  const onMessage = (worker: Worker, m: unknown) => {
    const msg = m as Partial<ScrapeRequest> | undefined;
    if (msg?.davcrypt !== REQUEST || typeof msg.id !== 'number') return;
    const id = msg.id;
    const reply = (r: Omit<ScrapeResult, 'davcrypt' | 'id'>) => {
      if (worker.isConnected()) worker.send({ davcrypt: RESULT, id, ...r } satisfies ScrapeResult);
    };
    aggregator.clusterMetrics().then((body) => reply({ body }), (err: unknown) => reply({ error: (err as Error)?.message ?? String(err) }));
  };
  cluster.on('message', onMessage);
  return () => { cluster.off('message', onMessage); };
}

/**
 * In a worker: offers `registry` to the primary's aggregation and returns the scrape that asks
 * the primary for the whole gateway. The scrape rejects when the primary does not answer in time.
 */
export function clusterScrape(registry: Registry): () => Promise<string> {
  new AggregatorRegistry(); // installs the worker's answer to the primary's collection
  AggregatorRegistry.setRegistries([registry]);
  let next = 0;
  return () => new Promise<string>((resolve, reject) => {
    const id = next++;
    const done = (fn: () => void) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      fn();
    };
    const onMessage = (m: unknown) => {
      const msg = m as Partial<ScrapeResult> | undefined;
      if (msg?.davcrypt !== RESULT || msg.id !== id) return;
      done(() => (msg.error !== undefined ? reject(davError('DC_ERR_INTERNAL', `metrics of the other workers: ${msg.error}`)) : resolve(msg.body ?? '')));
    };
    const timer = setTimeout(() => done(() => reject(davError('DC_ERR_INTERNAL', 'metrics of the other workers: no answer from the primary'))), SCRAPE_TIMEOUT_MS);
    process.on('message', onMessage);
    if (!process.send) {
      done(() => reject(davError('DC_ERR_INTERNAL', 'not a cluster worker')));
      return;
    }
    process.send({ davcrypt: REQUEST, id } satisfies ScrapeRequest);
  });
}
