import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from './args.js';

describe('parseArgs', () => {
  it('parses the flags the seed wrappers use', () => {
    const o = parseArgs(['-h', 'db.example', '-U', 'etl', '-d', 'dev', '-p', '5439']);
    expect(o).toMatchObject({ host: 'db.example', user: 'etl', dbname: 'dev', port: 5439, inputs: [] });
  });

  it('keeps -f and -c inputs in order and -v assignments', () => {
    const o = parseArgs([
      '-c',
      'select 1',
      '-f',
      'a.sql',
      '--command=select 2',
      '-v',
      'X=1',
      '--set=Y=',
      '--variable',
      'Z',
    ]);
    expect(o.inputs).toEqual([
      { kind: 'command', text: 'select 1' },
      { kind: 'file', path: 'a.sql' },
      { kind: 'command', text: 'select 2' },
    ]);
    expect(o.variables).toEqual([
      { name: 'X', value: '1' },
      { name: 'Y', value: '' },
      { name: 'Z', value: undefined },
    ]);
  });

  it('accepts clustered and attached short options', () => {
    const o = parseArgs(['-qAt', '-vON_ERROR_STOP=1', '-p5432', '-P', 'pager=off', '-a', '-X', '-w']);
    expect(o).toMatchObject({ quiet: true, unaligned: true, tuplesOnly: true, port: 5432, echo: 'all' });
    expect(o.variables).toEqual([{ name: 'ON_ERROR_STOP', value: '1' }]);
    expect(o.pset).toEqual([{ name: 'pager', value: 'off' }]);
  });

  it('takes positional DBNAME and USERNAME like psql', () => {
    expect(parseArgs(['dev', 'etl'])).toMatchObject({ dbname: 'dev', user: 'etl' });
    expect(parseArgs(['-d', 'dev', 'etl'])).toMatchObject({ dbname: 'dev', user: 'etl' });
    expect(parseArgs(['a', 'b', 'c']).warnings).toEqual(['extra command-line argument "c" ignored']);
  });

  it('recognises --version and --help', () => {
    expect(parseArgs(['--version']).version).toBe(true);
    expect(parseArgs(['--help']).help).toBe(true);
  });

  it.each([
    [['--bogus'], "unrecognized option '--bogus'"],
    [['-Z'], "invalid option -- 'Z'"],
    [['-f'], "option requires an argument -- 'f'"],
    [['--file'], "option '--file' requires an argument"],
    [['-p', 'abc'], 'invalid port "abc"'],
    [['--quiet=1'], "option '--quiet' doesn't allow an argument"],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});
