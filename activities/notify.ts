// A rebuild's notifications (issue 18). planNotification (a quick local activity) says which configured targets an
// event goes to and how long to retry, so the workflow's history holds target names and timing but never a URL,
// header or token; sendNotification delivers one notice to one target, once per attempt, retried by the workflow's
// policy. The targets and their secrets live in the worker's configuration only.
import { ApplicationFailure, activityInfo, log } from '@temporalio/activity';
import {
  isJsonContentType,
  renderTemplate,
  type NotificationEvent,
  type NotificationFields,
  type NotificationTarget,
  type NtfyTarget,
  type WebhookTarget,
} from '../src/config/notifications';
import { durationMs } from '../src/domain/duration';
import type { HostState } from '../src/domain/host-state-machine';
import type { RebuildFailureReason } from '../src/domain/rebuild';
import type { OperationStore } from '../src/store/operation-store';
import { rebuildRun } from './rebuild-run';

export type { NotificationEvent } from '../src/config/notifications';

/** How long a notice is retried: the workflow's retry policy of sendNotification (ms-format durations). */
export interface NotificationRetry {
  giveUpAfter: string; // 10m: then the notice is recorded as not delivered
  initialInterval: string; // 1s, doubling
  maximumInterval: string; // 1m
}

/** The retry timing unless the settings say otherwise (tests shorten it). */
export const defaultNotificationRetry: NotificationRetry = { giveUpAfter: '10m', initialInterval: '1s', maximumInterval: '1m' };

/** The notification targets as the worker's configuration has them, and where the dashboard is. */
export interface NotificationSettings {
  targets: readonly NotificationTarget[];
  publicUrl: string; // http://192.168.1.100:8080: dashboard_url is <publicUrl>/hosts/<id>
  retry?: Partial<NotificationRetry>;
  requestTimeoutMs?: number; // one request's wait for an answer: 15 s
  fetch?: typeof fetch;
}

/** What happened, as the workflow tells it: facts of the rebuild, no secrets. */
export interface RebuildNotice {
  hostId: number;
  hostname: string;
  mac: string;
  serverType: string;
  event: NotificationEvent;
  state: HostState; // the host's state now: ready, failed, or pxe_ready after a power retry
  stage: HostState | null; // where it failed or timed out
  reason: RebuildFailureReason | null;
  message: string; // "rebuild failed at joining: …"
  retry: string | null; // a power retry: "1 of 2"
  at: string; // ISO time, the workflow's
}

/** The event kinds the activities write to the host's history (the workflow writes notification_failed). */
export const notificationSentKind = 'notification_sent';
export const notificationFailedKind = 'notification_failed';

type Deps = { operations: OperationStore; notifications?: NotificationSettings };

const ntfyTags: Readonly<Record<NotificationEvent, string>> = {
  ready: 'white_check_mark',
  failed: 'x',
  stage_timeout: 'hourglass',
  identity_mismatch: 'warning',
};

/**
 * Returns the local activity that names the targets of a notice: those whose `on` lists its event, and for a failed
 * rebuild those that list `failed` (they get every failure, whatever its event); with the retry timing.
 */
export function planNotification(deps: Deps) {
  return async function planNotification(input: { hostId: number; event: NotificationEvent; state: HostState }): Promise<{ targets: string[]; retry: NotificationRetry }> {
    const settings = deps.notifications;
    const failed = input.state === 'failed';
    const targets = (settings?.targets ?? []).filter((t) => t.on.includes(input.event) || (failed && t.on.includes('failed'))).map((t) => t.name);
    return { targets, retry: { ...defaultNotificationRetry, ...settings?.retry } };
  };
}

/**
 * Returns the activity that sends one notice to one target and records `notification_sent`. A 2xx delivers it; 5xx,
 * 408, 429, no answer or no connection is retried until giveUpAfter (then NotificationGaveUp); any other answer (4xx,
 * a redirect) is definite (NotificationRejected). No error text carries the URL or a secret.
 */
export function sendNotification(deps: Deps) {
  return async function sendNotification(input: { hostId: number; target: string; notice: RebuildNotice }): Promise<{ status: number }> {
    const target = deps.notifications?.targets.find((t) => t.name === input.target);
    if (!target) throw ApplicationFailure.nonRetryable(`no notification target named "${input.target}" in this worker's configuration (notifications:)`, 'NotificationRejected');
    const settings = deps.notifications!;
    const info = activityInfo();
    const run = rebuildRun();
    const operationId = deps.operations.byRunId(run.runId)?.id ?? null;
    const fields = noticeFields(input.notice, operationId, run.workflowId, settings.publicUrl);
    const request = target.type === 'webhook' ? webhookRequest(target, fields, `${run.workflowId}/${run.runId}/${info.activityId}`) : ntfyRequest(target, fields);
    const hide = masker(target);
    let response: Response;
    try {
      response = await (settings.fetch ?? fetch)(target.url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        redirect: 'manual', // a redirect would carry the credentials elsewhere: definite, below
        signal: AbortSignal.timeout(settings.requestTimeoutMs ?? 15_000),
      });
    } catch (err) {
      throw retryOrGiveUp(hide(`${target.name}: ${unreachable(err)}`), settings);
    }
    const text = (await response.text().catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 300);
    if (response.status >= 200 && response.status < 300) {
      deps.operations.append({
        hostId: input.hostId,
        operationId,
        kind: notificationSentKind,
        message: `${input.notice.event} notification delivered to ${target.name} (${response.status}${info.attempt > 1 ? `, attempt ${info.attempt}` : ''})`,
        details: { target: target.name, type: target.type, event: input.notice.event, status: response.status, attempt: info.attempt },
      });
      log.info('notification delivered', { hostId: input.hostId, target: target.name, event: input.notice.event, status: response.status });
      return { status: response.status };
    }
    const message = hide(`${target.name} answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${text ? `: ${text}` : ''}`);
    if (response.status >= 500 || response.status === 408 || response.status === 429) throw retryOrGiveUp(message, settings);
    throw ApplicationFailure.nonRetryable(`${message} (not retried)`, 'NotificationRejected');
  };
}

