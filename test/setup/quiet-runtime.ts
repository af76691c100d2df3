// Per test file: route the Temporal SDK's own log (worker state changes and such) to WARN and above only.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed in this process
}
