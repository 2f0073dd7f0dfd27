/**
 * Who a `--aws` operator request comes from: the IAM principal of the caller's credentials, from
 * STS GetCallerIdentity (no permission is needed for it: "No permissions are required to perform
 * this operation" — AWS STS API Reference, GetCallerIdentity). Recorded as `iam:<arn>` in the
 * request's `requested_by` and from there in the audit.
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { RequestedBy } from '../../contracts/operator.js';

/** The region and profile the CLI's other clients use. */
export interface CallerConnection {
  region?: string;
  profile?: string;
}

/** An STS client for the same region and profile as the stack's clients. */
export function createStsClient(conn: CallerConnection = {}): STSClient {
  return new STSClient({
    ...(conn.region ? { region: conn.region } : {}),
    ...(conn.profile ? { profile: conn.profile } : {}),
  });
}

/** STS answered without an ARN (it always gives one; a proxy or a mock might not). */
export class CallerIdentityError extends Error {
  override name = 'CallerIdentityError';
}

/**
 * `iam:<arn>` of the caller (an assumed role's session ARN names the role and the session). The
 * contract allows 256 characters: an ARN can be up to 2048, so a longer one is cut, keeping its
 * start (partition, account, role) and its end (the session name).
 */
export async function iamRequester(client: STSClient): Promise<string> {
  const out = await client.send(new GetCallerIdentityCommand({}));
  if (!out.Arn) throw new CallerIdentityError('STS GetCallerIdentity returned no Arn for these credentials');
  return requesterFromArn(out.Arn);
}

/** `iam:<arn>`, cut in the middle to 256 characters when longer. */
export function requesterFromArn(arn: string): string {
  const full = `iam:${arn}`;
  if (full.length <= 256) return RequestedBy.parse(full);
  const keep = 256 - 1;
  const head = Math.ceil(keep / 2);
  return RequestedBy.parse(`${full.slice(0, head)}…${full.slice(full.length - (keep - head))}`);
}
