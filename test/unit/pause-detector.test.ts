import { describe, expect, it } from 'vitest';
import { PauseDetector } from '../../src/lib/pause-detector.js';

describe('PauseDetector', () => {
  it('counts a tick at least 10 intervals (and 5 s) late as a pause, and reports it once', () => {
    const p = new PauseDetector(250, 0);
    expect(p.thresholdMs).toBe(5_000);
    expect(p.tick(250)).toBe(0);
    expect(p.tick(4_000)).toBe(0);
    expect(p.pending(9_500)).toBe(5_500);
    expect(p.tick(10_000)).toBe(6_000);
    expect(p.pending(10_250)).toBe(0);
    expect(p.tick(10_250)).toBe(0);
  });

  it('scales the threshold with a slow tick', () => {
    expect(new PauseDetector(1_000, 0).thresholdMs).toBe(10_000);
  });
});
