import { describe, expect, it } from 'vitest';
import { badgeText, consoleLink, noticeTime } from './api';

describe('notifications', () => {
  it('counts on the badge, capped', () => {
    expect(badgeText(0)).toBe('');
    expect(badgeText(3)).toBe('3');
    expect(badgeText(250)).toBe('99+');
  });
  it('links API paths to console pages', () => {
    expect(consoleLink('/api/v1/approvals/ap-1')).toBe('/approvals?box=all&id=ap-1');
    expect(consoleLink('/api/v1/dashboards/sales')).toBe('/dashboards/sales');
    expect(consoleLink('/api/v1/catalog/datasources/sales/tables')).toBe('/catalog');
    expect(consoleLink('/api/v1/catalog/datasources/sales/tables/orders')).toBe('/catalog/sales/orders');
    expect(consoleLink('/api/v1/audit')).toBeNull();
    expect(consoleLink(undefined)).toBeNull();
  });
});

describe('notice time', () => {
  it('comes from the id, not the duplicated createdAt', () => {
    expect(noticeTime({ id: '20261203230827335484-82ed', createdAt: '1970-01-01T00:00:00Z' })).toBe('2026-12-03T23:08:27.335Z');
    expect(noticeTime({ id: 'x', createdAt: '1970-01-01T00:00:00Z' })).toBeNull();
    expect(noticeTime({ id: 'x', createdAt: '2026-12-01T00:00:00Z' })).toBe('2026-12-01T00:00:00Z');
  });
});
