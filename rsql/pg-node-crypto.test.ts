import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import * as ours from './pg-node-crypto.js';

/** pg's own helpers (Web Crypto), which the standalone bundle replaces with ours. */
const pgUtils = createRequire(import.meta.url)('pg/lib/crypto/utils.js') as typeof ours;

const buf = (x: ArrayBuffer | Buffer) => Buffer.from(x as ArrayBuffer).toString('hex');

describe("pg-node-crypto gives pg's crypto helpers' results", () => {
  it('exports what pg exports', () => {
    expect(Object.keys(ours).sort()).toEqual(Object.keys(pgUtils).sort());
  });

  it('SCRAM: PBKDF2, HMAC, SHA-256 and digests by name', async () => {
    const salt = Buffer.from('QSXCR+Q6sek8bf92', 'base64');
    const [a, b] = [
      await ours.deriveKey('pencil', salt, 4096),
      await pgUtils.deriveKey('pencil', salt, 4096),
    ];
    expect(buf(a)).toBe(buf(b));
    expect(buf(await ours.hmacSha256(a, 'Client Key'))).toBe(buf(await pgUtils.hmacSha256(b, 'Client Key')));
    expect(buf(await ours.sha256(Buffer.from('abc')))).toBe(buf(await pgUtils.sha256(Buffer.from('abc'))));
    for (const name of ['SHA-256', 'SHA-384', 'SHA-512', 'SHA-1']) {
      expect(buf(await ours.hashByName(name, Buffer.from('cert')))).toBe(
        buf(await pgUtils.hashByName(name, Buffer.from('cert'))),
      );
    }
    expect(ours.randomBytes(18)).toHaveLength(18);
  });

  it('MD5 password hashes', async () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    expect(await ours.postgresMd5PasswordHash('user', 'pw', salt)).toBe(
      await pgUtils.postgresMd5PasswordHash('user', 'pw', salt),
    );
    expect(await ours.md5('x')).toBe(await pgUtils.md5('x'));
  });
});
