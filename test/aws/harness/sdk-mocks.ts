/**
 * Routing the mocked AWS SDK clients (aws-sdk-client-mock) of the AWS-path harness to its
 * simulators: each simulated command goes to the harness's answer, any other command is refused
 * and recorded, so a call no simulator handles fails the test instead of passing unseen.
 */
import type { AwsStub } from 'aws-sdk-client-mock';

// biome-ignore lint/suspicious/noExplicitAny: the stub of any client
type AnyStub = AwsStub<any, any, any>;
// biome-ignore lint/suspicious/noExplicitAny: the command class of any client
type AnyCommand = new (input: any) => any;

/**
 * A router over `call` (the harness's answer to a simulated command) and `unexpected` (its refusal
 * of any other): `route(stub, service, commands)` resets `stub`, then answers each of `commands`
 * (by name) with `call(service, name)` and every other command with `unexpected(service)`.
 */
export function commandRouter(
  call: (service: string, command: string) => (input: unknown) => Promise<unknown>,
  unexpected: (service: string) => (input: unknown) => Promise<unknown>,
): (stub: AnyStub, service: string, commands: Record<string, AnyCommand>) => void {
  return (stub, service, commands) => {
    stub.reset();
    stub.onAnyCommand().callsFake(unexpected(service));
    for (const [name, command] of Object.entries(commands)) stub.on(command).callsFake(call(service, name));
  };
}
