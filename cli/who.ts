/**
 * Who asks for an operator action (the audit's `requested_by`): `user:<os user>` from the CLI,
 * `web:<os user>` from the local web view. `--aws` uses the IAM principal instead
 * (runtime/aws/caller-identity.ts).
 */
import { userInfo } from 'node:os';

/** The OS user running this process; `$USER`/`$USERNAME` where the OS cannot say (no passwd entry). */
export function osUser(): string {
  try {
    const name = userInfo().username;
    if (name) return name;
  } catch {
    // no passwd entry for this uid (a container): fall back to the environment
  }
  return process.env.USER ?? process.env.USERNAME ?? `uid-${process.getuid?.() ?? 'unknown'}`;
}

/** `user:<os user>`: who a CLI request comes from (at most 256 characters, as the contract takes). */
export function cliRequester(): string {
  return `user:${osUser()}`.slice(0, 256);
}

/** `web:<os user>`: who a request from the web view of this machine comes from. */
export function webRequester(): string {
  return `web:${osUser()}`.slice(0, 256);
}
