// The example Grafana dashboard (deploy/grafana/provisioning-dashboard.json) queries only metrics /metrics exposes,
// so importing it shows data. Real: the gateway's /metrics (prom-client) on a test app.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Resources } from '../helpers/release';
import { buildTestApp } from '../helpers/test-app';

const resources = new Resources();
afterEach(() => resources.releaseAll());

interface Panel {
  title: string;
  targets: { expr: string }[];
}

describe('deploy/grafana/provisioning-dashboard.json', () => {
  it('is a dashboard whose every query names a metric that /metrics exposes', async () => {
    const dashboard = JSON.parse(readFileSync('deploy/grafana/provisioning-dashboard.json', 'utf8')) as { title: string; panels: Panel[] };
    expect(dashboard.title).toBe('Provisioning');
    const t = resources.add(await buildTestApp(), (a) => a.close());
    const exposed = new Set([...(await t.app.inject({ method: 'GET', url: '/metrics' })).body.matchAll(/^# TYPE (\S+) (\w+)$/gm)].flatMap((m) => (m[2] === 'histogram' ? [`${m[1]}_bucket`, `${m[1]}_count`, `${m[1]}_sum`] : [m[1]!])));
    const queried = dashboard.panels.flatMap((p) => p.targets.flatMap((target) => [...target.expr.matchAll(/\b(provisioning_[a-z_]+)/g)].map((m) => m[1]!)));
    expect(queried.length).toBeGreaterThan(10);
    expect(queried.filter((name) => !exposed.has(name))).toEqual([]);
  });
});
