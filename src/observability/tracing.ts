// Optional OpenTelemetry tracing (issue 18 item 7): with telemetry.otlp_endpoint set, spans go over OTLP/HTTP to a
// collector (Jaeger, Tempo, the OpenTelemetry Collector). The HTTP request that starts a rebuild is the root span;
// Temporal's OpenTelemetry interceptors carry its context in the workflow's and activities' headers, so the workflow
// run, every activity and the workflow's own spans are children of that request: one rebuild is one trace.
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface Tracing {
  resource: Resource;
  exporter: SpanExporter;
  processor: SpanProcessor; // the workflow spans (from the sandbox, through a sink) go through it too
  /** Client interceptors that put the active span's context into the workflow's headers. */
  clientInterceptors(): { workflow: OpenTelemetryWorkflowClientInterceptor[] };
  /** Sends what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** Starts tracing to `endpoint` (OTLP/HTTP, `<endpoint>/v1/traces`) as the global tracer provider. */
export function startTracing(endpoint: string, o: { serviceName: string; version: string; exportDelayMs?: number }): Tracing {
  const resource = new Resource({ 'service.name': o.serviceName, 'service.version': o.version });
  const exporter = new OTLPTraceExporter({ url: `${endpoint}/v1/traces` });
  const processor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: o.exportDelayMs ?? 2000 });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    resource,
    exporter,
    processor,
    clientInterceptors: () => ({ workflow: [new OpenTelemetryWorkflowClientInterceptor()] }),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/**
 * One server span per HTTP request, named by route pattern (`POST /api/hosts/:id/rebuild`), active while the
 * request is handled (so a rebuild started there is its child), ended with the status code.
 */
export function traceRequests(app: FastifyInstance): void {
  const tracer = trace.getTracer('provisioning-gateway');
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const parent = propagation.extract(context.active(), request.headers);
    const span = tracer.startSpan(`${request.method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'http.route': route, 'client.address': request.ip } }, parent);
    // The response's close: sent, or the client gone (an SSE stream ends only so).
    reply.raw.once('close', () => {
      span.setAttribute('http.response.status_code', reply.raw.statusCode);
      if (reply.raw.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), done);
  });
}
