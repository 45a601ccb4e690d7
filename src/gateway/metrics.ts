import { Counter, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of the gateway; the console serves the registry at `/metrics`. */
export class GatewayMetrics {
  readonly registry: Registry;
  readonly #requests: Counter<'status'>;
  readonly #duration: Histogram<'outcome'>;
  readonly #byStatus = new Map<number, Counter.Internal>();
  readonly #proxied: Histogram.Internal<'outcome'>;
  readonly #local: Histogram.Internal<'outcome'>;

  constructor(registry = new Registry()) {
    this.registry = registry;
    this.#requests = new Counter({
      name: 'tollgate_gateway_requests_total',
      help: 'Requests answered by the gateway, by HTTP status',
      labelNames: ['status'],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: 'tollgate_gateway_request_duration_seconds',
      help: 'Time from request to the end of the response; outcome: proxied or local (answered by the gateway)',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.#proxied = this.#duration.labels('proxied');
    this.#local = this.#duration.labels('local');
  }

  observe(status: number, seconds: number, proxied: boolean): void {
    let counter = this.#byStatus.get(status);
    if (counter === undefined) {
      counter = this.#requests.labels(String(status));
      this.#byStatus.set(status, counter);
    }
    counter.inc();
    (proxied ? this.#proxied : this.#local).observe(seconds);
  }
}
