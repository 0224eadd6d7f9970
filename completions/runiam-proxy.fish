complete -c runiam-proxy -l as -d 'Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for) [default: the identity of the credential in use: ADC file, gcloud account, metadata server]' -r
complete -c runiam-proxy -l audience -d 'The ID token\'s audience [default: the URL requests go to]' -r
complete -c runiam-proxy -l tag -d 'Send requests to the URL of this traffic tag (and use it as the audience)' -r
complete -c runiam-proxy -l port -d 'The port to listen on (0: any free port, printed on stdout)' -r
complete -c runiam-proxy -l bind -d 'The address to listen on; anything but loopback needs --allow-remote' -r
complete -c runiam-proxy -l id-token-cmd -d 'A shell command that prints the caller\'s ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience), run again to renew it' -r
complete -c runiam-proxy -l log -d 'Append one line per request to FILE: time, method, path (no query), status, latency, who answered' -r -F
complete -c runiam-proxy -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam-proxy -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam-proxy -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam-proxy -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam-proxy -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam-proxy -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam-proxy -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam-proxy -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam-proxy -l allow-remote -d 'Allow a --bind address other machines can reach: they would call the service as the caller'
complete -c runiam-proxy -l keep-auth -d 'Pass the client\'s own Authorization header to the container and send the ID token in X-Serverless-Authorization'
complete -c runiam-proxy -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam-proxy -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam-proxy -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam-proxy -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam-proxy -s V -l version -d 'Print version'
