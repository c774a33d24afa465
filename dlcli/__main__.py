from dlcli.cli import main

main(prog_name="dlcli")