/**
 * A failure worth another attempt: retried, unless the next attempt would start after giveUpAfter (counted from the
 * first attempt), when it is the last one and says so. Deciding here, not by the schedule-to-close timeout, keeps the
 * receiver's answer in the failure the workflow records (the timeout's failure carries no cause).
 */
function retryOrGiveUp(message: string, settings: NotificationSettings): Error {
  const info = activityInfo();
  const retry = { ...defaultNotificationRetry, ...settings.retry };
  const initial = Number(info.retryPolicy?.initialInterval ?? durationMs(retry.initialInterval));
  const maximum = Number(info.retryPolicy?.maximumInterval ?? durationMs(retry.maximumInterval));
  const next = Math.min(initial * (info.retryPolicy?.backoffCoefficient ?? 2) ** (info.attempt - 1), maximum);
  const elapsed = Date.now() - info.scheduledTimestampMs;
  if (elapsed + next < durationMs(retry.giveUpAfter)) return new Error(message);
  const attempts = `${info.attempt} attempt${info.attempt === 1 ? '' : 's'}`;
  return ApplicationFailure.nonRetryable(`${message}; given up after ${attempts} in ${(elapsed / 1000).toFixed(1)} s`, 'NotificationGaveUp');
}

/** The template fields of a notice (src/config/notifications.ts lists and documents them). */
function noticeFields(notice: RebuildNotice, operationId: number | null, workflowId: string, publicUrl: string): NotificationFields {
  return {
    event: notice.event,
    title: titleOf(notice),
    message: notice.message,
    hostname: notice.hostname,
    mac: notice.mac,
    host_id: notice.hostId,
    server_type: notice.serverType,
    state: notice.state,
    stage: notice.stage,
    reason: notice.reason,
    retry: notice.retry,
    operation_id: operationId,
    workflow_id: workflowId,
    at: notice.at,
    dashboard_url: publicUrl ? `${publicUrl}/hosts/${notice.hostId}` : null,
  };
}

function titleOf(notice: RebuildNotice): string {
  if (notice.state === 'ready') return `${notice.hostname} is ready`;
  if (notice.state === 'failed') return `${notice.hostname}: rebuild failed at ${notice.stage} (${notice.reason})`;
  return `${notice.hostname}: ${notice.stage} timed out, power-cycling (retry ${notice.retry})`;
}

function webhookRequest(target: WebhookTarget, fields: NotificationFields, delivery: string): { headers: Record<string, string>; body: string } {
  const body = target.bodyTemplate ? renderTemplate(target.bodyTemplate, fields, isJsonContentType(target.contentType)) : JSON.stringify(fields);
  // The delivery id is the same on every attempt of one notice: a receiver can drop a repeat.
  return { headers: { 'content-type': target.contentType, 'user-agent': 'provisioning', 'x-provisioning-event': String(fields.event), 'x-provisioning-delivery': delivery, ...target.headers }, body };
}

/** ntfy's publish API: the message as the body, its title, priority, tags and click URL as headers (docs.ntfy.sh/publish). */
function ntfyRequest(target: NtfyTarget, fields: NotificationFields): { headers: Record<string, string>; body: string } {
  const event = fields.event as NotificationEvent;
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'user-agent': 'provisioning',
    Title: headerText(String(fields.title)),
    Priority: target.priority[event],
    Tags: `${ntfyTags[event]},${fields.hostname}`,
  };
  if (fields.dashboard_url) headers.Click = String(fields.dashboard_url);
  if (target.token) headers.Authorization = `Bearer ${target.token}`;
  return { headers, body: target.bodyTemplate ? renderTemplate(target.bodyTemplate, fields, false) : String(fields.message) };
}

/** A header value: ASCII as it is, anything else as an RFC 2047 encoded word, which ntfy decodes. */
function headerText(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(line) ? line : `=?UTF-8?B?${Buffer.from(line).toString('base64')}?=`;
}

/** Replaces every secret of the target (and the path of a secret URL: an ntfy topic) in `text`. */
function masker(target: NotificationTarget): (text: string) => string {
  const secrets = target.secrets.flatMap((s) => {
    try {
      const url = new URL(s);
      return [s, `${url.pathname}${url.search}`.length > 1 ? `${url.pathname}${url.search}` : s];
    } catch {
      return [s];
    }
  });
  return (text) => secrets.reduce((t, s) => (s.length >= 4 ? t.split(s).join('[redacted]') : t), text);
}

function unreachable(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'no answer in time';
  const cause = e.cause?.code ?? e.cause?.message;
  return `cannot be reached${cause ? ` (${cause})` : e.message ? ` (${e.message})` : ''}`;
}
