// The single file the worker bundles: every workflow, re-exported.
export { rebuildHostWorkflow } from './rebuild-host';
export { clusterLockWorkflow } from './cluster-lock';
