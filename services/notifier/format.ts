/**
 * The alert a person reads: a subject line and a multi-line message, formatted in code from the
 * event (not by an EventBridge input transformer, which inserts values into its template without
 * escaping them, so a quote or a newline in an error message broke the text). Values are written
 * as they are: quotes, backslashes, non-ASCII stay readable; a multi-line error message is indented
 * under its label; control characters other than newline and tab are shown as \u00XX.
 *
 * The subject follows Amazon SNS's rules (SNS API reference, Publish, `Subject`) in their strictest
 * published form: today's "Subjects must be UTF-8 text with no line breaks or control characters,
 * and less than 100 characters long" and the earlier "Subjects must be ASCII text that begins with
 * a letter, number, or punctuation mark; must not include line breaks or control characters; and
 * must be less than 100 characters long" — so printable ASCII, at most 99 characters, not starting
 * with a space, never empty. Accents are folded (Zürich → Zurich), other non-ASCII becomes `?`: the
 * message itself carries every value as written. The message stays under Publish's 256 KiB.
 */

/** Where the reader finds the run: named in every message. */
export interface AlertContext {
  workflowAuditTable: string;
  jobAuditTable: string;
  jobLogGroup: string;
}

/** An EventBridge envelope as rules deliver it. */
export interface AlertEnvelope {
  'detail-type': string;
  time?: string;
  region?: string;
  account?: string;
  detail: Record<string, unknown>;
}

export interface Alert {
  subject: string;
  message: string;
}

/** SNS: "less than 100 characters". */
export const MAX_SUBJECT_CHARS = 99;
/** SNS Publish messages are at most 256 KB; keep clear of it. */
export const MAX_MESSAGE_BYTES = 200_000;

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
/** Half of a surrogate pair alone (has no UTF-8 form): shown as U+FFFD, as a decoder would. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const showControl = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** A value as a reader sees it: strings as they are (control characters made visible), the rest as JSON. */
function text(v: unknown): string {
  if (v === undefined || v === null) return '-';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.replace(/\r\n?/g, '\n').replace(CONTROL, showControl).replace(LONE_SURROGATE, '\ufffd');
}

/** `label: value`, a multi-line value continued under the label. */
function line(label: string, v: unknown): string {
  const [first, ...rest] = text(v).split('\n');
  const pad = ' '.repeat(11);
  return [`${`${label}:`.padEnd(11)}${first}`, ...rest.map((r) => `${pad}${r}`)].join('\n');
}

/** A subject SNS accepts: printable ASCII, one line, 1–99 characters, not starting with a space. */
export function snsSubject(raw: string): string {
  const flat = raw
    .replace(/[\r\n\t]+/g, ' ')
    .replace(CONTROL, '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]/gu, '?')
    .replace(/\s+/g, ' ')
    .trim();
  if (flat === '') return 'rsqlo alert';
  return flat.length <= MAX_SUBJECT_CHARS ? flat : `${flat.slice(0, MAX_SUBJECT_CHARS - 3)}...`;
}

/** `s` cut to at most `max` UTF-8 bytes, on a code point boundary, saying that it was cut. */
function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  const note = '\n... (truncated; the full event is in the bus archive)';
  const room = max - Buffer.byteLength(note, 'utf8');
  let bytes = 0;
  let out = '';
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > room) break;
    bytes += n;
    out += ch;
  }
  return `${out}${note}`;
}

/** The alert for an event (any detail-type; the alert routes send failures and rejections). */
export function formatAlert(e: AlertEnvelope, ctx: AlertContext): Alert {
  const d = e.detail;
  const type = e['detail-type'];
  const head = [line('workflow', d.workflow_id), line('execution', d.workflow_execution_id)];
  const where = [
    line(
      'audit',
      `DynamoDB ${ctx.workflowAuditTable} / ${ctx.jobAuditTable}, workflow_execution_id = ${text(d.workflow_execution_id)}`,
    ),
    line('time', `${text(e.time ?? d.occurred_at)} (${text(e.region)}, account ${text(e.account)})`),
    line('event id', d.event_id),
  ];
  let subject: string;
  let body: string[];
  if (type === 'JobFinished') {
    subject = `rsqlo: job ${text(d.job_name)} ${text(d.status)} in ${text(d.workflow_id)}`;
    body = [
      ...head,
      line(
        'job',
        `${text(d.job_key)} ${text(d.job_name)} (stage ${text(d.stage)}, attempt ${text(d.attempt)})`,
      ),
      line(
        'status',
        `${text(d.status)} (exit code ${text(d.exit_code)}, reported by ${text(d.reported_by)})`,
      ),
      line('error', d.error_message),
      line('instance', `${text(d.instance_id)} (SSM command ${text(d.ssm_command_id)})`),
      line('log', `${text(d.log_location)} (CloudWatch Logs group ${ctx.jobLogGroup})`),
    ];
  } else if (type === 'WorkflowFinished') {
    const failed = Array.isArray(d.failed_jobs) ? (d.failed_jobs as Array<Record<string, unknown>>) : [];
    const first = failed[0] ?? {};
    subject = `rsqlo: workflow ${text(d.workflow_id)} ${text(d.status)}`;
    body = [
      ...head,
      line('status', `${text(d.status)} at stage ${text(d.failed_stage)} after ${text(d.duration_ms)} ms`),
      line(
        'job',
        `${text(first.job_key)} ${text(first.job_name)} ${text(first.status)} (exit code ${text(first.exit_code)})`,
      ),
      line('error', first.error_message),
      line('log', `${text(first.log_location)} (CloudWatch Logs group ${ctx.jobLogGroup})`),
      ...(failed.length > 1
        ? [
            line(
              'also',
              failed
                .slice(1)
                .map((j) => `${text(j.job_key)} ${text(j.job_name)} ${text(j.status)}`)
                .join('\n'),
            ),
          ]
        : []),
      line('counts', d.counts),
    ];
  } else if (type === 'WorkflowRejected') {
    subject = `rsqlo: request for workflow ${text(d.workflow_id)} rejected (${text(d.reason)})`;
    body = [...head, line('status', `rejected: ${text(d.reason)}`), line('error', d.message)];
  } else if (type === 'SlaMissed') {
    const late =
      d.kind === 'start_by'
        ? 'not started by'
        : d.kind === 'max_duration'
          ? 'running past'
          : 'not finished by';
    subject = `rsqlo: SLA missed: ${text(d.workflow_id)} ${late} ${text(d.line)}`;
    body = [
      ...head,
      line('sla', `${text(d.kind)} ${text(d.line)}: ${late} it`),
      line('line at', d.line_at),
      line('started', d.started_at ?? 'no run started'),
    ];
  } else if (type === 'RunLongerThanUsual') {
    subject = `rsqlo: ${text(d.workflow_id)} running longer than usual`;
    body = [
      ...head,
      line('started', d.started_at),
      line(
        'usual',
        `still running ${text(d.threshold_seconds)} s after its start: 1.5 x the 90th percentile (${text(d.p90_seconds)} s) of the last ${text(d.history_runs)} Completed runs`,
      ),
    ];
  } else {
    subject = `rsqlo: ${type}`;
    body = [...head, line('detail', JSON.stringify(d, null, 2))];
  }
  const message = truncateBytes([snsSubject(subject), '', ...body, ...where].join('\n'), MAX_MESSAGE_BYTES);
  return { subject: snsSubject(subject), message };
}
