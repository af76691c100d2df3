// Unit: the `notifications:` list of provisioning.yaml, through parseConfig (no I/O but the example file).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load-config';
import { notificationFields, renderTemplate } from '../../src/config/notifications';
import { ConfigError } from '../../src/config/reader';

const FILE = 'provisioning.yaml';
const exampleText = readFileSync(resolve(__dirname, '../../deploy/provisioning.example.yaml'), 'utf8');

function problems(text: string, env: Record<string, string> = {}): readonly string[] {
  try {
    parseConfig(text, FILE, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const webhook = (lines: string[]) => ['notifications:', '  - type: webhook', ...lines.map((l) => `    ${l}`)].join('\n');

describe('notifications config', () => {
  it('is empty when the key is absent', () => {
    expect(parseConfig('', FILE, {}).notifications).toEqual([]);
  });

  it('reads the example block once uncommented, with its secrets from the environment', () => {
    const block = exampleText.slice(exampleText.indexOf('# notifications:'));
    const uncommented = block.split('\n').map((l) => l.replace(/^# ?/, '')).join('\n');
    const config = parseConfig(uncommented, FILE, { NOTIFY_WEBHOOK_AUTH: 'Bearer s3cret-webhook', NTFY_TOKEN: 'tk_s3cretntfy' });
    expect(config.notifications).toEqual([
      {
        type: 'webhook',
        name: 'webhook hooks.example.com',
        url: 'https://hooks.example.com/provisioning',
        on: ['ready', 'failed'],
        bodyTemplate: null,
        headers: { 'X-Source': 'provisioning', Authorization: 'Bearer s3cret-webhook' },
        contentType: 'application/json',
        secrets: ['Bearer s3cret-webhook'],
      },
      {
        type: 'ntfy',
        name: 'ntfy ntfy.sh',
        url: 'https://ntfy.sh/my-topic',
        on: ['ready', 'failed', 'stage_timeout', 'identity_mismatch'],
        bodyTemplate: null,
        token: 'tk_s3cretntfy',
        priority: { ready: 'default', failed: 'high', stage_timeout: 'high', identity_mismatch: 'urgent' },
        secrets: ['tk_s3cretntfy'],
      },
    ]);
    expect(Object.isFrozen(config.notifications[0])).toBe(true);
  });

  it('takes the URL from url_env, a name, a body template and priorities as numbers', () => {
    const text = [
      'notifications:',
      '  - type: ntfy',
      '    name: phone',
      '    url_env: NTFY_URL',
      '    on: [failed, identity_mismatch]',
      '    body_template: "{{hostname}}: {{message}}"',
      '    priority: { failed: 4, identity_mismatch: max }',
    ].join('\n');
    const [target] = parseConfig(text, FILE, { NTFY_URL: 'https://ntfy.example.net/rebuilds-9f2c' }).notifications;
    expect(target).toEqual({
      type: 'ntfy',
      name: 'phone',
      url: 'https://ntfy.example.net/rebuilds-9f2c',
      on: ['failed', 'identity_mismatch'],
      bodyTemplate: '{{hostname}}: {{message}}',
      token: '',
      priority: { ready: 'default', failed: '4', stage_timeout: 'high', identity_mismatch: 'max' },
      secrets: ['https://ntfy.example.net/rebuilds-9f2c'],
    });
  });

  it('numbers targets that would share a name', () => {
    const text = ['notifications:', '  - { type: webhook, url: "https://h.example/a" }', '  - { type: webhook, url: "https://h.example/b?key=1" }'].join('\n');
    expect(parseConfig(text, FILE, {}).notifications.map((t) => t.name)).toEqual(['webhook h.example', 'webhook h.example #2']);
  });

  it.each([
    ['not a list', 'notifications: https://h.example\n', 'notifications: expected a list of targets (- type: webhook or ntfy, with url), got "https://h.example"'],
    ['an item that is not a mapping', 'notifications:\n  - https://h.example\n', 'notifications[0]: expected a mapping with type and url, got "https://h.example"'],
    ['no type', 'notifications:\n  - url: https://h.example\n', 'notifications[0].type: required: webhook or ntfy'],
    ['an unknown type', 'notifications:\n  - { type: slack, url: "https://h.example" }\n', 'notifications[0].type: expected webhook or ntfy, got "slack"'],
    ['no url', webhook([]), 'notifications[0].url: required: the http:// or https:// URL to POST to (or url_env: the environment variable that holds it)'],
    ['a url that is not http', webhook(['url: ftp://h.example/x']), 'notifications[0].url: expected an http:// or https:// URL like https://ntfy.sh/my-topic, got "ftp://h.example/x"'],
    ['a url with a password', webhook(['url: "https://u:pw@h.example/x"']), 'notifications[0].url: a URL with a user or password holds a secret: use url_env, or headers_env for an Authorization header'],
    ['url and url_env', webhook(['url: https://h.example/x', 'url_env: HOOK_URL']), 'notifications[0].url_env: set url or url_env, not both'],
    ['a url_env that is not set', webhook(['url_env: HOOK_URL']), 'notifications[0].url_env: environment variable HOOK_URL is not set'],
    ['a url_env that is no variable name', webhook(['url_env: "$HOOK_URL"']), 'notifications[0].url_env: expected the name of an environment variable like NOTIFY_TOKEN, got "$HOOK_URL"'],
    ['an empty name', webhook(['url: https://h.example/x', 'name: ""']), 'notifications[0].name: must not be empty (leave it out for "<type> <host of the url>")'],
    ['an unknown event', webhook(['url: https://h.example/x', 'on: [ready, done]']), 'notifications[0].on: expected a list of events out of ready, failed, stage_timeout, identity_mismatch (leave it out for all), got ["ready","done"]'],
    ['an empty event list', webhook(['url: https://h.example/x', 'on: []']), 'notifications[0].on: expected a list of events out of ready, failed, stage_timeout, identity_mismatch (leave it out for all), got []'],
    ['an Authorization header in the file', webhook(['url: https://h.example/x', 'headers: { Authorization: "Bearer abc" }']), 'notifications[0].headers.Authorization: a credential does not belong in the file: name its environment variable under headers_env instead (headers_env: { Authorization: NOTIFY_TOKEN })'],
    ['a header the service sets', webhook(['url: https://h.example/x', 'headers: { Host: other.example }']), 'notifications[0].headers.Host: set by the service itself'],
    ['a header name with a space', webhook(['url: https://h.example/x', 'headers: { "X Source": a }']), 'notifications[0].headers.X Source: not a valid HTTP header name'],
    ['a header in both headers and headers_env', webhook(['url: https://h.example/x', 'headers: { X-Key: a }', 'headers_env: { x-key: HOOK_KEY }']), 'notifications[0].headers_env.x-key: also set under headers: keep one'],
    ['a headers_env variable that is not set', webhook(['url: https://h.example/x', 'headers_env: { Authorization: HOOK_AUTH }']), 'notifications[0].headers_env.Authorization: environment variable HOOK_AUTH is not set'],
    ['an unknown template field', webhook(['url: https://h.example/x', 'body_template: \'{"t": "{{hostnme}}"}\'']), 'notifications[0].body_template: unknown field {{hostnme}} (the fields: event, title, message, hostname, mac, host_id, server_type, state, stage, reason, retry, operation_id, workflow_id, at, dashboard_url)'],
    ['a JSON template that is not JSON', webhook(['url: https://h.example/x', 'body_template: "{{message}}"']), 'notifications[0].body_template: is not valid JSON once rendered (Unexpected token \'r\', "rebuild fa"... is not valid JSON); put each {{field}} inside a JSON string, or set content_type for another format'],
    ['a bad content type', webhook(['url: https://h.example/x', 'content_type: json']), 'notifications[0].content_type: expected a media type like application/json or text/plain, got "json"'],
    ['an ntfy key on a webhook', webhook(['url: https://h.example/x', 'token_env: TOKEN']), 'notifications[0].token_env: only for type ntfy'],
    ['a webhook key on ntfy', 'notifications:\n  - { type: ntfy, url: "https://ntfy.sh/t", headers: { X-A: b } }\n', 'notifications[0].headers: only for type webhook'],
    ['an unknown ntfy priority', 'notifications:\n  - { type: ntfy, url: "https://ntfy.sh/t", priority: { failed: loud } }\n', 'notifications[0].priority.failed: expected one of min, low, default, high, urgent, max, 1, 2, 3, 4, 5, got "loud"'],
    ['a priority of an unknown event', 'notifications:\n  - { type: ntfy, url: "https://ntfy.sh/t", priority: { done: high } }\n', 'notifications[0].priority.done: unknown key (check the spelling against deploy/provisioning.example.yaml)'],
    ['a token_env that is not set', 'notifications:\n  - { type: ntfy, url: "https://ntfy.sh/t", token_env: NTFY_TOKEN }\n', 'notifications[0].token_env: environment variable NTFY_TOKEN is not set'],
    ['an unknown key', webhook(['url: https://h.example/x', 'method: PUT']), 'notifications[0].method: unknown key (check the spelling against deploy/provisioning.example.yaml)'],
  ])('rejects %s, naming the key', (_name, text, problem) => {
    expect(problems(text)).toEqual([problem]);
  });

  it('never repeats the value of a url_env variable in its problem', () => {
    const secret = 'ftp://user:hunter2@h.example/x';
    const [problem] = problems(webhook(['url_env: HOOK_URL']), { HOOK_URL: secret });
    expect(problem).toBe('notifications[0].url_env: HOOK_URL: expected an http:// or https:// URL like https://ntfy.sh/my-topic');
    expect(problem).not.toContain('hunter2');
  });

  it('lists the problems of every target, each under its index', () => {
    const text = ['notifications:', '  - { type: webhook }', '  - { type: ntfy, url: "https://ntfy.sh/t", on: [later] }'].join('\n');
    expect(problems(text)).toEqual([
      'notifications[0].url: required: the http:// or https:// URL to POST to (or url_env: the environment variable that holds it)',
      'notifications[1].on: expected a list of events out of ready, failed, stage_timeout, identity_mismatch (leave it out for all), got ["later"]',
    ]);
  });
});

describe('renderTemplate', () => {
  it('fills each field, JSON-escaped for a JSON body', () => {
    const fields = { ...notificationFields, message: 'said "no"\nthen left', stage: null };
    expect(renderTemplate('{"m": "{{ message }}", "id": {{host_id}}, "s": "{{stage}}"}', fields, true)).toBe('{"m": "said \\"no\\"\\nthen left", "id": 3, "s": ""}');
    expect(renderTemplate('{{hostname}} {{message}}', fields, false)).toBe('pve-ms-03 said "no"\nthen left');
  });
});
