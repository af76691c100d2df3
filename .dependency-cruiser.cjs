// Import rules, checked by `npm run lint` (dependency-cruiser). Type-only imports count: a cycle or a wrong-way
// import is one even when it disappears at run time.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'Modules import one way. Break a cycle by letting the module that needs something declare it (an interface of its own deps).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'src/domain holds the pure rules: it imports nothing else of ours.',
      from: { path: '^src/domain/' },
      to: { path: '^(src|workflows|activities)/', pathNot: '^src/domain/' },
    },
    {
      name: 'workflows-see-only-domain',
      severity: 'error',
      comment: 'Workflow code is deterministic: of ours it imports src/domain and workflows/ only.',
      from: { path: '^workflows/' },
      to: { path: '^src/', pathNot: '^src/domain/' },
    },
    {
      name: 'workflows-type-activities',
      severity: 'error',
      comment: 'Workflows know activities by their types only (proxyActivities<Activities>); the worker loads the code.',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'composition-is-a-root',
      severity: 'error',
      comment: 'Only the composition root (src/main.ts, src/service/) wires the parts together; nothing imports it back.',
      from: { pathNot: '^(src/main\\.ts|src/service/|test/|bench/)' },
      to: { path: '^(src/main\\.ts|src/service/)' },
    },
    {
      name: 'inner-layers-do-not-see-outer',
      severity: 'error',
      comment: 'Stores, config, boot renderers, PXE and images are used by the gateway, the worker and the activities, never the other way.',
      from: { path: '^src/(store|config|boot|pxe|images)/' },
      to: { path: '^(src/(gateway|dashboard|temporal|service)/|activities/|workflows/)' },
    },
    {
      name: 'activities-are-not-the-gateway',
      severity: 'error',
      from: { path: '^activities/' },
      to: { path: '^src/(gateway|dashboard|service)/' },
    },
    {
      name: 'gateway-does-not-run-activities',
      severity: 'error',
      from: { path: '^src/(gateway|dashboard)/' },
      to: { path: '^(activities/|src/service/)' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|\\.tools)/' },
  },
};
