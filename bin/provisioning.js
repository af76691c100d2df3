#!/usr/bin/env node
// `provisioning` (package.json "bin"; `npx provisioning` in this checkout): the CLI that `npm run build` compiles
// to dist/src/cli/provisioning.js.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const entry = join(__dirname, '..', 'dist', 'src', 'cli', 'provisioning.js');
if (!existsSync(entry)) {
  process.stderr.write(`provisioning: not built yet: run npm run build (or make build) in ${join(__dirname, '..')}\n`);
  process.exit(2);
}
require(entry);
