complete -c runiam-emulator -l world -d 'The world file (YAML): organization, folders, projects, services, policies' -r -F
complete -c runiam-emulator -l listen -d 'Address to listen on; port 0 picks a free port (the printed URL shows it)' -r
complete -c runiam-emulator -l seed -d 'Seed of every random choice (fault injection), for reproducible runs' -r
complete -c runiam-emulator -l latency -d 'How long every control-plane answer takes, e.g. 50ms or 1s: each leaves no sooner than this after its request' -r
complete -c runiam-emulator -l fail-rate -d 'Share of control-plane requests answered with one of --fail-codes (0 to 1)' -r
complete -c runiam-emulator -l fail-codes -d 'HTTP codes injected failures answer with: 409, 429, 500, 502, 503, 504' -r
complete -c runiam-emulator -l race-rate -d 'Chance (0 to 1) that a concurrent writer adds a binding to a service\'s policy right after a getIamPolicy, so the client\'s etag goes stale' -r
complete -c runiam-emulator -l commit-then-fail -d 'Chance (0 to 1) that a setIamPolicy commits and then answers 503' -r
complete -c runiam-emulator -l propagation-delay -d 'How late IAM and invoker-check changes reach the Cloud Run front end, e.g. 7s' -r
complete -c runiam-emulator -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam-emulator -s V -l version -d 'Print version'
