import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, formatMs, formatPercent, formatRatio, formatTime } from './format';

describe('formatting figures', () => {
  it('bytes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(104910848)).toBe('100 MiB');
    expect(formatBytes(78963474432)).toBe('73.5 GiB');
    expect(formatBytes(null)).toBe('–');
  });
  it('milliseconds and seconds', () => {
    expect(formatMs(0.448)).toBe('0.45 ms');
    expect(formatMs(12.34)).toBe('12.3 ms');
    expect(formatMs(850.2)).toBe('850 ms');
    expect(formatMs(1250)).toBe('1.25 s');
    expect(formatMs(null)).toBe('–');
  });
  it('ratios, percentages and counts', () => {
    expect(formatRatio(0.1234)).toBe('12.3 %');
    expect(formatRatio(null)).toBe('–');
    expect(formatPercent(96.657)).toBe('96.7 %');
    expect(formatCount(1234567)).toBe('1,234,567');
  });
  it('durations', () => {
    expect(formatDuration(12)).toBe('12 s');
    expect(formatDuration(250)).toBe('4 min 10 s');
    expect(formatDuration(7500)).toBe('2 h 5 min');
    expect(formatDuration(3 * 86400 + 4 * 3600 + 5)).toBe('3 d 4 h');
  });
  it('times, and nothing for garbage', () => {
    expect(formatTime('2026-12-03T23:08:45.5Z')).toMatch(/^2026-12-0[34] \d\d:08:45$/);
    expect(formatTime('nope')).toBe('');
    expect(formatTime(null)).toBe('');
  });
});
