/**
 * pg's `lib/crypto/utils.js` (SCRAM and MD5 password helpers) on node:crypto's hash functions instead of
 * Web Crypto. Same exports, same results; used only inside the runner's standalone bundle
 * (bin/load.js swaps it in when pg's module has exactly these exports). Why: pg 8.23 reaches Web Crypto
 * (`crypto.subtle`), and making Node's Web Crypto costs a run more start-up than the whole SCRAM
 * exchange; `rsql` starts once per job.
 */
import { createHash, createHmac, randomBytes as nodeRandomBytes, pbkdf2Sync } from 'node:crypto';

/** Random bytes (the client nonce). */
export function randomBytes(length: number): Buffer {
  return nodeRandomBytes(length);
}

/** MD5 hex digest. */
export async function md5(text: string | Buffer): Promise<string> {
  return createHash('md5').update(text).digest('hex');
}

/** PostgreSQL's MD5 password response: `md5` + md5(md5(password + user) + salt). */
export async function postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string> {
  const inner = await md5(password + user);
  const outer = await md5(Buffer.concat([Buffer.from(inner), salt]));
  return `md5${outer}`;
}

/** SHA-256 digest. */
export async function sha256(text: Buffer | ArrayBuffer | string): Promise<Buffer> {
  return createHash('sha256')
    .update(typeof text === 'string' ? text : Buffer.from(text as ArrayBuffer))
    .digest();
}

/** Digest by Web Crypto name (`SHA-256`, `SHA-384`, `SHA-512`, `SHA-1`). */
export async function hashByName(hashName: string, text: Buffer | ArrayBuffer): Promise<Buffer> {
  return createHash(hashName.replace('-', '').toLowerCase())
    .update(Buffer.from(text as ArrayBuffer))
    .digest();
}

/** HMAC-SHA-256 of a UTF-8 message. */
export async function hmacSha256(key: Buffer | ArrayBuffer, msg: string): Promise<Buffer> {
  return createHmac('sha256', Buffer.from(key as ArrayBuffer))
    .update(msg, 'utf8')
    .digest();
}

/** PBKDF2-HMAC-SHA-256, 32 bytes (SCRAM's SaltedPassword). */
export async function deriveKey(password: string, salt: Uint8Array, iterations: number): Promise<Buffer> {
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
}
