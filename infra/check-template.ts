/**
 * `npm run synth`'s last step: every template in the cloud assembly checked with AWS's own
 * validators — each resource against its CloudFormation resource schema (@aws-cdk/aws-service-spec,
 * infra/resource-schema.ts) and each state machine definition with amazon-states-language-service
 * (infra/asl-service.ts). Prints every finding and exits 1 when there is one.
 *
 *   npx tsx infra/check-template.ts [cdk.out]
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import { aslDiagnostics } from './asl-service.js';
import { ResourceSchemaChecker } from './resource-schema.js';

/** A state machine's definition as deployed: DefinitionString is a plain string for rsqlo's. */
export function stateMachineDefinitions(template: {
  Resources?: Record<string, { Type?: string; Properties?: Record<string, unknown> }>;
}): Array<{ id: string; definition: string }> {
  return Object.entries(template.Resources ?? {})
    .filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')
    .map(([id, r]) => {
      const d = r.Properties?.DefinitionString;
      if (typeof d !== 'string') throw new Error(`${id}: DefinitionString is not a plain string`);
      return { id, definition: d };
    });
}

async function main(dir: string): Promise<number> {
  const checker = new ResourceSchemaChecker(loadAwsServiceSpecSync());
  const files = readdirSync(dir).filter((f) => f.endsWith('.template.json'));
  let findings = 0;
  for (const file of files) {
    const template = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    for (const f of checker.checkTemplate(template)) {
      findings++;
      console.error(`${file}: ${f.resource} ${f.path}: ${f.message}`);
    }
    for (const { id, definition } of stateMachineDefinitions(template))
      for (const d of await aslDiagnostics(definition)) {
        findings++;
        console.error(`${file}: ${id} definition line ${d.line}: ${d.message}`);
      }
  }
  if (files.length === 0) {
    console.error(`no templates in ${dir}`);
    return 1;
  }
  console.error(
    `checked ${files.length} template(s) with the CloudFormation resource schemas and the States Language service: ${findings} finding(s)`,
  );
  return findings === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`)
  main(process.argv[2] ?? 'cdk.out').then((code) => process.exit(code));
