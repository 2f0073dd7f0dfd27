/**
 * The parts of Amazon States Language the single-job wrapper uses, evaluated the way Step Functions
 * does, so the wrapper simulator (step-functions.ts) can run the DEPLOYED definition rather than a
 * copy of its logic:
 *
 * - reference paths (`$`, `$.a.b`, `$.a[0]`, and `$$.` for the context object);
 * - payload templates: keys ending in `.$` take a path or an intrinsic function, the rest are
 *   literals (recursively, through objects and arrays);
 * - intrinsic functions: `States.Format` (with `\'`, `\{`, `\}` and `\\` escapes in its literal
 *   arguments), `States.JsonToString`, `States.StringToJson`;
 * - ResultPath (`null` discards the result, a path sets it, absent replaces the input);
 * - error-name matching of Retry / Catch, as the States Language specifies it (errorMatches):
 *   catchers in array order, `States.ALL` alone and last, `States.Timeout` also covering heartbeat
 *   timeouts, `States.TaskFailed` covering everything but timeouts (checkErrorHandlers refuses a
 *   definition that breaks the placement rules, as CreateStateMachine does);
 * - Choice states (`Variable` with IsPresent, IsNull, StringEquals, NumericEquals, BooleanEquals;
 *   And / Or / Not; Default) and Pass states (`Result`, `Parameters`, ResultPath).
 *
 * Sources: the Amazon States Language specification (states-language.net/spec.html: "Errors",
 * "Retrying after error", "Fallback states", "Choice State", Appendix A) and the AWS Step
 * Functions developer guide, "Paths", "Manipulate parameters with paths", "Intrinsic functions",
 * "Specifying state output using ResultPath", "Handling errors". test/aws/sim/asl.test.ts quotes
 * them rule by rule. Anything else is an AslError (States.Runtime on AWS), never a silent guess.
 */

/** A Runtime error of the interpreter (what Step Functions reports as States.Runtime). */
export class AslError extends Error {
  override name = 'States.Runtime';
}

/** Step Functions' context object, as `$$` exposes it. */
export interface AslContext {
  Execution: { Id: string; Input: unknown; Name: string; StartTime: string; RoleArn: string };
  State: { EnteredTime: string; Name: string; RetryCount: number };
  StateMachine: { Id: string; Name: string };
  Task?: { Token: string };
}

function steps(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  const re = /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\['([^']*)'\]/y;
  let i = 0;
  while (i < path.length) {
    re.lastIndex = i;
    const m = re.exec(path);
    if (!m) throw new AslError(`unsupported path syntax at "${path.slice(i)}"`);
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(m[3] ?? '');
    i = re.lastIndex;
  }
  return out;
}

/** The value a reference path selects; a path selecting nothing is an error, as on AWS. */
export function readPath(path: string, input: unknown, context: AslContext): unknown {
  let root: unknown;
  let rest: string;
  if (path.startsWith('$$')) {
    root = context;
    rest = path.slice(2);
  } else if (path.startsWith('$')) {
    root = input;
    rest = path.slice(1);
  } else {
    throw new AslError(`"${path}" is not a reference path`);
  }
  let v: unknown = root;
  for (const s of steps(rest)) {
    if (typeof s === 'number') {
      if (!Array.isArray(v) || s >= v.length) throw new AslError(`path ${path} selects nothing`);
      v = v[s];
    } else {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !(s in v))
        throw new AslError(`path ${path} selects nothing`);
      v = (v as Record<string, unknown>)[s];
    }
  }
  return v;
}

/** Splits `a, 'b, c', States.X(d, e)` into its top-level arguments. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === "'") quoted = false;
      continue;
    }
    if (c === "'") quoted = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  if (quoted || depth !== 0) throw new AslError(`unbalanced intrinsic arguments: ${text}`);
  const last = text.slice(start).trim();
  if (last !== '' || out.length > 0) out.push(last);
  return out;
}

/** A string literal's value (escapes kept for States.Format to interpret `\{` and `\}`). */
function literal(arg: string): string {
  if (!arg.startsWith("'") || !arg.endsWith("'") || arg.length < 2)
    throw new AslError(`not a string literal: ${arg}`);
  return arg.slice(1, -1);
}

