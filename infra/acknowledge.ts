import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Context key that turns every acknowledgement off, for a security review: `cdk synth -c
 * rsqlo:showAcknowledged=true` fails and lists every finding the stack accepts (the tests use it to
 * prove each acknowledgement matches a real finding and none is missing).
 */
export const SHOW_ACKNOWLEDGED_CONTEXT = 'rsqlo:showAcknowledged';

/**
 * The id as the validation report prints it (`<plugin>::<rule>`): cdk-nag rules belong to the
 * AwsSolutions plugin; an unqualified id would be taken for an annotation warning.
 */
export function qualifiedRuleId(id: string): string {
  if (/^[A-Za-z-]+::/.test(id)) return id;
  if (id.startsWith('AwsSolutions-')) return `AwsSolutions::${id}`;
  throw new Error(`acknowledge: qualify the rule id "${id}" with its plugin (<plugin>::<rule>)`);
}

/** Accepts one validation finding on `scope` (and below) with the reason it is acceptable. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  const show = scope.node.tryGetContext(SHOW_ACKNOWLEDGED_CONTEXT);
  if (show === true || show === 'true') return;
  Validations.of(scope).acknowledge({ id: qualifiedRuleId(id), reason });
}
