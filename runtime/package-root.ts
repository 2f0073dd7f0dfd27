import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The rsqlo package's root folder. Found by walking up from this module to the package.json
 * named "rsqlo", so it is right both from the sources and from a bundle in node_modules/.cache.
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'rsqlo') {
          root = dir;
          return dir;
        }
      } catch {
        // not ours
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the rsqlo package root');
    dir = up;
  }
}