function unescapeLiteral(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

function argValue(arg: string, input: unknown, context: AslContext): unknown {
  if (arg.startsWith("'")) return unescapeLiteral(literal(arg));
  if (arg.startsWith('$')) return readPath(arg, input, context);
  if (/^States\.\w+\(/.test(arg)) return evaluateIntrinsic(arg, input, context);
  if (arg === 'null') return null;
  if (arg === 'true' || arg === 'false') return arg === 'true';
  if (/^-?\d+(\.\d+)?$/.test(arg)) return Number(arg);
  throw new AslError(`unsupported intrinsic argument: ${arg}`);
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  throw new AslError('States.Format takes strings, numbers, booleans and null only');
}

/** Evaluates an intrinsic function call such as `States.Format('x {}', $.a)`. */
export function evaluateIntrinsic(expr: string, input: unknown, context: AslContext): unknown {
  const m = /^(States\.\w+)\(([\s\S]*)\)$/.exec(expr.trim());
  if (!m) throw new AslError(`not an intrinsic function: ${expr}`);
  const name = m[1] as string;
  const args = splitArgs(m[2] as string);
  switch (name) {
    case 'States.Format': {
      const [template, ...rest] = args;
      if (template === undefined) throw new AslError('States.Format needs a template');
      const raw = literal(template);
      const values = rest.map((a) => formatValue(argValue(a, input, context)));
      let out = '';
      let used = 0;
      for (let i = 0; i < raw.length; i++) {
        const c = raw[i];
        if (c === '\\' && i + 1 < raw.length) {
          out += raw[++i];
        } else if (c === '{' && raw[i + 1] === '}') {
          if (used >= values.length) throw new AslError('States.Format: more {} than arguments');
          out += values[used++];
          i++;
        } else {
          out += c;
        }
      }
      if (used !== values.length) throw new AslError('States.Format: more arguments than {}');
      return out;
    }
    case 'States.JsonToString': {
      if (args.length !== 1) throw new AslError('States.JsonToString takes one argument');
      return JSON.stringify(argValue(args[0] as string, input, context));
    }
    case 'States.StringToJson': {
      if (args.length !== 1) throw new AslError('States.StringToJson takes one argument');
      const v = argValue(args[0] as string, input, context);
      if (typeof v !== 'string') throw new AslError('States.StringToJson takes a string');
      return JSON.parse(v);
    }
    default:
      throw new AslError(`intrinsic function ${name} is not simulated`);
  }
}

/** A payload template (Parameters, ResultSelector) evaluated against the input and context. */
export function evaluateParameters(template: unknown, input: unknown, context: AslContext): unknown {
  if (Array.isArray(template)) return template.map((t) => evaluateParameters(t, input, context));
  if (typeof template !== 'object' || template === null) return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      if (typeof value !== 'string') throw new AslError(`${key} must be a string`);
      out[key.slice(0, -2)] = value.startsWith('States.')
        ? evaluateIntrinsic(value, input, context)
        : readPath(value, input, context);
    } else {
      out[key] = evaluateParameters(value, input, context);
    }
  }
  return out;
}

/** The state's output after ResultPath: absent → the result, null → the input, a path → input + result. */
export function applyResultPath(input: unknown, result: unknown, resultPath: string | null | undefined) {
  if (resultPath === null) return input;
  if (resultPath === undefined || resultPath === '$') return result;
  if (!resultPath.startsWith('$.')) throw new AslError(`unsupported ResultPath ${resultPath}`);
  const path = steps(resultPath.slice(1));
  const root: Record<string, unknown> =
    typeof input === 'object' && input !== null && !Array.isArray(input)
      ? structuredClone(input as Record<string, unknown>)
      : {};
  let at: Record<string, unknown> = root;
  path.forEach((s, i) => {
    if (typeof s === 'number') throw new AslError('ResultPath may not index arrays');
    if (i === path.length - 1) at[s] = result;
    else {
      const next = at[s];
      at[s] = typeof next === 'object' && next !== null && !Array.isArray(next) ? next : {};
      at = at[s] as Record<string, unknown>;
    }
  });
  return root;
}

/** Error names that are timeouts: `States.Timeout` covers both, `States.TaskFailed` neither. */
const TIMEOUTS = ['States.Timeout', 'States.HeartbeatTimeout'];
/** Terminal errors no wildcard catches (developer guide, "Handling errors"). */
const UNCATCHABLE_BY_WILDCARD = ['States.Runtime', 'States.DataLimitExceeded'];

/**
 * Whether a Retrier's / Catcher's ErrorEquals covers an error name:
 * - the name itself;
 * - `States.ALL`: any name but the terminal States.Runtime / States.DataLimitExceeded;
 * - `States.Timeout`: a Task that ran past TimeoutSeconds *or* missed its heartbeat
 *   (States.HeartbeatTimeout);
 * - `States.TaskFailed`: any name except the timeouts (and the terminal errors).
 */
