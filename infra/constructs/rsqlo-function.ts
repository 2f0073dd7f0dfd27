import path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from '../acknowledge.js';

/**
 * Banner that gives ESM bundles the CommonJS `require` some bundled dependencies still call
 * (esbuild turns their `require()` into a call of this).
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __rsqloCreateRequire } from 'node:module'; const require = __rsqloCreateRequire(import.meta.url);";

export interface RsqloFunctionProps {
  /** The handler file (absolute path; a `services/<name>/handler.ts`). */
  entry: string;
  /** The exported function Lambda calls. Default `handler`. */
  handlerExport?: string;
  /** The repository root: esbuild's working folder and the lock file's folder. */
  projectRoot: string;
  /** What the function does (its Lambda description and its role's). */
  description: string;
  /** Environment variables (ENV names from runtime/aws/settings.ts). */
  environment: Record<string, string>;
  /** Default 30 seconds. */
  timeout?: Duration;
  /** Default 512 MB (ARM64). */
  memorySize?: number;
  /** Retention of the function's own log group. Default three months. */
  logRetention?: logs.RetentionDays;
  /** Default DESTROY for the log group: logs of a removed stack are not worth keeping by default. */
  logRemovalPolicy?: RemovalPolicy;
}

/**
 * One rsqlo Lambda function with safe defaults: Node.js 22 on ARM64, an ESM bundle built by the
 * local esbuild (never Docker; the AWS SDK is bundled so the deployed code is the tested code),
 * JSON logs into its own log group with a retention, X-Ray active tracing, and a role of its own
 * that starts with nothing but writing to that log group. Every other permission is added with
 * `grant`, one statement per purpose, so the role reads as the list of what the code does.
 */
export class RsqloFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RsqloFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `rsqlo ${id}: ${props.description}`.slice(0, 1000),
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: props.handlerExport ?? 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: path.join(props.projectRoot, 'package-lock.json'),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.ACTIVE,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        platform: 'node',
        mainFields: ['module', 'main'],
        bundleAwsSDK: true,
        sourceMap: true,
        minify: true,
        keepNames: true,
        banner: ESM_REQUIRE_BANNER,
        tsconfig: path.join(props.projectRoot, 'tsconfig.json'),
      },
    });
    acknowledge(
      this.function,
      'AwsSolutions-L1',
      'Node.js 22 is pinned on purpose (ARCHITECTURE.md §7): the bundles are built and tested for node22 (esbuild target); moving to a newer runtime is a deliberate upgrade, not an automatic one.',
    );
  }

  /** Adds one least-privilege statement to the function's role. */
  grant(
    sid: string,
    actions: string[],
    resources: string[],
    conditions?: Record<string, Record<string, unknown>>,
  ) {
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));
  }
}
