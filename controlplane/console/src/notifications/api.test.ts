import { describe, expect, it } from 'vitest';
import { badgeText, consoleLink } from './api';

describe('notifications', () => {
  it('counts on the badge, capped', () => {
    expect(badgeText(0)).toBe('');
    expect(badgeText(3)).toBe('3');
    expect(badgeText(250)).toBe('99+');
  });
  it('links API paths to console pages', () => {
    expect(consoleLink('/api/v1/approvals/ap-1')).toBe('/approvals?id=ap-1');
    expect(consoleLink('/api/v1/dashboards/sales')).toBe('/dashboards/sales');
    expect(consoleLink('/api/v1/audit')).toBeNull();
    expect(consoleLink(undefined)).toBeNull();
  });
});
