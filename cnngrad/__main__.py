from cnngrad.cli import main

main()
