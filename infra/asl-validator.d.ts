/** Types of asl-validator@4 (it ships none): validates an Amazon States Language definition. */
declare module 'asl-validator' {
  export interface AslValidationError {
    'Error code': string;
    Message: string;
    path?: string;
  }
  export interface AslValidatorOptions {
    checkPaths?: boolean;
    checkArn?: boolean;
  }
  export default function validator(
    definition: Record<string, unknown>,
    options?: AslValidatorOptions,
  ): { isValid: boolean; errors: AslValidationError[]; errorsText: (separator?: string) => string };
}
