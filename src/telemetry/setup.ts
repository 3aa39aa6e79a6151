/**
 * One-call OpenTelemetry setup for a service: a NodeSDK whose metrics are
 * served on a Prometheus endpoint (and/or pushed over OTLP to a collector),
 * whose spans go to OTLP and/or a given exporter, registered as the global
 * providers.
 *
 * Order matters for metrics: a cache reads the global MeterProvider when it is
 * created, and the OpenTelemetry metrics API has no proxy (unlike tracing), so
 * a cache created BEFORE `setupTelemetry` keeps the no-op provider and reports
 * nothing. Call it first, or hand the returned `meterProvider` to such a cache:
 * `instrumentCache(cache, { meterProvider })` (or `createCache({ metrics: {
 * meterProvider } })`). Spans need no such care: the default tracing holds the
 * global proxy TracerProvider's tracer, which delegates to the SDK once it
 * registers (a second setup after a shutdown in the same process needs
 * `otelTracing({ tracerProvider })`: the proxy keeps its first delegate).
 *
 * The SDK packages are optional peer dependencies, loaded when this is called:
 * importing coherent-cache never needs them. Only what is passed here is
 * configured: the OTEL_*_EXPORTER variables are not read, no logs pipeline is
 * set up, and resource attributes come from the options, OTEL_RESOURCE_ATTRIBUTES
 * / OTEL_SERVICE_NAME, the host and the OS (not the process detector: the
 * command line would be published on the metrics endpoint).
 */