export function errorMatches(errorEquals: readonly string[], error: string): boolean {
  if (errorEquals.includes(error)) return true;
  if (error === 'States.HeartbeatTimeout' && errorEquals.includes('States.Timeout')) return true;
  if (UNCATCHABLE_BY_WILDCARD.includes(error)) return false;
  if (errorEquals.includes('States.ALL')) return true;
  return errorEquals.includes('States.TaskFailed') && !TIMEOUTS.includes(error);
}

/** The first handler (Retrier or Catcher) whose ErrorEquals covers the error: they are tried in array order. */
export function firstMatching<T extends { ErrorEquals: readonly string[] }>(
  handlers: readonly T[] | undefined,
  error: string,
): T | undefined {
  return handlers?.find((h) => errorMatches(h.ErrorEquals, error));
}

/**
 * Placement rules of `States.ALL` in a state's Retry and Catch: it "MUST appear alone in the
 * ErrorEquals array and MUST appear in the last Retrier/Catcher". Returns what is wrong, by state.
 */
export function checkErrorHandlers(states: Record<string, { Retry?: unknown; Catch?: unknown }>): string[] {
  const problems: string[] = [];
  for (const [name, state] of Object.entries(states))
    for (const field of ['Retry', 'Catch'] as const) {
      const handlers = (state[field] ?? []) as Array<{ ErrorEquals?: unknown }>;
      handlers.forEach((h, i) => {
        const eq = Array.isArray(h.ErrorEquals) ? (h.ErrorEquals as unknown[]) : [];
        if (eq.length === 0) problems.push(`${name}.${field}[${i}]: ErrorEquals must be a non-empty array`);
        if (!eq.includes('States.ALL')) return;
        if (eq.length !== 1)
          problems.push(`${name}.${field}[${i}]: States.ALL must appear alone in ErrorEquals`);
        if (i !== handlers.length - 1)
          problems.push(
            `${name}.${field}[${i}]: States.ALL must be in the last ${field === 'Retry' ? 'Retrier' : 'Catcher'}`,
          );
      });
    }
  return problems;
}

type ChoiceRule = Record<string, unknown>;

function ruleHolds(rule: ChoiceRule, input: unknown, context: AslContext): boolean {
  if (Array.isArray(rule.And)) return (rule.And as ChoiceRule[]).every((r) => ruleHolds(r, input, context));
  if (Array.isArray(rule.Or)) return (rule.Or as ChoiceRule[]).some((r) => ruleHolds(r, input, context));
  if (rule.Not !== undefined) return !ruleHolds(rule.Not as ChoiceRule, input, context);
  const variable = rule.Variable;
  if (typeof variable !== 'string') throw new AslError('a Choice rule needs a Variable');
  let present = true;
  let value: unknown;
  try {
    value = readPath(variable, input, context);
  } catch {
    present = false;
  }
  if ('IsPresent' in rule) return present === rule.IsPresent;
  if (!present) throw new AslError(`Choice: ${variable} selects nothing`);
  if ('IsNull' in rule) return (value === null) === rule.IsNull;
  if ('StringEquals' in rule) return typeof value === 'string' && value === rule.StringEquals;
  if ('NumericEquals' in rule) return typeof value === 'number' && value === rule.NumericEquals;
  if ('BooleanEquals' in rule) return typeof value === 'boolean' && value === rule.BooleanEquals;
  throw new AslError(`Choice comparator of ${JSON.stringify(rule)} is not simulated`);
}

/** The state a Choice state moves to: the first rule that holds, else Default (else States.NoChoiceMatched). */
export function chooseNext(
  state: { Choices?: unknown; Default?: string },
  input: unknown,
  context: AslContext,
): string {
  for (const rule of (state.Choices ?? []) as ChoiceRule[])
    if (ruleHolds(rule, input, context)) return rule.Next as string;
  if (state.Default !== undefined) return state.Default;
  throw new AslError('States.NoChoiceMatched: no Choice rule matched and there is no Default');
}

/** A Pass state's output: its Result (or Parameters, or its input) placed by ResultPath. */
export function passOutput(
  state: { Result?: unknown; Parameters?: unknown; ResultPath?: string | null },
  input: unknown,
  context: AslContext,
): unknown {
  const result =
    'Result' in state
      ? state.Result
      : state.Parameters !== undefined
        ? evaluateParameters(state.Parameters, input, context)
        : input;
  return applyResultPath(input, result, state.ResultPath);
}
