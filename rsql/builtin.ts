/**
 * Node built-in modules the runner needs only now and then (`child_process` for `\!`, `os` for a
 * missing HOME), loaded on first use: a job's runner starts once per job, and an import at the top of a
 * module is paid by every run, whether it uses the module or not. (Not even `node:module` is imported
 * for this: loading it brings in Node's ES module loader.)
 */

/** The built-in module `id` (`node:os`, …), loaded when first asked for. */
export function builtin<T>(id: string): T {
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (get) return get(id) as T;
  // Node < 20.16 has no getBuiltinModule; the CommonJS bundle (bin/rsql.cjs) has `require`
  const req = (globalThis as { require?: (id: string) => unknown }).require ?? process.mainModule?.require;
  if (!req)
    throw new Error(`cannot load ${id}: Node ${process.versions.node} is too old (20.16 or later is needed)`);
  return req(id) as T;
}
