// Reading the runtime configuration: the server redacts secrets; the page says so plainly.
import type { RuntimeFlag } from './api';

/** The server's marker for a secret value (`(redacted)`), or a URL whose password it hid. */
export function isRedacted(value: string): boolean {
  return value === '(redacted)';
}

export function flagSourceText(source: RuntimeFlag['source']): string {
  return { commandLine: 'command line', environment: 'environment', default: 'default', unset: 'not set' }[source] ?? source;
}
