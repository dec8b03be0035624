from sessionctl.cli import main

main()
