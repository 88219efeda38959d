/**
 * Metrics computed at scrape time rather than counted: the process (Prometheus' standard
 * `process_*` names, as every Go binary such as istiod exposes them, plus `nodejs_*` heap
 * figures) and the size of the mesh the current push context holds (`pilot_services`,
 * `pilot_virt_services`, Istio's names). Nothing here runs between scrapes.
 */
import { readdirSync } from 'node:fs';
import type { PushContext } from '../model/push-context.ts';

const START_TIME_SECONDS = (Date.now() - performance.now()) / 1000;

function metric(name: string, type: 'gauge' | 'counter', help: string, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${Number.isFinite(value) ? value : 0}\n`;
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined; // not Linux
  }
}

export function processMetrics(sources: { pushContext(): PushContext | undefined }): string {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  let out = '';
  out += metric('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', mem.rss);
  out += metric(
    'process_cpu_seconds_total',
    'counter',
    'Total user and system CPU time spent in seconds.',
    (cpu.user + cpu.system) / 1e6,
  );
  out += metric(
    'process_cpu_user_seconds_total',
    'counter',
    'User CPU time spent in seconds.',
    cpu.user / 1e6,
  );
  out += metric(
    'process_cpu_system_seconds_total',
    'counter',
    'System CPU time spent in seconds.',
    cpu.system / 1e6,
  );
  out += metric(
    'process_start_time_seconds',
    'gauge',
    'Start time of the process since unix epoch in seconds.',
    Math.round(START_TIME_SECONDS),
  );
  const fds = openFds();
  if (fds !== undefined) out += metric('process_open_fds', 'gauge', 'Number of open file descriptors.', fds);
  out += metric('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap size in bytes.', mem.heapTotal);
  out += metric('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap used in bytes.', mem.heapUsed);
  out += metric(
    'nodejs_external_memory_bytes',
    'gauge',
    'Memory of C++ objects bound to JavaScript.',
    mem.external,
  );
  const push = sources.pushContext();
  if (push) {
    out += metric(
      'pilot_services',
      'gauge',
      'Services known to the control plane.',
      push.allServices().length,
    );
    out += metric(
      'pilot_virt_services',
      'gauge',
      'VirtualServices known to the control plane.',
      push.config.list('VirtualService').length,
    );
    out += metric(
      'pilot_destrules',
      'gauge',
      'DestinationRules known to the control plane.',
      push.config.list('DestinationRule').length,
    );
  }
  return out;
}
