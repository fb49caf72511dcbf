from suiro.cli.app import main

main()