import { metrics, ProxyTracerProvider, trace, type Attributes, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import type { IMetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { dropClosedCaches } from './otel-metrics.ts';

export interface TelemetryOptions {
  /** `service.name` of the resource (wins over OTEL_SERVICE_NAME). */
  serviceName: string;
  /** Port of the Prometheus endpoint (`/metrics`). Default 9464; `false` for none (e.g. push-only through `otlpEndpoint`). */
  port?: number | false;
  /** Interface the Prometheus endpoint listens on. Default `0.0.0.0` (a scraper on another host must reach it); `127.0.0.1` keeps it local. */
  host?: string;
  /** More resource attributes (e.g. `service.version`, `deployment.environment.name`). */
  resourceAttributes?: Attributes;
  /**
   * Base URL of an OTLP/HTTP receiver (e.g. an OpenTelemetry Collector at
   * `http://127.0.0.1:4318`): metrics are pushed to `<url>/v1/metrics` every
   * `otlpInterval` ms and spans to `<url>/v1/traces`, in protobuf. Instead of
   * (`port: false`) or in addition to the Prometheus endpoint.
   */
  otlpEndpoint?: string;
  /** How often metrics are pushed to `otlpEndpoint`, in ms. Default 60 000. */
  otlpInterval?: number;
  /** Another destination for spans (batched). */
  traceExporter?: SpanExporter;
}

export interface Telemetry {
  /** The SDK's MeterProvider (the global one from now on): for caches created before the setup. */
  readonly meterProvider: MeterProvider;
  /** Where Prometheus scrapes, e.g. `http://127.0.0.1:9464/metrics`; undefined with `port: false` (or OTEL_SDK_DISABLED=true). */
  readonly metricsUrl: string | undefined;
  /** Flushes and stops everything, frees the port and unregisters the global providers. Idempotent. */
  shutdown(): Promise<void>;
}

const DEFAULT_PORT = 9464;
const DEFAULT_HOST = '0.0.0.0';

/** Starts the OpenTelemetry NodeSDK. Rejects when the port is taken or another SDK already owns the global providers. */
export async function setupTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const { serviceName, otlpEndpoint, traceExporter } = options;
  if (typeof serviceName !== 'string' || serviceName === '') throw new TypeError('setupTelemetry: serviceName must be a non-empty string');
  const port = options.port ?? DEFAULT_PORT;
  if (port !== false && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    // The exporter would turn 0 into its default port.
    throw new TypeError(`setupTelemetry: port must be a whole number from 1 to 65535, or false, got ${String(port)}`);
  }
  const host = options.host ?? DEFAULT_HOST;
  if (process.env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') {
    // The operator's switch (the NodeSDK would start nothing either): no endpoint, no export, the global no-op providers.
    return { meterProvider: metrics.getMeterProvider(), metricsUrl: undefined, shutdown: () => Promise.resolve() };
  }
  const otlpBase = otlpEndpoint?.replace(/\/+$/, '');

  const [{ NodeSDK }, resources, { PrometheusExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/exporter-prometheus'),
  ]);

  const metricReaders: IMetricReader[] = [];
  let prometheus: InstanceType<typeof PrometheusExporter> | undefined;
  if (port !== false) {
    // Started here rather than by the constructor, so that a taken port rejects instead of only being logged.
    // Closed caches leave the scrape (the SDK alone would export their last values forever): see dropClosedCaches.
    prometheus = dropClosedCaches(new PrometheusExporter({ port, host, preventServerStart: true }));
    metricReaders.push(prometheus);
  }
  const spanProcessors: SpanProcessor[] = [];
  if (otlpBase !== undefined) {
    const [{ PeriodicExportingMetricReader }, { OTLPMetricExporter }, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
      import('@opentelemetry/sdk-metrics'),
      import('@opentelemetry/exporter-metrics-otlp-proto'),
      import('@opentelemetry/exporter-trace-otlp-proto'),
      import('@opentelemetry/sdk-trace'),
    ]);
    metricReaders.push(
      dropClosedCaches(
        new PeriodicExportingMetricReader({
          exporter: new OTLPMetricExporter({ url: `${otlpBase}/v1/metrics` }),
          ...(options.otlpInterval === undefined ? {} : { exportIntervalMillis: options.otlpInterval }),
        }),
      ),
    );
    spanProcessors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${otlpBase}/v1/traces` }) }));
  }
  if (traceExporter !== undefined) {
    const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
    spanProcessors.push(new BatchSpanProcessor({ exporter: traceExporter }));
  }

  const sdk = new NodeSDK({
    serviceName,
    resource: resources.defaultResource().merge(resources.resourceFromAttributes(options.resourceAttributes ?? {})),
    resourceDetectors: [resources.envDetector, resources.hostDetector, resources.osDetector],
    metricReaders,
    // Explicitly empty rather than absent: absent would configure OTLP exporters from the environment.
    spanProcessors,
    logRecordProcessors: [],
  });

  const meterBefore = metrics.getMeterProvider();
  const tracerBefore = tracerDelegate();
  sdk.start();
  const meterProvider = metrics.getMeterProvider();
  const ownsMeter = metricReaders.length > 0 && meterProvider !== meterBefore;
  const ownsTracer = spanProcessors.length > 0 && tracerDelegate() !== tracerBefore;

  let stopped: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        await sdk.shutdown();
      } finally {
        // NodeSDK.shutdown leaves its providers registered: release them so a later setup can register its own.
        if (ownsMeter && metrics.getMeterProvider() === meterProvider) metrics.disable();
        if (ownsTracer) trace.disable();
      }
    })();
    return stopped;
  };

  const taken = [metricReaders.length > 0 && !ownsMeter ? 'MeterProvider' : undefined, spanProcessors.length > 0 && !ownsTracer ? 'TracerProvider' : undefined].filter((p) => p !== undefined);
  if (taken.length > 0) {
    await shutdown();
    throw new Error(`setupTelemetry: a global ${taken.join(' and ')} is already registered (another SDK, or a setupTelemetry not shut down)`);
  }
  try {
    await prometheus?.startServer();
  } catch (error) {
    await shutdown();
    throw error;
  }

  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    meterProvider,
    metricsUrl: port === false ? undefined : `http://${urlHost}:${port}/metrics`,
    shutdown,
  };
}

/** What the global TracerProvider currently delegates to (the API hands out a proxy). */
function tracerDelegate(): TracerProvider {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
}
