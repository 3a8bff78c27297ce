# bash completion for limactl-autostart: `limactl-autostart completion >> ~/.bashrc`
_limactl_autostart() {
  local words=() i reply
  # bash splits words at "=" (COMP_WORDBREAKS): --condition=bo arrives as --condition, =, bo. The
  # program is asked about the words as typed, joined again.
  for ((i = 0; i <= COMP_CWORD; i++)); do
    if [[ ${COMP_WORDS[i]} == "=" || ($i -gt 0 && ${COMP_WORDS[i-1]} == "=") ]] && ((${#words[@]} > 0)); then
      words[-1]+=${COMP_WORDS[i]}
    else
      words+=("${COMP_WORDS[i]}")
    fi
  done
  COMPREPLY=()
  # Each answer a line, taken as it is: nothing the program prints is expanded or evaluated.
  while IFS= read -r reply; do
    # Where bash split the word at "=", it completes only what follows it.
    [[ ${COMP_WORDS[COMP_CWORD]} == "=" || ${COMP_WORDS[COMP_CWORD-1]} == "=" ]] && reply=${reply#*=}
    COMPREPLY+=("$reply")
  done < <(limactl-autostart --get-yargs-completions "${words[@]}" 2>/dev/null)
}
complete -F _limactl_autostart limactl-autostart
