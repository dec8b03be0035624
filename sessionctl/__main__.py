from sessionctl.launch import main

main()
