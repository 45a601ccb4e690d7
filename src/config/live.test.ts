import { describe, expect, it } from 'vitest';
import { liveConfig } from './live.ts';
import { resolveConfig } from './load.ts';

const base = () =>
  resolveConfig({ upstream: 'http://127.0.0.1:1', name: 'Before' }, 'tollgate.config.ts', '/tmp');

describe('liveConfig', () => {
  it('a module holding the view reads the replaced config on its next read', () => {
    const source = liveConfig(base());
    const held = source.view;
    const readName = () => held.name;
    expect(readName()).toBe('Before');
    source.replace({ ...base(), name: 'After', features: [{ key: 'chat', name: 'Chat' } as never] });
    expect(readName()).toBe('After');
    expect(held.features.map((f) => f.key)).toEqual(['chat']);
    expect({ ...held }.name).toBe('After');
    expect(Object.keys(held)).toContain('features');
  });

  it('tells listeners the new and the previous config, and can be unsubscribed', () => {
    const source = liveConfig(base());
    const seen: string[] = [];
    const off = source.onChange((next, previous) => seen.push(`${previous.name}->${next.name}`));
    source.replace({ ...base(), name: 'Two' });
    off();
    source.replace({ ...base(), name: 'Three' });
    expect(seen).toEqual(['Before->Two']);
    expect(source.current().name).toBe('Three');
  });

  it('the view cannot be written through', () => {
    const source = liveConfig(base());
    expect(() => {
      (source.view as { name: string }).name = 'x';
    }).toThrow(TypeError);
    expect(source.current().name).toBe('Before');
  });
});
