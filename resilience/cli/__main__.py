from resilience.cli.main import main

main()
