import { describe, expect, it } from 'vitest';
import type { SettingsView } from './api';
import { fieldsOf, initialValues, labelOf, settingsBody, sourceText } from './settingsForm';
import { alertFigure, alertName } from './alerts';
import { flagSourceText, isRedacted } from './runtime';

const view = (): SettingsView => ({
  settings: {
    sessions: { idleTimeoutMinutes: 60, absoluteTimeoutMinutes: 480 },
    mfa: { required: 'optional' },
    network: { ipAllowList: [] },
    notifications: { notifyAdminsOnAlerts: true, retentionDays: 60 },
    alerts: { enabled: true, diskFreePercent: 10 },
  },
  stored: { sessions: { idleTimeoutMinutes: 60 } },
  sources: {
    'sessions.idleTimeoutMinutes': 'api',
    'sessions.absoluteTimeoutMinutes': 'default',
    'notifications.retentionDays': 'tenant',
  },
  declaredBy: 'Tenant/acme',
  limits: { queryTimeoutSeconds: 30, rowLimit: 5000, cacheTtlSeconds: 300 },
  revision: 3,
});

describe('settings form', () => {
  it('reads each leaf with its input kind and source', () => {
    const f = fieldsOf(view());
    const by = Object.fromEntries(f.map((x) => [x.path, x]));
    expect(by['sessions.idleTimeoutMinutes'].kind).toBe('number');
    expect(by['mfa.required']).toMatchObject({ kind: 'choice', options: ['optional', 'admins', 'all'] });
    expect(by['network.ipAllowList'].kind).toBe('list');
    expect(by['alerts.enabled'].kind).toBe('bool');
    expect(by['notifications.retentionDays'].source).toBe('tenant');
    expect(by['alerts.enabled'].source).toBe('default');
    expect(fieldsOf(view(), ['alerts']).map((x) => x.path)).toEqual(['alerts.enabled', 'alerts.diskFreePercent']);
  });

  it('labels camelCase names for people', () => {
    expect(labelOf('idleTimeoutMinutes')).toBe('Idle timeout minutes');
    expect(labelOf('p95LatencyMs')).toBe('P95 latency ms');
  });

  it('sends what was stored and what changed, never a Tenant-declared field', () => {
    const v = view();
    const fields = fieldsOf(v);
    const values = initialValues(v, fields);
    expect(settingsBody(v, fields, values)).toEqual({ body: { sessions: { idleTimeoutMinutes: 60 } } });
    values['alerts.diskFreePercent'] = '25';
    values['network.ipAllowList'] = '10.0.0.0/8\n 127.0.0.1 \n';
    values['notifications.retentionDays'] = '5';
    values['mfa.required'] = 'admins';
    expect(settingsBody(v, fields, values)).toEqual({
      body: {
        sessions: { idleTimeoutMinutes: 60 },
        alerts: { diskFreePercent: 25 },
        network: { ipAllowList: ['10.0.0.0/8', '127.0.0.1'] },
        mfa: { required: 'admins' },
      },
    });
  });

  it('keeps stored sections a partial form does not show', () => {
    const v = view();
    const fields = fieldsOf(v, ['alerts']);
    const values = initialValues(v, fields);
    values['alerts.enabled'] = false;
    expect(settingsBody(v, fields, values)).toEqual({ body: { sessions: { idleTimeoutMinutes: 60 }, alerts: { enabled: false } } });
  });

  it('names a field that is not a number before asking the server', () => {
    const v = view();
    const fields = fieldsOf(v);
    const values = { ...initialValues(v, fields), 'sessions.absoluteTimeoutMinutes': 'soon' };
    expect(settingsBody(v, fields, values)).toEqual({ errors: { 'sessions.absoluteTimeoutMinutes': 'must be a number' } });
  });

  it('says who owns a value', () => {
    expect(sourceText('tenant', 'Tenant/acme')).toBe('declared by Tenant/acme: read-only here');
    expect(sourceText('api', 'Tenant/acme')).toBe('set here');
    expect(sourceText('default', 'Tenant/acme')).toBe('default');
  });
});

describe('alerts and runtime', () => {
  it('shows an alert’s figure in its unit', () => {
    expect(alertFigure('diskFree', 42.345)).toBe('42.3%');
    expect(alertFigure('latency', 2140.4)).toBe('2,140 ms');
    expect(alertFigure('dataSourceDown', 0)).toBe('down');
    expect(alertName('dataSourceDown', 'sales')).toBe('Data source down: sales');
    expect(alertName('errorRate')).toBe('Error rate');
  });

  it('recognises redacted values and names flag sources', () => {
    expect(isRedacted('(redacted)')).toBe(true);
    expect(isRedacted('mongodb://app:***@db')).toBe(false);
    expect(flagSourceText('commandLine')).toBe('command line');
    expect(flagSourceText('unset')).toBe('not set');
  });
});
