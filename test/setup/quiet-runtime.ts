// Per test file: route the Temporal SDK's own log (worker state changes and such) to ERROR only (expected activity failures log at WARN).
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  // already installed in this process
}
