import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

/**
 * Which AWS actions a Lambda handler's code can call, derived from the code itself: the handler
 * export is bundled with esbuild (tree-shaken, `@aws-sdk/*` left external so only the code that
 * uses the SDK is in the output, not the SDK's own internals), then every `new X(...)` whose `X` is
 * a `*Command` imported from an `@aws-sdk/client-*` package or `@aws-sdk/lib-dynamodb`, and every
 * `paginateX(...)`, is mapped to its IAM action. This covers our code and the libraries bundled with
 * it (Powertools' idempotency store calls DynamoDB too).
 *
 * IAM actions are not always the API name:
 * - DynamoDB transactions have no action of their own: each item is authorized as PutItem,
 *   UpdateItem, DeleteItem or ConditionCheckItem (TransactGetItems as GetItem). The kinds are read
 *   from the object literals the code builds (`{ Put: … }`, `{ ConditionCheck: … }`, …);
 * - SQS batch calls are authorized by the single-message action (SendMessageBatch → SendMessage).
 * Aggregated clients (`new EventBridge()`, `DynamoDBDocument`) hide which commands are sent; they
 * make the analysis fail rather than guess.
 */

/** IAM service prefix of every SDK client package the project may use. */
export const SERVICE_PREFIX: Record<string, string> = {
  '@aws-sdk/client-cloudwatch-logs': 'logs',
  '@aws-sdk/client-cloudwatch': 'cloudwatch',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-dynamodb-streams': 'dynamodb',
  '@aws-sdk/lib-dynamodb': 'dynamodb',
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-eventbridge': 'events',
  '@aws-sdk/client-lambda': 'lambda',
  '@aws-sdk/client-s3': 's3',
  '@aws-sdk/client-scheduler': 'scheduler',
  '@aws-sdk/client-secrets-manager': 'secretsmanager',
  '@aws-sdk/client-sfn': 'states',
  '@aws-sdk/client-sns': 'sns',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-ssm': 'ssm',
  '@aws-sdk/client-sts': 'sts',
};

/** lib-dynamodb document commands → the DynamoDB API they send. */
const DOCUMENT_COMMANDS: Record<string, string> = {
  GetCommand: 'GetItem',
  PutCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
  DeleteCommand: 'DeleteItem',
  QueryCommand: 'Query',
  ScanCommand: 'Scan',
  BatchGetCommand: 'BatchGetItem',
  BatchWriteCommand: 'BatchWriteItem',
  TransactGetCommand: 'TransactGetItems',
  TransactWriteCommand: 'TransactWriteItems',
  ExecuteStatementCommand: 'ExecuteStatement',
  BatchExecuteStatementCommand: 'BatchExecuteStatement',
  ExecuteTransactionCommand: 'ExecuteTransaction',
};

/** API operations whose IAM action has another name. */
const ACTION_ALIASES: Record<string, string> = {
  'sqs:SendMessageBatch': 'sqs:SendMessage',
  'sqs:DeleteMessageBatch': 'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibilityBatch': 'sqs:ChangeMessageVisibility',
  'dynamodb:TransactGetItems': 'dynamodb:GetItem',
};

/**
 * Actions a call needs besides its own: the Service Authorization Reference's "dependent actions".
 * EventBridge Scheduler's CreateSchedule passes the schedule's execution role to the service
 * (`iam:PassRole`), as the Scheduler user guide's identity-based policy examples grant.
 */
const DEPENDENT_ACTIONS: Record<string, string[]> = {
  'scheduler:CreateSchedule': ['iam:PassRole'],
};

/** Transaction item kind → the IAM action that authorizes it. */
const TRANSACT_ITEM_ACTIONS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/** Aggregated clients: every command is a method, so the commands sent cannot be read off the code. */
const AGGREGATED =
  /^(DynamoDBDocument|DynamoDB|EventBridge|SFN|SSM|SQS|SNS|CloudWatchLogs|SecretsManager|EC2|S3|Lambda|STS|Scheduler)$/;

