from integrations.trackers.sgserver.app import main

main()
