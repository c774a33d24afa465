
#compdef dlcli

_dlcli_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _DLCLI_COMPLETE=complete_zsh dlcli)
}

compdef _dlcli_completion dlcli

