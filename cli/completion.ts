import { COMMANDS } from './help.js';

/**
 * Shell completion scripts for `rsqlo`, generated from the command table (so they list exactly
 * the commands and options `--help` documents): commands first, then each command's options, then
 * files (definitions, folders). Install: `eval "$(rsqlo completion bash)"` (or zsh).
 */
export function completionScript(shell: string): string | undefined {
  const names = Object.keys(COMMANDS).sort();
  if (shell === 'bash') {
    const cases = names
      .map((n) => `    ${n}) opts="${[...(COMMANDS[n]?.options ?? []), '--help'].join(' ')}" ;;`)
      .join('\n');
    return `# rsqlo completion for bash: eval "$(rsqlo completion bash)"
_rsqlo() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names.join(' ')} --help --version" -- "$cur") )
    return
  fi
  local opts=""
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [ "\${COMP_WORDS[1]}" = completion ]; then
    COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") )
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -o filenames -F _rsqlo rsqlo
`;
  }
  if (shell === 'zsh') {
    const cases = names
      .map((n) => {
        const opts = [...(COMMANDS[n]?.options ?? []), '--help'].map((o) => `'${o}'`).join(' ');
        return `    ${n}) opts=(${opts}) ;;`;
      })
      .join('\n');
    const described = names
      .map((n) => `'${n}:${(COMMANDS[n]?.about.split(/[.:\n]/)[0] ?? '').replaceAll("'", '')}'`)
      .join(' ');
    return `#compdef rsqlo
# rsqlo completion for zsh: eval "$(rsqlo completion zsh)"
_rsqlo() {
  local -a commands opts
  commands=(${described})
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case "$words[2]" in
${cases}
  esac
  if [[ "$words[2]" == completion ]]; then
    compadd bash zsh
  elif [[ "$PREFIX" == -* ]]; then
    compadd -a opts
  else
    _files
  fi
}
if (( $+functions[compdef] )); then compdef _rsqlo rsqlo; fi
`;
  }
  return undefined;
}
