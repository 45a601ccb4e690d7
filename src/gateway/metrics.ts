import { Counter, type MetricObjectWithValues, type MetricValueWithName, Registry } from 'prom-client';

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const OUTCOMES = ['proxied', 'local'] as const;

/**
 * `tollgate_gateway_request_duration_seconds`: a Prometheus histogram whose observation is a
 * few array writes (the request path's cost); the exposition is built only when scraped.
 */
class DurationHistogram {
  readonly name = 'tollgate_gateway_request_duration_seconds';
  readonly help =
    'Time from request to the end of the response; outcome: proxied or local (answered by the gateway)';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  /** Per outcome: one count per bucket plus +Inf (not cumulative). */
  #counts = OUTCOMES.map(() => new Float64Array(DURATION_BUCKETS.length + 1));
  #sums = new Float64Array(OUTCOMES.length);

  observe(outcome: 0 | 1, seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[i] as number)) i++;
    const counts = this.#counts[outcome] as Float64Array;
    counts[i] = (counts[i] as number) + 1;
    this.#sums[outcome] = (this.#sums[outcome] as number) + seconds;
  }

  async get(): Promise<Omit<MetricObjectWithValues<MetricValueWithName<string>>, 'collect'>> {
    const values: MetricValueWithName<string>[] = [];
    const bucket = `${this.name}_bucket`;
    OUTCOMES.forEach((outcome, o) => {
      const counts = this.#counts[o] as Float64Array;
      let total = 0;
      for (let i = 0; i < counts.length; i++) total += counts[i] as number;
      if (total === 0) return;
      let acc = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        acc += counts[i] as number;
        values.push({ metricName: bucket, labels: { le, outcome }, value: acc });
      });
      values.push({ metricName: bucket, labels: { le: '+Inf', outcome }, value: total });
      values.push({ metricName: `${this.name}_sum`, labels: { outcome }, value: this.#sums[o] as number });
      values.push({ metricName: `${this.name}_count`, labels: { outcome }, value: total });
    });
    return { name: this.name, help: this.help, type: this.type as never, values, aggregator: 'sum' };
  }

  reset(): void {
    for (const counts of this.#counts) counts.fill(0);
    this.#sums.fill(0);
  }
}

/**
 * Prometheus metrics of the gateway; the console serves the registry at `/metrics`.
 * Observing a request costs a few array writes; prom-client sees the counts when scraped.
 */
export class GatewayMetrics {
  readonly registry: Registry;
  readonly #requests: Counter<'status'>;
  readonly #duration = new DurationHistogram();
  /** Requests by status not yet handed to the prom-client counter. */
  readonly #pending = new Float64Array(600);

  constructor(registry = new Registry()) {
    this.registry = registry;
    const pending = this.#pending;
    this.#requests = new Counter({
      name: 'tollgate_gateway_requests_total',
      help: 'Requests answered by the gateway, by HTTP status',
      labelNames: ['status'],
      registers: [registry],
      collect() {
        for (let status = 0; status < pending.length; status++) {
          const n = pending[status] as number;
          if (n === 0) continue;
          pending[status] = 0;
          this.inc({ status: String(status) }, n);
        }
      },
    });
    registry.registerMetric(this.#duration as never);
  }

  observe(status: number, seconds: number, proxied: boolean): void {
    if (status >= 0 && status < 600) this.#pending[status] = (this.#pending[status] as number) + 1;
    else this.#requests.inc({ status: String(status) });
    this.#duration.observe(proxied ? 0 : 1, seconds);
  }
}
