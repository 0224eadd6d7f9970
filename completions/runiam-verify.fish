complete -c runiam-verify -l as -d 'Whom to call as: serviceAccount:EMAIL (its ID token is minted), user:EMAIL (an account gcloud holds credentials for), group:, ... [default: the identity of the credential in use: ADC file, gcloud account, metadata server]' -r
complete -c runiam-verify -l expect -d 'What the call must show: allow (it reaches the container) or deny (Cloud Run\'s 403)' -r -f -a "allow\t'The call gets through Cloud Run to the container'
deny\t'Cloud Run refuses the call with its 403'"
complete -c runiam-verify -l url -d 'The URL the caller uses [default: the service\'s URL]; also the audience unless --audience' -r
complete -c runiam-verify -l audience -d 'The ID token\'s audience [default: --url; else, for a service account that a Pub/Sub push subscription or Scheduler job uses to call the service, that configuration\'s audience; else the service\'s URL]' -r
complete -c runiam-verify -l path -d 'The path to call' -r
complete -c runiam-verify -l method -d 'The HTTP method to call with' -r
complete -c runiam-verify -l id-token-cmd -d 'A shell command that prints the caller\'s ID token on stdout (run with sh -c; RUNIAM_AUDIENCE holds the audience)' -r
complete -c runiam-verify -l wait -d 'Retry through IAM propagation for up to this long (30s, 7m) [default: 7m for records applied in the last 7 minutes, else 0]' -r
complete -c runiam-verify -l requests -d 'Smoke load: send this many requests after the first call (at most 1000 without --force)' -r
complete -c runiam-verify -l concurrency -d 'Smoke load: requests in flight at once (at most 50 without --force)' -r
complete -c runiam-verify -l since -d 'The change time for --logs: RFC 3339 (2026-11-28T10:00:00Z) or how long ago (15m) [default: a record\'s appliedAt]' -r
complete -c runiam-verify -l watch -d 'Once the checks pass, keep reading the service\'s request log for this long (48h, 30m), one Logging entries.list per --interval: exit 1 as soon as Cloud Run refuses a caller again (when, how many, the entries quoted), 0 after a quiet window. --timeout must be longer' -r
complete -c runiam-verify -l interval -d 'Time between two reads of --watch (at least 1s; Logging allows 60 reads a minute per project)' -r
complete -c runiam-verify -l notify -d 'A notification channel for --create-alert: projects/P/notificationChannels/ID, or the ID in the service\'s project (repeatable)' -r
complete -c runiam-verify -l delete-alert -d 'Delete an alert policy that --create-alert made (projects/P/alertPolicies/ID), and do nothing else; a policy runiam did not make is refused (exit 4)' -r
complete -c runiam-verify -l no-new-access -d 'Compare with REFERENCE, a ServiceSnapshot (runiam export) or a ChangeRecord\'s policy before: fail naming every principal × run.* permission on the service that the live state (or a plan\'s, from stdin) gives beyond the intended member × role; ancestors\' grants, deny policies, public principals and the invoker check count' -r -F
complete -c runiam-verify -l member -d 'With --no-new-access: the member the change was meant to grant [default: the ChangeRecord\'s intent]' -r
complete -c runiam-verify -l role -d 'With --member: the role it was meant to get; every permission of the role is allowed [default: roles/run.invoker]' -r
complete -c runiam-verify -s f -l file -d 'Read ChangeRecord documents from FILE (- for stdin)' -r -F
complete -c runiam-verify -s o -l output -d 'Output format [default: text on a terminal, yaml otherwise]' -r -f -a "text\t'Human-readable text'
yaml\t'A YAML stream of runiam documents'
json\t'One runiam document per line, as JSON'
markdown\t'A page for the team wiki (runbook.rs): what happened, as Markdown'"
complete -c runiam-verify -l project -d 'Project id [default: CLOUDSDK_CORE_PROJECT, GOOGLE_CLOUD_PROJECT, or gcloud\'s core/project]' -r
complete -c runiam-verify -l region -d 'Cloud Run region [default: CLOUDSDK_RUN_REGION, or gcloud\'s run/region]' -r
complete -c runiam-verify -l account -d 'gcloud account whose credentials to use (needs gcloud; beats GOOGLE_APPLICATION_CREDENTIALS) [default: CLOUDSDK_CORE_ACCOUNT, or gcloud\'s core/account]' -r
complete -c runiam-verify -l impersonate-service-account -d 'Make API calls as this service account (IAM Credentials generateAccessToken); a comma-separated list is a delegation chain, the last one the target' -r
complete -c runiam-verify -l access-token-file -d 'Read the access token for API calls from FILE' -r -F
complete -c runiam-verify -l billing-project -d 'Project to bill API quota to (sent as x-goog-user-project) [default: GOOGLE_CLOUD_QUOTA_PROJECT; for user credentials CLOUDSDK_BILLING_QUOTA_PROJECT or gcloud\'s billing/quota_project, else the project]' -r
complete -c runiam-verify -l color -d 'Colour verdicts, findings and diffs: auto (on a terminal, unless NO_COLOR is set), always, never' -r -f -a "auto\t'Colour on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Always colour, even in a pipe'
never\t'Never colour'"
complete -c runiam-verify -l timeout -d 'Give up after this long overall (30s, 5m), waits and retries included; a write already sent is finished and recorded first' -r
complete -c runiam-verify -l force -d 'Lift the smoke load caps'
complete -c runiam-verify -l logs -d 'Also read the service\'s request logs: no Cloud Run 401/403 may appear after the change time (each is quoted)'
complete -c runiam-verify -l create-alert -d 'Once the checks pass, create a Cloud Monitoring alert policy whose log-match condition is the --logs filter (Cloud Run 401/403 of the service), so Google watches for the denial\'s return; one already made for the service is reported, not duplicated'
complete -c runiam-verify -l allow-empty -d 'Succeed when stdin holds no document (otherwise exit 2: the command before in the pipe probably failed)'
complete -c runiam-verify -s v -l verbose -d 'Trace API calls (method, URL, status, latency, request id) to stderr; tokens are never shown'
complete -c runiam-verify -s q -l quiet -d 'Print nothing on stderr but errors'
complete -c runiam-verify -l no-color -d 'Never colour output (the same as --color never)'
complete -c runiam-verify -s h -l help -d 'Print help (see more with \'--help\')'
complete -c runiam-verify -s V -l version -d 'Print version'
