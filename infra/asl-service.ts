/**
 * AWS's Amazon States Language validator (`amazon-states-language-service`, the language service
 * behind the AWS Toolkit's Step Functions support) run on a definition, the way the Toolkit runs
 * it on an open file: JSON schema of the States Language plus its own checks (states that cannot
 * be reached, transitions to missing states, fields a state type does not take, …).
 */
import aslService from 'amazon-states-language-service';

const { getLanguageService, TextDocument } = aslService;
const service = getLanguageService({});

/** One diagnostic of the States Language service. */
export interface AslDiagnostic {
  message: string;
  line: number;
  severity: number | undefined;
}

/** Every diagnostic the service reports for a definition (empty when it has nothing to say). */
export async function aslDiagnostics(definition: string): Promise<AslDiagnostic[]> {
  const doc = TextDocument.create('file:///definition.asl.json', 'json', 1, definition);
  const parsed = service.parseJSONDocument(doc);
  const diags = await service.doValidation(doc, parsed);
  return diags.map((d) => ({
    message: typeof d.message === 'string' ? d.message : d.message.value,
    line: d.range.start.line + 1,
    severity: d.severity,
  }));
}