export class SdkActionsError extends Error {
  override name = 'SdkActionsError';
}

/** One use of the SDK found in the bundle. */
export interface SdkCall {
  pkg: string;
  /** The command class or paginator as exported by the package. */
  name: string;
  /** IAM actions it needs. */
  actions: string[];
}

export interface HandlerActions {
  /** Sorted, unique IAM actions. */
  actions: string[];
  calls: SdkCall[];
  /** Bundled source files (relative), for reports. */
  modules: string[];
}

interface ImportBinding {
  pkg: string;
  /** Exported name, or `*` for a namespace import. */
  name: string;
}

/** Parses the ESM import statements esbuild leaves for external `@aws-sdk/*` packages. */
export function sdkImports(code: string): Map<string, ImportBinding> {
  const out = new Map<string, ImportBinding>();
  // esbuild keeps imports where the module was (not hoisted) and wraps long ones over lines.
  const re = /^import\s+([^"';]+?)\s+from\s+"(@aws-sdk\/[^"]+)"/gm;
  for (const m of code.matchAll(re)) {
    const clause = (m[1] ?? '').replace(/\s+/g, ' ').trim();
    const pkg = m[2] ?? '';
    const ns = /^\*\s+as\s+([\w$]+)$/.exec(clause);
    if (ns?.[1]) {
      out.set(ns[1], { pkg, name: '*' });
      continue;
    }
    const braces = /\{([^}]*)\}/.exec(clause);
    const def = clause
      .replace(/\{[^}]*\}/, '')
      .replace(/,/g, '')
      .trim();
    if (def) out.set(def, { pkg, name: 'default' });
    for (const part of (braces?.[1] ?? '').split(',')) {
      const p = part.trim();
      if (!p) continue;
      const [exported, local] = p.split(/\s+as\s+/).map((s) => s.trim());
      if (exported) out.set(local ?? exported, { pkg, name: exported });
    }
  }
  return out;
}

/** The IAM actions of one command or paginator of a package, or undefined when it is neither. */
export function actionsOf(
  pkg: string,
  name: string,
  transactKinds: ReadonlySet<string>,
): string[] | undefined {
  const prefix = SERVICE_PREFIX[pkg];
  let api: string | undefined;
  if (pkg === '@aws-sdk/lib-dynamodb') {
    api =
      DOCUMENT_COMMANDS[name] ?? (name.startsWith('paginate') ? name.slice('paginate'.length) : undefined);
  } else if (name.endsWith('Command') && name !== 'Command') api = name.slice(0, -'Command'.length);
  else if (name.startsWith('paginate') && name.length > 'paginate'.length)
    api = name.slice('paginate'.length);
  if (!api) return undefined;
  if (!prefix)
    throw new SdkActionsError(
      `${pkg}: no IAM service prefix known for this package (add it to SERVICE_PREFIX)`,
    );
  const action = `${prefix}:${api}`;
  if (action === 'dynamodb:TransactWriteItems') {
    if (transactKinds.size === 0)
      throw new SdkActionsError(
        'TransactWriteItems is sent but no { Put | Update | Delete | ConditionCheck } item was found',
      );
    return [...transactKinds].map((k) => TRANSACT_ITEM_ACTIONS[k] as string).sort();
  }
  return [ACTION_ALIASES[action] ?? action, ...(DEPENDENT_ACTIONS[action] ?? [])];
}

/** Splits esbuild's (non-minified) output into the code of each bundled module. */
export function moduleRegions(code: string): Array<{ module: string; code: string }> {
  const out: Array<{ module: string; code: string }> = [];
  const re = /^\/\/ ([^\n]+\.(?:[cm]?[jt]s|tsx|jsx))$/gm;
  let last: { module: string; start: number } | undefined;
  for (const m of code.matchAll(re)) {
    if (last) out.push({ module: last.module, code: code.slice(last.start, m.index) });
    last = { module: m[1] ?? '', start: (m.index ?? 0) + m[0].length };
  }
  if (last) out.push({ module: last.module, code: code.slice(last.start) });
  return out;
}

/** Analyses already-bundled code (see the module comment). */
export function actionsInBundle(code: string): Omit<HandlerActions, 'modules'> {
  const imports = sdkImports(code);
  for (const [local, b] of imports) {
    if (b.name === '*' || b.name === 'default')
      throw new SdkActionsError(
        `${b.pkg} is imported as a namespace/default (${local}): import commands by name`,
      );
    if (AGGREGATED.test(b.name))
      throw new SdkActionsError(
        `${b.pkg}: the aggregated client ${b.name} hides which commands are sent; use ${b.name}Client and named *Command classes`,
      );
  }
  // Transaction item kinds built anywhere outside node_modules (our code builds the transactions).
  const transactKinds = new Set<string>();
  for (const r of moduleRegions(code)) {
    if (r.module.includes('node_modules/')) continue;
    for (const m of r.code.matchAll(/\{\s*(Put|Update|Delete|ConditionCheck)\s*:/g))
      transactKinds.add(m[1] ?? '');
  }
  const calls = new Map<string, SdkCall>();
  const uses = [
    ...code.matchAll(/\bnew\s+([A-Za-z_$][\w$]*)\s*\(/g),
    ...code.matchAll(/\b(paginate[A-Z][\w$]*)\s*\(/g),
  ];
  for (const m of uses) {
    const local = m[1] ?? '';
    const b = imports.get(local);
    if (!b) continue;
    const actions = actionsOf(b.pkg, b.name, transactKinds);
    if (!actions) continue;
    calls.set(`${b.pkg}#${b.name}`, { pkg: b.pkg, name: b.name, actions });
  }
  const list = [...calls.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { actions: [...new Set(list.flatMap((c) => c.actions))].sort(), calls: list };
}

export interface ModuleActionsOptions {
  /** Absolute paths of modules left out of the bundle (their code is not counted). */
  exclude?: string[];
}

/**
 * Bundles `exportName` of `entry` (tree-shaken: only what that export reaches) and returns the
 * IAM actions its code calls.
 */
export async function moduleActions(
  entry: string,
  exportName: string,
  root: string,
  opts: ModuleActionsOptions = {},
): Promise<HandlerActions> {
  if (!existsSync(entry)) throw new SdkActionsError(`${entry} does not exist`);
  const excluded = new Set((opts.exclude ?? []).map((p) => path.resolve(p)));
  const result = await build({
    stdin: {
      contents: `export { ${exportName} } from ${JSON.stringify(path.resolve(entry))};`,
      resolveDir: root,
      sourcefile: 'analysis-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    external: ['@aws-sdk/*'],
    write: false,
    metafile: true,
    minify: false,
    treeShaking: true,
    logLevel: 'silent',
    absWorkingDir: root,
    plugins: [
      {
        name: 'exclude-modules',
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (!args.path.startsWith('.') || !args.resolveDir) return undefined;
            const abs = path.resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
            return excluded.has(abs) ? { path: abs, external: true } : undefined;
          });
        },
      },
    ],
  });
  const out = result.outputFiles[0];
  if (!out) throw new SdkActionsError(`esbuild produced nothing for ${entry}`);
  const modules = Object.keys(result.metafile.inputs).filter((m) => !m.includes('node_modules/'));
  return { ...actionsInBundle(out.text), modules };
}

/** Every SDK client package installed, for the tests' sanity checks. */
export function installedSdkPackages(root: string): string[] {
  const dir = path.join(root, 'node_modules', '@aws-sdk');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.startsWith('client-') || n === 'lib-dynamodb')
    .map((n) => `@aws-sdk/${n}`);
}
