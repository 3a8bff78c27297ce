#compdef limactl-autostart
# zsh completion for limactl-autostart: `limactl-autostart completion >> ~/.zshrc`
_limactl_autostart() {
  local -a reply
  # Each answer a line, taken as it is: nothing the program prints is expanded or evaluated.
  reply=("${(@f)$(limactl-autostart --get-yargs-completions "${(@)words[1,CURRENT]}" 2>/dev/null)}")
  compadd -- "${(@)reply:#}"
}
# compdef belongs to zsh's completion system, which a stock ~/.zshrc does not load.
(( $+functions[compdef] )) || { autoload -Uz compinit && compinit -i; }
compdef _limactl_autostart limactl-autostart
