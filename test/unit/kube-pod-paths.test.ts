import { describe, expect, it } from 'vitest';
import { expandVariables, replaceContainerPaths } from '../support/kube/pod-paths.js';

const mappings = [
  { containerPath: '/run/bloodraven/mysql-creds', localPath: '/w/p/volumes/mysql-creds' },
  { containerPath: '/run/bloodraven', localPath: '/w/p/volumes/run' },
  { containerPath: '/tmp', localPath: '/w/p/volumes/tmp' },
  { containerPath: '/dev/termination-log', localPath: '/w/p/termination-log' },
];

describe('replaceContainerPaths', () => {
  it('replaces a path at its end, before a slash, and before a quote or newline (YAML text)', () => {
    const yaml = 'mysql:\n  credentialsDir: /run/bloodraven/mysql-creds\nfile: "/tmp"\ndir: /tmp/x\n';
    expect(replaceContainerPaths(yaml, mappings)).toBe('mysql:\n  credentialsDir: /w/p/volumes/mysql-creds\nfile: "/w/p/volumes/tmp"\ndir: /w/p/volumes/tmp/x\n');
    expect(replaceContainerPaths('--result-file=/dev/termination-log', mappings)).toBe('--result-file=/w/p/termination-log');
  });

  it('leaves longer names and paths inside other paths alone', () => {
    expect(replaceContainerPaths('/tmpfiles /var/tmp /run/bloodraven2 x/tmp', mappings)).toBe('/tmpfiles /var/tmp /run/bloodraven2 x/tmp');
  });

  it('prefers the longest mount (a mount inside another)', () => {
    expect(replaceContainerPaths('/run/bloodraven/mysql-creds/MYSQL_USER /run/bloodraven/other', mappings)).toBe(
      '/w/p/volumes/mysql-creds/MYSQL_USER /w/p/volumes/run/other',
    );
  });
});

describe('expandVariables', () => {
  it('expands defined variables, keeps undefined ones, and unescapes $$', () => {
    const env = new Map([['NAME', 'orders']]);
    expect(expandVariables('$(NAME)-x $(MISSING) $$(NAME) cost$$', env)).toBe('orders-x $(MISSING) $(NAME) cost$');
  });
});
