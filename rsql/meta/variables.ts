/**
 * The runner's variables and the shell's environment: `\set`, `\unset` (rsql-spec.md §4), `\setenv`,
 * `\getenv`.
 */
import type { MetaArg } from '../interpolate.js';
import type { MetaCommand } from './command.js';
import { VAR_NAME } from './host.js';

/** Variable commands. */
export const VARIABLE_COMMANDS: readonly MetaCommand[] = [
  {
    names: ['set'],
    usage: '\\set [NAME [VALUE...]]',
    summary: 'set a variable (values concatenated); without a name list them all',
    args: 'words',
    run(host, { ctx, item, args }) {
      if (args.length === 0) {
        const names = [...host.vars.keys()].sort();
        for (const n of names) host.print(`${n} = '${host.vars.get(n)}'\n`);
        return;
      }
      const name = (args[0] as MetaArg).value;
      if (!VAR_NAME.test(name)) {
        host.commandFailed(ctx, item.line, `\\set: invalid variable name: "${name}"`);
        return;
      }
      host.vars.set(
        name,
        args
          .slice(1)
          .map((x) => x.value)
          .join(''),
      );
      if (name === 'RSQL_ERROR_VALUES') {
        // ERROR keeps its meaning and takes the new rendering (U8)
        const cur = host.vars.get('ERROR');
        const failed = cur === 'true' || cur === '1';
        host.vars.set('ERROR', host.errorText(failed));
      }
    },
  },
  {
    names: ['unset'],
    usage: '\\unset NAME',
    summary: 'remove a variable',
    args: 'words',
    minArgs: 1,
    run(host, { args }) {
      host.vars.delete((args[0] as MetaArg).value);
    },
  },
  {
    names: ['setenv'],
    usage: '\\setenv NAME [VALUE]',
    summary: 'set (or without VALUE remove) an environment variable of later shell commands',
    args: 'words',
    minArgs: 1,
    run(host, { args }) {
      const name = (args[0] as MetaArg).value;
      if (args[1] === undefined) delete host.childEnv[name];
      else host.childEnv[name] = args[1].value;
    },
  },
  {
    names: ['getenv'],
    usage: '\\getenv VAR ENVVAR',
    summary: 'copy an environment variable into a variable (left alone when the environment has none)',
    args: 'words',
    minArgs: 2,
    run(host, { args }) {
      const [variable, envName] = args as [MetaArg, MetaArg];
      const v = host.childEnv[envName.value];
      if (v !== undefined) host.vars.set(variable.value, v);
    },
  },
];
