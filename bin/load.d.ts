/** The package's root folder (where package.json is). */
export const ROOT: string;
/** The bundled file of a TypeScript entry (relative to the package root), or undefined. */
export function bundledPath(entry: string): string | undefined;
/** The standalone CommonJS bundle of an entry (npm packages inside), for bin/rsql.cjs; or undefined. */
export function standaloneBundle(entry: string): Promise<string | undefined>;
/** Imports a TypeScript entry: the bundle when possible, else through tsx. */
export function load(entry: string): Promise<unknown>;
/** The node arguments that run an entry as its own process (bundled, else under tsx). */
export function nodeArgs(entry: string): string[];
/** Removes `<bundle>.<pid>.tmp` files in `dir` left by processes that died while bundling. */
export function removeStaleTemps(dir: string, bundle: string): void;
